// heimdall: command line, wiring, start-up and shutdown order.
//
// Order matters: signals are blocked first, while the process has one thread, so
// that every thread started later inherits the mask and only the control loop
// takes them (from a signalfd); the command line and the configuration are checked
// before anything starts (a bad file never half-starts the server); the EAL comes
// up before the workers (rte_eal_init pins the calling thread, and start_eal gives
// it its CPU set back so later threads are not squeezed onto one core); systemd
// hears READY=1 once the filter is loaded and the workers run. On SIGINT/SIGTERM
// the workers stop reading, answer what is in flight, and exit.
#include <malloc.h>
#include <rte_version.h>
#include <signal.h>
#include <spdlog/async.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <random>
#include <string>

#include "heimdall/cache/cache.hpp"
#include "heimdall/control/command_line.hpp"
#include "heimdall/control/config.hpp"
#include "heimdall/control/filter_reloader.hpp"
#include "heimdall/control/host_checks.hpp"
#include "heimdall/control/service_manager.hpp"
#include "heimdall/control/signals.hpp"
#include "heimdall/filter/client_groups.hpp"
#include "heimdall/io/eal.hpp"
#include "heimdall/io/socket_backend.hpp"
#ifdef HEIMDALL_DPDK_BACKEND
#include "heimdall/io/dpdk_backend.hpp"
#endif
#include "backend.hpp"
#include "operations.hpp"

namespace {

using namespace heimdall;
using app::Backend;

constexpr int kExitUsage = 2;
constexpr int kExitConfig = 1;
constexpr int kExitRuntime = 3;

spdlog::level::level_enum to_spdlog(control::LogLevel level) {
  switch (level) {
    case control::LogLevel::Trace:
      return spdlog::level::trace;
    case control::LogLevel::Debug:
      return spdlog::level::debug;
    case control::LogLevel::Info:
      return spdlog::level::info;
    case control::LogLevel::Warn:
      return spdlog::level::warn;
    case control::LogLevel::Error:
      return spdlog::level::err;
    case control::LogLevel::Critical:
      return spdlog::level::critical;
    case control::LogLevel::Off:
      return spdlog::level::off;
  }
  return spdlog::level::info;
}

// Logging is asynchronous: a full queue overwrites its oldest entry rather than
// make a thread wait (nothing on the packet path logs, but the control side must
// not stall either). The caller owns the logging thread: see stop_logging.
std::shared_ptr<spdlog::details::thread_pool> start_logging(control::LogLevel level) {
  auto pool = std::make_shared<spdlog::details::thread_pool>(8192, 1);
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto logger = std::make_shared<spdlog::async_logger>(
      "heimdall", sink, pool, spdlog::async_overflow_policy::overrun_oldest);
  logger->set_level(to_spdlog(level));
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_default_logger(logger);
  return pool;
}

// Joins the logging thread (after it writes what is queued) before the logger is
// destroyed. spdlog::shutdown alone does it the other way round, destroying the
// formatter the thread was just using (ThreadSanitizer reported it).
void stop_logging(std::shared_ptr<spdlog::details::thread_pool> pool) {
  pool.reset();
  spdlog::shutdown();
}

control::Config load(const control::CommandLine& command_line) {
  // Upstreams given on the command line make /etc/resolv.conf irrelevant.
  const std::string resolv_conf = command_line.upstreams.empty() ? "/etc/resolv.conf" : "";
  control::Config config = command_line.config_path.empty()
                               ? control::parse_config(control::embedded_dev_config(),
                                                       "<embedded conf/dev.yaml>", resolv_conf)
                               : control::load_config_file(command_line.config_path, resolv_conf);
  control::apply_overrides(config, command_line);
  return config;
}

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

// The access list as one LPM pair (docs/architecture.md §6.1): allowed networks map to bit 0.
// Null when every client is allowed.
std::unique_ptr<filter::ClientGroups> build_acl(const control::AclConfig& acl) {
  if (acl.allow.empty()) return nullptr;
  filter::ClientGroupsBuilder builder;
  const unsigned allowed = builder.add_group(1);
  for (const filter::Prefix& prefix : acl.allow) builder.add_prefix(allowed, prefix);
  return std::make_unique<filter::ClientGroups>(builder.build(0));
}

engine::EngineConfig engine_config(const control::Config& config,
                                   const filter::ClientGroups* acl = nullptr) {
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

std::string join_endpoints(const std::vector<net::Endpoint>& endpoints) {
  std::string text;
  for (const auto& endpoint : endpoints) text += (text.empty() ? "" : ", ") + endpoint.to_string();
  return text.empty() ? "none" : text;
}

// The exit summary: every counter that moved, by section (operations.cpp's tables),
// after a first line lab.sh and the service tests look for.
void log_summary(const app::Serving& serving) {
  const control::CounterReport report = app::counter_report(serving);
  spdlog::info("served {} queries: {} replies", report.total("queries"), report.total("replies"));
  for (const std::string& line : report.summary_lines()) spdlog::info("{}", line);
#ifdef HEIMDALL_DPDK_BACKEND
  if (serving.backend->dpdk_) {
    const io::PortStats port = serving.backend->dpdk_->port_stats();
    spdlog::info(
        "port: link {}, {} frames received, {} sent, {} missed (RX queue full), {} RX errors, {} "
        "TX errors, {} without a buffer",
        port.link_up ? "up" : "down", port.rx_packets, port.tx_packets, port.rx_missed,
        port.rx_errors, port.tx_errors, port.rx_no_mbuf);
  }
#endif
  if (serving.filter != nullptr && serving.filter->active()) {
    const control::FilterStats& stats = serving.filter->stats();
    spdlog::info("filter: {} reloads ({} abandoned)", stats.reloads, stats.failed_reloads);
    for (const auto& list : stats.lists) {
      spdlog::info("filter: list '{}': {} rules, {} blocked", list.name, list.rules,
                   report.total("filter_blocked." + list.name));
    }
  }
}

// What this build cannot run although the file is valid; empty when it can.
std::string unsupported(const control::Config& config) {
#ifdef HEIMDALL_DPDK_BACKEND
  (void)config;
  return {};
#else
  if (config.dataplane.backend != control::Backend::Dpdk) return {};
  return config.source +
         ": dataplane.backend: dpdk: this build has no DPDK backend (-Ddpdk_backend=disabled)";
#endif
}

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

bool is_loopback(const net::Endpoint& endpoint) {
  static constexpr std::uint8_t kLoopback6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return endpoint.family == AF_INET
             ? endpoint.address[0] == 127
             : std::equal(endpoint.address, endpoint.address + 16, kLoopback6);
}

// A forwarder that answers anyone is an open resolver: a reflector for
// amplification attacks and a cache anyone can probe. Serving beyond this host
// without an access list is allowed (an operator may filter upstream of us) but
// said at every start.
void warn_if_open_resolver(const control::Config& config) {
  if (!config.acl.allow.empty()) return;
  bool reachable = uses_dpdk(config);  // a DPDK port is never loopback
  for (const auto* list : {&config.listen.udp, &config.listen.tcp}) {
    for (const net::Endpoint& endpoint : *list) reachable |= !is_loopback(endpoint);
  }
  if (reachable) {
    spdlog::warn(
        "open resolver: listening beyond loopback ({}) with no acl.allow; anyone who reaches "
        "these addresses can use this server (set acl.allow to the networks it serves)",
        describe_listeners(config));
  }
}

// Everything serve() builds, torn down once, in this order, on every way out (a
// start-up error or a stop): the operator's interfaces first, then the workers
// (the backends stop and join in their destructors), the query-log writer (it
// drains what the workers left in their rings), the filter and the cache the
// workers read, and the EAL last.
struct Running {
  explicit Running(const io::EalOptions& eal) { io::start_eal(eal); }
  ~Running() {
    management.reset();
    backend.reset();
    query_log_writer.reset();
    filter.reset();
    cache.reset();
    query_log.reset();
    acl.reset();
    io::stop_eal();
  }
  Running(const Running&) = delete;
  Running& operator=(const Running&) = delete;

  std::unique_ptr<filter::ClientGroups> acl;
  std::unique_ptr<engine::QueryLog> query_log;
  std::unique_ptr<cache::Cache> cache;
  std::unique_ptr<control::FilterReloader> filter;
  std::unique_ptr<control::QueryLogWriter> query_log_writer;
  Backend backend;
  app::Serving serving;  // what the management server's commands read
  std::unique_ptr<control::ManagementServer> management;
};

int serve(const control::Config& config, const std::string& config_path) {
  if (config.upstreams.servers_from_resolv_conf) {
    spdlog::info("no upstream configured: using the nameservers of /etc/resolv.conf");
  }

  // Signals are blocked since main began; this thread is the one that reads them.
  control::SignalInbox signals;
  Running run(eal_options(config));
  app::Serving& serving = run.serving;
  try {
    run.acl = build_acl(config.acl);
    if (config.query_log.enabled) {
      run.query_log = std::make_unique<engine::QueryLog>(
          reader_count(config), config.query_log.ring, config.query_log.sample);
      run.query_log_writer = std::make_unique<control::QueryLogWriter>(
          *run.query_log, control::QueryLogFile{.path = config.query_log.path,
                                                .max_bytes = config.query_log.max_bytes,
                                                .keep = config.query_log.keep});
    }
    const unsigned readers = reader_count(config);
    run.filter = std::make_unique<control::FilterReloader>(config, readers);
    const rcu::Published<filter::Snapshot>* published = nullptr;
    if (run.filter->active()) {
      // Before the first query: nothing is answered unfiltered. A dead list URL
      // delays this by its download timeout at most; a list that cannot be read is
      // left out (and logged), but a filter that cannot be built stops start-up.
      if (!run.filter->reload("start-up")) {
        throw std::runtime_error("the filter could not be built");
      }
      published = &run.filter->published();
    }
    if (config.cache.enabled) {
      run.cache = std::make_unique<cache::Cache>(
          cache_config(config.cache), config.dataplane.workers, readers, std::random_device{}());
    }
#ifdef HEIMDALL_DPDK_BACKEND
    if (uses_dpdk(config)) {
      check_port_ranges(config);
      io::DpdkBackendConfig dpdk = dpdk_backend_config(config, run.acl.get());
      dpdk.engine.query_log = run.query_log.get();
      dpdk.filter = published;
      dpdk.cache = run.cache.get();
      run.backend.dpdk_ = std::make_unique<io::DpdkBackend>(dpdk);
    }
#endif
    if (!uses_dpdk(config)) {
      io::SocketBackendConfig socket = socket_backend_config(config, run.acl.get());
      socket.engine.query_log = run.query_log.get();
      socket.filter = published;
      socket.cache = run.cache.get();
      run.backend.socket_ = std::make_unique<io::SocketBackend>(socket);
    }
    run.backend.start();
    serving = app::Serving{.backend = &run.backend,
                           .cache = run.cache.get(),
                           .filter = run.filter.get(),
                           .query_log = run.query_log_writer.get(),
                           .upstreams = engine_config(config).servers,
                           .workers = config.dataplane.workers};
    if (config.management.metrics_listen || !config.management.control_socket.empty()) {
      run.management = std::make_unique<control::ManagementServer>(
          control::ManagementConfig{.metrics_listen = config.management.metrics_listen,
                                    .control_socket = config.management.control_socket,
                                    .limits = {}},
          [&serving] { return app::render_metrics(serving); });
      app::add_commands(*run.management, serving, config_path);
      serving.management = run.management.get();
    }
  } catch (const std::exception& error) {
    spdlog::error("{}", error.what());
    return kExitRuntime;  // `run` tears down what was built
  }
  spdlog::info("heimdall {} ready: {} workers, {}, upstreams {} ({})", HEIMDALL_VERSION,
               config.dataplane.workers, describe_listeners(config),
               join_endpoints(engine_config(config).servers), config.source);

  warn_if_open_resolver(config);
  control::service_manager::ready("serving: " + describe_listeners(config));

  auto next_tick = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  std::vector<bool> case_fallbacks_logged;
  for (;;) {
    // The loop sleeps in the management server's poll (or on the signal descriptor
    // alone) until a signal, a management request or the next one-second tick, at
    // which list files and the refresh interval are looked at.
    const auto until_tick = std::chrono::duration_cast<std::chrono::milliseconds>(
        next_tick - std::chrono::steady_clock::now());
    const int timeout_ms = static_cast<int>(std::clamp<std::int64_t>(until_tick.count(), 0, 1000));
    int signal_number = 0;
    if (run.management) {
      run.management->poll(timeout_ms, signals.fd());
      signal_number = signals.take();
    } else {
      signal_number = signals.wait(timeout_ms);
    }
    if (signal_number == 0) {
      if (std::chrono::steady_clock::now() >= next_tick) {
        run.filter->tick(std::chrono::steady_clock::now());
        app::log_case_fallbacks(serving, case_fallbacks_logged);
        next_tick = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      }
      continue;
    }
    if (signal_number == SIGHUP) {
      // A SIGHUP that arrives while this reload runs stays pending in the signal
      // descriptor and is the next loop's one reload.
      if (run.filter->active()) {
        control::service_manager::reloading();
        run.filter->reload("SIGHUP");
        control::service_manager::ready("serving: " + describe_listeners(config));
      } else {
        spdlog::info(
            "SIGHUP: no filter lists to reload (the configuration itself is not reloaded)");
      }
      continue;
    }
    spdlog::info("{}: draining in-flight queries and stopping", strsignal(signal_number));
    control::service_manager::stopping();
    break;
  }
  serving.management = nullptr;
  run.management.reset();
  run.backend.request_stop();
  run.backend.join();
  log_summary(serving);
  return 0;  // `run` tears down the rest
}

}  // namespace

int main(int argc, char** argv) {
  // Filter reloads allocate and free tens of MiB at a time. A fixed threshold keeps
  // every such block in its own mapping, given back to the kernel when freed;
  // glibc's sliding threshold would move them to the heap, where a freed builder
  // can stay resident and lift the next reload's peak.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  // Before any thread exists, so that none of them (the EAL's, the logger's,
  // libcurl's) can take a signal's default action: see control/signals.hpp.
  control::block_process_signals();
  control::CommandLine command_line;
  try {
    command_line = control::parse_command_line(argc, argv);
  } catch (const control::UsageError& error) {
    std::fprintf(stderr, "heimdall: %s\n\n%s", error.what(), control::usage_text());
    return kExitUsage;
  }
  if (command_line.show_help) {
    std::fputs(control::usage_text(), stdout);
    return 0;
  }
  if (command_line.show_version) {
    std::printf("heimdall %s (%s)\n", HEIMDALL_VERSION, rte_version());
    return 0;
  }

  control::Config config;
  try {
    config = load(command_line);
  } catch (const control::ConfigError& error) {
    std::fprintf(stderr, "heimdall: %s\n", error.what());
    return kExitConfig;
  }
  io::raise_descriptor_limit();
  if (const std::string problem = unsupported(config); !problem.empty()) {
    std::fprintf(stderr, "heimdall: %s\n", problem.c_str());
    return kExitConfig;
  }
  if (const std::vector<std::string> problems = control::host_problems(config); !problems.empty()) {
    for (const std::string& problem : problems)
      std::fprintf(stderr, "heimdall: %s\n", problem.c_str());
    return kExitConfig;
  }
  if (command_line.check_config) {
    std::printf("%s: configuration OK\n", config.source.c_str());
    return 0;
  }

  auto logging_thread = start_logging(config.logging.level);
  int status = kExitRuntime;
  try {
    status = serve(config, command_line.config_path);
  } catch (const std::exception& error) {
    spdlog::critical("{}", error.what());
  }
  stop_logging(std::move(logging_thread));
  return status;
}
