#include "operations.hpp"

#include <rte_version.h>
#include <spdlog/spdlog.h>

#include <array>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include "heimdall/control/cache_dump.hpp"
#include "heimdall/control/config.hpp"
#include "heimdall/control/metrics_text.hpp"
#include "heimdall/dns/name.hpp"

namespace heimdall::app {
namespace {

using control::MetricsText;
using Type = MetricsText::Type;

template <typename CounterT>
std::uint64_t read(const CounterT& counter) {
  return counter.load(std::memory_order_relaxed);
}

// One family per engine counter, one sample per engine (workers first, then the
// DPDK exception path's TCP worker).
struct EngineMetric {
  const char* name;
  const char* help;
  engine::Counters::Counter engine::Counters::*counter;
};

constexpr EngineMetric kEngineMetrics[] = {
    {"heimdall_queries_total", "Client queries received.", &engine::Counters::queries},
    {"heimdall_replies_total", "Replies to clients, RRL's drops included.",
     &engine::Counters::replies},
    {"heimdall_cache_answers_total", "Replies from a fresh cache entry.",
     &engine::Counters::cache_answers},
    {"heimdall_stale_answers_total", "Replies from an expired entry (RFC 8767).",
     &engine::Counters::stale_answers},
    {"heimdall_relayed_answers_total", "Replies built from an upstream's answer.",
     &engine::Counters::relayed},
    {"heimdall_blocked_total", "Queries answered by a block rule.", &engine::Counters::blocked},
    {"heimdall_local_answers_total", "Queries answered from local records.",
     &engine::Counters::local_answers},
    {"heimdall_any_minimal_total", "ANY queries given RFC 8482's minimal answer.",
     &engine::Counters::any_minimal},
    {"heimdall_chaos_answers_total", "CHAOS TXT questions answered from the configuration.",
     &engine::Counters::chaos_answers},
    {"heimdall_upstream_queries_total", "Queries sent upstream (first attempts).",
     &engine::Counters::forwarded},
    {"heimdall_upstream_retries_total", "Further attempts after a timeout or refusal.",
     &engine::Counters::retries},
    {"heimdall_upstream_tcp_retries_total", "Truncated upstream answers asked again over TCP.",
     &engine::Counters::tcp_retries},
    {"heimdall_upstream_tcp_backoff_total",
     "Truncated upstream answers not asked over TCP: that server's TCP failed lately.",
     &engine::Counters::tcp_backoff},
    {"heimdall_upstream_attempts_exhausted_total",
     "Queries that spent upstreams.max_attempts without a usable answer.",
     &engine::Counters::attempts_exhausted},
    {"heimdall_upstream_answers_total", "Upstream answers matched to a query.",
     &engine::Counters::upstream_answers},
    {"heimdall_upstream_timeouts_total", "Upstream attempts that timed out.",
     &engine::Counters::upstream_timeouts},
    {"heimdall_upstream_failures_total", "Upstream attempts that failed (TCP refused, reset).",
     &engine::Counters::upstream_failures},
    {"heimdall_upstream_unmatched_total", "Upstream packets matching no query: dropped.",
     &engine::Counters::upstream_unmatched},
    {"heimdall_upstream_no_socket_total",
     "Upstream UDP attempts that got no socket (limit or descriptors): retried shortly.",
     &engine::Counters::upstream_no_socket},
    {"heimdall_upstream_case_mismatches_total",
     "Upstream answers whose question did not echo the 0x20 case: asked again without it.",
     &engine::Counters::case_mismatches},
    {"heimdall_upstream_case_fallbacks_total",
     "Servers (per worker) asked without 0x20 from then on for not echoing case.",
     &engine::Counters::case_fallbacks},
    {"heimdall_coalesced_total", "Clients attached to a query already in flight.",
     &engine::Counters::coalesced},
    {"heimdall_prefetches_total", "Refreshes of entries near the end of their TTL.",
     &engine::Counters::prefetches},
    {"heimdall_acl_refused_total", "Clients outside the access list answered REFUSED.",
     &engine::Counters::acl_refused},
    {"heimdall_acl_dropped_total", "Clients outside the access list not answered.",
     &engine::Counters::acl_dropped},
    {"heimdall_rate_limited_total", "Queries over their client prefix's rate: not answered.",
     &engine::Counters::rate_limited},
    {"heimdall_rrl_dropped_total", "Responses over their RRL rate: not sent.",
     &engine::Counters::rrl_dropped},
    {"heimdall_rrl_slipped_total", "Responses over their RRL rate sent truncated.",
     &engine::Counters::rrl_slipped},
};

constexpr const char* kRcodeNames[16] = {
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",  "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
    "NXRRSET", "NOTAUTH", "NOTZONE",  "DSOTYPENI", "RCODE12", "RCODE13", "RCODE14",  "RCODE15"};

void engine_metrics(MetricsText& metrics, const std::vector<const engine::Counters*>& engines) {
  for (const EngineMetric& metric : kEngineMetrics) {
    metrics.family(metric.name, metric.help, Type::Counter);
    for (std::size_t i = 0; i < engines.size(); ++i) {
      metrics.sample({{"worker", std::to_string(i)}}, read(engines[i]->*metric.counter));
    }
  }
  metrics.family("heimdall_answers_total", "Replies that left, by RCODE.", Type::Counter);
  for (unsigned rcode = 0; rcode < 16; ++rcode) {
    std::uint64_t total = 0;
    for (const engine::Counters* c : engines) total += read(c->answers_by_rcode[rcode]);
    if (total != 0 || rcode == 0 || rcode == 2 || rcode == 3 || rcode == 5) {
      metrics.sample({{"rcode", kRcodeNames[rcode]}}, total);
    }
  }
  metrics.family("heimdall_dropped_queries_total", "Client queries dropped, by reason.",
                 Type::Counter);
  std::uint64_t short_queries = 0, responses = 0, too_big = 0, pending_full = 0;
  for (const engine::Counters* c : engines) {
    short_queries += read(c->drop_short);
    responses += read(c->drop_qr_set);
    too_big += read(c->drop_reply_too_big);
    pending_full += read(c->drop_pending_full);
  }
  metrics.sample({{"reason", "short"}}, short_queries);
  metrics.sample({{"reason", "qr_set"}}, responses);
  metrics.sample({{"reason", "reply_too_big"}}, too_big);
  metrics.sample({{"reason", "pending_full"}}, pending_full);
}

void cache_metrics(MetricsText& metrics, const cache::Cache& cache) {
  const auto reader_family = [&](const char* name, const char* help,
                                 cache::ReaderCounters::Counter cache::ReaderCounters::*counter) {
    metrics.family(name, help, Type::Counter);
    std::uint64_t total = 0;
    for (unsigned i = 0; i < cache.shard_count(); ++i)
      total += read(cache.reader_counters(i).*counter);
    metrics.sample({}, total);
  };
  reader_family("heimdall_cache_hits_total", "Cache lookups that found a fresh entry.",
                &cache::ReaderCounters::hits);
  reader_family("heimdall_cache_misses_total", "Cache lookups that did not.",
                &cache::ReaderCounters::misses);
  reader_family("heimdall_cache_ring_drops_total",
                "Inserts dropped: the shard owner's handover ring was full.",
                &cache::ReaderCounters::ring_drops);
  const auto shard_family = [&](const char* name, const char* help, Type type,
                                cache::ShardCounters::Counter cache::ShardCounters::*counter) {
    metrics.family(name, help, type);
    std::uint64_t total = 0;
    for (unsigned i = 0; i < cache.shard_count(); ++i)
      total += read(cache.shard_counters(i).*counter);
    metrics.sample({}, total);
  };
  shard_family("heimdall_cache_entries", "Entries in the cache.", Type::Gauge,
               &cache::ShardCounters::entries);
  shard_family("heimdall_cache_bytes", "Bytes of entry memory in use.", Type::Gauge,
               &cache::ShardCounters::bytes);
  shard_family("heimdall_cache_inserts_total", "Entries inserted.", Type::Counter,
               &cache::ShardCounters::inserts);
  shard_family("heimdall_cache_evictions_total", "Entries evicted to make room.", Type::Counter,
               &cache::ShardCounters::evictions);
  shard_family("heimdall_cache_expired_total", "Entries removed after expiry.", Type::Counter,
               &cache::ShardCounters::expired);
}

void filter_metrics(MetricsText& metrics, const control::FilterReloader& filter,
                    const std::vector<const engine::Counters*>& engines) {
  const control::FilterStats& stats = filter.stats();
  metrics.family("heimdall_filter_reloads_total", "Filter snapshots published.", Type::Counter);
  metrics.sample({}, stats.reloads);
  metrics.family("heimdall_filter_failed_reloads_total",
                 "Filter builds abandoned (the previous filter stayed).", Type::Counter);
  metrics.sample({}, stats.failed_reloads);
  metrics.family("heimdall_filter_last_reload_seconds", "Duration of the last filter build.",
                 Type::Gauge);
  metrics.sample({}, static_cast<double>(stats.last_duration_ns) / 1e9);
  metrics.family("heimdall_filter_last_reload_timestamp_seconds",
                 "When the filter in force was published (Unix time).", Type::Gauge);
  metrics.sample({}, stats.last_reload_unix_s);
  metrics.family("heimdall_filter_rules", "Rules of the filter in force, by list.", Type::Gauge);
  for (const auto& list : stats.lists) metrics.sample({{"list", list.name}}, list.rules);
  metrics.family("heimdall_filter_blocked_total", "Queries blocked, by list.", Type::Counter);
  for (std::size_t i = 0; i < stats.lists.size() && i < filter::kMaxLists; ++i) {
    std::uint64_t total = 0;
    for (const engine::Counters* c : engines) total += read(c->blocked_by_list[i]);
    metrics.sample({{"list", stats.lists[i].name}}, total);
  }
}

#ifdef HEIMDALL_DPDK_BACKEND
void dpdk_metrics(MetricsText& metrics, const io::DpdkBackend& dpdk) {
  struct PortMetric {
    const char* name;
    const char* help;
    io::DpdkCounters::Counter io::DpdkCounters::*counter;
  };
  static constexpr PortMetric kPortMetrics[] = {
      {"heimdall_worker_rx_frames_total", "Frames received on the worker's queue.",
       &io::DpdkCounters::rx_frames},
      {"heimdall_worker_tx_frames_total", "Frames sent on the worker's queue.",
       &io::DpdkCounters::tx_frames},
      {"heimdall_worker_tx_dropped_total", "Frames dropped: the TX queue was full.",
       &io::DpdkCounters::tx_dropped},
      {"heimdall_worker_no_mbuf_total", "Replies dropped: no packet buffer.",
       &io::DpdkCounters::no_mbuf},
      {"heimdall_worker_handed_over_total", "Upstream answers passed to their worker's ring.",
       &io::DpdkCounters::handed_over},
      {"heimdall_worker_handover_full_total", "Upstream answers dropped: the ring was full.",
       &io::DpdkCounters::handover_full},
      {"heimdall_worker_to_exception_total", "Frames passed to the exception path.",
       &io::DpdkCounters::to_exception},
      {"heimdall_worker_exception_full_total", "Frames dropped: the exception ring was full.",
       &io::DpdkCounters::exception_full},
      {"heimdall_worker_no_neighbour_total", "Upstream queries dropped: next hop unresolved.",
       &io::DpdkCounters::no_neighbour},
  };
  for (const PortMetric& metric : kPortMetrics) {
    metrics.family(metric.name, metric.help, Type::Counter);
    for (std::size_t i = 0; i < dpdk.worker_count(); ++i) {
      metrics.sample({{"worker", std::to_string(i)}}, read(dpdk.dpdk_counters(i).*metric.counter));
    }
  }
  static constexpr const char* kDropReasons[net::kDropReasonCount] = {
      "none",          "short",    "not_for_us",      "unknown_ethertype", "bad_ipv4_header",
      "bad_ipv4_csum", "fragment", "bad_ipv6_header", "bad_udp_length",    "bad_udp_checksum",
      "bad_arp",       "bad_icmp", "bad_source"};
  metrics.family("heimdall_worker_dropped_frames_total", "Frames dropped, by reason.",
                 Type::Counter);
  for (std::size_t i = 0; i < dpdk.worker_count(); ++i) {
    for (std::size_t reason = 1; reason < net::kDropReasonCount; ++reason) {
      metrics.sample({{"worker", std::to_string(i)}, {"reason", kDropReasons[reason]}},
                     read(dpdk.dpdk_counters(i).dropped[reason]));
    }
  }
  const io::PortStats port = dpdk.port_stats();
  metrics.family("heimdall_port_link_up", "Whether the port's link is up.", Type::Gauge);
  metrics.sample({}, port.link_up ? 1 : 0);
  metrics.family("heimdall_port_rx_packets_total", "Packets the port received.", Type::Counter);
  metrics.sample({}, port.rx_packets);
  metrics.family("heimdall_port_tx_packets_total", "Packets the port sent.", Type::Counter);
  metrics.sample({}, port.tx_packets);
  metrics.family("heimdall_port_rx_missed_total", "Packets the port dropped: RX queue full.",
                 Type::Counter);
  metrics.sample({}, port.rx_missed);
  metrics.family("heimdall_port_errors_total", "Port errors, by direction.", Type::Counter);
  metrics.sample({{"direction", "rx"}}, port.rx_errors);
  metrics.sample({{"direction", "tx"}}, port.tx_errors);
}
#endif

// The socket layer's counters of each socket worker: the socket backend's, or the
// exception path's TCP worker, numbered after the DPDK workers as in the engine
// metrics (`first_worker`).
void socket_metrics(MetricsText& metrics, const io::SocketBackend& socket,
                    std::size_t first_worker = 0) {
  struct SocketMetric {
    const char* name;
    const char* help;
    io::SocketCounters::Counter io::SocketCounters::*counter;
  };
  static constexpr SocketMetric kSocketMetrics[] = {
      {"heimdall_worker_udp_received_total", "Datagrams received.",
       &io::SocketCounters::udp_received},
      {"heimdall_worker_udp_sent_total", "Datagrams sent.", &io::SocketCounters::udp_sent},
      {"heimdall_worker_udp_send_dropped_total", "Datagrams the kernel refused.",
       &io::SocketCounters::udp_send_dropped},
      {"heimdall_worker_udp_oversized_total", "Datagrams dropped: larger than the buffer.",
       &io::SocketCounters::udp_oversized},
      {"heimdall_worker_tcp_accepted_total", "TCP connections accepted.",
       &io::SocketCounters::tcp_accepted},
      {"heimdall_worker_tcp_refused_limit_total",
       "TCP connections closed at once: every slot busy, none quiet long enough to evict.",
       &io::SocketCounters::tcp_refused_limit},
      {"heimdall_worker_tcp_refused_client_limit_total",
       "TCP connections closed at once: the client had tcp_max_connections_per_client.",
       &io::SocketCounters::tcp_refused_client_limit},
      {"heimdall_worker_tcp_evicted_total",
       "TCP connections closed to make room for a new client (the longest quiet).",
       &io::SocketCounters::tcp_evicted},
      {"heimdall_worker_tcp_accept_backoff_total",
       "Times a TCP listener was paused: accept failed for want of descriptors or memory.",
       &io::SocketCounters::tcp_accept_backoff},
      {"heimdall_worker_tcp_closed_idle_total", "TCP connections closed: idle.",
       &io::SocketCounters::tcp_closed_idle},
      {"heimdall_worker_tcp_closed_query_timeout_total",
       "TCP connections closed: a query not whole within tcp_query_timeout_ms.",
       &io::SocketCounters::tcp_closed_query_timeout},
      {"heimdall_worker_tcp_bad_frame_total", "TCP connections closed: zero-length frame.",
       &io::SocketCounters::tcp_bad_frame},
      {"heimdall_worker_tcp_reply_dropped_total",
       "TCP answers dropped: the connection was gone or its buffer full.",
       &io::SocketCounters::tcp_reply_dropped},
      {"heimdall_worker_upstream_tcp_failed_total", "Upstream TCP connections that failed.",
       &io::SocketCounters::upstream_tcp_failed},
      {"heimdall_worker_upstream_tcp_no_slot_total",
       "Upstream TCP queries not sent: every upstream TCP slot busy.",
       &io::SocketCounters::upstream_tcp_no_slot},
      {"heimdall_worker_upstream_udp_opened_total",
       "Connected sockets opened for upstream UDP attempts, one per attempt.",
       &io::SocketCounters::upstream_udp_opened},
      {"heimdall_worker_upstream_udp_port_in_use_total",
       "Drawn upstream source ports already taken: drawn again.",
       &io::SocketCounters::upstream_udp_port_in_use},
      {"heimdall_worker_upstream_udp_limit_total",
       "Upstream UDP attempts refused a socket: upstreams.max_udp_sockets_per_worker open.",
       &io::SocketCounters::upstream_udp_limit},
      {"heimdall_worker_upstream_udp_no_descriptor_total",
       "Upstream UDP sockets that could not be opened (descriptors, memory).",
       &io::SocketCounters::upstream_udp_no_descriptor},
      {"heimdall_worker_upstream_udp_refused_total",
       "Upstream UDP attempts ended by the server's port unreachable: failed over.",
       &io::SocketCounters::upstream_udp_refused},
  };
  for (const SocketMetric& metric : kSocketMetrics) {
    metrics.family(metric.name, metric.help, Type::Counter);
    for (std::size_t i = 0; i < socket.worker_count(); ++i) {
      metrics.sample({{"worker", std::to_string(first_worker + i)}},
                     read(socket.socket_counters(i).*metric.counter));
    }
  }
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
  for (const upstream::Selector* selector : serving.backend->selectors()) {
    for (unsigned i = 0; i < selector->size() && i < totals.size(); ++i) {
      const upstream::ServerCounters& c = selector->exported(i);
      ServerTotals& t = totals[i];
      t.queries += read(c.chosen);
      t.answers += read(c.answers);
      t.failures += read(c.failures);
      t.tcp_failures += read(c.tcp_failures);
      t.down_workers += read(c.down);
      t.case_mismatches += read(c.case_mismatches);
      t.case_fallback_workers += read(c.case_fallback);
      if (const std::uint64_t srtt = read(c.srtt_ns); srtt != 0) {
        t.srtt_sum_ns += srtt;
        ++t.srtt_samples;
      }
      t.rtt_sum_ns += read(c.rtt_sum_ns);
      for (std::size_t b = 0; b < t.rtt_counts.size(); ++b)
        t.rtt_counts[b] += read(c.rtt_counts[b]);
    }
  }
  return totals;
}

void upstream_metrics(MetricsText& metrics, const Serving& serving) {
  const std::vector<ServerTotals> totals = server_totals(serving);
  const auto per_server = [&](const char* name, const char* help, Type type, auto value) {
    metrics.family(name, help, type);
    for (std::size_t i = 0; i < totals.size(); ++i) {
      metrics.sample({{"server", serving.upstreams[i].to_string()}}, value(totals[i]));
    }
  };
  per_server("heimdall_upstream_server_queries_total", "Attempts sent to the server.",
             Type::Counter, [](const ServerTotals& t) { return t.queries; });
  per_server("heimdall_upstream_server_answers_total", "Answers the server gave.", Type::Counter,
             [](const ServerTotals& t) { return t.answers; });
  per_server("heimdall_upstream_server_failures_total", "Attempts that timed out or failed.",
             Type::Counter, [](const ServerTotals& t) { return t.failures; });
  per_server("heimdall_upstream_server_tcp_failures_total",
             "TCP attempts that failed; each backs the server's TCP off.", Type::Counter,
             [](const ServerTotals& t) { return t.tcp_failures; });
  per_server("heimdall_upstream_server_case_mismatches_total",
             "Answers that did not echo the 0x20 case of the question.", Type::Counter,
             [](const ServerTotals& t) { return t.case_mismatches; });
  per_server("heimdall_upstream_server_case_fallback_workers",
             "Workers that ask the server without 0x20: it did not echo case.", Type::Gauge,
             [](const ServerTotals& t) { return t.case_fallback_workers; });
  per_server("heimdall_upstream_server_down_workers",
             "Workers that currently mark the server down.", Type::Gauge,
             [](const ServerTotals& t) { return t.down_workers; });
  per_server("heimdall_upstream_server_srtt_seconds",
             "Smoothed round-trip time, averaged over the workers that have a sample.", Type::Gauge,
             [](const ServerTotals& t) {
               return t.srtt_samples == 0 ? 0.0
                                          : static_cast<double>(t.srtt_sum_ns) /
                                                static_cast<double>(t.srtt_samples) / 1e9;
             });
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
  for (const engine::Counters* c : engines) total += read(c->*counter);
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

control::CommandResult stats_command(const Serving& serving) {
  const auto engines = serving.backend->engine_counters();
  std::string text;
  const auto line = [&](const char* what, std::uint64_t value) {
    text += std::string(what) + " " + std::to_string(value) + "\n";
  };
  line("queries", sum(engines, &engine::Counters::queries));
  line("replies", sum(engines, &engine::Counters::replies));
  line("cache_answers", sum(engines, &engine::Counters::cache_answers));
  line("stale_answers", sum(engines, &engine::Counters::stale_answers));
  line("relayed", sum(engines, &engine::Counters::relayed));
  line("blocked", sum(engines, &engine::Counters::blocked));
  line("local_answers", sum(engines, &engine::Counters::local_answers));
  line("servfail", sum(engines, &engine::Counters::servfail));
  line("refused", sum(engines, &engine::Counters::refused));
  line("upstream_queries", sum(engines, &engine::Counters::forwarded));
  line("upstream_timeouts", sum(engines, &engine::Counters::upstream_timeouts));
  line("rate_limited", sum(engines, &engine::Counters::rate_limited));
  line("rrl_dropped", sum(engines, &engine::Counters::rrl_dropped));
  if (serving.cache != nullptr) {
    std::uint64_t entries = 0;
    for (unsigned i = 0; i < serving.cache->shard_count(); ++i) {
      entries += read(serving.cache->shard_counters(i).entries);
    }
    line("cache_entries", entries);
  }
  if (serving.query_log != nullptr) {
    line("query_log_written", serving.query_log->written());
    line("query_log_dropped", serving.query_log->dropped());
  }
  return {true, text};
}

control::CommandResult workers_command(const Serving& serving) {
  const auto engines = serving.backend->engine_counters();
  std::string text;
  for (std::size_t i = 0; i < engines.size(); ++i) {
    const engine::Counters& c = *engines[i];
    text += "worker " + std::to_string(i) + (i >= serving.workers ? " (TCP)" : "") + ": queries " +
            std::to_string(read(c.queries)) + ", replies " + std::to_string(read(c.replies)) +
            ", cache answers " + std::to_string(read(c.cache_answers)) + ", upstream queries " +
            std::to_string(read(c.forwarded)) + "\n";
  }
  return {true, text};
}

control::CommandResult upstreams_command(const Serving& serving) {
  const auto engines = serving.backend->engine_counters();
  std::string text;
  const std::vector<ServerTotals> totals = server_totals(serving);
  const std::size_t workers = serving.backend->selectors().size();
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
  constexpr const char* kUsage = "usage: cache flush [NAME] | cache dump [N]";
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
  return {false, kUsage};
}

}  // namespace

std::string render_metrics(const Serving& serving) {
  MetricsText metrics;
  metrics.family("heimdall_build_info", "Version of Heimdall and of DPDK.", Type::Gauge);
  metrics.sample({{"version", HEIMDALL_VERSION}, {"dpdk", rte_version()}}, 1);
  const auto engines = serving.backend->engine_counters();
  engine_metrics(metrics, engines);
  upstream_metrics(metrics, serving);
  if (serving.cache != nullptr) cache_metrics(metrics, *serving.cache);
  if (serving.filter != nullptr && serving.filter->active()) {
    filter_metrics(metrics, *serving.filter, engines);
  }
  if (serving.backend->socket_) socket_metrics(metrics, *serving.backend->socket_);
#ifdef HEIMDALL_DPDK_BACKEND
  if (serving.backend->dpdk_) {
    dpdk_metrics(metrics, *serving.backend->dpdk_);
    if (const io::SocketBackend* tcp = serving.backend->dpdk_->tcp_backend()) {
      socket_metrics(metrics, *tcp, serving.backend->dpdk_->worker_count());
    }
  }
#endif
  if (serving.query_log != nullptr) {
    metrics.family("heimdall_query_log_written_total", "Query log lines written.", Type::Counter);
    metrics.sample({}, serving.query_log->written());
    metrics.family("heimdall_query_log_dropped_total",
                   "Query log entries dropped: a worker's ring was full.", Type::Counter);
    metrics.sample({}, serving.query_log->dropped());
  }
  return metrics.text();
}

void add_commands(control::ManagementServer& server, Serving& serving,
                  const std::string& config_path) {
  server.add_command(
      "stats", "totals of the main counters", [&serving, &server](std::span<const std::string>) {
        control::CommandResult result = stats_command(serving);
        result.text += "control_stalled_clients " + std::to_string(server.stalled_clients()) + "\n";
        return result;
      });
  server.add_command("workers", "per-worker queries and replies",
                     [&serving](std::span<const std::string>) { return workers_command(serving); });
  server.add_command(
      "upstreams", "the upstream servers and their totals",
      [&serving](std::span<const std::string>) { return upstreams_command(serving); });
  server.add_command("lists", "filter lists: rules, rejects, last reload",
                     [&serving](std::span<const std::string>) { return lists_command(serving); });
  server.add_command("reload", "check the configuration file and read the filter lists again",
                     [&serving, config_path](std::span<const std::string>) {
                       return reload_command(serving, config_path);
                     });
  server.add_command(
      "cache",
      "cache flush [NAME]: drop every entry, or NAME and below; cache dump [N]: list up to N "
      "entries (default 10000, at most 1000000)",
      [&serving](std::span<const std::string> args) { return cache_command(serving, args); });
}

void log_case_fallbacks(const Serving& serving, std::vector<bool>& logged) {
  logged.resize(serving.upstreams.size(), false);
  for (const upstream::Selector* selector : serving.backend->selectors()) {
    for (unsigned i = 0; i < selector->size() && i < logged.size(); ++i) {
      if (logged[i] || read(selector->exported(i).case_fallback) == 0) continue;
      logged[i] = true;
      spdlog::warn(
          "upstream {} does not echo the question's case (0x20): asked without case "
          "randomisation from now on ({} answers did not match)",
          serving.upstreams[i].to_string(), read(selector->exported(i).case_mismatches));
    }
  }
}

}  // namespace heimdall::app
