// The life of an upstream query's attempts (docs/architecture.md §7.4, §7.6): the
// first is sent, each ends by an answer, a timeout or a failure the backend
// reports, and the next is chosen (another server, TCP after a truncated answer,
// the same server without 0x20) until one answer stands or the budget or
// upstreams.max_attempts is spent. Source ports, IDs and 0x20 are drawn here.
//
// One per worker, owning its selector, pending table, timer wheel, source ports
// and random source. The engine keeps what answers mean (the waiters, the cache,
// serve-stale) and is told what became of a query by each call's Outcome; bytes
// leave through a Sender. Nothing allocates after construction.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "heimdall/dns/build.hpp"
#include "heimdall/net/endpoint.hpp"
#include "heimdall/stats/counter_table.hpp"
#include "heimdall/upstream/pending_table.hpp"
#include "heimdall/upstream/random_source.hpp"
#include "heimdall/upstream/selector.hpp"
#include "heimdall/upstream/sender.hpp"
#include "heimdall/upstream/timer_wheel.hpp"

namespace heimdall::upstream {

struct AttemptsConfig {
  SelectorConfig selector;            // its budget_ns is the query's (upstreams.timeout_ms)
  std::uint32_t max_pending = 8192;   // queries in flight per worker
  std::uint32_t max_waiters = 16384;  // clients waiting on them
  unsigned max_attempts = 4;          // upstreams.max_attempts, TCP attempts included
  std::uint16_t max_udp = 1232;       // the UDP size upstream queries advertise (edns.max_udp)
  bool upstream_tcp = true;           // a truncated UDP answer is asked again over TCP
  bool case_randomisation = false;    // 0x20 on UDP attempts (upstreams.case_randomisation)
};

// The counters the attempts bump. They belong to the owner's counter set, where
// each is declared once with its row (docs/architecture.md §4.2): the engine's.
struct AttemptCounters {
  stats::Counter& retries;
  stats::Counter& tcp_retries;
  stats::Counter& tcp_backoff;
  stats::Counter& attempts_exhausted;
  stats::Counter& upstream_answers;
  stats::Counter& upstream_timeouts;
  stats::Counter& upstream_failures;
  stats::Counter& upstream_no_socket;
  stats::Counter& case_mismatches;
  stats::Counter& case_fallbacks;
};

// What became of a query when one of its attempts ended.
enum class [[nodiscard]] Outcome : std::uint8_t{
    InFlight,  // another attempt is under way, or waits for a socket
    Answered,  // the answer stands: the caller answers the waiters, then calls finish()
    Failed,    // nothing is left to try: the caller fails the waiters, then calls finish()
};

class Attempts {
 public:
  // `source_ports`: the local ports attempts over UDP may leave from (the worker's
  // own sockets, or for DPDK the ports that steer answers back to it).
  Attempts(const AttemptsConfig& config, std::span<const net::Endpoint> servers,
           std::span<const std::uint16_t> source_ports, std::uint64_t seed,
           const AttemptCounters& counters);

  PendingTable& pending() { return pending_; }
  const PendingTable& pending() const { return pending_; }
  const Selector& selector() const { return selector_; }

  // Sends the first attempt of the allocated `slot`, over UDP: `question` as the
  // first client sent it (forwarded as is), `flags` the client's, `servers` the
  // upstreams it may go to. A serve-stale deadline, if any, is set before.
  void launch(std::uint32_t slot, const QuestionKey& key, std::span<const std::uint8_t> question,
              std::uint16_t flags, std::uint32_t servers, std::uint64_t now_ns, Sender& sender);

  // Calls on_due(slot) for every query whose timer is up: the caller answers a
  // passed serve-stale deadline, then calls resume_after_stale or on_timeout.
  template <typename F>
  void expire(std::uint64_t now_ns, F&& on_due) {
    timers_.expire(now_ns, on_due);
  }
  // The serve-stale deadline (§7.5) that woke `slot` came before its attempt's:
  // true, with the timer set to the attempt's deadline, when that is yet to come.
  bool resume_after_stale(std::uint32_t slot, std::uint64_t now_ns);
  // The attempt in flight timed out (or, without a socket, waited its turn).
  Outcome on_timeout(std::uint32_t slot, std::uint64_t now_ns, Sender& sender);

  // The attempt in flight of `server` over `transport` from (`local_port`, `id`),
  // or kNoSlot: the backend's report of a failure may be stale.
  std::uint32_t attempt_of(unsigned server, net::Transport transport, std::uint16_t local_port,
                           std::uint16_t id) const;
  // The backend saw the attempt fail before any answer (a TCP connection refused
  // or reset): the query moves on now instead of waiting for its timer.
  Outcome on_failure(std::uint32_t slot, std::uint64_t now_ns, Sender& sender);

  // The attempt a packet from `from` on (`local_port`, `id`) over `transport`
  // answers, or kNoSlot. The caller still checks the question before it counts.
  std::uint32_t answered_attempt(const net::Endpoint& from, net::Transport transport,
                                 std::uint16_t local_port, std::uint16_t id) const;
  // The answer's question did not echo the 0x20 case: counted, the server moves
  // toward its fallback, and the query is asked again without 0x20.
  Outcome on_case_mismatch(std::uint32_t slot, std::uint64_t now_ns, Sender& sender);
  // ... or it did: the server's mismatches in a row start over.
  void on_case_echoed(std::uint32_t slot) { selector_.on_case_echoed(pending_[slot].server); }
  // A matched answer, `truncated` (TC set) or `refused` (an RCODE saying this server
  // will not answer it, or an extended one): asked again over TCP or of another
  // server while attempts and budget allow (§6.5, §7.4), else it stands.
  Outcome on_answer(std::uint32_t slot, bool truncated, bool refused, std::uint64_t now_ns,
                    Sender& sender);

  // The query is done (its waiters answered): its attempt ends and the slot is freed.
  void finish(std::uint32_t slot, Sender& sender);

 private:
  void send_attempt(std::uint32_t slot, net::Transport transport, unsigned server,
                    std::uint64_t now_ns, Sender& sender);
  // The attempt in flight ends: its (port, ID) no longer matches and a UDP
  // attempt's socket is closed.
  void end_attempt(std::uint32_t slot, Sender& sender);
  // Opens the local end of a UDP attempt to `server`: its port, or 0 when none
  // could be had.
  std::uint16_t open_udp_port(unsigned server, Sender& sender);
  // The attempt in flight ended without a usable answer: the next attempt over UDP
  // (another server first; for a truncated answer only a server not yet asked
  // whose TCP is not backing off), or Failed once the budget or max_attempts is
  // spent.
  Outcome retry_or_fail(std::uint32_t slot, std::uint64_t now_ns, Sender& sender);
  std::uint64_t budget_end(const PendingQuery& query) const {
    return query.started_ns + config_.selector.budget_ns;
  }

  AttemptsConfig config_;
  std::vector<std::uint16_t> source_ports_;
  Selector selector_;
  PendingTable pending_;
  TimerWheel timers_;
  RandomSource random_;
  AttemptCounters counters_;
  // One upstream query being built: header, the question, our OPT.
  std::array<std::uint8_t, dns::kHeaderSize + kMaxQuestionWire + dns::kOptRecordSize> query_{};
};

}  // namespace heimdall::upstream
