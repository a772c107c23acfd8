// Every key of the configuration file, one row each, section by section. A row
// names the key, binds it to its member of Config (whose initializer in config.hpp
// is the default), and gives its range, unit and a line of documentation; the
// rows' order is the order errors list the keys in, and the order they are read.
//
// To add a key, e.g. upstreams.case_randomisation:
//   1. the member, with its default, in config.hpp:  bool case_randomisation = true;
//   2. one row in its section below (schema_table.hpp lists the kinds: integer,
//      seconds, bytes, fraction, boolean, string, choice, address, addresses,
//      port_range, section, sections, custom; .then() adds a check of the value,
//      .required() makes it mandatory in a list entry):
//        .boolean("case_randomisation", &UpstreamsConfig::case_randomisation,
//                 "0x20: random letter case in upstream queries")
//   3. its line in conf/reference.yaml (value = the default, or a comment saying
//      "example") and its name in the README's key table;
//      control_config_schema_test fails until both have it.
#include "heimdall/control/config_schema.hpp"

#include <algorithm>

#include "config_readers.hpp"
#include "heimdall/upstream/selector.hpp"
#include "schema_table.hpp"

namespace heimdall::control::schema {
namespace {

// ------------------------------------------------------------------ dataplane

const Section& port_section() {
  static const Section table =
      Table<PortConfig>()
          .string("device", &PortConfig::device, "a vdev name from eal_args or a PCI address")
          .required()
          .custom("address", Type::Custom, "IPv4 address/subnet answered on (198.18.0.1/24)",
                  [](const ConfigReader& reader, const ConfigValue& value, PortConfig& out) {
                    out.address = read_interface_address(reader, value, AF_INET);
                  })
          .custom("address6", Type::Custom, "IPv6 address/subnet answered on (2001:db8::1/64)",
                  [](const ConfigReader& reader, const ConfigValue& value, PortConfig& out) {
                    out.address6 = read_interface_address(reader, value, AF_INET6);
                  })
          .custom("gateway", Type::Custom, "IPv4 next hop for upstreams off the subnet",
                  [](const ConfigReader& reader, const ConfigValue& value, PortConfig& out) {
                    out.gateway = read_gateway(reader, value, AF_INET);
                  })
          .custom("gateway6", Type::Custom, "IPv6 next hop for upstreams off the subnet",
                  [](const ConfigReader& reader, const ConfigValue& value, PortConfig& out) {
                    out.gateway6 = read_gateway(reader, value, AF_INET6);
                  })
          .custom("mac", Type::Custom, "a unicast MAC replacing the port's own",
                  [](const ConfigReader& reader, const ConfigValue& value, PortConfig& out) {
                    out.mac = read_mac(reader, value);
                  })
          .integer("vlan", &PortConfig::vlan, 0, 4094, "", "802.1Q VLAN id; 0: untagged")
          .check([](const ConfigReader& reader, const ConfigValue& entry,
                    const ConfigFields& fields, PortConfig& port) {
            if (!port.address && !port.address6) {
              reader.fail(entry, "a port needs an address or address6 to answer on");
            }
            if (port.gateway && !port.address) {
              reader.fail(fields.at("gateway"), "a gateway needs the port's IPv4 address");
            }
            if (port.gateway6 && !port.address6) {
              reader.fail(fields.at("gateway6"), "a gateway6 needs the port's address6");
            }
          })
          .build();
  return table;
}

const Section& exception_section() {
  static const Section table =
      Table<ExceptionConfig>()
          .boolean("enabled", &ExceptionConfig::enabled, "false: no tap and no DNS over TCP")
          .string("tap", &ExceptionConfig::tap,
                  "the kernel tap carrying what the fast path "
                  "does not own")
          .then([](const ConfigReader& reader, const ConfigValue& value, ExceptionConfig& out) {
            if (out.tap.size() >= 16 || out.tap.find('/') != std::string::npos) {
              reader.fail(value, "expected an interface name of at most 15 characters, got '" +
                                     out.tap + "'");
            }
          })
          .build();
  return table;
}

const Section& dataplane_section() {
  static const Section table =
      Table<DataplaneConfig>()
          .choice("backend", &DataplaneConfig::backend,
                  {{"socket", Backend::Socket}, {"dpdk", Backend::Dpdk}},
                  "kernel sockets, or DPDK poll-mode workers on one port")
          .integer("workers", &DataplaneConfig::workers, 1, 64, "",
                   "worker threads (socket) or lcores (dpdk)")
          .custom("eal_args", Type::Custom, "list of strings: the DPDK EAL command line",
                  [](const ConfigReader& reader, const ConfigValue& value, DataplaneConfig& out) {
                    out.eal_args = read_strings(reader, value, "strings");
                  })
          .sections("ports", &DataplaneConfig::ports, port_section(), "port mappings",
                    "the DPDK port (exactly one in this version)")
          .section("exception", &DataplaneConfig::exception, exception_section(),
                   "dpdk: the kernel tap for what the fast path does not own")
          .port_range("upstream_ports", &DataplaneConfig::upstream_port_min,
                      &DataplaneConfig::upstream_port_max, 1024, 65535,
                      "dpdk: the fast path's upstream source ports")
          .integer("mbufs", &DataplaneConfig::mbufs, 1024, 16u << 20, "",
                   "dpdk: packet buffers; default: sized from workers and queues")
          .check([](const ConfigReader& reader, const ConfigValue& section,
                    const ConfigFields& fields, DataplaneConfig& out) {
            if (out.backend != Backend::Dpdk) return;
            if (out.ports.size() != 1) {
              const auto ports = fields.find("ports");
              reader.fail(ports == fields.end() ? section.line : ports->second.line,
                          "dataplane.ports",
                          "the dpdk backend drives exactly one port in this version, got " +
                              std::to_string(out.ports.size()));
            }
            const unsigned range = out.upstream_port_max - out.upstream_port_min + 1u;
            if (range < 64u * out.workers) {
              reader.fail(section.line, "dataplane.upstream_ports",
                          "needs at least 64 ports per worker for ID and port entropy, got " +
                              std::to_string(range) + " for " + std::to_string(out.workers) +
                              " workers");
            }
          })
          .build();
  return table;
}

// ------------------------------------------------------------------ edns, listen

const Section& edns_section() {
  static const Section table =
      Table<EdnsConfig>()
          .integer("max_udp", &EdnsConfig::max_udp, 512, 4096, "bytes",
                   "the largest UDP reply, and what upstream queries advertise")
          .build();
  return table;
}

const Section& listen_section() {
  static const Section table =
      Table<ListenConfig>()
          .addresses("udp", &ListenConfig::udp, "addresses served over UDP")
          .addresses("tcp", &ListenConfig::tcp, "addresses served over TCP (RFC 7766)")
          .integer("tcp_idle_timeout_ms", &ListenConfig::tcp_idle_timeout_ms, 100, 600000, "ms",
                   "a TCP client idle this long is closed")
          .integer("tcp_query_timeout_ms", &ListenConfig::tcp_query_timeout_ms, 100, 600000, "ms",
                   "a query must arrive whole this long after its first byte")
          .integer("tcp_max_connections", &ListenConfig::tcp_max_connections, 1, 1000000, "",
                   "TCP clients at once, across all workers")
          .integer("tcp_max_connections_per_client", &ListenConfig::tcp_max_connections_per_client,
                   0, 65535, "", "per worker and client; 0: no limit")
          // A query arriving more slowly than a connection may stay idle makes no
          // sense; the default follows a shorter idle timeout down.
          .check([](const ConfigReader& reader, const ConfigValue&, const ConfigFields& fields,
                    ListenConfig& out) {
            const auto query = fields.find("tcp_query_timeout_ms");
            if (query == fields.end()) {
              out.tcp_query_timeout_ms =
                  std::min(out.tcp_query_timeout_ms, out.tcp_idle_timeout_ms);
            } else if (out.tcp_query_timeout_ms > out.tcp_idle_timeout_ms) {
              reader.fail(query->second, "expected at most listen.tcp_idle_timeout_ms (" +
                                             std::to_string(out.tcp_idle_timeout_ms) + "), got " +
                                             std::to_string(out.tcp_query_timeout_ms));
            }
          })
          .build();
  return table;
}

// ------------------------------------------------------------------ upstreams

const Section& server_section() {
  static const Section table =
      Table<UpstreamServerConfig>()
          .address("address", &UpstreamServerConfig::address, "ADDR[:PORT]")
          .required()
          .build();
  return table;
}

const Section& forward_zone_section() {
  static const Section table =
      Table<ForwardZoneConfig>()
          .string("zone", &ForwardZoneConfig::zone, "a domain name below the root")
          .required()
          .then([](const ConfigReader& reader, const ConfigValue& value, ForwardZoneConfig& out) {
            if (!is_zone_name(out.zone)) {
              reader.fail(value, "expected a domain name below the root, got '" + out.zone + "'");
            }
          })
          .addresses("servers", &ForwardZoneConfig::servers, "the zone's servers")
          .required()
          .then([](const ConfigReader& reader, const ConfigValue& value, ForwardZoneConfig& out) {
            if (out.servers.empty()) reader.fail(value, "a zone needs at least one server");
          })
          .build();
  return table;
}

const Section& upstreams_section() {
  static const Section table =
      Table<UpstreamsConfig>()
          .choice("strategy", &UpstreamsConfig::strategy,
                  {{"round_robin", Strategy::RoundRobin},
                   {"fastest", Strategy::Fastest},
                   {"failover", Strategy::Failover}},
                  "how a query's server is chosen")
          .integer("timeout_ms", &UpstreamsConfig::timeout_ms, 50, 60000, "ms",
                   "the client's whole budget")
          .integer("max_failures", &UpstreamsConfig::max_failures, 1, 100, "",
                   "consecutive failures that mark a server down")
          .integer("probe_interval_ms", &UpstreamsConfig::probe_interval_ms, 100, 3600000, "ms",
                   "how often a down server carries one query again")
          .sections<UpstreamServerConfig>(
              "servers", &UpstreamsConfig::servers, server_section(), "servers",
              "{address: ...} or a bare address; empty: /etc/resolv.conf",
              [](const ConfigReader& reader, const ConfigValue& entry, const ConfigFields&,
                 const UpstreamsConfig& out, UpstreamServerConfig& server) {
                for (const auto& seen : out.servers) {
                  if (seen.address == server.address) {
                    reader.fail(entry, "listed twice: " + server.address.to_string());
                  }
                }
              })
          .at_most(upstream::kMaxServers)
          .or_bare("address", "{address: ADDR[:PORT]} or an address string")
          .sections<ForwardZoneConfig>(
              "forward_zones", &UpstreamsConfig::forward_zones, forward_zone_section(), "zones",
              "conditional forwarding: a zone's names go only to its servers",
              [](const ConfigReader& reader, const ConfigValue&, const ConfigFields& fields,
                 const UpstreamsConfig& out, ForwardZoneConfig& zone) {
                for (const auto& seen : out.forward_zones) {
                  if (same_name(seen.zone, zone.zone)) {
                    reader.fail(fields.at("zone"), "zone given twice: " + zone.zone);
                  }
                }
              })
          .integer("max_attempts", &UpstreamsConfig::max_attempts, 1, 16, "",
                   "attempts one client query may send upstream, TCP included")
          .port_range("source_ports", &UpstreamsConfig::source_port_low,
                      &UpstreamsConfig::source_port_high, 1024, 65535,
                      "socket backend (RFC 5452): ports UDP attempts' sockets are opened on")
          .integer("max_udp_sockets_per_worker", &UpstreamsConfig::max_udp_sockets_per_worker, 1,
                   65535, "sockets", "connected upstream UDP sockets one worker holds at once")
          .integer("attempts_per_udp_socket", &UpstreamsConfig::attempts_per_udp_socket, 1, 1024,
                   "attempts", "attempts one upstream UDP socket carries; 1: a socket each")
          .boolean("case_randomisation", &UpstreamsConfig::case_randomisation,
                   "DNS 0x20: random letter case upstream, per-server fallback")
          .build();
  return table;
}

// ------------------------------------------------------------------ cache

const Section& serve_stale_section() {
  static const Section table =
      Table<ServeStaleSettings>()
          .boolean("enabled", &ServeStaleSettings::enabled, "RFC 8767 serve-stale")
          .seconds("ttl", &ServeStaleSettings::ttl_s, 1, 86400, "the TTL stale answers carry")
          .seconds("max_stale", &ServeStaleSettings::max_stale_s, 1, 30 * 86400,
                   "how long past expiry an answer may be served")
          .integer("client_timeout_ms", &ServeStaleSettings::client_timeout_ms, 10, 60000, "ms",
                   "a client waiting this long gets the stale answer")
          .build();
  return table;
}

const Section& prefetch_section() {
  static const Section table =
      Table<PrefetchSettings>()
          .boolean("enabled", &PrefetchSettings::enabled, "refresh popular entries before expiry")
          .fraction("threshold", &PrefetchSettings::threshold, 0.0, 1.0,
                    "the fraction of the TTL left that triggers a refresh")
          .build();
  return table;
}

const Section& cache_section() {
  static const Section table =
      Table<CacheSettings>()
          .boolean("enabled", &CacheSettings::enabled, "false: every query is forwarded")
          .integer("max_entries", &CacheSettings::max_entries, 64, 100'000'000, "",
                   "entries across all shards")
          .bytes("max_bytes", &CacheSettings::max_bytes, 1ull << 20, 1ull << 40,
                 "entry memory across all shards")
          .seconds("min_ttl", &CacheSettings::min_ttl, 0, 86400, "floor on positive TTLs")
          .seconds("max_ttl", &CacheSettings::max_ttl, 1, 7 * 86400, "ceiling on positive TTLs")
          .seconds("negative_ttl_max", &CacheSettings::negative_ttl_max, 0, 86400,
                   "cap on negative caching (RFC 2308 §5)")
          .seconds("servfail_ttl", &CacheSettings::servfail_ttl, 0, 300,  // RFC 2308 §7: 5 min
                   "how long SERVFAIL is cached; 0: never")
          .section("serve_stale", &CacheSettings::serve_stale, serve_stale_section(),
                   "expired answers when the upstreams fail or are slow")
          .section("prefetch", &CacheSettings::prefetch, prefetch_section(),
                   "background refresh of entries late in their life")
          .string("snapshot", &CacheSettings::snapshot,
                  "a file the cache is saved to on a clean stop and restored from at start")
          .check([](const ConfigReader& reader, const ConfigValue& section,
                    const ConfigFields& fields, CacheSettings& out) {
            if (out.min_ttl > out.max_ttl) {
              const auto min = fields.find("min_ttl");
              reader.fail(min != fields.end() ? min->second : section,
                          "is above max_ttl (" + std::to_string(out.max_ttl) + ")");
            }
            if (!out.snapshot.empty() && out.snapshot.front() != '/') {
              reader.fail(fields.at("snapshot"), "expected an absolute path, got " + out.snapshot);
            }
          })
          .build();
  return table;
}

// ------------------------------------------------------------------ filter

const Section& filter_list_section() {
  static const Section table =
      Table<FilterListConfig>()
          .string("name", &FilterListConfig::name, "unique; names the list in logs and stats")
          .required()
          .string("source", &FilterListConfig::source, "a path (relative to the file) or URL")
          .required()
          .custom("format", Type::Custom,
                  "auto | hosts | domains | adblock | wildcard | regex | dnsmasq | rpz (a zone)",
                  read_list_format)
          .choice("action", &FilterListConfig::action,
                  {{"block", filter::Action::Block}, {"allow", filter::Action::Allow}},
                  "what the list's rules do")
          .choice("match", &FilterListConfig::match,
                  {{"exact", filter::Scope::Exact}, {"subtree", filter::Scope::Subtree}},
                  "whether a plain entry covers its subdomains")
          .custom("response", Type::Custom, "this list's own response (as filter.response)",
                  [](const ConfigReader& reader, const ConfigValue& value, FilterListConfig& out) {
                    out.response = read_response(reader, value, filter::BlockResponse{});
                  })
          .check([](const ConfigReader& reader, const ConfigValue& entry, const ConfigFields&,
                    FilterListConfig& list) {
            if (list.kind == ListKind::Rpz &&
                (list.match || list.response || list.action != filter::Action::Block)) {
              reader.fail(entry,
                          "an RPZ zone says per rule what it does: no 'action', 'match' or "
                          "'response'");
            }
          })
          .build();
  return table;
}

const Section& client_group_section() {
  static const Section table =
      Table<ClientGroupConfig>()
          .string("name", &ClientGroupConfig::name, "unique")
          .required()
          .custom("clients", Type::Networks, "the group's networks",
                  [](const ConfigReader& reader, const ConfigValue& value, ClientGroupConfig& out) {
                    out.clients = read_networks(reader, value, "10.1.0.0/16 or 2001:db8::/48");
                  })
          .required()
          .custom("lists", Type::Custom, "names of filter.lists entries that apply",
                  [](const ConfigReader& reader, const ConfigValue& value, ClientGroupConfig& out) {
                    out.lists = read_strings(reader, value, "list names");
                  })
          .required()
          .build();
  return table;
}

const Section& filter_section() {
  static const Section table =
      Table<FilterConfig>()
          .custom("response", Type::Custom,
                  "nxdomain | nodata | null | refused | {addresses: [...]}",
                  [](const ConfigReader& reader, const ConfigValue& value, FilterConfig& out) {
                    out.response = read_response(reader, value, out.response);
                  })
          .seconds(
              "ttl", [](auto& out) -> auto& { return out.response.ttl; }, 0, 86400,
              "TTL of block answers and their SOA")
          .choice("extended_error", &FilterConfig::extended_error,
                  {{"blocked", dns::ede::kBlocked},
                   {"filtered", dns::ede::kFiltered},
                   {"censored", dns::ede::kCensored},
                   {"none", dns::ede::kNone}},
                  "the Extended DNS Error (RFC 8914) block answers carry")
          .boolean("extended_error_text", &FilterConfig::extended_error_text,
                   "the blocking list's name as the error's text")
          .seconds("refresh_interval", &FilterConfig::refresh_interval_s, 0, 30 * 86400,
                   "how often every list is read again; 0: only on a trigger")
          .then([](const ConfigReader& reader, const ConfigValue& value, FilterConfig& out) {
            if (out.refresh_interval_s != 0 && out.refresh_interval_s < 60) {
              reader.fail(value, "expected 0 (never) or at least 1m");
            }
          })
          .boolean("watch_files", &FilterConfig::watch_files, "a changed list file reloads")
          .string("state_dir", &FilterConfig::state_dir, "last good copies of URL lists")
          .seconds("download_timeout", &FilterConfig::download_timeout_ms, 1, 600,
                   "a list URL's whole transfer", 1000)
          .bytes("download_max_size", &FilterConfig::download_max_bytes, 1ull << 10, 4ull << 30,
                 "a larger list is refused")
          .sections<FilterListConfig>(
              "lists", &FilterConfig::lists, filter_list_section(), "lists",
              "block and allow lists; at most 64 (an RPZ zone counts as 4)",
              [](const ConfigReader& reader, const ConfigValue& entry, const ConfigFields&,
                 const FilterConfig& out, FilterListConfig& list) {
                rebase_response(out.response, list);
                unsigned policies = policies_of(list);
                for (const auto& seen : out.lists) {
                  if (seen.name == list.name) {
                    reader.fail(entry, "list name given twice: " + list.name);
                  }
                  policies += policies_of(seen);
                }
                if (policies > filter::kMaxLists) {
                  reader.fail(entry, "too many lists: at most " +
                                         std::to_string(filter::kMaxLists) +
                                         " (an RPZ zone counts as 4)");
                }
              })
          .sections<ClientGroupConfig>(
              "groups", &FilterConfig::groups, client_group_section(), "groups",
              "which lists apply to which clients",
              [](const ConfigReader& reader, const ConfigValue&, const ConfigFields& fields,
                 const FilterConfig& out,
                 ClientGroupConfig& group) { check_group(reader, fields, out, group); })
          .build();
  return table;
}

// ------------------------------------------------------------------ the rest

const Section& acl_section() {
  static const Section table =
      Table<AclConfig>()
          .custom("allow", Type::Networks, "networks that may query; empty: everyone",
                  [](const ConfigReader& reader, const ConfigValue& value, AclConfig& out) {
                    out.allow = read_networks(reader, value, "10.0.0.0/8 or 2001:db8::/32");
                  })
          .choice("action", &AclConfig::action,
                  {{"refuse", AclAction::Refuse}, {"drop", AclAction::Drop}},
                  "what a client outside allow gets")
          .build();
  return table;
}

const Section& limits_section() {
  static const Section table =
      Table<LimitsConfig>()
          .integer("client_qps", &LimitsConfig::client_qps, 0, 10'000'000, "queries/s",
                   "per client prefix; 0: off")
          .integer("client_burst", &LimitsConfig::client_burst, 0, 10'000'000, "queries",
                   "a prefix's burst; 0: client_qps")
          .integer("client_ipv4_prefix", &LimitsConfig::client_ipv4_prefix, 1, 32, "bits",
                   "the prefix that makes an IPv4 client")
          .integer("client_ipv6_prefix", &LimitsConfig::client_ipv6_prefix, 1, 64, "bits",
                   "the prefix that makes an IPv6 client")
          .integer("responses_per_second", &LimitsConfig::responses_per_second, 0, 10'000'000,
                   "responses/s", "response-rate limiting; 0: off")
          .integer("slip", &LimitsConfig::slip, 0, 10, "",
                   "every slip-th limited answer leaves truncated; 0: none")
          .choice("any", &LimitsConfig::any,
                  {{"minimal", AnyPolicy::Minimal},
                   {"refuse", AnyPolicy::Refuse},
                   {"forward", AnyPolicy::Forward}},
                  "what a qtype ANY query gets (RFC 8482)")
          .build();
  return table;
}

const Section& management_section() {
  static const Section table =
      Table<ManagementSettings>()
          .address("metrics_listen", &ManagementSettings::metrics_listen,
                   "Prometheus text at http://ADDR:PORT/metrics")
          .string("control_socket", &ManagementSettings::control_socket,
                  "heimdallctl's Unix socket")
          .then([](const ConfigReader& reader, const ConfigValue& value, ManagementSettings& out) {
            if (out.control_socket.size() >= 108) {  // sockaddr_un.sun_path
              reader.fail(value, "a Unix socket path has at most 107 characters");
            }
          })
          .build();
  return table;
}

const Section& query_log_section() {
  static const Section table =
      Table<QueryLogSettings>()
          .boolean("enabled", &QueryLogSettings::enabled, "log replies as JSON lines")
          .string("path", &QueryLogSettings::path, "the log file")
          .integer("sample", &QueryLogSettings::sample, 1, 1'000'000, "",
                   "one reply in `sample` is logged")
          .integer("ring", &QueryLogSettings::ring, 64, 1u << 24, "entries",
                   "per worker ring, a power of two")
          .then([](const ConfigReader& reader, const ConfigValue& value, QueryLogSettings& out) {
            if ((out.ring & (out.ring - 1)) != 0) {
              reader.fail(value, "expected a power of two, got " + std::to_string(out.ring));
            }
          })
          .bytes("max_size", &QueryLogSettings::max_bytes, 4096, 1ull << 40,
                 "the file rotates past this")
          .integer("keep", &QueryLogSettings::keep, 0, 100, "files", "rotated files kept")
          .build();
  return table;
}

const Section& logging_section() {
  static const Section table = Table<LoggingConfig>()
                                   .choice("level", &LoggingConfig::level,
                                           {{"trace", LogLevel::Trace},
                                            {"debug", LogLevel::Debug},
                                            {"info", LogLevel::Info},
                                            {"warn", LogLevel::Warn},
                                            {"error", LogLevel::Error},
                                            {"critical", LogLevel::Critical},
                                            {"off", LogLevel::Off}},
                                           "the least severe message logged")
                                   .choice("format", &LoggingConfig::format,
                                           {{"text", LogFormat::Text}, {"json", LogFormat::Json}},
                                           "text lines, or one JSON object per line")
                                   .build();
  return table;
}

// One TXT string: at most 255 bytes.
void check_txt(const ConfigReader& reader, const ConfigValue& value, const std::string& text) {
  if (text.size() > 255) {
    reader.fail(value,
                "expected at most 255 bytes (one TXT string), got " + std::to_string(text.size()));
  }
}

const Section& chaos_section() {
  static const Section table =
      Table<ChaosConfig>()
          .string("version", &ChaosConfig::version, "CH TXT version.bind; absent: REFUSED")
          .then([](const ConfigReader& reader, const ConfigValue& value, ChaosConfig& out) {
            check_txt(reader, value, out.version);
          })
          .string("hostname", &ChaosConfig::hostname, "CH TXT hostname.bind; absent: REFUSED")
          .then([](const ConfigReader& reader, const ConfigValue& value, ChaosConfig& out) {
            check_txt(reader, value, out.hostname);
          })
          .build();
  return table;
}

}  // namespace

const Section& root() {
  static const Section table =
      Table<Config>()
          .section("dataplane", &Config::dataplane, dataplane_section(), "the I/O backend")
          .section("edns", &Config::edns, edns_section(), "EDNS(0)")
          .section("listen", &Config::listen, listen_section(), "where clients are served")
          .section("upstreams", &Config::upstreams, upstreams_section(), "where queries go")
          .section("cache", &Config::cache, cache_section(), "the response cache")
          .section("filter", &Config::filter, filter_section(), "blocking by name")
          .custom("local_records", Type::Custom, "zone-file lines answered locally",
                  [](const ConfigReader& reader, const ConfigValue& value, Config& out) {
                    read_local_records(reader, value, out.local_records);
                  })
          .section("acl", &Config::acl, acl_section(), "who may query")
          .section("limits", &Config::limits, limits_section(), "abuse limits, per worker")
          .section("management", &Config::management, management_section(),
                   "metrics and the control socket")
          .section("query_log", &Config::query_log, query_log_section(), "the query log")
          .section("logging", &Config::logging, logging_section(), "the process log")
          .section("chaos", &Config::chaos, chaos_section(), "CHAOS TXT answers")
          .build();
  return table;
}

}  // namespace heimdall::control::schema
