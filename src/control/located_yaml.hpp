// Reading a YAML document while keeping where each value came from, so that every
// configuration error reads "<file>:<line>: <dotted.key>: <what>" (ConfigError).
// Knows nothing of Heimdall's keys: the schema (config_schema.hpp) drives it.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "heimdall/control/config.hpp"

namespace heimdall::control {

// A value in the document together with what an error about it must say: its dotted
// key and its line.
struct ConfigValue {
  YAML::Node node;
  std::string key;
  int line = 1;      // 1-based: where the value is
  int key_line = 1;  // where its key is; for errors about the section as a whole
};

// The entries of one mapping by name.
using ConfigFields = std::map<std::string, ConfigValue>;

int line_of(const YAML::Mark& mark, int fallback);

// How a wrong value reads in a message: the text of a scalar, the kind otherwise.
std::string describe(const YAML::Node& node);

// Turns every problem into a ConfigError "<source>:<line>: <dotted.key>: <what>".
class ConfigReader {
 public:
  explicit ConfigReader(std::string source) : source_(std::move(source)) {}

  [[noreturn]] void fail(int line, const std::string& key, const std::string& what) const;
  [[noreturn]] void fail(const ConfigValue& value, const std::string& what) const {
    fail(value.line, value.key, what);
  }

  void expect_map(const ConfigValue& value) const;
  void expect_list(const ConfigValue& value, const std::string& of_what) const;

  // The entries of a mapping by name. Unknown keys are errors, so that a typo never
  // silently leaves a default in place (with a guess at the key meant); so are
  // repeated keys, which yaml-cpp keeps and would otherwise resolve to the first one.
  ConfigFields fields(const ConfigValue& map, std::span<const std::string_view> allowed) const;
  ConfigValue item(const ConfigValue& list, std::size_t index) const;

  // The line of the key at a dotted path ("upstreams.servers") if the document gave
  // it, else of its nearest given parent, else 1: where a check across sections
  // points.
  int line_of_key(std::string_view dotted_key) const;

  std::uint64_t get_uint(const ConfigValue& value, std::uint64_t min, std::uint64_t max) const;
  bool get_bool(const ConfigValue& value) const;
  // A fraction strictly between `low` and `high`, such as 0.1.
  double get_fraction(const ConfigValue& value, double low, double high) const;
  // A size: bytes, or k, m, g (powers of 1024) such as 512m.
  std::uint64_t get_bytes(const ConfigValue& value, std::uint64_t min, std::uint64_t max) const;
  // A duration: seconds, or s, m, h, d such as 1d.
  std::uint64_t get_seconds(const ConfigValue& value, std::uint64_t min, std::uint64_t max) const;
  std::string get_string(const ConfigValue& value) const;
  // One of `names`; returns its index.
  std::size_t get_choice(const ConfigValue& value, std::span<const std::string_view> names) const;
  net::Endpoint get_endpoint(const ConfigValue& value) const;
  // A listen list: two sockets on one address would both bind (SO_REUSEPORT) and
  // split its traffic, so a repeat is a mistake worth stopping for.
  std::vector<net::Endpoint> get_endpoints(const ConfigValue& list) const;

 private:
  std::uint64_t get_scaled(const ConfigValue& value,
                           std::span<const std::pair<std::string_view, std::uint64_t>> units,
                           std::string_view example, std::uint64_t min, std::uint64_t max) const;

  std::string source_;
  // Where each key read so far stands; filled as a side effect of fields(), which
  // is why it is mutable: reading stays const to every section's reader.
  mutable std::map<std::string, int, std::less<>> key_lines_;
};

// Exactly one YAML document; syntax errors carry the parser's line.
YAML::Node load_document(const ConfigReader& reader, const std::string& yaml_text);

// The closest of `names` to `name` within two edits, for "did you mean"; empty if none.
std::string_view closest_name(std::string_view name, std::span<const std::string_view> names);

}  // namespace heimdall::control
