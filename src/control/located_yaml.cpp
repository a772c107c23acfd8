#include "located_yaml.hpp"

#include <algorithm>
#include <charconv>
#include <sstream>

namespace heimdall::control {
namespace {

std::string format_number(double number) {
  std::ostringstream text;
  text << number;
  return text.str();
}

std::string join(std::span<const std::string_view> names, std::string_view separator) {
  std::string text;
  for (const std::string_view name : names) {
    if (!text.empty()) text += separator;
    text += name;
  }
  return text;
}

// Levenshtein distance; the names compared are short keys.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

int line_of(const YAML::Mark& mark, int fallback) {
  return mark.is_null() || mark.line < 0 ? fallback : mark.line + 1;
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return "'" + node.Scalar() + "'";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    default:
      return "nothing";
  }
}

std::string_view closest_name(std::string_view name, std::span<const std::string_view> names) {
  std::string_view best;
  std::size_t best_distance = 3;  // more than two edits is another word, not a typo
  for (const std::string_view candidate : names) {
    const std::size_t distance = edit_distance(name, candidate);
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

void ConfigReader::fail(int line, const std::string& key, const std::string& what) const {
  throw ConfigError(source_ + ":" + std::to_string(line) + ": " + key + ": " + what);
}

void ConfigReader::expect_map(const ConfigValue& value) const {
  if (!value.node.IsMap()) fail(value, "expected a mapping, got " + describe(value.node));
}

void ConfigReader::expect_list(const ConfigValue& value, const std::string& of_what) const {
  if (!value.node.IsSequence()) {
    fail(value, "expected a list of " + of_what + ", got " + describe(value.node));
  }
}

ConfigFields ConfigReader::fields(const ConfigValue& map,
                                  std::span<const std::string_view> allowed) const {
  expect_map(map);
  ConfigFields result;
  for (const auto& entry : map.node) {
    const int key_line = line_of(entry.first.Mark(), map.line);
    if (!entry.first.IsScalar()) fail(key_line, map.key, "keys must be plain names");
    const std::string name = entry.first.Scalar();
    const std::string key = map.key.empty() ? name : map.key + "." + name;
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      std::string what = "unknown key; expected one of: " + join(allowed, ", ");
      if (const std::string_view guess = closest_name(name, allowed); !guess.empty()) {
        what += "; did you mean '" + std::string(guess) + "'?";
      }
      fail(key_line, key, what);
    }
    if (const auto seen = result.find(name); seen != result.end()) {
      fail(key_line, key,
           "given twice (first on line " + std::to_string(seen->second.key_line) + ")");
    }
    // yaml-cpp marks an empty value at the token after it, often the next line.
    const int value_line =
        entry.second.IsNull() ? key_line : line_of(entry.second.Mark(), key_line);
    result.emplace(name, ConfigValue{entry.second, key, value_line, key_line});
    key_lines_.emplace(key, key_line);
  }
  return result;
}

ConfigValue ConfigReader::item(const ConfigValue& list, std::size_t index) const {
  const YAML::Node node = list.node[index];
  int line = line_of(node.Mark(), list.line);
  // An empty block item ("-" alone) is marked at the next token, possibly lines
  // below; the line after a one-line previous item is where it usually is.
  if (node.IsNull() && list.node.Style() == YAML::EmitterStyle::Block) {
    line = list.line;
    if (index > 0 && list.node[index - 1].IsScalar()) line = item(list, index - 1).line + 1;
  }
  return ConfigValue{node, list.key + "[" + std::to_string(index) + "]", line, line};
}

int ConfigReader::line_of_key(std::string_view dotted_key) const {
  while (!dotted_key.empty()) {
    if (const auto it = key_lines_.find(dotted_key); it != key_lines_.end()) return it->second;
    const std::size_t dot = dotted_key.rfind('.');
    dotted_key = dotted_key.substr(0, dot == std::string_view::npos ? 0 : dot);
  }
  return 1;
}

std::uint64_t ConfigReader::get_uint(const ConfigValue& value, std::uint64_t min,
                                     std::uint64_t max) const {
  const std::string expected =
      "expected an integer from " + std::to_string(min) + " to " + std::to_string(max);
  if (!value.node.IsScalar()) fail(value, expected + ", got " + describe(value.node));
  const std::string& text = value.node.Scalar();
  std::uint64_t number = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (text.empty() || error != std::errc{} || end != text.data() + text.size() || number < min ||
      number > max) {
    fail(value, expected + ", got '" + text + "'");
  }
  return number;
}

bool ConfigReader::get_bool(const ConfigValue& value) const {
  if (value.node.IsScalar()) {
    const std::string& text = value.node.Scalar();
    if (text == "true" || text == "yes" || text == "on") return true;
    if (text == "false" || text == "no" || text == "off") return false;
  }
  fail(value, "expected true or false, got " + describe(value.node));
}

double ConfigReader::get_fraction(const ConfigValue& value, double low, double high) const {
  const std::string expected =
      "expected a number above " + format_number(low) + " and below " + format_number(high);
  if (!value.node.IsScalar()) fail(value, expected + ", got " + describe(value.node));
  const std::string& text = value.node.Scalar();
  double number = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (text.empty() || error != std::errc{} || end != text.data() + text.size() ||
      !(number > low && number < high)) {
    fail(value, expected + ", got '" + text + "'");
  }
  return number;
}

// A count of units with an optional suffix; the result is bounded.
std::uint64_t ConfigReader::get_scaled(
    const ConfigValue& value, std::span<const std::pair<std::string_view, std::uint64_t>> units,
    std::string_view example, std::uint64_t min, std::uint64_t max) const {
  const std::string expected = "expected a number with an optional unit (" + std::string(example) +
                               "), from " + std::to_string(min) + " to " + std::to_string(max);
  if (!value.node.IsScalar()) fail(value, expected + ", got " + describe(value.node));
  const std::string& text = value.node.Scalar();
  std::uint64_t number = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
  const std::string_view suffix(end, text.data() + text.size() - end);
  std::uint64_t scale = suffix.empty() ? 1 : 0;
  for (const auto& [name, factor] : units) {
    if (suffix == name) scale = factor;
  }
  if (text.empty() || error != std::errc{} || end == text.data() || scale == 0 ||
      number > max / scale || number * scale < min) {
    fail(value, expected + ", got '" + text + "'");
  }
  return number * scale;
}

std::uint64_t ConfigReader::get_bytes(const ConfigValue& value, std::uint64_t min,
                                      std::uint64_t max) const {
  static constexpr std::pair<std::string_view, std::uint64_t> kUnits[] = {
      {"k", 1ull << 10}, {"m", 1ull << 20}, {"g", 1ull << 30}};
  return get_scaled(value, kUnits, "bytes, or k, m, g such as 512m", min, max);
}

std::uint64_t ConfigReader::get_seconds(const ConfigValue& value, std::uint64_t min,
                                        std::uint64_t max) const {
  static constexpr std::pair<std::string_view, std::uint64_t> kUnits[] = {
      {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}};
  return get_scaled(value, kUnits, "seconds, or s, m, h, d such as 1d", min, max);
}

std::string ConfigReader::get_string(const ConfigValue& value) const {
  if (!value.node.IsScalar() || value.node.Scalar().empty()) {
    fail(value, "expected a non-empty string, got " + describe(value.node));
  }
  return value.node.Scalar();
}

std::size_t ConfigReader::get_choice(const ConfigValue& value,
                                     std::span<const std::string_view> names) const {
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (value.node.IsScalar() && value.node.Scalar() == names[i]) return i;
  }
  fail(value, "expected " + join(names, " | ") + ", got " + describe(value.node));
}

net::Endpoint ConfigReader::get_endpoint(const ConfigValue& value) const {
  if (!value.node.IsScalar()) {
    fail(value,
         "expected an address such as 127.0.0.1:53 or [::1]:53, got " + describe(value.node));
  }
  const auto endpoint = net::Endpoint::parse(value.node.Scalar(), 53);
  if (!endpoint) {
    fail(value, "expected an address such as 127.0.0.1:53 or [::1]:53 (port 1-65535), got " +
                    describe(value.node));
  }
  return *endpoint;
}

std::vector<net::Endpoint> ConfigReader::get_endpoints(const ConfigValue& list) const {
  expect_list(list, "addresses");
  std::vector<net::Endpoint> result;
  for (std::size_t i = 0; i < list.node.size(); ++i) {
    const ConfigValue entry = item(list, i);
    const net::Endpoint endpoint = get_endpoint(entry);
    for (const auto& seen : result) {
      if (seen == endpoint) fail(entry, "listed twice: " + endpoint.to_string());
    }
    result.push_back(endpoint);
  }
  return result;
}

YAML::Node load_document(const ConfigReader& reader, const std::string& yaml_text) {
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(yaml_text);
  } catch (const YAML::Exception& error) {
    reader.fail(line_of(error.mark, 1), "YAML syntax", error.msg);
  }
  if (documents.empty() || documents.front().IsNull()) {
    reader.fail(1, "(top level)", "the configuration is empty");
  }
  if (documents.size() > 1) {
    reader.fail(line_of(documents[1].Mark(), 1), "(top level)",
                "more than one YAML document ('---'); put everything in one");
  }
  return documents.front();
}

}  // namespace heimdall::control
