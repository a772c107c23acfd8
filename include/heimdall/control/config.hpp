// The appliance's configuration: one YAML file (DESIGN.md §5), validated at load.
// Loading happens at start-up and in the control thread, never on the packet path,
// so it may allocate and throw.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "heimdall/net/endpoint.hpp"

namespace heimdall::control {

// A configuration error: names the file, the line, the key and what is wrong,
// e.g. "dev.yaml:14: upstreams.timeout_ms: expected a positive integer, got 'fast'".
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class Backend : std::uint8_t { Socket, Dpdk };
enum class Strategy : std::uint8_t { RoundRobin, Fastest, Failover };
enum class LogLevel : std::uint8_t { Trace, Debug, Info, Warn, Error, Critical, Off };

struct DataplaneConfig {
  Backend backend = Backend::Socket;
  unsigned workers = 2;
  std::vector<std::string> eal_args;  // kept for the DPDK backend
};

struct EdnsConfig {
  std::uint16_t max_udp = 1232;  // 512..4096
};

struct ListenConfig {
  std::vector<net::Endpoint> udp;
  std::vector<net::Endpoint> tcp;
  unsigned tcp_idle_timeout_ms = 10000;  // RFC 7766 §6.2.3 suggests seconds, not minutes
  unsigned tcp_max_connections = 1024;   // across all workers
};

struct UpstreamServerConfig {
  net::Endpoint address;
};

struct UpstreamsConfig {
  Strategy strategy = Strategy::Fastest;
  unsigned timeout_ms = 1500;         // the client's whole budget (DESIGN.md §8.7)
  unsigned max_failures = 3;          // consecutive failures that mark a server down
  unsigned probe_interval_ms = 1000;  // how often a down server is tried again
  std::vector<UpstreamServerConfig> servers;
  bool servers_from_resolv_conf = false;  // set when `servers` was empty and resolv.conf filled it
};

// Defaults as in DESIGN.md §5: serve-stale and prefetch on.
struct ServeStaleSettings {
  bool enabled = true;
  unsigned ttl_s = 30;                // RFC 8767 §4: TTL of a stale answer
  unsigned max_stale_s = 86400;       // how long past expiry an answer may be served
  unsigned client_timeout_ms = 1800;  // a waiting client gets stale data after this
};

struct PrefetchSettings {
  bool enabled = true;
  double threshold = 0.1;  // fraction of the TTL left at which a hit refreshes the entry
};

struct CacheSettings {
  bool enabled = true;
  unsigned max_entries = 1'000'000;
  std::uint64_t max_bytes = 512ull << 20;
  unsigned min_ttl = 0;
  unsigned max_ttl = 86400;
  unsigned negative_ttl_max = 3600;
  unsigned servfail_ttl = 0;  // RFC 2308 §7: at most 300; 0 = SERVFAIL is not cached
  ServeStaleSettings serve_stale;
  PrefetchSettings prefetch;
};

struct LoggingConfig {
  LogLevel level = LogLevel::Info;
};

struct Config {
  std::string source;  // file path, or "<embedded conf/dev.yaml>"
  DataplaneConfig dataplane;
  EdnsConfig edns;
  ListenConfig listen;
  UpstreamsConfig upstreams;
  CacheSettings cache;
  LoggingConfig logging;
  // Sections of DESIGN.md §5 that this build parses for shape only (filter,
  // local_records, management); listed so start-up can say they are not active yet.
  std::vector<std::string> inactive_sections;
};

// Parses and validates YAML text. `source_name` is used in error messages.
// `resolv_conf` is the path read for upstreams when the file lists none; empty:
// leave them empty (the command line supplies them).
// Throws ConfigError.
Config parse_config(const std::string& yaml_text, const std::string& source_name,
                    const std::string& resolv_conf = "/etc/resolv.conf");

// Reads and parses a file. Throws ConfigError (also when the file cannot be read).
Config load_config_file(const std::string& path,
                        const std::string& resolv_conf = "/etc/resolv.conf");

// The nameservers of a resolv.conf, port 53. Throws ConfigError when the file
// cannot be read or names none.
std::vector<net::Endpoint> read_resolv_conf(const std::string& path);

// The text of conf/dev.yaml compiled into the binary.
const std::string& embedded_dev_config();

}  // namespace heimdall::control
