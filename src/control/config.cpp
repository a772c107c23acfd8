// Loading the configuration: the document is read through the schema
// (config_schema.cpp: one row per key), then checked across sections
// (config_checks.cpp).
#include "heimdall/control/config.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "config_checks.hpp"
#include "heimdall/control/config_schema.hpp"
#include "located_yaml.hpp"

namespace heimdall::control {

Config parse_config(const std::string& yaml_text, const std::string& source_name,
                    const std::string& resolv_conf) {
  const ConfigReader reader(source_name);
  const YAML::Node document = load_document(reader, yaml_text);
  const ConfigValue root{document, "", line_of(document.Mark(), 1), 1};
  if (!document.IsMap()) {
    reader.fail(root.line, "(top level)",
                "expected a mapping of sections, got " + describe(document));
  }
  Config config;
  config.source = source_name;
  schema::read_section(reader, schema::root(), root, &config);
  check_across_sections(reader, resolv_conf, config);
  return config;
}

std::vector<net::Endpoint> all_upstream_servers(const UpstreamsConfig& upstreams) {
  std::vector<net::Endpoint> servers;
  const auto add = [&](const net::Endpoint& server) {
    for (const auto& seen : servers) {
      if (seen == server) return;
    }
    servers.push_back(server);
  };
  for (const auto& server : upstreams.servers) add(server.address);
  for (const auto& zone : upstreams.forward_zones) {
    for (const auto& server : zone.servers) add(server);
  }
  return servers;
}

Config load_config_file(const std::string& path, const std::string& resolv_conf) {
  // A directory opens fine as an ifstream and then reads as an empty file.
  std::error_code ignored;
  if (std::filesystem::is_directory(path, ignored)) {
    throw ConfigError(path + ": cannot read the configuration file: it is a directory");
  }
  std::ifstream file(path);
  if (!file) {
    throw ConfigError(path + ": cannot read the configuration file: " + std::strerror(errno));
  }
  std::stringstream text;
  text << file.rdbuf();
  if (file.bad()) {
    throw ConfigError(path + ": cannot read the configuration file: " + std::strerror(errno));
  }
  return parse_config(text.str(), path, resolv_conf);
}

const std::string& embedded_dev_config() {
  static const std::string text =
#include "embedded_dev_config.inc"
      ;
  return text;
}

}  // namespace heimdall::control
