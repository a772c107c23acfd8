// The command line: `heimdall --config FILE` and the flags that override the file
// for quick use (docs/architecture.md §13.1).
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "heimdall/control/config.hpp"
#include "heimdall/net/endpoint.hpp"

namespace heimdall::control {

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct CommandLine {
  std::string config_path;  // empty: the embedded conf/dev.yaml
  bool check_config = false;
  bool show_version = false;
  bool show_help = false;
  std::vector<net::Endpoint> listen;     // --listen, repeatable: replaces listen.udp and listen.tcp
  std::vector<net::Endpoint> upstreams;  // --upstream, repeatable: replaces upstreams.servers
  std::optional<unsigned> workers;
  std::optional<LogLevel> log_level;
};

// Accepts "--flag value" and "--flag=value". Throws UsageError naming the bad flag.
CommandLine parse_command_line(int argc, const char* const* argv);

// Applies the overrides on top of a loaded configuration.
void apply_overrides(Config& config, const CommandLine& command_line);

const char* usage_text();

}  // namespace heimdall::control
