#include "operations.hpp"

#include <rte_version.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "heimdall/control/cache_dump.hpp"
#include "heimdall/control/cache_snapshot.hpp"
#include "heimdall/control/config.hpp"
#include "heimdall/control/metrics_text.hpp"
#include "heimdall/control/process_metrics.hpp"
#include "heimdall/dns/name.hpp"

namespace heimdall::app {
namespace {

using control::MetricsText;
using Type = MetricsText::Type;

// The filter's own state; what it blocked is in the engine's table.
void filter_metrics(MetricsText& metrics, const control::FilterReloader& filter) {
  const control::FilterStats& stats = filter.stats();
  metrics.family("heimdall_filter_reloads_total", "Filter snapshots published.", Type::Counter);
  metrics.sample({}, stats.reloads);
  metrics.family("heimdall_filter_failed_reloads_total",
                 "Filter builds abandoned (the previous filter stayed).", Type::Counter);
  metrics.sample({}, stats.failed_reloads);
  metrics.family("heimdall_filter_last_reload_duration_seconds",
                 "Duration of the last filter build.", Type::Gauge);
  metrics.sample({}, static_cast<double>(stats.last_duration_ns) / 1e9);
  metrics.family("heimdall_filter_last_reload_timestamp_seconds",
                 "When the filter in force was published (Unix time).", Type::Gauge);
  metrics.sample({}, stats.last_reload_unix_s);
  metrics.family("heimdall_filter_rules", "Rules of the filter in force, by list.", Type::Gauge);
  for (const auto& list : stats.lists) metrics.sample({{"list", list.name}}, list.rules);
}

// Every engine's counters, in the backend's worker order.
std::vector<const engine::Counters*> engine_counters_of(const io::Backend& backend) {
  std::vector<const engine::Counters*> counters;
  backend.visit_engines([&](const engine::Counters& engine, const upstream::Selector&) {
    counters.push_back(&engine);
  });
  return counters;
}

// Every engine's upstream selector, in the order of engine_counters_of().
std::vector<const upstream::Selector*> selectors_of(const io::Backend& backend) {
  std::vector<const upstream::Selector*> selectors;
  backend.visit_engines([&](const engine::Counters&, const upstream::Selector& selector) {
    selectors.push_back(&selector);
  });
  return selectors;
}

// The port's own counters, read from the port, not a worker.
void port_metrics(MetricsText& metrics, const io::PortStats& port) {
  metrics.family("heimdall_port_link_up", "Whether the port's link is up.", Type::Gauge);
  metrics.sample({}, port.link_up ? 1 : 0);
  metrics.family("heimdall_port_rx_packets_total", "Packets the port received.", Type::Counter);
  metrics.sample({}, port.rx_packets);
  metrics.family("heimdall_port_tx_packets_total", "Packets the port sent.", Type::Counter);
  metrics.sample({}, port.tx_packets);
  metrics.family("heimdall_port_rx_missed_total", "Packets the port dropped: RX queue full.",
                 Type::Counter);
  metrics.sample({}, port.rx_missed);
  metrics.family("heimdall_port_rx_no_mbuf_total",
                 "Packets the port dropped: no buffer to receive them into.", Type::Counter);
  metrics.sample({}, port.rx_no_mbuf);
  metrics.family("heimdall_port_errors_total", "Port errors, by direction.", Type::Counter);
  metrics.sample({{"direction", "rx"}}, port.rx_errors);
  metrics.sample({{"direction", "tx"}}, port.tx_errors);
}

// Per upstream server, summed over the workers (each keeps its own view).
struct ServerTotals {
  std::uint64_t queries = 0, answers = 0, failures = 0, tcp_failures = 0, down_workers = 0;
  std::uint64_t case_mismatches = 0, case_fallback_workers = 0;
  std::uint64_t srtt_sum_ns = 0;
  std::uint64_t srtt_samples = 0, rtt_sum_ns = 0;
  std::array<std::uint64_t, upstream::ServerCounters::kRttBounds.size() + 1> rtt_counts{};
};

std::vector<ServerTotals> server_totals(const Serving& serving) {
  std::vector<ServerTotals> totals(serving.upstreams.size());
  for (const upstream::Selector* selector : selectors_of(*serving.backend)) {
    for (unsigned i = 0; i < selector->size() && i < totals.size(); ++i) {
      const upstream::ServerCounters& c = selector->exported(i);
      ServerTotals& t = totals[i];
      t.queries += stats::read(c.chosen);
      t.answers += stats::read(c.answers);
      t.failures += stats::read(c.failures);
      t.tcp_failures += stats::read(c.tcp_failures);
      t.down_workers += stats::read(c.down);
      if (const std::uint64_t srtt = stats::read(c.srtt_ns); srtt != 0) {
        t.srtt_sum_ns += srtt;
        ++t.srtt_samples;
      }
      t.rtt_sum_ns += stats::read(c.rtt_sum_ns);
      for (std::size_t b = 0; b < t.rtt_counts.size(); ++b)
        t.rtt_counts[b] += stats::read(c.rtt_counts[b]);
    }
  }
  return totals;
}

// What the server table leaves to its caller (its Derived rows): the smoothed RTT
// averaged over the workers that have one, and the RTT histogram.
void upstream_metrics(MetricsText& metrics, const Serving& serving) {
  const std::vector<ServerTotals> totals = server_totals(serving);
  metrics.family("heimdall_upstream_server_srtt_seconds",
                 "Smoothed round-trip time, averaged over the workers that have a sample.",
                 Type::Gauge);
  for (std::size_t i = 0; i < totals.size(); ++i) {
    const ServerTotals& t = totals[i];
    metrics.sample({{"server", serving.upstreams[i].to_string()}},
                   t.srtt_samples == 0 ? 0.0
                                       : static_cast<double>(t.srtt_sum_ns) /
                                             static_cast<double>(t.srtt_samples) / 1e9);
  }
  metrics.family("heimdall_upstream_rtt_seconds", "Round-trip time of upstream answers.",
                 Type::Histogram);
  for (std::size_t i = 0; i < totals.size(); ++i) {
    metrics.histogram({{"server", serving.upstreams[i].to_string()}},
                      upstream::ServerCounters::kRttBounds, totals[i].rtt_counts,
                      static_cast<double>(totals[i].rtt_sum_ns) / 1e9);
  }
}

std::uint64_t sum(const std::vector<const engine::Counters*>& engines,
                  engine::Counters::Counter engine::Counters::*counter) {
  std::uint64_t total = 0;
  for (const engine::Counters* c : engines) total += stats::read(c->*counter);
  return total;
}

std::string format_time(std::int64_t unix_s) {
  if (unix_s == 0) return "never";
  const time_t seconds = static_cast<time_t>(unix_s);
  tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

// Every counter's total; the control thread's own below them.
control::CommandResult stats_command(const Serving& serving) {
  std::string text = counter_report(serving).totals_text();
  if (serving.query_log != nullptr) {
    text += "query_log_written " + std::to_string(serving.query_log->written()) + "\n";
    text += "query_log_write_errors " + std::to_string(serving.query_log->write_errors()) + "\n";
    text += "query_log_dropped " + std::to_string(serving.query_log->dropped()) + "\n";
  }
  if (serving.management != nullptr) {
    text +=
        "control_stalled_clients " + std::to_string(serving.management->stalled_clients()) + "\n";
  }
  return {true, text};
}

// A column per worker (the DPDK exception path's TCP worker last), a line per
// counter that moved on any of them.
control::CommandResult workers_command(const Serving& serving) {
  std::vector<std::string> columns;
  const std::size_t engines = engine_counters_of(*serving.backend).size();
  for (std::size_t i = 0; i < engines; ++i) {
    columns.push_back("worker " + std::to_string(i) + (i >= serving.workers ? " (TCP)" : ""));
  }
  return {true, counter_report(serving).workers_text(columns)};
}

control::CommandResult drain_command(Serving& serving, bool drain) {
  serving.draining = drain;
  return {true, drain ? "draining: /health and /ready answer 503 (withdrawing the node from "
                        "anycast and load balancers); queries are still answered\n"
                      : "not draining: /health and /ready answer as the node fares\n"};
}

control::CommandResult upstreams_command(const Serving& serving) {
  const auto engines = engine_counters_of(*serving.backend);
  std::string text;
  const std::vector<ServerTotals> totals = server_totals(serving);
  const std::size_t workers = selectors_of(*serving.backend).size();
  for (std::size_t i = 0; i < serving.upstreams.size(); ++i) {
    const ServerTotals& t = totals[i];
    const std::uint64_t srtt_us = t.srtt_samples == 0 ? 0 : t.srtt_sum_ns / t.srtt_samples / 1000;
    text += "server " + std::to_string(i) + " " + serving.upstreams[i].to_string() + ": " +
            (t.down_workers == 0 ? std::string("up")
                                 : "down in " + std::to_string(t.down_workers) + " of " +
                                       std::to_string(workers) + " workers") +
            ", srtt " + std::to_string(srtt_us) + " us, queries " + std::to_string(t.queries) +
            ", answers " + std::to_string(t.answers) + ", failures " + std::to_string(t.failures) +
            "\n";
  }
  text += "queries " + std::to_string(sum(engines, &engine::Counters::forwarded)) + ", answers " +
          std::to_string(sum(engines, &engine::Counters::upstream_answers)) + ", timeouts " +
          std::to_string(sum(engines, &engine::Counters::upstream_timeouts)) + ", failures " +
          std::to_string(sum(engines, &engine::Counters::upstream_failures)) + ", retries " +
          std::to_string(sum(engines, &engine::Counters::retries)) + "\n";
  return {true, text};
}

control::CommandResult lists_command(const Serving& serving) {
  if (serving.filter == nullptr || !serving.filter->active()) return {true, "no filter\n"};
  const control::FilterStats& stats = serving.filter->stats();
  std::string text = "reloads " + std::to_string(stats.reloads) + " (" +
                     std::to_string(stats.failed_reloads) + " abandoned), last " +
                     format_time(stats.last_reload_unix_s) + " in " +
                     std::to_string(stats.last_duration_ns / 1'000'000) + " ms\n";
  for (const auto& list : stats.lists) {
    text += list.name + ": " + std::to_string(list.rules) + " rules, " +
            std::to_string(list.regex_rules) + " regex, " + std::to_string(list.rejected) +
            " rejected, format " + list.format + ", source " + list.source +
            (list.from_last_good ? " (last good copy)" : "") +
            (list.error.empty() ? "" : ", error: " + list.error) + "\n";
  }
  return {true, text};
}

// Lists are read again at once. The file is checked, and a bad one is refused
// with its error (the running configuration stays); anything else it changes
// takes effect at the next start.
control::CommandResult reload_command(Serving& serving, const std::string& config_path) {
  std::string text;
  if (!config_path.empty()) {
    try {
      control::load_config_file(config_path);
      text += config_path +
              ": configuration OK; changes outside the filter lists' contents "
              "take effect at restart\n";
    } catch (const control::ConfigError& error) {
      return {false, std::string("configuration refused, the running one stays: ") + error.what()};
    }
  }
  if (serving.filter == nullptr || !serving.filter->active()) return {true, text + "no lists\n"};
  if (!serving.filter->reload("control socket")) {
    return {false, "filter reload abandoned; the previous filter stays (see the log)"};
  }
  return {true,
          text + "lists reloaded: " + std::to_string(serving.filter->stats().rules) + " rules\n"};
}

control::CommandResult cache_command(Serving& serving, std::span<const std::string> args) {
  constexpr const char* kUsage = "usage: cache flush [NAME] | cache dump [N] | cache save [FILE]";
  if (serving.cache == nullptr) return {false, "the cache is disabled"};
  if (args.empty()) return {false, kUsage};
  if (args[0] == "flush" && args.size() == 1) {
    serving.cache->flush_all();
    return {true, "cache flushed\n"};
  }
  if (args[0] == "flush" && args.size() == 2) {
    std::uint8_t wire[dns::kMaxNameWire];
    const std::size_t length = dns::name_from_text(args[1].c_str(), wire);
    if (length == 0) return {false, "not a domain name: " + args[1]};
    for (std::size_t i = 0; i < length; ++i) {
      if (wire[i] >= 'A' && wire[i] <= 'Z') wire[i] = static_cast<std::uint8_t>(wire[i] + 32);
    }
    serving.cache->flush_name({wire, length});
    return {true, "flushing " + args[1] + " and below (each worker in its next loops)\n"};
  }
  if (args[0] == "dump") return control::cache_dump_command(*serving.cache, args.subspan(1));
  if (args[0] == "save") {
    return control::cache_save_command(*serving.cache, serving.cache_snapshot, args.subspan(1));
  }
  return {false, kUsage};
}

}  // namespace

std::string unready_reason(const Serving& serving) {
  return serving.draining ? "draining (heimdallctl drain)\n" : "";
}

void note_upstream_progress(Serving& serving) {
  const auto engines = engine_counters_of(*serving.backend);
  const std::uint64_t sent = sum(engines, &engine::Counters::forwarded) +
                             sum(engines, &engine::Counters::retries) +
                             sum(engines, &engine::Counters::prefetches);
  const std::uint64_t answered = sum(engines, &engine::Counters::upstream_answers);
  serving.upstream_samples[serving.upstream_ticks++ % Serving::kUpstreamWindow] = {sent, answered};
}

std::string unhealthy_reason(const Serving& serving) {
  if (std::string reason = unready_reason(serving); !reason.empty()) return reason;
  constexpr std::size_t kWindow = Serving::kUpstreamWindow;
  if (serving.upstream_ticks < kWindow) return "";  // too soon to judge
  const auto& newest = serving.upstream_samples[(serving.upstream_ticks - 1) % kWindow];
  const auto& oldest = serving.upstream_samples[serving.upstream_ticks % kWindow];
  const std::uint64_t sent = newest.first - oldest.first;
  if (sent == 0 || newest.second != oldest.second) return "";
  return "no upstream answers: " + std::to_string(sent) + " queries sent in the last " +
         std::to_string(kWindow - 1) + " s, none answered\n";
}

control::CounterReport counter_report(const Serving& serving) {
  control::CounterReport report;
  std::vector<std::string> lists;  // names the engine's blocked-by-list counters
  if (serving.filter != nullptr && serving.filter->active()) {
    for (const auto& list : serving.filter->stats().lists) lists.push_back(list.name);
  }
  report.add({"engine", ""}, engine::kCounterTable, engine_counters_of(*serving.backend), 0, lists);
  if (serving.cache != nullptr) {
    // Every reader: the workers, and the DPDK exception path's TCP worker after them.
    std::vector<const cache::ReaderCounters*> readers;
    for (unsigned i = 0; i < serving.cache->reader_count(); ++i) {
      readers.push_back(&serving.cache->reader_counters(i));
    }
    std::vector<const cache::ShardCounters*> shards;
    for (unsigned i = 0; i < serving.cache->shard_count(); ++i) {
      shards.push_back(&serving.cache->shard_counters(i));
    }
    report.add({"cache", "cache_"}, cache::kReaderCounterTable, readers);
    report.add({"cache", "cache_"}, cache::kShardCounterTable, shards);
  }
  // Each upstream server as every worker counts it, summed by server.
  const std::vector<const upstream::Selector*> selectors = selectors_of(*serving.backend);
  for (std::size_t server = 0; server < serving.upstreams.size(); ++server) {
    std::vector<const upstream::ServerCounters*> sets;
    for (const upstream::Selector* selector : selectors) {
      if (server < selector->size()) sets.push_back(&selector->exported(server));
    }
    report.add_labelled({"upstreams", "upstream_server_"}, upstream::kServerCounterTable, sets,
                        "server", serving.upstreams[server].to_string());
  }
  // The backend's own: its sockets, or its port's workers and exception path.
  serving.backend->visit_counters([&](const stats::CounterSets& sets) { report.add(sets); });
  return report;
}

std::string render_metrics(const Serving& serving) {
  MetricsText metrics;
  metrics.family("heimdall_build_info", "Version of Heimdall and of DPDK.", Type::Gauge);
  metrics.sample({{"version", HEIMDALL_VERSION}, {"dpdk", rte_version()}}, 1);
  control::write_process_metrics(metrics);
  counter_report(serving).write_metrics(metrics);
  upstream_metrics(metrics, serving);
  if (serving.filter != nullptr && serving.filter->active()) {
    filter_metrics(metrics, *serving.filter);
  }
  if (const std::optional<io::PortStats> port = serving.backend->port_stats()) {
    port_metrics(metrics, *port);
  }
  if (serving.query_log != nullptr) {
    metrics.family("heimdall_query_log_written_total", "Query log lines written.", Type::Counter);
    metrics.sample({}, serving.query_log->written());
    metrics.family("heimdall_query_log_write_errors_total",
                   "Query log lines lost: the file could not be written.", Type::Counter);
    metrics.sample({}, serving.query_log->write_errors());
    metrics.family("heimdall_query_log_dropped_total",
                   "Query log entries dropped: a worker's ring was full.", Type::Counter);
    metrics.sample({}, serving.query_log->dropped());
  }
  if (serving.management != nullptr) {
    metrics.family("heimdall_control_stalled_clients_total",
                   "Control socket clients disconnected: they read nothing of an answer for 5 s.",
                   Type::Counter);
    metrics.sample({}, serving.management->stalled_clients());
  }
  return metrics.text();
}

void add_commands(control::ManagementServer& server, Serving& serving,
                  const std::string& config_path) {
  server.add_command("stats", "the total of every counter",
                     [&serving](std::span<const std::string>) { return stats_command(serving); });
  server.add_command("workers", "every counter by worker (those not zero on all)",
                     [&serving](std::span<const std::string>) { return workers_command(serving); });
  server.add_command(
      "upstreams", "the upstream servers and their totals",
      [&serving](std::span<const std::string>) { return upstreams_command(serving); });
  // For load balancers and the anycast health check (packaging/bird).
  const auto page = [](const std::string& reason) {
    return reason.empty() ? control::ManagementServer::Page{"200 OK", "ok\n"}
                          : control::ManagementServer::Page{"503 Service Unavailable", reason};
  };
  server.add_page("/health", [&serving, page] { return page(unhealthy_reason(serving)); });
  server.add_page("/ready", [&serving, page] { return page(unready_reason(serving)); });
  server.add_command(
      "drain",
      "/health and /ready answer 503 (withdraw from anycast and load "
      "balancers); queries are still answered",
      [&serving](std::span<const std::string>) { return drain_command(serving, true); });
  server.add_command(
      "undrain", "/health and /ready answer as the node fares again",
      [&serving](std::span<const std::string>) { return drain_command(serving, false); });
  server.add_command("lists", "filter lists: rules, rejects, last reload",
                     [&serving](std::span<const std::string>) { return lists_command(serving); });
  server.add_command("reload", "check the configuration file and read the filter lists again",
                     [&serving, config_path](std::span<const std::string>) {
                       return reload_command(serving, config_path);
                     });
  server.add_command(
      "cache",
      "cache flush [NAME]: drop every entry, or NAME and below; cache dump [N]: list up to N "
      "entries (default 10000, at most 1000000); cache save [FILE]: write a snapshot (default "
      "cache.snapshot) for a warm restart",
      [&serving](std::span<const std::string> args) { return cache_command(serving, args); });
}

void log_case_fallbacks(const Serving& serving, std::vector<bool>& logged) {
  logged.resize(serving.upstreams.size(), false);
  for (const upstream::Selector* selector : selectors_of(*serving.backend)) {
    for (unsigned i = 0; i < selector->size() && i < logged.size(); ++i) {
      if (logged[i] || stats::read(selector->exported(i).case_fallback) == 0) continue;
      logged[i] = true;
      spdlog::warn(
          "upstream {} does not echo the question's case (0x20): asked without case "
          "randomisation from now on ({} answers did not match)",
          serving.upstreams[i].to_string(), stats::read(selector->exported(i).case_mismatches));
    }
  }
}

}  // namespace heimdall::app
