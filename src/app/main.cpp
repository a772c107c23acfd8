// heimdall: command line, start-up and shutdown order (the configuration's translation
// into each part's own is wiring.cpp).
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
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include "heimdall/cache/cache.hpp"
#include "heimdall/control/cache_snapshot.hpp"
#include "heimdall/control/command_line.hpp"
#include "heimdall/control/config.hpp"
#include "heimdall/control/filter_reloader.hpp"
#include "heimdall/control/host_checks.hpp"
#include "heimdall/control/service_manager.hpp"
#include "heimdall/control/signals.hpp"
#include "heimdall/filter/client_groups.hpp"
#include "heimdall/io/backend.hpp"
#include "heimdall/io/eal.hpp"
#include "heimdall/io/socket_backend.hpp"  // raise_descriptor_limit
#include "logging.hpp"
#include "operations.hpp"
#include "serving.hpp"
#include "wiring.hpp"

namespace {

using namespace heimdall;
using app::build_acl;
using app::cache_config;
using app::describe_listeners;
using app::eal_options;
using app::engine_config;
using app::join_endpoints;
using app::reader_count;
using app::uses_dpdk;

constexpr int kExitUsage = 2;
constexpr int kExitConfig = 1;
constexpr int kExitRuntime = 3;

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

// The exit summary: every counter that moved, by section (operations.cpp's tables),
// after a first line lab.sh and the service tests look for.
void log_summary(const app::Serving& serving) {
  const control::CounterReport report = app::counter_report(serving);
  spdlog::info("served {} queries: {} replies", report.total("queries"), report.total("replies"));
  for (const std::string& line : report.summary_lines()) spdlog::info("{}", line);
  if (const std::optional<io::PortStats> port_stats = serving.backend->port_stats()) {
    const io::PortStats& port = *port_stats;
    spdlog::info(
        "port: link {}, {} frames received, {} sent, {} missed (RX queue full), {} RX errors, {} "
        "TX errors, {} without a buffer",
        port.link_up ? "up" : "down", port.rx_packets, port.tx_packets, port.rx_missed,
        port.rx_errors, port.tx_errors, port.rx_no_mbuf);
  }
  if (serving.filter != nullptr && serving.filter->active()) {
    const control::FilterStats& stats = serving.filter->stats();
    spdlog::info("filter: {} reloads ({} abandoned)", stats.reloads, stats.failed_reloads);
    for (const auto& list : stats.lists) {
      spdlog::info("filter: list '{}': {} rules, {} blocked", list.name, list.rules,
                   report.total("filter_blocked." + list.name));
    }
  }
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

// A clean stop saves the cache for the next start while the workers still run
// and walk their own shards; a save that fails is logged and the stop goes on.
void save_cache_for_restart(const control::Config& config, cache::Cache* cache) {
  if (cache == nullptr || config.cache.snapshot.empty()) return;
  try {
    spdlog::info("cache snapshot: {}", control::save_cache(*cache, config.cache.snapshot));
  } catch (const std::exception& error) {
    spdlog::error("cache snapshot not saved: {}", error.what());
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
  std::unique_ptr<io::Backend> backend;
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
      // Before any worker runs, so the first query can be a hit (docs/architecture.md §8.6).
      if (!config.cache.snapshot.empty()) control::restore_cache(*run.cache, config.cache.snapshot);
    }
    run.backend = app::make_backend(config, {.acl = run.acl.get(),
                                             .query_log = run.query_log.get(),
                                             .filter = published,
                                             .cache = run.cache.get()});
    run.backend->start();
    serving = app::Serving{.backend = run.backend.get(),
                           .cache = run.cache.get(),
                           .filter = run.filter.get(),
                           .query_log = run.query_log_writer.get(),
                           .upstreams = engine_config(config).servers,
                           .workers = config.dataplane.workers,
                           .cache_snapshot = config.cache.snapshot};
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
        app::note_upstream_progress(serving);
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
  save_cache_for_restart(config, run.cache.get());
  run.backend->request_stop();
  run.backend->join();
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
  if (const std::string problem = app::unsupported(config); !problem.empty()) {
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

  app::LogThread logging_thread = app::start_logging(config.logging);
  int status = kExitRuntime;
  try {
    status = serve(config, command_line.config_path);
  } catch (const std::exception& error) {
    spdlog::critical("{}", error.what());
  }
  app::stop_logging(std::move(logging_thread));
  return status;
}
