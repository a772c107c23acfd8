// The appliance's configuration: one YAML file (docs/architecture.md §13.1), validated at load.
// Loading happens at start-up and in the control thread, never on the packet path,
// so it may allocate and throw.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "heimdall/dns/extended_error.hpp"
#include "heimdall/engine/client_guard.hpp"
#include "heimdall/filter/block_answer.hpp"
#include "heimdall/filter/client_groups.hpp"
#include "heimdall/filter/domain_trie.hpp"
#include "heimdall/filter/list_parser.hpp"
#include "heimdall/net/endpoint.hpp"
#include "heimdall/upstream/selector.hpp"

namespace heimdall::control {

// A configuration error: names the file, the line, the key and what is wrong,
// e.g. "dev.yaml:14: upstreams.timeout_ms: expected a positive integer, got 'fast'".
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class Backend : std::uint8_t { Socket, Dpdk };
// The modules that act on these choices define them; the file names them.
using Strategy = upstream::Strategy;
using AclAction = engine::AclAction;
using AnyPolicy = engine::AnyPolicy;
enum class LogLevel : std::uint8_t { Trace, Debug, Info, Warn, Error, Critical, Off };

// A DPDK port and the appliance's identity on it (dataplane.ports[]).
struct PortConfig {
  std::string device;                      // a vdev name (net_memif0) or a PCI address
  std::optional<filter::Prefix> address;   // IPv4 host address with its subnet length
  std::optional<filter::Prefix> address6;  // IPv6 likewise
  std::optional<net::Endpoint> gateway;    // next hop for IPv4 off the subnet (port unused)
  std::optional<net::Endpoint> gateway6;
  std::optional<std::string> mac;  // replaces the port's own MAC ("02:00:00:00:00:01")
  std::uint16_t vlan = 0;          // 802.1Q VLAN id the appliance lives on; 0: untagged
};

// docs/architecture.md §12.4: a kernel tap carrying the port's MAC and addresses, for what the
// fast path does not own (TCP, ICMP errors, kernel upstream sockets).
struct ExceptionConfig {
  bool enabled = true;
  std::string tap = "heimdall0";
};

struct DataplaneConfig {
  Backend backend = Backend::Socket;
  unsigned workers = 2;
  std::vector<std::string> eal_args;  // the DPDK backend's EAL arguments
  std::vector<PortConfig> ports;      // the DPDK backend drives exactly one in this version
  ExceptionConfig exception;
  // The fast path's upstream source ports, dealt to the workers by a secret
  // shuffle: the port names the worker that sent the query (docs/architecture.md
  // §12.3, §7.6). Must lie outside the kernel's ip_local_port_range, which the
  // exception path's sockets use.
  std::uint16_t upstream_port_min = 20000;
  std::uint16_t upstream_port_max = 29999;
  unsigned mbufs = 0;  // packet buffers; 0: sized from the workers and queue depths
};

struct EdnsConfig {
  std::uint16_t max_udp = 1232;  // 512..4096
};

struct ListenConfig {
  std::vector<net::Endpoint> udp;
  std::vector<net::Endpoint> tcp;
  unsigned tcp_idle_timeout_ms = 10000;  // RFC 7766 §6.2.3 suggests seconds, not minutes
  // A query must arrive whole this long after its first byte, however its bytes
  // trickle in (slowloris). At most tcp_idle_timeout_ms; when not given, 3000 or
  // the idle timeout if that is shorter.
  unsigned tcp_query_timeout_ms = 3000;
  unsigned tcp_max_connections = 1024;  // across all workers
  // Per worker (docs/architecture.md §11.2) and client IPv4 address or IPv6 /64; 0: no limit.
  unsigned tcp_max_connections_per_client = 64;
};

struct UpstreamServerConfig {
  net::Endpoint address;
};

// Conditional forwarding: names in `zone` and below go to these servers only.
struct ForwardZoneConfig {
  std::string zone;  // dotted, as written
  std::vector<net::Endpoint> servers;
};

struct UpstreamsConfig {
  Strategy strategy = Strategy::Fastest;
  unsigned timeout_ms = 1500;         // the client's whole budget (docs/architecture.md §7.3)
  unsigned max_failures = 3;          // consecutive failures that mark a server down
  unsigned probe_interval_ms = 1000;  // how often a down server is tried again
  unsigned max_attempts = 4;  // attempts per query, TCP included (docs/architecture.md §7.4)
  // RFC 5452 on the socket backend (docs/architecture.md §7.6): UDP attempts leave
  // from connected sockets opened on ports drawn from this range, each carrying at
  // most attempts_per_udp_socket attempts, at most max_udp_sockets_per_worker open.
  std::uint16_t source_port_low = 1024;
  std::uint16_t source_port_high = 65535;
  unsigned max_udp_sockets_per_worker = 1024;
  unsigned attempts_per_udp_socket = 16;  // 1: a fresh socket and port for every attempt
  // DNS 0x20 with a per-server fallback (engine::EngineConfig::case_randomisation).
  bool case_randomisation = true;
  std::vector<UpstreamServerConfig> servers;
  bool servers_from_resolv_conf = false;  // set when `servers` was empty and resolv.conf filled it
  std::vector<ForwardZoneConfig> forward_zones;
};

// Defaults as in conf/reference.yaml: serve-stale and prefetch on.
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
  std::string snapshot;  // warm restarts: saved on a clean stop, read at start; empty: off
};

// How a list is read (filter.lists[]). RPZ zones are a format of their own.
enum class ListKind : std::uint8_t { Rules, Rpz };

struct FilterListConfig {
  std::string name;
  std::string source;  // a path (relative to the configuration file) or an http(s):// URL
  ListKind kind = ListKind::Rules;
  filter::ListFormat format = filter::ListFormat::Auto;
  filter::Action action = filter::Action::Block;
  std::optional<filter::Scope> match;
  std::optional<filter::BlockResponse> response;  // this list's own, else filter.response
};

struct ClientGroupConfig {
  std::string name;
  std::vector<filter::Prefix> clients;
  std::vector<std::string> lists;  // names of filter.lists entries
};

struct FilterConfig {
  filter::BlockResponse response;                     // default for every list: NXDOMAIN, TTL 300
  std::uint16_t extended_error = dns::ede::kBlocked;  // RFC 8914 code of block answers
  bool extended_error_text = true;                    // ... with the list's name as its text
  unsigned refresh_interval_s = 0;                    // 0: lists are read again only on a trigger
  bool watch_files = true;                            // a changed list file reloads the filter
  std::string state_dir = "/var/lib/heimdall/lists";  // last good copies of URL lists
  unsigned download_timeout_ms = 30000;
  std::uint64_t download_max_bytes = 256ull << 20;
  std::vector<FilterListConfig> lists;  // at most filter::kMaxLists policies
  std::vector<ClientGroupConfig> groups;
};

enum class LogFormat : std::uint8_t { Text, Json };

struct LoggingConfig {
  LogLevel level = LogLevel::Info;
  LogFormat format = LogFormat::Text;
};

// Who may query (acl): an empty list allows everyone.
struct AclConfig {
  std::vector<filter::Prefix> allow;
  AclAction action = AclAction::Refuse;
};

// Abuse limits (limits): 0 switches a rate off. Per worker (docs/architecture.md §6.1).
struct LimitsConfig {
  unsigned client_qps = 0;
  unsigned client_burst = 0;  // 0: one second's worth
  unsigned client_ipv4_prefix = 24;
  unsigned client_ipv6_prefix = 56;
  unsigned responses_per_second = 0;  // RRL
  unsigned slip = 2;
  AnyPolicy any = AnyPolicy::Minimal;
};

// Operators' access (management): Prometheus text over HTTP and the control socket
// heimdallctl talks to. Both off unless given.
struct ManagementSettings {
  std::optional<net::Endpoint> metrics_listen;
  std::string control_socket;
};

// The query log (query_log): JSON lines written from per-worker rings.
struct QueryLogSettings {
  bool enabled = false;
  std::string path = "/var/log/heimdall/queries.jsonl";
  unsigned sample = 1;                     // one reply in `sample` is logged
  unsigned ring = 16384;                   // entries per worker ring (a power of two)
  std::uint64_t max_bytes = 100ull << 20;  // the file rotates past this
  unsigned keep = 5;                       // rotated files kept
};

// What CHAOS TXT questions are told (chaos): version.bind and version.server get
// `version`, hostname.bind and id.server `hostname`; empty: REFUSED. At most 255
// bytes each (one TXT string).
struct ChaosConfig {
  std::string version;
  std::string hostname;
};

struct Config {
  std::string source;  // file path, or "<embedded conf/dev.yaml>"
  DataplaneConfig dataplane;
  EdnsConfig edns;
  ListenConfig listen;
  UpstreamsConfig upstreams;
  CacheSettings cache;
  FilterConfig filter;
  std::vector<std::string> local_records;  // zone-file lines, checked at load
  LoggingConfig logging;
  AclConfig acl;
  LimitsConfig limits;
  ManagementSettings management;
  QueryLogSettings query_log;
  ChaosConfig chaos;
};

// Parses and validates YAML text. `source_name` is used in error messages.
// `resolv_conf` is the path read for upstreams when the file lists none; empty:
// leave them empty (the command line supplies them).
// Throws ConfigError.
Config parse_config(const std::string& yaml_text, const std::string& source_name,
                    const std::string& resolv_conf = "/etc/resolv.conf");

// Every upstream the engine talks to: `servers` first (their indexes are the
// default route), then the forwarding zones' servers not already among them.
std::vector<net::Endpoint> all_upstream_servers(const UpstreamsConfig& upstreams);

// Reads and parses a file. Throws ConfigError (also when the file cannot be read).
Config load_config_file(const std::string& path,
                        const std::string& resolv_conf = "/etc/resolv.conf");

// The nameservers of a resolv.conf, port 53. Throws ConfigError when the file
// cannot be read or names none.
std::vector<net::Endpoint> read_resolv_conf(const std::string& path);

// The text of conf/dev.yaml compiled into the binary.
const std::string& embedded_dev_config();

}  // namespace heimdall::control
