#include "heimdall/control/config.hpp"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

namespace heimdall::control {
namespace {

// Reads one YAML document and turns every problem into a ConfigError that names
// the file, the line, the dotted key and what is wrong.
class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  [[noreturn]] void fail(const YAML::Node& node, const std::string& key,
                         const std::string& what) const {
    const int line = node.Mark().is_null() ? last_line_ : node.Mark().line + 1;
    throw ConfigError(source_ + ":" + std::to_string(line) + ": " + key + ": " + what);
  }

  void note_line(const YAML::Node& node) {
    if (!node.Mark().is_null()) last_line_ = node.Mark().line + 1;
  }

  void expect_map(const YAML::Node& node, const std::string& key) const {
    if (!node.IsMap()) fail(node, key, "expected a mapping of keys");
  }

  // Rejects keys other than `allowed`: a typo must not silently become a default.
  void check_keys(const YAML::Node& map, const std::string& path,
                  std::initializer_list<const char*> allowed) const {
    for (const auto& entry : map) {
      const std::string name = entry.first.Scalar();
      bool known = false;
      for (const char* candidate : allowed) known |= name == candidate;
      if (!known) {
        std::string list;
        for (const char* candidate : allowed)
          list += (list.empty() ? "" : ", ") + std::string(candidate);
        fail(entry.first, path.empty() ? name : path + "." + name,
             "unknown key; expected one of: " + list);
      }
    }
  }

  unsigned get_uint(const YAML::Node& node, const std::string& key, unsigned min,
                    unsigned max) const {
    if (!node.IsScalar()) fail(node, key, "expected an integer from " + range(min, max));
    const std::string& text = node.Scalar();
    unsigned long long value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc{} || end != text.data() + text.size() || value < min ||
        value > max) {
      fail(node, key, "expected an integer from " + range(min, max) + ", got '" + text + "'");
    }
    return static_cast<unsigned>(value);
  }

  std::string get_string(const YAML::Node& node, const std::string& key) const {
    if (!node.IsScalar()) fail(node, key, "expected a string");
    return node.Scalar();
  }

  template <typename Enum>
  Enum get_choice(const YAML::Node& node, const std::string& key,
                  std::initializer_list<std::pair<const char*, Enum>> choices) const {
    const std::string text = node.IsScalar() ? node.Scalar() : std::string();
    std::string names;
    for (const auto& [name, value] : choices) {
      if (text == name) return value;
      names += (names.empty() ? "" : " | ") + std::string(name);
    }
    fail(node, key, "expected " + names + (text.empty() ? "" : ", got '" + text + "'"));
  }

  net::Endpoint get_endpoint(const YAML::Node& node, const std::string& key,
                             std::uint16_t default_port) const {
    const std::string text = get_string(node, key);
    const auto endpoint = net::Endpoint::parse(text, default_port);
    if (!endpoint) {
      fail(node, key, "expected an address such as 127.0.0.1:53 or [::1]:53, got '" + text + "'");
    }
    return *endpoint;
  }

  std::vector<net::Endpoint> get_endpoints(const YAML::Node& node, const std::string& key) const {
    if (!node.IsSequence()) fail(node, key, "expected a list of addresses");
    std::vector<net::Endpoint> result;
    for (std::size_t i = 0; i < node.size(); ++i) {
      const std::string item_key = key + "[" + std::to_string(i) + "]";
      const net::Endpoint endpoint = get_endpoint(node[i], item_key, 53);
      for (const auto& seen : result) {
        if (seen == endpoint) fail(node[i], item_key, "listed twice: " + endpoint.to_string());
      }
      result.push_back(endpoint);
    }
    return result;
  }

 private:
  static std::string range(unsigned min, unsigned max) {
    return std::to_string(min) + " to " + std::to_string(max);
  }

  std::string source_;
  int last_line_ = 1;
};

void read_dataplane(const Reader& reader, const YAML::Node& node, DataplaneConfig& out) {
  reader.expect_map(node, "dataplane");
  reader.check_keys(node, "dataplane", {"backend", "workers", "eal_args", "ports"});
  if (node["backend"]) {
    out.backend =
        reader.get_choice<Backend>(node["backend"], "dataplane.backend",
                                   {{"socket", Backend::Socket}, {"dpdk", Backend::Dpdk}});
  }
  if (node["workers"]) out.workers = reader.get_uint(node["workers"], "dataplane.workers", 1, 64);
  if (const YAML::Node args = node["eal_args"]) {
    if (!args.IsSequence()) reader.fail(args, "dataplane.eal_args", "expected a list of strings");
    for (std::size_t i = 0; i < args.size(); ++i) {
      out.eal_args.push_back(
          reader.get_string(args[i], "dataplane.eal_args[" + std::to_string(i) + "]"));
    }
  }
  if (const YAML::Node ports = node["ports"]) {
    if (!ports.IsSequence()) reader.fail(ports, "dataplane.ports", "expected a list of ports");
    for (std::size_t i = 0; i < ports.size(); ++i) {
      reader.expect_map(ports[i], "dataplane.ports[" + std::to_string(i) + "]");
    }
  }
}

void read_listen(const Reader& reader, const YAML::Node& node, ListenConfig& out) {
  reader.expect_map(node, "listen");
  reader.check_keys(node, "listen", {"udp", "tcp", "tcp_idle_timeout_ms", "tcp_max_connections"});
  if (node["udp"]) out.udp = reader.get_endpoints(node["udp"], "listen.udp");
  if (node["tcp"]) out.tcp = reader.get_endpoints(node["tcp"], "listen.tcp");
  if (node["tcp_idle_timeout_ms"]) {
    out.tcp_idle_timeout_ms =
        reader.get_uint(node["tcp_idle_timeout_ms"], "listen.tcp_idle_timeout_ms", 100, 600000);
  }
  if (node["tcp_max_connections"]) {
    out.tcp_max_connections =
        reader.get_uint(node["tcp_max_connections"], "listen.tcp_max_connections", 1, 1000000);
  }
}

void read_upstreams(const Reader& reader, const YAML::Node& node, UpstreamsConfig& out) {
  reader.expect_map(node, "upstreams");
  reader.check_keys(node, "upstreams",
                    {"strategy", "timeout_ms", "max_failures", "probe_interval_ms", "servers"});
  if (node["strategy"]) {
    out.strategy = reader.get_choice<Strategy>(node["strategy"], "upstreams.strategy",
                                               {{"round_robin", Strategy::RoundRobin},
                                                {"fastest", Strategy::Fastest},
                                                {"failover", Strategy::Failover}});
  }
  if (node["timeout_ms"]) {
    out.timeout_ms = reader.get_uint(node["timeout_ms"], "upstreams.timeout_ms", 50, 60000);
  }
  if (node["max_failures"]) {
    out.max_failures = reader.get_uint(node["max_failures"], "upstreams.max_failures", 1, 100);
  }
  if (node["probe_interval_ms"]) {
    out.probe_interval_ms =
        reader.get_uint(node["probe_interval_ms"], "upstreams.probe_interval_ms", 100, 3600000);
  }
  if (const YAML::Node servers = node["servers"]) {
    if (!servers.IsSequence())
      reader.fail(servers, "upstreams.servers", "expected a list of servers");
    if (servers.size() > 32) reader.fail(servers, "upstreams.servers", "at most 32 servers");
    for (std::size_t i = 0; i < servers.size(); ++i) {
      const std::string key = "upstreams.servers[" + std::to_string(i) + "]";
      YAML::Node address = servers[i];
      if (servers[i].IsMap()) {
        reader.check_keys(servers[i], key, {"address"});
        address = servers[i]["address"];
        if (!address) reader.fail(servers[i], key + ".address", "missing");
      }
      const net::Endpoint endpoint = reader.get_endpoint(address, key + ".address", 53);
      for (const auto& seen : out.servers) {
        if (seen.address == endpoint)
          reader.fail(address, key, "listed twice: " + endpoint.to_string());
      }
      out.servers.push_back(UpstreamServerConfig{endpoint});
    }
  }
}

}  // namespace

Config parse_config(const std::string& yaml_text, const std::string& source_name,
                    const std::string& resolv_conf) {
  Reader reader(source_name);
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::ParserException& error) {
    throw ConfigError(source_name + ":" + std::to_string(error.mark.line + 1) +
                      ": YAML syntax: " + error.msg);
  }
  if (!root || root.IsNull()) throw ConfigError(source_name + ":1: the configuration is empty");
  reader.expect_map(root, "(top level)");
  reader.check_keys(root, "",
                    {"dataplane", "edns", "listen", "upstreams", "cache", "filter", "local_records",
                     "management", "logging"});

  Config config;
  config.source = source_name;
  if (root["dataplane"]) read_dataplane(reader, root["dataplane"], config.dataplane);
  if (const YAML::Node edns = root["edns"]) {
    reader.expect_map(edns, "edns");
    reader.check_keys(edns, "edns", {"max_udp"});
    if (edns["max_udp"]) {
      config.edns.max_udp =
          static_cast<std::uint16_t>(reader.get_uint(edns["max_udp"], "edns.max_udp", 512, 4096));
    }
  }
  if (root["listen"]) read_listen(reader, root["listen"], config.listen);
  if (root["upstreams"]) read_upstreams(reader, root["upstreams"], config.upstreams);
  if (const YAML::Node logging = root["logging"]) {
    reader.expect_map(logging, "logging");
    reader.check_keys(logging, "logging", {"level"});
    if (logging["level"]) {
      config.logging.level = reader.get_choice<LogLevel>(logging["level"], "logging.level",
                                                         {{"trace", LogLevel::Trace},
                                                          {"debug", LogLevel::Debug},
                                                          {"info", LogLevel::Info},
                                                          {"warn", LogLevel::Warn},
                                                          {"error", LogLevel::Error},
                                                          {"critical", LogLevel::Critical},
                                                          {"off", LogLevel::Off}});
    }
  }
  for (const char* section : {"cache", "filter", "management"}) {
    if (const YAML::Node node = root[section]) {
      reader.expect_map(node, section);
      config.inactive_sections.emplace_back(section);
    }
  }
  if (const YAML::Node records = root["local_records"]) {
    if (!records.IsSequence()) reader.fail(records, "local_records", "expected a list of records");
    config.inactive_sections.emplace_back("local_records");
  }

  if (config.dataplane.backend == Backend::Socket && config.listen.udp.empty() &&
      config.listen.tcp.empty()) {
    reader.fail(root["listen"] ? root["listen"] : root, "listen",
                "the socket backend needs at least one udp or tcp address");
  }
  if (config.upstreams.servers.empty() && !resolv_conf.empty()) {
    try {
      for (const auto& endpoint : read_resolv_conf(resolv_conf)) {
        config.upstreams.servers.push_back(UpstreamServerConfig{endpoint});
      }
      config.upstreams.servers_from_resolv_conf = true;
    } catch (const ConfigError& error) {
      reader.fail(root["upstreams"] ? root["upstreams"] : root, "upstreams.servers",
                  std::string("none configured, and ") + error.what());
    }
  }
  return config;
}

Config load_config_file(const std::string& path, const std::string& resolv_conf) {
  std::ifstream file(path);
  if (!file) throw ConfigError(path + ": cannot read the configuration file");
  std::stringstream text;
  text << file.rdbuf();
  return parse_config(text.str(), path, resolv_conf);
}

const std::string& embedded_dev_config() {
  static const std::string text =
#include "embedded_dev_config.inc"
      ;
  return text;
}

}  // namespace heimdall::control
