#include "heimdall/control/command_line.hpp"

#include <charconv>
#include <string_view>

namespace heimdall::control {
namespace {

LogLevel parse_level(const std::string& text) {
  static constexpr std::pair<const char*, LogLevel> kLevels[] = {
      {"trace", LogLevel::Trace}, {"debug", LogLevel::Debug}, {"info", LogLevel::Info},
      {"warn", LogLevel::Warn},   {"error", LogLevel::Error}, {"critical", LogLevel::Critical},
      {"off", LogLevel::Off}};
  for (const auto& [name, level] : kLevels) {
    if (text == name) return level;
  }
  throw UsageError("--log-level: expected trace|debug|info|warn|error|critical|off, got '" + text +
                   "'");
}

net::Endpoint parse_endpoint(const std::string& flag, const std::string& text) {
  const auto endpoint = net::Endpoint::parse(text, 53);
  if (!endpoint)
    throw UsageError(flag + ": expected ADDR:PORT such as 127.0.0.1:53, got '" + text + "'");
  return *endpoint;
}

}  // namespace

CommandLine parse_command_line(int argc, const char* const* argv) {
  CommandLine result;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    std::string value;
    bool has_inline_value = false;
    if (const std::size_t equals = flag.find('=');
        flag.rfind("--", 0) == 0 && equals != std::string::npos) {
      value = flag.substr(equals + 1);
      flag = flag.substr(0, equals);
      has_inline_value = true;
    }
    auto take_value = [&]() -> std::string {
      if (has_inline_value) return value;
      if (i + 1 >= argc) throw UsageError(flag + ": missing value");
      return argv[++i];
    };
    auto no_value = [&]() {
      if (has_inline_value) throw UsageError(flag + ": takes no value");
    };

    if (flag == "--config" || flag == "-c") {
      result.config_path = take_value();
      if (result.config_path.empty()) throw UsageError("--config: missing value");
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
      result.listen.push_back(parse_endpoint(flag, take_value()));
    } else if (flag == "--upstream") {
      result.upstreams.push_back(parse_endpoint(flag, take_value()));
    } else if (flag == "--workers") {
      const std::string text = take_value();
      unsigned workers = 0;
      const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), workers);
      if (text.empty() || error != std::errc{} || end != text.data() + text.size() || workers < 1 ||
          workers > 64) {
        throw UsageError("--workers: expected an integer from 1 to 64, got '" + text + "'");
      }
      result.workers = workers;
    } else if (flag == "--log-level") {
      result.log_level = parse_level(take_value());
    } else {
      throw UsageError("unknown option '" + flag + "'");
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
  }
  if (command_line.workers) config.dataplane.workers = *command_line.workers;
  if (command_line.log_level) config.logging.level = *command_line.log_level;
}

const char* usage_text() {
  return "usage: heimdall [options]\n"
         "\n"
         "A caching, filtering DNS forwarder. Without --config it runs the embedded\n"
         "conf/dev.yaml: UDP and TCP on 127.0.0.1:5353, upstreams from /etc/resolv.conf.\n"
         "\n"
         "  -c, --config FILE     read the configuration from FILE (YAML)\n"
         "      --check-config    validate the configuration and exit\n"
         "      --listen ADDR:PORT   listen here for UDP and TCP instead of listen.*;\n"
         "                        repeatable\n"
         "      --upstream ADDR:PORT forward to this server instead of upstreams.servers;\n"
         "                        repeatable\n"
         "      --workers N       worker threads (1-64)\n"
         "      --log-level L     trace | debug | info | warn | error | critical | off\n"
         "      --version         print the version and exit\n"
         "  -h, --help            print this help and exit\n";
}

}  // namespace heimdall::control
