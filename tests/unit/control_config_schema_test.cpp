// The documentation of the configuration against its schema: conf/reference.yaml and
// the README's key table name every key the schema has and none it lacks, and the
// defaults they write are the defaults the code has.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "heimdall/control/config.hpp"
#include "heimdall/control/config_schema.hpp"

namespace heimdall::control {
namespace {

using schema::Key;
using schema::Section;
using schema::Type;

std::string source_file(const std::string& relative) {
  const char* root = std::getenv("HEIMDALL_SOURCE_ROOT");
  std::ifstream file(std::string(root != nullptr ? root : ".") + "/" + relative);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);) lines.push_back(line);
  return lines;
}

bool has_keys(const Key& key) {
  return key.section != nullptr && (key.type == Type::Section || key.type == Type::SectionList);
}

// Every key's dotted path; a list of sections is entered by its name.
void collect_paths(const Section& section, const std::string& prefix, std::set<std::string>& out) {
  for (const Key& key : section.keys) {
    const std::string path = prefix + std::string(key.name);
    out.insert(path);
    if (has_keys(key)) collect_paths(*key.section, path + ".", out);
  }
}

std::set<std::string> schema_paths() {
  std::set<std::string> paths;
  collect_paths(schema::root(), "", paths);
  return paths;
}

std::string parent_of(const std::string& path) {
  const std::size_t dot = path.rfind('.');
  return dot == std::string::npos ? "" : path.substr(0, dot);
}

std::string child(const std::string& parent, const std::string& name) {
  return parent.empty() ? name : parent + "." + name;
}

// What a document says about the keys: which it names, with errors for the ones
// the schema lacks and for defaults that differ from the code's.
struct Documented {
  std::set<std::string> keys;
  std::vector<std::string> errors;

  void name(const std::string& where, const std::string& path) {
    if (schema::find_key(path) == nullptr) {
      errors.push_back(where + ": " + path + " is not a key of the schema");
    } else {
      keys.insert(path);
    }
  }
  void default_is(const std::string& where, const std::string& path, const std::string& value) {
    try {
      const auto same = schema::equals_default(path, value);
      if (same && !*same) {
        errors.push_back(where + ": " + path + ": " + value + " is not the default");
      }
    } catch (const ConfigError& error) {
      errors.push_back(where + ": " + path + ": " + value + " does not read: " + error.what());
    }
  }
};

// ------------------------------------------------------------------ reference.yaml

// Keys the reference writes in comments: the entries of an empty list or section
// ("ports: []" then "#   - device: ..."), and keys commented out in place
// ("# mbufs: 65535" where its siblings stand).
const std::regex kCommentKey(R"(^#\s+(?:-\s+)?\{?([a-z][a-z0-9_]*):(?:\s|$))");
const std::regex kFlowKey(R"([{,]\s*([a-z][a-z0-9_]*):\s)");

struct YamlKey {
  std::string path;
  int column;
};

class ReferenceReader {
 public:
  explicit ReferenceReader(const std::string& text) : lines_(lines_of(text)) {
    walk(YAML::Load(text), schema::root(), "");
    commented_out_keys();
  }
  Documented result;

 private:
  std::string where(int line) const { return "conf/reference.yaml:" + std::to_string(line + 1); }

  void walk(const YAML::Node& map, const Section& section, const std::string& prefix) {
    for (const auto& entry : map) {
      const std::string name = entry.first.Scalar();
      const std::string path = child(prefix, name);
      const int line = entry.first.Mark().line;
      yaml_keys_[line] = {path, entry.first.Mark().column};
      result.name(where(line), path);
      const Key* key = section.find(name);
      if (key == nullptr) continue;
      const YAML::Node& value = entry.second;
      if (value.IsScalar() && lines_[line].find("example") == std::string::npos) {
        result.default_is(where(line), path, value.Scalar());
      }
      if (!has_keys(*key)) continue;
      if (value.size() == 0) entries_in_comments(line, path);
      if (value.IsMap()) walk(value, *key->section, path);
      if (value.IsSequence()) {
        for (const auto& item : value) {
          if (item.IsMap()) walk(item, *key->section, path);
        }
      }
    }
  }

  void entries_in_comments(int key_line, const std::string& path) {
    for (std::size_t i = key_line + 1; i < lines_.size(); ++i) {
      const std::size_t hash = lines_[i].find_first_not_of(' ');
      if (hash == std::string::npos || lines_[i][hash] != '#') return;
      scanned_.insert(static_cast<int>(i));
      const std::string comment = lines_[i].substr(hash);
      std::smatch match;
      if (std::regex_search(comment, match, kCommentKey)) {
        result.name(where(static_cast<int>(i)), child(path, match[1]));
      }
      if (comment.find('{') == std::string::npos) continue;  // prose, not a flow mapping
      for (auto it = std::sregex_iterator(comment.begin(), comment.end(), kFlowKey);
           it != std::sregex_iterator(); ++it) {
        result.name(where(static_cast<int>(i)), child(path, (*it)[1]));
      }
    }
  }

  void commented_out_keys() {
    for (std::size_t i = 0; i < lines_.size(); ++i) {
      if (scanned_.contains(static_cast<int>(i))) continue;
      const std::size_t hash = lines_[i].find_first_not_of(' ');
      if (hash == std::string::npos || lines_[i][hash] != '#') continue;
      std::smatch match;
      const std::string comment = lines_[i].substr(hash);
      if (!std::regex_search(comment, match, kCommentKey)) continue;
      // A sibling key: the nearest key above at the comment's column.
      for (auto it = yaml_keys_.lower_bound(static_cast<int>(i)); it != yaml_keys_.begin();) {
        --it;
        if (it->second.column < static_cast<int>(hash)) break;
        if (it->second.column == static_cast<int>(hash)) {
          result.name(where(static_cast<int>(i)), child(parent_of(it->second.path), match[1]));
          break;
        }
      }
    }
  }

  std::vector<std::string> lines_;
  std::map<int, YamlKey> yaml_keys_;  // by 0-based line
  std::set<int> scanned_;
};

// ------------------------------------------------------------------ README

// The table under "| section | keys": a row per top-level section, whose keys are
// the `backticked` names outside parentheses; {…} after a key holds its section's
// keys and [{…}] its list entries' keys. "default X" inside the parentheses after
// a key states its default.
class ReadmeReader {
 public:
  explicit ReadmeReader(const std::string& text) {
    const std::vector<std::string> lines = lines_of(text);
    bool in_table = false;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      if (lines[i].starts_with("| section | keys")) {
        in_table = true;
        continue;
      }
      if (!in_table || lines[i].starts_with("| ---")) continue;
      if (!lines[i].starts_with("|")) break;
      read_row(lines[i], "README.md:" + std::to_string(i + 1));
      ++rows;
    }
  }
  Documented result;
  int rows = 0;

 private:
  void read_row(const std::string& row, const std::string& where) {
    const std::size_t first = row.find('`');
    const std::size_t end = row.find('`', first + 1);
    const std::size_t cells = row.find('|', end);
    if (first == std::string::npos || end == std::string::npos || cells == std::string::npos) {
      result.errors.push_back(where + ": a row without a `section`");
      return;
    }
    const std::string section = row.substr(first + 1, end - first - 1);
    result.name(where, section);
    std::vector<std::string> parents{section};
    std::string last = section;  // the key a following {…} or (…) belongs to
    int parentheses = 0;
    for (std::size_t i = cells + 1; i < row.size(); ++i) {
      const char c = row[i];
      if (c == '(') {
        if (parentheses++ == 0) stated_default(row, i, last, where);
      } else if (c == ')') {
        --parentheses;
      } else if (parentheses == 0 && c == '{') {
        parents.push_back(last);
      } else if (parentheses == 0 && c == '}') {
        parents.pop_back();
      } else if (c == '`') {
        const std::size_t close = row.find('`', i + 1);
        if (parentheses == 0) {
          last = child(parents.back(), row.substr(i + 1, close - i - 1));
          result.name(where, last);
        }
        i = close;
      }
    }
  }

  void stated_default(const std::string& row, std::size_t open, const std::string& key,
                      const std::string& where) {
    const std::size_t close = row.find(')', open);
    const std::string inside = row.substr(open + 1, close - open - 1);
    static const std::regex kDefault(R"(default `?([^`;,)]+)`?)");
    std::smatch match;
    if (std::regex_search(inside, match, kDefault)) result.default_is(where, key, match[1]);
  }
};

std::string joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  return text;
}

TEST(ConfigSchema, ReferenceYamlNamesEveryKeyAndNoOther) {
  const ReferenceReader reference(source_file("conf/reference.yaml"));
  EXPECT_TRUE(reference.result.errors.empty()) << joined(reference.result.errors);
  for (const std::string& path : schema_paths()) {
    EXPECT_TRUE(reference.result.keys.contains(path)) << path << " is not in conf/reference.yaml";
  }
}

TEST(ConfigSchema, ReadmeTableNamesEveryKeyAndNoOther) {
  const ReadmeReader readme(source_file("README.md"));
  ASSERT_GT(readme.rows, 10) << "the README's key table was not found";
  EXPECT_TRUE(readme.result.errors.empty()) << joined(readme.result.errors);
  for (const std::string& path : schema_paths()) {
    EXPECT_TRUE(readme.result.keys.contains(path)) << path << " is not in the README's table";
  }
}

// The test's own footing: a wrong default or an unknown key is caught.
TEST(ConfigSchema, CatchesAWrongDefaultAndAnUnknownKey) {
  const ReferenceReader wrong(
      "edns: {max_udp: 100}\ncache:\n  max_entries: 500\n  shards: 4\n  # max_ttl: 1d\n"
      "  # min_size: 1\n");
  ASSERT_EQ(wrong.result.errors.size(), 4u) << joined(wrong.result.errors);
  EXPECT_NE(wrong.result.errors[0].find("edns.max_udp: 100 does not read"), std::string::npos);
  EXPECT_NE(wrong.result.errors[1].find("cache.max_entries: 500 is not the default"),
            std::string::npos);
  EXPECT_NE(wrong.result.errors[2].find("cache.shards is not a key"), std::string::npos);
  EXPECT_NE(wrong.result.errors[3].find(":6: cache.min_size is not a key"), std::string::npos);
  EXPECT_TRUE(wrong.result.keys.contains("cache.max_ttl")) << "a key commented out in place";
  const ReadmeReader readme(
      "| section | keys |\n| --- | --- |\n| `edns` | `max_udp` (default 1400), `size` |\n");
  ASSERT_EQ(readme.result.errors.size(), 2u) << joined(readme.result.errors);
  EXPECT_NE(readme.result.errors[0].find("edns.max_udp: 1400 is not the default"),
            std::string::npos);
  EXPECT_NE(readme.result.errors[1].find("edns.size is not a key"), std::string::npos);
}

TEST(ConfigSchema, EveryKeyHasADocAndEveryNumberARange) {
  for (const std::string& path : schema_paths()) {
    const Key* key = schema::find_key(path);
    ASSERT_NE(key, nullptr) << path;
    EXPECT_FALSE(key->doc.empty()) << path;
    if (key->type == Type::Integer || key->type == Type::Seconds || key->type == Type::Bytes) {
      EXPECT_LT(key->min, key->max) << path;
    }
    if (key->type == Type::Choice) {
      EXPECT_FALSE(key->choices.empty()) << path;
    }
  }
}

}  // namespace
}  // namespace heimdall::control
