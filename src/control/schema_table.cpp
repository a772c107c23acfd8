// Reading a mapping through its section of the schema, and the walks over the schema
// that the documentation test uses.
#include "schema_table.hpp"

#include <charconv>

namespace heimdall::control::schema {

const Key* Section::find(std::string_view name) const {
  for (const Key& key : keys) {
    if (key.name == name) return &key;
  }
  return nullptr;
}

ConfigFields read_entries(const ConfigReader& reader, const Section& section,
                          const ConfigValue& map, void* out) {
  const ConfigFields fields = reader.fields(map, section.names);
  for (const Key& key : section.keys) {
    if (key.required && !fields.contains(std::string(key.name))) {
      reader.fail(map, "missing key '" + std::string(key.name) + "'");
    }
  }
  // In the schema's order, not the file's: a key may read what an earlier one set.
  for (const Key& key : section.keys) {
    if (const auto it = fields.find(std::string(key.name)); it != fields.end()) {
      key.read(reader, it->second, out);
    }
  }
  if (section.check) section.check(reader, map, fields, out);
  return fields;
}

void read_section(const ConfigReader& reader, const Section& section, const ConfigValue& map,
                  void* out) {
  read_entries(reader, section, map, out);
}

std::pair<std::uint16_t, std::uint16_t> read_port_range(const ConfigReader& reader,
                                                        const ConfigValue& value, std::uint16_t min,
                                                        std::uint16_t max,
                                                        std::uint16_t example_low,
                                                        std::uint16_t example_high) {
  const std::string text = reader.get_string(value);
  unsigned low = 0, high = 0;
  const char* last = text.data() + text.size();
  const auto [dash, low_error] = std::from_chars(text.data(), last, low);
  bool ok = low_error == std::errc{} && dash != last && *dash == '-';
  if (ok) {
    const auto [end, high_error] = std::from_chars(dash + 1, last, high);
    ok = high_error == std::errc{} && end == last && low >= min && high <= max && low <= high;
  }
  if (!ok) {
    reader.fail(value, "expected a range such as " + std::to_string(example_low) + "-" +
                           std::to_string(example_high) + " within " + std::to_string(min) + "-" +
                           std::to_string(max) + ", low <= high, got '" + text + "'");
  }
  return {static_cast<std::uint16_t>(low), static_cast<std::uint16_t>(high)};
}

namespace {

// The key at `path` and the section holding it.
std::pair<const Section*, const Key*> locate(std::string_view path) {
  const Section* section = &root();
  while (true) {
    const std::size_t dot = path.find('.');
    const Key* key = section->find(path.substr(0, dot));
    if (key == nullptr || dot == std::string_view::npos) return {section, key};
    if (key->section == nullptr) return {section, nullptr};
    section = key->section;
    path.remove_prefix(dot + 1);
  }
}

}  // namespace

const Key* find_key(std::string_view path) { return locate(path).second; }

std::optional<bool> equals_default(std::string_view path, const std::string& yaml_value) {
  const auto [section, key] = locate(path);
  if (key == nullptr || !key->same) return std::nullopt;
  const ConfigReader reader("<documented default>");
  const ConfigValue value{YAML::Load(yaml_value), std::string(path), 1, 1};
  const std::shared_ptr<void> defaults = section->make();
  const std::shared_ptr<void> read = section->make();
  key->read(reader, value, read.get());
  return key->same(defaults.get(), read.get());
}

}  // namespace heimdall::control::schema
