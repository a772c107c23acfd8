#include "heimdall/control/command_line.hpp"

#include <algorithm>
#include <charconv>
#include <string_view>
#include <utility>

#include "heimdall/control/config_schema.hpp"
#include "heimdall/upstream/selector.hpp"

namespace heimdall::control {
namespace {

LogLevel parse_level(const std::string& text) {
  static constexpr std::pair<std::string_view, LogLevel> kLevels[] = {
      {"trace", LogLevel::Trace}, {"debug", LogLevel::Debug}, {"info", LogLevel::Info},
      {"warn", LogLevel::Warn},   {"error", LogLevel::Error}, {"critical", LogLevel::Critical},
      {"off", LogLevel::Off}};
  for (const auto& [name, level] : kLevels) {
    if (text == name) return level;
  }
  throw UsageError("--log-level: expected trace|debug|info|warn|error|critical|off, got '" + text +
                   "'");
}

// --workers overrides dataplane.workers and takes that key's range.
unsigned parse_workers(const std::string& text) {
  const schema::Key& key = *schema::find_key("dataplane.workers");
  std::uint64_t workers = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), workers);
  if (text.empty() || error != std::errc{} || end != text.data() + text.size() ||
      workers < key.min || workers > key.max) {
    throw UsageError("--workers: expected an integer from " + std::to_string(key.min) + " to " +
                     std::to_string(key.max) + ", got '" + text + "'");
  }
  return static_cast<unsigned>(workers);
}

// Appends an endpoint; a repeat would bind twice (listen) or count one server twice
// (upstream), so it is refused rather than silently kept.
void add_endpoint(std::vector<net::Endpoint>& list, const std::string& flag,
                  const std::string& text) {
  const auto endpoint = net::Endpoint::parse(text, 53);
  if (!endpoint) {
    throw UsageError(flag + ": expected ADDR:PORT such as 127.0.0.1:53 or [::1]:53, got '" + text +
                     "'");
  }
  if (std::find(list.begin(), list.end(), *endpoint) != list.end()) {
    throw UsageError(flag + ": " + endpoint->to_string() + " given twice");
  }
  list.push_back(*endpoint);
}

// Something that reads as an option, not as the value of the option before it: so
// that "--config --check-config" reports the missing file instead of reading a
// configuration named "--check-config". ("--config=--odd-name" still works.)
bool looks_like_option(std::string_view arg) {
  return arg.starts_with("--") || arg == "-h" || arg == "-c";
}

}  // namespace

CommandLine parse_command_line(int argc, const char* const* argv) {
  CommandLine result;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    std::string value;
    bool has_inline_value = false;
    if (const std::size_t equals = flag.find('=');
        flag.starts_with("--") && equals != std::string::npos) {
      value = flag.substr(equals + 1);
      flag = flag.substr(0, equals);
      has_inline_value = true;
    }
    auto take_value = [&]() -> std::string {
      if (has_inline_value) return value;
      if (i + 1 >= argc || looks_like_option(argv[i + 1])) {
        throw UsageError(flag + ": missing value");
      }
      return argv[++i];
    };
    auto no_value = [&]() {
      if (has_inline_value) throw UsageError(flag + ": takes no value");
    };

    if (flag == "--config" || flag == "-c") {
      result.config_path = take_value();
      if (result.config_path.empty()) throw UsageError(flag + ": missing value");
    } else if (flag == "--check-config") {
      no_value();
      result.check_config = true;
    } else if (flag == "--version") {
      no_value();
      result.show_version = true;
    } else if (flag == "--help" || flag == "-h") {
      no_value();
      result.show_help = true;
    } else if (flag == "--listen") {
      add_endpoint(result.listen, flag, take_value());
    } else if (flag == "--upstream") {
      add_endpoint(result.upstreams, flag, take_value());
      if (result.upstreams.size() > upstream::kMaxServers) {
        throw UsageError("--upstream: at most " + std::to_string(upstream::kMaxServers) +
                         " servers");
      }
    } else if (flag == "--workers") {
      result.workers = parse_workers(take_value());
    } else if (flag == "--log-level") {
      result.log_level = parse_level(take_value());
    } else if (flag.starts_with("-")) {
      throw UsageError("unknown option '" + flag + "'");
    } else {
      throw UsageError("unexpected argument '" + flag +
                       "'; a configuration file goes after --config");
    }
  }
  return result;
}

void apply_overrides(Config& config, const CommandLine& command_line) {
  if (!command_line.listen.empty()) {
    config.listen.udp = command_line.listen;
    config.listen.tcp = command_line.listen;
  }
  if (!command_line.upstreams.empty()) {
    config.upstreams.servers.clear();
    for (const auto& endpoint : command_line.upstreams) {
      config.upstreams.servers.push_back(UpstreamServerConfig{endpoint});
    }
    config.upstreams.servers_from_resolv_conf = false;
    if (all_upstream_servers(config.upstreams).size() > upstream::kMaxServers) {
      throw ConfigError("--upstream: at most " + std::to_string(upstream::kMaxServers) +
                        " distinct servers together with upstreams.forward_zones");
    }
  }
  if (command_line.workers) config.dataplane.workers = *command_line.workers;
  if (command_line.log_level) config.logging.level = *command_line.log_level;
}

const char* usage_text() {
  static const schema::Key& workers = *schema::find_key("dataplane.workers");
  static const std::string text =
      "usage: heimdall [options]\n"
      "\n"
      "A caching, filtering DNS forwarder. Without --config it runs the embedded\n"
      "conf/dev.yaml: UDP and TCP on 127.0.0.1:5353, upstreams from /etc/resolv.conf.\n"
      "Every flag also takes the form --flag=value.\n"
      "\n"
      "  -c, --config FILE          read the configuration from FILE (YAML)\n"
      "      --check-config         validate the configuration (flags applied) and exit\n"
      "      --listen ADDR:PORT     serve UDP and TCP here instead of listen.udp/listen.tcp;\n"
      "                             repeatable; IPv6 as [::1]:53\n"
      "      --upstream ADDR:PORT   forward to this server instead of upstreams.servers;\n"
      "                             repeatable (up to " +
      std::to_string(upstream::kMaxServers) +
      ")\n"
      "      --workers N            worker threads or lcores, " +
      std::to_string(workers.min) + "-" + std::to_string(workers.max) +
      " (dataplane.workers)\n"
      "      --log-level LEVEL      trace | debug | info | warn | error | critical | off\n"
      "                             (logging.level)\n"
      "      --version              print the version and exit\n"
      "  -h, --help                 print this help and exit\n";
  return text.c_str();
}

}  // namespace heimdall::control
