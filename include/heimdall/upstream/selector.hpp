// Choosing an upstream server for each attempt, and keeping each server's health
// and round-trip time. One Selector per worker: its state is the worker's own view
// of the upstreams, written by nothing else (docs/architecture.md §4.1).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "heimdall/net/endpoint.hpp"

namespace heimdall::upstream {

enum class Strategy : std::uint8_t { RoundRobin, Fastest, Failover };

inline constexpr std::size_t kMaxServers = 32;  // attempts track tried servers in a 32-bit mask
inline constexpr std::uint64_t kMaxTcpBackoffNs = 60'000'000'000;  // the longest TCP back-off
// Answers that did not echo the 0x20 case after which a server is asked without
// it: one could be a forger that guessed port and ID, three in a row are a server
// (or a middlebox) that rewrites the question.
inline constexpr unsigned kCaseMismatchesForFallback = 3;

struct SelectorConfig {
  Strategy strategy = Strategy::Fastest;
  unsigned max_failures = 3;  // consecutive failures that mark a server down
  std::uint64_t probe_interval_ns = 1'000'000'000;
  std::uint64_t budget_ns = 1'500'000'000;  // the client's budget (upstreams.timeout_ms)
};

struct ServerState {
  net::Endpoint address;
  std::uint64_t srtt_ns = 0;  // EWMA of round-trip time; 0 until the first sample
  unsigned consecutive_failures = 0;
  bool down = false;
  std::uint64_t next_probe_ns = 0;  // when a down server may carry one query again
  std::uint64_t answers = 0;
  std::uint64_t failures = 0;
  // TCP to this server failed (refused, reset, timed out): until tcp_retry_ns a
  // truncated answer from it is not asked again over TCP. Each failure in a row
  // doubles the wait, from probe_interval up to kMaxTcpBackoffNs.
  unsigned tcp_failures = 0;
  std::uint64_t tcp_retry_ns = 0;
  // 0x20: answers that did not echo the case we sent; at kCaseMismatchesForFallback
  // the server gets the name as the client wrote it from then on.
  unsigned case_mismatches = 0;
  bool case_fallback = false;
};

// One server as this worker sees it, for the control thread to read (metrics,
// heimdallctl): written only by the owning worker with relaxed load + store
// (docs/architecture.md §4.2).
struct alignas(64) ServerCounters {
  using Counter = std::atomic<std::uint64_t>;
  // Upper bounds of the RTT histogram's buckets, in seconds; counts has one more
  // for the answers slower than the last.
  static constexpr std::array<double, 9> kRttBounds = {0.001, 0.0025, 0.005, 0.01, 0.025,
                                                       0.05,  0.1,    0.25,  1.0};
  Counter chosen{0};           // attempts sent to it
  Counter answers{0};          // answers it gave
  Counter failures{0};         // attempts that timed out or failed
  Counter srtt_ns{0};          // gauge
  Counter down{0};             // gauge: 1 while marked down
  Counter tcp_failures{0};     // TCP attempts that failed (each starts or extends a TCP back-off)
  Counter case_mismatches{0};  // answers that did not echo the 0x20 case of the question
  Counter case_fallback{0};    // gauge: 1 once the server is asked without 0x20
  Counter rtt_sum_ns{0};
  std::array<Counter, kRttBounds.size() + 1> rtt_counts{};
};

class Selector {
 public:
  // Throws std::invalid_argument for no servers or more than kMaxServers.
  Selector(std::span<const net::Endpoint> servers, const SelectorConfig& config,
           std::uint64_t seed);

  // The server for the next attempt of a query that may use the servers in
  // `allowed` (a forwarding zone's, or all) and already tried those in
  // `tried_mask`. Prefers servers that are up and untried, ordered by the strategy;
  // a down server whose probe time has come carries this query as its probe; when
  // every allowed server was tried it starts over, so a query never lacks a server.
  // `allowed` must name at least one server.
  unsigned choose(std::uint64_t now_ns, std::uint32_t tried_mask,
                  std::uint32_t allowed = UINT32_MAX);

  void on_attempt(unsigned server);  // an attempt is sent to it (counted for operators)
  void on_answer(unsigned server, std::uint64_t rtt_ns);
  // A truncated answer over UDP: its round trip counts, but the server has not
  // answered the question yet (TCP must follow), so its failures in a row stand.
  void on_truncated(unsigned server, std::uint64_t rtt_ns);
  void on_failure(unsigned server, std::uint64_t now_ns);
  // The outcome of a TCP attempt to the server (docs/architecture.md §7.4). A failure backs
  // the server's TCP off; an answer ends the back-off.
  void on_tcp_result(unsigned server, bool answered, std::uint64_t now_ns);
  // Whether a truncated answer from the server may be asked again over TCP now.
  bool tcp_usable(unsigned server, std::uint64_t now_ns) const {
    return now_ns >= servers_[server].tcp_retry_ns;
  }
  // Whether queries to the server may go out with 0x20 case randomisation.
  bool randomises_case(unsigned server) const { return !servers_[server].case_fallback; }
  // An answer from the server did not echo the case sent; true when this one made
  // the server fall back to plain queries.
  bool on_case_mismatch(unsigned server);
  // An answer from the server echoed the case: its mismatches in a row start over.
  void on_case_echoed(unsigned server) { servers_[server].case_mismatches = 0; }

  // The servers whose TCP is backing off at `now_ns`, as a mask.
  std::uint32_t tcp_backing_off(std::uint64_t now_ns) const;

  // docs/architecture.md §7.3: clamp(3 x SRTT, 50 ms, budget / 2); budget / 2 until the
  // first sample.
  std::uint64_t attempt_timeout_ns(unsigned server) const;

  std::size_t size() const { return servers_.size(); }
  std::uint32_t all_servers() const {
    return servers_.size() >= 32 ? UINT32_MAX : (std::uint32_t{1} << servers_.size()) - 1;
  }
  const ServerState& server(unsigned index) const { return servers_[index]; }
  const ServerCounters& exported(unsigned index) const { return exported_[index]; }

 private:
  unsigned pick_by_strategy(std::uint32_t candidates);
  void record_rtt(unsigned server, std::uint64_t rtt_ns);
  std::uint64_t next_random();

  void export_state(unsigned server);

  std::vector<ServerState> servers_;  // sized once at start-up
  std::unique_ptr<ServerCounters[]> exported_;
  SelectorConfig config_;
  unsigned round_robin_next_ = 0;
  unsigned choices_ = 0;
  std::uint64_t rng_state_;
};

}  // namespace heimdall::upstream
