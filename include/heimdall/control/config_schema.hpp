// The configuration's schema: one row per key, declaring its type, range, unit and a
// line of documentation, and bound to the member of Config it fills (its default is
// that member's initializer in config.hpp). parse_config reads through it, unknown
// keys are found with it, and a test holds conf/reference.yaml and the README's key
// table to it. Adding a key is one row in src/control/config_schema.cpp.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace heimdall::control {

class ConfigReader;
struct ConfigValue;
using ConfigFields = std::map<std::string, ConfigValue>;

namespace schema {

enum class Type : std::uint8_t {
  Integer,      // a plain number in `unit`, from min to max
  Seconds,      // seconds, or a number with s, m, h, d
  Bytes,        // bytes, or a number with k, m, g
  Fraction,     // a number strictly between min and max
  Boolean,      // true/yes/on, false/no/off
  String,       // non-empty
  Choice,       // one of `choices`
  Address,      // ADDR[:PORT], port 53 when absent
  Addresses,    // a list of those, no repeats
  Networks,     // a list of ADDR/LENGTH
  PortRange,    // LOW-HIGH
  Section,      // a mapping of the keys in `section`
  SectionList,  // a list of such mappings
  Custom,       // read by code of its own (named in its doc)
};

struct Section;

struct Key {
  std::string_view name;
  Type type = Type::Custom;
  std::string_view unit;                  // what a bare number means: "ms", "s", "bytes"
  std::uint64_t min = 0, max = 0;         // Integer, Seconds, Bytes, PortRange
  std::vector<std::string_view> choices;  // Choice: in the order errors list them
  bool required = false;                  // an entry without it is refused
  std::string_view doc;
  const Section* section = nullptr;  // Section, SectionList: the keys inside

  // Reads the value into its member of `out`, the struct its section fills.
  std::function<void(const ConfigReader&, const ConfigValue&, void* out)> read;
  // Whether two such structs hold the same value for this key; empty where no
  // comparison is defined (lists, sections, custom values).
  std::function<bool(const void*, const void*)> same;
};

struct Section {
  std::vector<Key> keys;
  std::vector<std::string_view> names;          // of the keys, in order: what errors list
  std::function<std::shared_ptr<void>()> make;  // the struct it fills, defaulted
  // Checks across the section's keys, run once they are all read.
  std::function<void(const ConfigReader&, const ConfigValue& section, const ConfigFields&,
                     void* out)>
      check;

  const Key* find(std::string_view name) const;
};

// The top level: one key per section of the file. Its struct is Config.
const Section& root();

// Reads every key of `section` from the mapping `map` into `out` (the section's
// struct): unknown and repeated keys and missing required ones are errors.
void read_section(const ConfigReader& reader, const Section& section, const ConfigValue& map,
                  void* out);

// The key at a dotted path, a list of sections entered by its name
// ("filter.lists.format"); nullptr when there is none.
const Key* find_key(std::string_view path);

// Whether `yaml_value`, read as the value of the key at `path`, equals the key's
// default; nullopt when the key's value has no comparison. Throws ConfigError when
// it is no valid value. For the test that holds the documentation to the schema.
std::optional<bool> equals_default(std::string_view path, const std::string& yaml_value);

}  // namespace schema
}  // namespace heimdall::control
