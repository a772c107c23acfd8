// The per-worker pipeline, I/O-agnostic: client queries in, replies and upstream
// queries out; upstream answers in, replies out; timers drive retries and
// SERVFAIL. A backend (io/socket, io/dpdk) owns one Engine per worker and feeds it
// bursts; the Engine never touches a socket and never allocates after construction.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "heimdall/cache/cache.hpp"
#include "heimdall/dns/build.hpp"
#include "heimdall/dns/message.hpp"
#include "heimdall/engine/client_guard.hpp"
#include "heimdall/engine/query_log.hpp"
#include "heimdall/filter/snapshot.hpp"
#include "heimdall/net/client_ref.hpp"
#include "heimdall/rcu/qsbr.hpp"
#include "heimdall/upstream/pending_table.hpp"
#include "heimdall/upstream/selector.hpp"
#include "heimdall/upstream/timer_wheel.hpp"

namespace heimdall::engine {

struct ClientQuery {
  std::span<const std::uint8_t> wire;
  net::ClientRef from;
};

struct UpstreamAnswer {
  std::span<const std::uint8_t> wire;
  net::Endpoint from;
  net::Transport transport = net::Transport::Udp;
  std::uint16_t local_port = 0;  // the UDP port it arrived on; 0 over TCP
};

// Where the engine's output goes. The backend copies the bytes before returning
// (into its send batch, an mbuf, a connection's buffer): the span is reused.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual void send_to_client(const net::ClientRef& client, std::span<const std::uint8_t> wire) = 0;
  // UDP: sent from the socket bound to `local_port`. TCP: a new connection to the
  // server; its answer comes back as an UpstreamAnswer with transport Tcp.
  virtual void send_to_upstream(unsigned server, net::Transport transport, std::uint16_t local_port,
                                std::span<const std::uint8_t> wire) = 0;

  // The local end of one UDP attempt (RFC 5452, docs/architecture.md §7.6). The engine draws
  // `drawn` uniformly from its source ports. The socket backend sends the attempt
  // from a socket connected to the server: a new one on `drawn`, or one opened on
  // an earlier draw that may still carry attempts (upstreams.attempts_per_udp_socket);
  // `port` says which. InUse: `drawn` is taken (the engine draws again).
  // Unavailable: no socket can be had now (socket limit, descriptors): the attempt
  // is retried shortly. A backend that owns its port space (DPDK) uses `drawn`.
  enum class PortOpen : std::uint8_t { Opened, InUse, Unavailable };
  struct UdpAttempt {
    PortOpen result = PortOpen::Opened;
    std::uint16_t port = 0;
  };
  virtual UdpAttempt open_udp_attempt(unsigned /*server*/, std::uint16_t drawn) {
    return UdpAttempt{PortOpen::Opened, drawn};
  }
  virtual void close_udp_attempt(std::uint16_t /*local_port*/) {}
};

struct EngineConfig {
  std::vector<net::Endpoint> servers;
  // The servers of the default route; the others serve only forwarding zones.
  std::uint32_t default_servers = UINT32_MAX;
  upstream::SelectorConfig selector;
  std::uint16_t max_udp = 1232;       // edns.max_udp: reply cap and what upstream queries advertise
  std::uint32_t max_pending = 8192;   // queries in flight per worker
  std::uint32_t max_waiters = 16384;  // clients waiting on them (coalescing shares entries)
  std::uint16_t max_waiters_per_query = 256;
  // Whether a truncated UDP answer is asked again over TCP. A backend that cannot
  // open TCP connections (the DPDK fast path) passes the truncated answer to its
  // client instead, which retries over TCP itself (RFC 7766 §5), as dnsdist does.
  bool upstream_tcp = true;
  // Attempts one query may send upstream, TCP ones included (upstreams.max_attempts,
  // docs/architecture.md §7.4); the last one allowed keeps what is left of the budget.
  unsigned max_attempts = 4;
  // DNS 0x20 on UDP attempts (upstreams.case_randomisation): the name's letters go
  // out in random case and an answer must echo it; a server that does not is
  // asked without it from then on (dns/case_randomisation.hpp).
  bool case_randomisation = false;
  // The TTL clamps of relayed answers (cache.min_ttl, max_ttl, negative_ttl_max);
  // with a cache, its own policy is used, so that a miss shows what a hit would.
  cache::TtlPolicy ttl;
  // CHAOS TXT answers for version.bind/version.server and hostname.bind/id.server
  // (chaos.version, chaos.hostname); empty: REFUSED. Class CH is never forwarded.
  std::string chaos_version;
  std::string chaos_hostname;
  GuardConfig guard;  // access list, rate limits, RRL, ANY (all off but ANY by default)
  // Replies are logged into ring `cache_reader` of this; null: no query log.
  QueryLog* query_log = nullptr;
};

// Per-worker counters, one per outcome and one per drop reason (docs/conventions.md §6). Written
// only by the owning worker with relaxed load + store (docs/architecture.md §4.2), read by the
// control thread.
struct alignas(64) Counters {
  using Counter = std::atomic<std::uint64_t>;
  Counter queries{0};
  Counter replies{0};
  Counter forwarded{0};    // queries sent upstream (first attempts)
  Counter coalesced{0};    // clients attached to a query already in flight
  Counter retries{0};      // further attempts after a timeout or refusal
  Counter tcp_retries{0};  // upstream answered with TC: asked again over TCP
  Counter tcp_backoff{0};  // ... not asked over TCP: that server's TCP failed lately (backs off)
  Counter attempts_exhausted{0};  // queries that spent max_attempts without a usable answer
  Counter upstream_answers{0};
  Counter upstream_timeouts{0};
  Counter upstream_failures{0};   // attempts the backend reported failed (TCP refused, reset)
  Counter upstream_no_socket{0};  // UDP attempts that got no socket (limit, descriptors): retried
  Counter case_mismatches{0};     // 0x20: otherwise matching answers whose question case differed
  Counter case_fallbacks{0};      // servers that stopped getting 0x20 for not echoing case
  Counter servfail{0};            // SERVFAIL we generated: budget spent or no room
  Counter formerr{0};
  Counter notimp{0};
  Counter refused{0};
  Counter badvers{0};
  Counter drop_short{0};   // shorter than a header
  Counter drop_qr_set{0};  // a response sent to us (never answered: no reflection)
  Counter drop_reply_too_big{0};
  Counter drop_pending_full{0};   // answered SERVFAIL
  Counter upstream_unmatched{0};  // no pending query with that port, ID, server and question
  Counter upstream_malformed{0};
  Counter cache_answers{0};   // replies built from a fresh cache entry
  Counter stale_answers{0};   // RFC 8767: expired entries served, upstreams failing or slow
  Counter prefetches{0};      // refreshes sent for entries near the end of their TTL
  Counter blocked{0};         // answered by a block rule (also counted per list below)
  Counter local_answers{0};   // answered from the operator's local records
  Counter filter_too_big{0};  // a block or local answer that did not fit: SERVFAIL
  Counter acl_refused{0};     // a client outside the access list: REFUSED
  Counter acl_dropped{0};     // ... or not answered (acl.action: drop)
  Counter rate_limited{0};    // over its prefix's query rate: not answered
  Counter rrl_dropped{0};     // a UDP response over its RRL rate: not sent
  Counter rrl_slipped{0};     // ... sent truncated instead (slip)
  Counter any_minimal{0};     // ANY answered with RFC 8482's one record
  Counter relayed{0};         // replies built from an upstream's answer
  Counter chaos_answers{0};   // CHAOS TXT (version.bind, ...) answered from the configuration
  // Replies that left, by the RCODE in their header (RRL's drops not included).
  // replies = cache_answers + stale_answers + relayed + blocked + local_answers
  //         + any_minimal + chaos_answers + formerr + servfail + notimp + refused
  //         + badvers.
  std::array<Counter, 16> answers_by_rcode{};
  // By the list (the snapshot's list_names index) whose rule blocked the query.
  std::array<Counter, filter::kMaxLists> blocked_by_list{};

  static void bump(Counter& counter, std::uint64_t by = 1) {
    counter.store(counter.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }
};

class Engine {
 public:
  // `udp_source_ports`: the local ports this worker may send upstream queries from
  // (its own sockets, or for DPDK the ports that steer answers back to it).
  // `cache`: shared by every worker, this one reading as `cache_reader` (and
  // owning that shard); null forwards everything. `filter`: the published filter,
  // read once per burst (the worker announces RCU quiescence between bursts), with
  // `cache_reader` as this worker's index for its regex scratch; null filters
  // nothing.
  Engine(const EngineConfig& config, std::span<const std::uint16_t> udp_source_ports,
         std::uint64_t seed, cache::Cache* cache = nullptr, unsigned cache_reader = 0,
         const rcu::Published<filter::Snapshot>* filter = nullptr);

  void on_queries(std::span<const ClientQuery> burst, std::uint64_t now_ns, Sink& sink);
  void on_upstream_answers(std::span<const UpstreamAnswer> burst, std::uint64_t now_ns, Sink& sink);
  // Expires attempts whose time is up: retry on the next upstream, or SERVFAIL.
  void on_timer(std::uint64_t now_ns, Sink& sink);
  // The backend saw an attempt fail before any answer (a TCP connection refused or
  // reset): the query moves on now instead of waiting for its timer. `id` and
  // `local_port` are those of the query as sent; stale reports are ignored.
  void on_upstream_failure(unsigned server, net::Transport transport, std::uint16_t local_port,
                           std::uint16_t id, std::uint64_t now_ns, Sink& sink);

  std::uint32_t pending() const { return pending_.in_use(); }
  const Counters& counters() const { return counters_; }
  const upstream::Selector& selector() const { return selector_; }

 private:
  // A query that parsed and passed validation, waiting for the burst's cache lookup.
  struct Admitted {
    dns::ClientView view;
    dns::QuestionKey key;
    const ClientQuery* query = nullptr;
    std::uint32_t servers = UINT32_MAX;  // the upstreams it may go to
  };
  static constexpr std::size_t kMaxBurst = 64;

  void on_query_chunk(std::span<const ClientQuery> chunk, std::uint64_t now_ns, Sink& sink);
  // Answers what is malformed or refused at once; true when `admitted` is to be looked up.
  bool admit(const ClientQuery& query, Admitted& admitted, Sink& sink);
  // Answers the admitted queries the filter decides (blocked, local records) and
  // gives the rest their upstreams; returns how many are left, packed in front.
  std::size_t apply_filter(std::size_t admitted, Sink& sink);
  void handle_answer(const UpstreamAnswer& answer, std::uint64_t now_ns, Sink& sink);
  void forward(const Admitted& admitted, bool stale_held, std::uint64_t now_ns, Sink& sink);
  void prefetch(const Admitted& admitted, std::uint64_t now_ns, Sink& sink);
  // Fills the allocated `slot` with the admitted question and sends its first attempt.
  void launch(std::uint32_t slot, const Admitted& admitted, std::uint64_t now_ns, Sink& sink);
  void send_attempt(std::uint32_t slot, net::Transport transport, unsigned server,
                    std::uint64_t now_ns, Sink& sink);
  void on_attempt_timer(std::uint32_t slot, std::uint64_t now_ns, Sink& sink);
  // The attempt in flight ends: its (port, ID) no longer matches and a UDP
  // attempt's socket is closed.
  void end_attempt(std::uint32_t slot, Sink& sink);
  // Opens the local end of a UDP attempt to `server`: its port, or 0 when none
  // could be had.
  std::uint16_t open_udp_port(unsigned server, Sink& sink);
  // The answer's question did not echo the 0x20 case: counted, the server moves
  // toward its fallback, and the query is asked again without 0x20.
  void on_case_mismatch(std::uint32_t slot, std::uint64_t now_ns, Sink& sink);
  // The attempt in flight ended without a usable answer: the next attempt over UDP
  // (another server first; for a truncated answer only a server not yet asked
  // whose TCP is not backing off), or SERVFAIL (stale data when there is some)
  // once the budget or max_attempts is spent.
  void retry_or_fail(std::uint32_t slot, std::uint64_t now_ns, Sink& sink);
  void answer_waiters(std::uint32_t slot, std::span<const std::uint8_t> wire,
                      const dns::Message& msg, Sink& sink);
  void fail_waiters(std::uint32_t slot, std::uint64_t now_ns, Sink& sink);
  // Answers the slot's waiters from a stale cache entry, if one is there.
  bool answer_waiters_stale(std::uint32_t slot, std::uint64_t now_ns, Sink& sink);
  void reply_from_cache(const dns::ClientView& view, const net::ClientRef& to,
                        const cache::Hit& hit, Sink& sink);
  void reply_error(const dns::ClientView& view, const net::ClientRef& to, dns::Rcode rcode,
                   Sink& sink);
  void answer_any(const dns::ClientView& view, const net::ClientRef& to, Sink& sink);
  void answer_chaos(const dns::ClientView& view, const dns::Question& question,
                    const net::ClientRef& to, Sink& sink);
  void deliver(const net::ClientRef& to, std::span<const std::uint8_t> wire, Sink& sink);
  std::span<const std::uint8_t> truncated_copy(std::span<const std::uint8_t> wire);
  void log_reply(const net::ClientRef& to, std::span<const std::uint8_t> wire);
  std::uint32_t random32();

  EngineConfig config_;
  std::vector<std::uint16_t> source_ports_;
  upstream::Selector selector_;
  upstream::PendingTable pending_;
  upstream::TimerWheel timers_;
  // Query IDs and source ports come from the kernel's CSPRNG (getrandom), drawn in
  // blocks so the syscall is paid once per kRandomBlock/4 queries: an off-path
  // attacker must not be able to predict them (RFC 5452 §4).
  static constexpr std::size_t kRandomBlock = 4096;
  std::unique_ptr<std::uint32_t[]> random_block_;
  std::size_t random_used_ = kRandomBlock / 4;
  std::mt19937_64 fallback_rng_;
  std::unique_ptr<std::uint8_t[]> scratch_;  // one message being built (64 KiB)
  // An answer to a 0x20 query with the first client's question put back, so that
  // the cache holds the case clients asked in (64 KiB).
  std::unique_ptr<std::uint8_t[]> restored_;
  cache::Cache* cache_;
  unsigned cache_reader_;
  const rcu::Published<filter::Snapshot>* filter_;
  std::unique_ptr<Admitted[]> admitted_;  // kMaxBurst: the burst being looked up
  std::unique_ptr<cache::Probe[]> probes_;
  std::unique_ptr<cache::Hit[]> hits_;
  std::unique_ptr<filter::DomainTrie::Walk[]> walks_;  // kMaxBurst: the burst's filter lookups
  ClientGuard guard_;
  static constexpr std::size_t kSlipSize = dns::kHeaderSize + dns::kMaxNameWire + 4;
  static constexpr std::uint32_t kAnyMinimalTtl = 3600;
  std::array<std::uint8_t, kSlipSize> slip_{};
  std::uint64_t now_ns_ = 0;  // the time of the call being handled, for the guard
  QueryLogRing* log_ring_ = nullptr;
  std::uint32_t log_countdown_ = 1;        // replies until the next one logged (sampling)
  std::int64_t wall_clock_offset_ns_ = 0;  // CLOCK_REALTIME - CLOCK_MONOTONIC at start
  Counters counters_;
};

}  // namespace heimdall::engine
