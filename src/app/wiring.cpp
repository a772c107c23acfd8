// The configuration translated into what each part takes (wiring.hpp).
#include "wiring.hpp"

#include <algorithm>
#include <fstream>
#include <stdexcept>
#include <string>

#include "heimdall/control/filter_loader.hpp"
#include "heimdall/io/socket_backend.hpp"
#ifdef HEIMDALL_DPDK_BACKEND
#include "heimdall/io/dpdk_backend.hpp"
#endif

namespace heimdall::app {
namespace {

engine::GuardConfig guard_config(const control::Config& config, const filter::ClientGroups* acl) {
  const control::LimitsConfig& limits = config.limits;
  engine::GuardConfig guard;
  guard.acl = acl;
  guard.acl_action = config.acl.action;
  guard.client_qps = limits.client_qps;
  guard.client_burst = limits.client_burst;
  guard.ipv4_prefix = static_cast<std::uint8_t>(limits.client_ipv4_prefix);
  guard.ipv6_prefix = static_cast<std::uint8_t>(limits.client_ipv6_prefix);
  guard.responses_per_second = limits.responses_per_second;
  guard.slip = static_cast<std::uint8_t>(limits.slip);
  guard.any = limits.any;
  return guard;
}

io::SocketBackendConfig socket_backend_config(const control::Config& config,
                                              const filter::ClientGroups* acl) {
  io::SocketBackendConfig backend;
  backend.workers = config.dataplane.workers;
  backend.udp_listen = config.listen.udp;
  backend.tcp_listen = config.listen.tcp;
  backend.tcp_idle_timeout_ms = config.listen.tcp_idle_timeout_ms;
  backend.tcp_query_timeout_ms = config.listen.tcp_query_timeout_ms;
  backend.tcp_max_connections = config.listen.tcp_max_connections;
  backend.tcp_max_connections_per_client = config.listen.tcp_max_connections_per_client;
  backend.engine = engine_config(config, acl);
  backend.source_ports = upstream::PortRange{.low = config.upstreams.source_port_low,
                                             .high = config.upstreams.source_port_high};
  backend.max_udp_sockets = config.upstreams.max_udp_sockets_per_worker;
  backend.attempts_per_udp_socket = config.upstreams.attempts_per_udp_socket;
  return backend;
}

#ifdef HEIMDALL_DPDK_BACKEND
// A port address's host with `port` (the port's DNS service, its gateway...).
net::Endpoint host_of(const filter::Prefix& prefix, std::uint16_t port) {
  net::Endpoint endpoint = prefix.address;
  endpoint.port = port;
  return endpoint;
}

io::DpdkBackendConfig dpdk_backend_config(const control::Config& config,
                                          const filter::ClientGroups* acl = nullptr) {
  const control::PortConfig& port = config.dataplane.ports.front();
  io::DpdkBackendConfig backend;
  backend.workers = config.dataplane.workers;
  backend.port.device = port.device;
  net::Interface& identity = backend.port.identity;
  if (port.address) {
    identity.has_ipv4 = true;
    std::copy_n(port.address->address.address, 4, identity.ipv4.begin());
    identity.prefix4 = port.address->length;
  }
  if (port.address6) {
    identity.has_ipv6 = true;
    std::copy_n(port.address6->address.address, 16, identity.ipv6.begin());
    identity.prefix6 = port.address6->length;
  }
  identity.vlan = port.vlan;
  if (port.mac) backend.port.mac = net::MacAddress::parse(*port.mac);
  backend.port.gateway = port.gateway;
  backend.port.gateway6 = port.gateway6;
  backend.mbufs = config.dataplane.mbufs;
  backend.upstream_port_min = config.dataplane.upstream_port_min;
  backend.upstream_port_max = config.dataplane.upstream_port_max;
  backend.engine = engine_config(config, acl);
  if (config.dataplane.exception.enabled) {
    backend.tap_name = config.dataplane.exception.tap;
    backend.tcp_listen = config.listen.tcp;
    if (backend.tcp_listen.empty()) {  // DNS over TCP on the port's own addresses
      if (port.address) backend.tcp_listen.push_back(host_of(*port.address, 53));
      if (port.address6) backend.tcp_listen.push_back(host_of(*port.address6, 53));
    }
  }
  backend.tcp_idle_timeout_ms = config.listen.tcp_idle_timeout_ms;
  backend.tcp_query_timeout_ms = config.listen.tcp_query_timeout_ms;
  backend.tcp_max_connections = config.listen.tcp_max_connections;
  backend.tcp_max_connections_per_client = config.listen.tcp_max_connections_per_client;
  return backend;
}

// Throws when dataplane.upstream_ports overlaps the kernel's ip_local_port_range.
// docs/architecture.md §12.4: the kernel's sockets behind the tap must never be given one of
// the fast path's upstream source ports, or their answers would go to a worker.
void check_port_ranges(const control::Config& config) {
  if (!config.dataplane.exception.enabled) return;
  std::ifstream file("/proc/sys/net/ipv4/ip_local_port_range");
  unsigned low = 0, high = 0;
  if (!(file >> low >> high)) return;
  if (low <= config.dataplane.upstream_port_max && config.dataplane.upstream_port_min <= high) {
    throw std::runtime_error(
        "dataplane.upstream_ports " + std::to_string(config.dataplane.upstream_port_min) + "-" +
        std::to_string(config.dataplane.upstream_port_max) +
        " overlaps the kernel's ip_local_port_range " + std::to_string(low) + "-" +
        std::to_string(high) + ", which the exception path's sockets use; move one of them");
  }
}
#endif

}  // namespace

// The access list as one LPM pair (docs/architecture.md §6.1): allowed networks map to bit 0.
// Null when every client is allowed.
std::unique_ptr<filter::ClientGroups> build_acl(const control::AclConfig& acl) {
  if (acl.allow.empty()) return nullptr;
  filter::ClientGroupsBuilder builder;
  const unsigned allowed = builder.add_group(1);
  for (const filter::Prefix& prefix : acl.allow) builder.add_prefix(allowed, prefix);
  return std::make_unique<filter::ClientGroups>(builder.build(0));
}

engine::EngineConfig engine_config(const control::Config& config, const filter::ClientGroups* acl) {
  engine::EngineConfig engine;
  engine.guard = guard_config(config, acl);
  engine.servers = control::all_upstream_servers(config.upstreams);
  engine.default_servers = control::default_server_mask(config.upstreams);
  engine.max_udp = config.edns.max_udp;
  engine.selector = upstream::SelectorConfig{
      .strategy = config.upstreams.strategy,
      .max_failures = config.upstreams.max_failures,
      .probe_interval_ns = std::uint64_t{config.upstreams.probe_interval_ms} * 1'000'000,
      .budget_ns = std::uint64_t{config.upstreams.timeout_ms} * 1'000'000,
  };
  engine.max_attempts = config.upstreams.max_attempts;
  engine.case_randomisation = config.upstreams.case_randomisation;
  engine.ttl = cache::TtlPolicy{.min_ttl = config.cache.min_ttl,
                                .max_ttl = config.cache.max_ttl,
                                .negative_ttl_max = config.cache.negative_ttl_max,
                                .servfail_ttl = config.cache.servfail_ttl};
  engine.chaos_version = config.chaos.version;
  engine.chaos_hostname = config.chaos.hostname;
  return engine;
}

cache::CacheConfig cache_config(const control::CacheSettings& settings) {
  cache::CacheConfig cache;
  cache.max_entries = settings.max_entries;
  cache.max_bytes = settings.max_bytes;
  cache.ttl = cache::TtlPolicy{.min_ttl = settings.min_ttl,
                               .max_ttl = settings.max_ttl,
                               .negative_ttl_max = settings.negative_ttl_max,
                               .servfail_ttl = settings.servfail_ttl};
  cache.serve_stale =
      cache::ServeStaleConfig{.enabled = settings.serve_stale.enabled,
                              .ttl_s = settings.serve_stale.ttl_s,
                              .max_stale_s = settings.serve_stale.max_stale_s,
                              .client_timeout_ms = settings.serve_stale.client_timeout_ms};
  cache.prefetch.enabled = settings.prefetch.enabled;
  cache.prefetch.threshold = settings.prefetch.threshold;
  return cache;
}

namespace {

// docs/architecture.md §5.2: the EAL heap is sized from the config. Without hugepages DPDK
// reserves 64 MiB by default; the cache's hash tables come on top.
std::size_t eal_memory_mb(const control::Config& config) {
  std::size_t bytes = 64u << 20;
  if (config.cache.enabled) {
    bytes += cache::Cache::eal_bytes_needed(cache_config(config.cache), config.dataplane.workers);
  }
  if (!config.filter.groups.empty()) {
    // Client groups: an rte_lpm and an rte_lpm6 per snapshot (64 MiB of tbl24
    // each), two snapshots during a reload, 25% for the allocator.
    std::size_t v4 = 0, v6 = 0;
    for (const auto& group : config.filter.groups) {
      for (const auto& prefix : group.clients) ++(prefix.address.family == AF_INET ? v4 : v6);
    }
    bytes += 2 * filter::ClientGroups::table_bytes(v4, v6) * 5 / 4;
  }
  if (!config.acl.allow.empty()) {
    std::size_t v4 = 0, v6 = 0;
    for (const auto& prefix : config.acl.allow) ++(prefix.address.family == AF_INET ? v4 : v6);
    bytes += filter::ClientGroups::table_bytes(v4, v6) * 5 / 4;
  }
  return (bytes + (1u << 20) - 1) >> 20;
}

}  // namespace

bool uses_dpdk(const control::Config& config) {
  return config.dataplane.backend == control::Backend::Dpdk;
}

// Cache readers and filter scratch: one per worker, and the DPDK exception
// path's TCP worker after them.
unsigned reader_count(const control::Config& config) {
  const bool tcp_worker = uses_dpdk(config) && config.dataplane.exception.enabled;
  return config.dataplane.workers + (tcp_worker ? 1 : 0);
}

io::EalOptions eal_options(const control::Config& config) {
  io::EalOptions eal;
  eal.memory_mb = eal_memory_mb(config);
#ifdef HEIMDALL_DPDK_BACKEND
  if (uses_dpdk(config)) {
    eal.drives_ports = true;
    eal.extra_args = config.dataplane.eal_args;
    eal.memory_mb += io::DpdkBackend::eal_bytes_needed(dpdk_backend_config(config)) >> 20;
  }
#endif
  return eal;
}

std::unique_ptr<io::Backend> make_backend(const control::Config& config,
                                          const BackendInputs& inputs) {
#ifdef HEIMDALL_DPDK_BACKEND
  if (uses_dpdk(config)) {
    check_port_ranges(config);
    io::DpdkBackendConfig dpdk = dpdk_backend_config(config, inputs.acl);
    dpdk.engine.query_log = inputs.query_log;
    dpdk.filter = inputs.filter;
    dpdk.cache = inputs.cache;
    return std::make_unique<io::DpdkBackend>(dpdk);
  }
#else
  // main refuses such a configuration before start-up; this keeps the promise here.
  if (uses_dpdk(config)) throw std::runtime_error(unsupported(config));
#endif
  io::SocketBackendConfig socket = socket_backend_config(config, inputs.acl);
  socket.engine.query_log = inputs.query_log;
  socket.filter = inputs.filter;
  socket.cache = inputs.cache;
  return std::make_unique<io::SocketBackend>(socket);
}

std::string unsupported(const control::Config& config) {
#ifdef HEIMDALL_DPDK_BACKEND
  (void)config;
  return {};
#else
  if (!uses_dpdk(config)) return {};
  return config.source +
         ": dataplane.backend: dpdk: this build has no DPDK backend (-Ddpdk_backend=disabled)";
#endif
}

std::string join_endpoints(const std::vector<net::Endpoint>& endpoints) {
  std::string text;
  for (const auto& endpoint : endpoints) text += (text.empty() ? "" : ", ") + endpoint.to_string();
  return text.empty() ? "none" : text;
}

std::string describe_listeners(const control::Config& config) {
#ifdef HEIMDALL_DPDK_BACKEND
  if (uses_dpdk(config)) {
    const control::PortConfig& port = config.dataplane.ports.front();
    const io::DpdkBackendConfig dpdk = dpdk_backend_config(config);
    return "DPDK port " + port.device + " (" +
           (port.address ? host_of(*port.address, 53).to_string() : std::string()) +
           (port.address && port.address6 ? ", " : "") +
           (port.address6 ? host_of(*port.address6, 53).to_string() : std::string()) + "), tcp " +
           join_endpoints(dpdk.tcp_listen) +
           (dpdk.tap_name.empty() ? "" : " on tap " + dpdk.tap_name);
  }
#endif
  return "udp " + join_endpoints(config.listen.udp) + ", tcp " + join_endpoints(config.listen.tcp);
}

}  // namespace heimdall::app
