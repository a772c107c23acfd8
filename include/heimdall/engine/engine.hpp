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
#include <span>
#include <string>
#include <vector>

#include "heimdall/cache/cache.hpp"
#include "heimdall/dns/build.hpp"
#include "heimdall/dns/extended_error.hpp"
#include "heimdall/dns/message.hpp"
#include "heimdall/engine/client_guard.hpp"
#include "heimdall/engine/query_log.hpp"
#include "heimdall/filter/snapshot.hpp"
#include "heimdall/net/client_ref.hpp"
#include "heimdall/rcu/qsbr.hpp"
#include "heimdall/stats/counter_table.hpp"
#include "heimdall/upstream/attempts.hpp"

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

// Where the engine's output goes: replies to clients here, attempts to upstreams
// through upstream::Sender (docs/architecture.md §7.6). The backend copies the bytes
// before returning (into its send batch, an mbuf, a connection's buffer): the span
// is reused.
class Sink : public upstream::Sender {
 public:
  virtual void send_to_client(const net::ClientRef& client, std::span<const std::uint8_t> wire) = 0;
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

// Per-worker counters, one per outcome and one per drop reason (docs/conventions.md §6).
// Written only by the owning worker with stats::bump (docs/architecture.md §4.2), read
// by the control thread. Each has its row in kCounterTable below.
struct alignas(64) Counters {
  using Counter = stats::Counter;
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
};

inline constexpr std::array kCounterTable = {
    stats::counter(&Counters::queries, "heimdall_queries_total", "Client queries received."),
    stats::counter(&Counters::replies, "heimdall_replies_total",
                   "Replies to clients, RRL's drops included."),
    stats::counter(&Counters::forwarded, "heimdall_upstream_queries_total",
                   "Queries sent upstream (first attempts)."),
    stats::counter(&Counters::coalesced, "heimdall_coalesced_total",
                   "Clients attached to a query already in flight."),
    stats::counter(&Counters::retries, "heimdall_upstream_retries_total",
                   "Further attempts after a timeout or refusal."),
    stats::counter(&Counters::tcp_retries, "heimdall_upstream_tcp_retries_total",
                   "Truncated upstream answers asked again over TCP."),
    stats::counter(&Counters::tcp_backoff, "heimdall_upstream_tcp_backoff_total",
                   "Truncated upstream answers not asked over TCP: that server's TCP failed "
                   "lately."),
    stats::counter(&Counters::attempts_exhausted, "heimdall_upstream_attempts_exhausted_total",
                   "Queries that spent upstreams.max_attempts without a usable answer."),
    stats::counter(&Counters::upstream_answers, "heimdall_upstream_answers_total",
                   "Upstream answers matched to a query."),
    stats::counter(&Counters::upstream_timeouts, "heimdall_upstream_timeouts_total",
                   "Upstream attempts that timed out."),
    stats::counter(&Counters::upstream_failures, "heimdall_upstream_failures_total",
                   "Upstream attempts that failed (TCP refused, reset)."),
    stats::counter(&Counters::upstream_no_socket, "heimdall_upstream_no_socket_total",
                   "Upstream UDP attempts that got no socket (limit or descriptors): retried "
                   "shortly."),
    stats::counter(&Counters::case_mismatches, "heimdall_upstream_case_mismatches_total",
                   "Upstream answers whose question did not echo the 0x20 case: asked again "
                   "without it."),
    stats::counter(&Counters::case_fallbacks, "heimdall_upstream_case_fallbacks_total",
                   "Servers (per worker) asked without 0x20 from then on for not echoing case."),
    stats::labelled(&Counters::servfail, "heimdall_error_replies_total",
                    "Error replies built here rather than relayed, by RCODE.",
                    {"rcode", "SERVFAIL"}),
    stats::labelled(&Counters::formerr, "heimdall_error_replies_total",
                    "Error replies built here rather than relayed, by RCODE.",
                    {"rcode", "FORMERR"}),
    stats::labelled(&Counters::notimp, "heimdall_error_replies_total",
                    "Error replies built here rather than relayed, by RCODE.", {"rcode", "NOTIMP"}),
    stats::labelled(&Counters::refused, "heimdall_error_replies_total",
                    "Error replies built here rather than relayed, by RCODE.",
                    {"rcode", "REFUSED"}),
    stats::labelled(&Counters::badvers, "heimdall_error_replies_total",
                    "Error replies built here rather than relayed, by RCODE.",
                    {"rcode", "BADVERS"}),
    stats::labelled(&Counters::drop_short, "heimdall_dropped_queries_total",
                    "Client queries dropped, by reason.", {"reason", "short"}, stats::Split::Total),
    stats::labelled(&Counters::drop_qr_set, "heimdall_dropped_queries_total",
                    "Client queries dropped, by reason.", {"reason", "qr_set"},
                    stats::Split::Total),
    stats::labelled(&Counters::drop_reply_too_big, "heimdall_dropped_queries_total",
                    "Client queries dropped, by reason.", {"reason", "reply_too_big"},
                    stats::Split::Total),
    stats::labelled(&Counters::drop_pending_full, "heimdall_dropped_queries_total",
                    "Client queries dropped, by reason.", {"reason", "pending_full"},
                    stats::Split::Total),
    stats::counter(&Counters::upstream_unmatched, "heimdall_upstream_unmatched_total",
                   "Upstream packets matching no query: dropped."),
    stats::counter(&Counters::upstream_malformed, "heimdall_upstream_malformed_total",
                   "Upstream packets that did not parse as an answer: dropped."),
    stats::counter(&Counters::cache_answers, "heimdall_cache_answers_total",
                   "Replies from a fresh cache entry."),
    stats::counter(&Counters::stale_answers, "heimdall_stale_answers_total",
                   "Replies from an expired entry (RFC 8767)."),
    stats::counter(&Counters::prefetches, "heimdall_prefetches_total",
                   "Refreshes of entries near the end of their TTL."),
    stats::counter(&Counters::blocked, "heimdall_blocked_total",
                   "Queries answered by a block rule."),
    stats::counter(&Counters::local_answers, "heimdall_local_answers_total",
                   "Queries answered from local records."),
    stats::counter(&Counters::filter_too_big, "heimdall_filter_too_big_total",
                   "Block or local answers too big for the reply: SERVFAIL."),
    stats::counter(&Counters::acl_refused, "heimdall_acl_refused_total",
                   "Clients outside the access list answered REFUSED."),
    stats::counter(&Counters::acl_dropped, "heimdall_acl_dropped_total",
                   "Clients outside the access list not answered."),
    stats::counter(&Counters::rate_limited, "heimdall_rate_limited_total",
                   "Queries over their client prefix's rate: not answered."),
    stats::counter(&Counters::rrl_dropped, "heimdall_rrl_dropped_total",
                   "Responses over their RRL rate: not sent."),
    stats::counter(&Counters::rrl_slipped, "heimdall_rrl_slipped_total",
                   "Responses over their RRL rate sent truncated."),
    stats::counter(&Counters::any_minimal, "heimdall_any_minimal_total",
                   "ANY queries given RFC 8482's minimal answer."),
    stats::counter(&Counters::relayed, "heimdall_relayed_answers_total",
                   "Replies built from an upstream's answer."),
    stats::counter(&Counters::chaos_answers, "heimdall_chaos_answers_total",
                   "CHAOS TXT questions answered from the configuration."),
    stats::per_label<Counters, &Counters::answers_by_rcode>("heimdall_answers_total",
                                                            "Replies that left, by RCODE.", "rcode",
                                                            &dns::rcode_name, stats::Split::Total),
    // Labelled by the filter's list names when rendered (the snapshot's list_names).
    stats::per_label<Counters, &Counters::blocked_by_list>("heimdall_filter_blocked_total",
                                                           "Queries blocked, by list.", "list",
                                                           nullptr, stats::Split::Total),
};
static_assert(stats::covers_every_member(kCounterTable));

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
  const upstream::Selector& selector() const { return attempts_.selector(); }

 private:
  // A query that parsed and passed validation, waiting for the burst's cache lookup.
  struct Admitted {
    dns::ClientView view;
    dns::QuestionKey key;
    const ClientQuery* query = nullptr;
    std::uint32_t servers = UINT32_MAX;  // the upstreams it may go to
  };
  static constexpr std::size_t kMaxBurst = 64;
  static constexpr std::size_t kScratchSize = dns::kMaxMessage;

  void on_query_chunk(std::span<const ClientQuery> chunk, std::uint64_t now_ns, Sink& sink);
  // Answers what is malformed or refused at once; true when `admitted` is to be looked up.
  bool admit(const ClientQuery& query, Admitted& admitted, Sink& sink);
  // Answers the admitted queries the filter decides (blocked, local records) and
  // gives the rest their upstreams; returns how many are left, packed in front.
  std::size_t apply_filter(std::size_t admitted, Sink& sink);
  void handle_answer(const UpstreamAnswer& answer, std::uint64_t now_ns, Sink& sink);
  void forward(const Admitted& admitted, bool stale_held, std::uint64_t now_ns, Sink& sink);
  void prefetch(const Admitted& admitted, std::uint64_t now_ns, Sink& sink);
  // Sends the first attempt of the allocated `slot` for the admitted question.
  void launch(std::uint32_t slot, const Admitted& admitted, std::uint64_t now_ns, Sink& sink);
  // A query's timer is up: its serve-stale deadline (§7.5) or its attempt's.
  void on_attempt_timer(std::uint32_t slot, std::uint64_t now_ns, Sink& sink);
  // The attempts left nothing to try (budget or max_attempts spent): SERVFAIL to
  // the waiters with `why` as its Extended DNS Error (dns::ede), or stale data
  // when there is some, and the slot is freed.
  void give_up(std::uint32_t slot, std::uint64_t now_ns, Sink& sink, std::uint16_t why);
  void answer_waiters(std::uint32_t slot, std::span<const std::uint8_t> wire,
                      const dns::Message& msg, Sink& sink);
  void fail_waiters(std::uint32_t slot, std::uint64_t now_ns, Sink& sink, std::uint16_t why);
  // Answers the slot's waiters from a stale cache entry, if one is there.
  bool answer_waiters_stale(std::uint32_t slot, std::uint64_t now_ns, Sink& sink);
  void reply_from_cache(const dns::ClientView& view, const net::ClientRef& to,
                        const cache::Hit& hit, Sink& sink);
  // `why`: an Extended DNS Error for a client that sent an OPT (RFC 8914).
  void reply_error(const dns::ClientView& view, const net::ClientRef& to, dns::Rcode rcode,
                   Sink& sink, const dns::ExtendedError& why = {});
  void answer_any(const dns::ClientView& view, const net::ClientRef& to, Sink& sink);
  void answer_chaos(const dns::ClientView& view, const dns::Question& question,
                    const net::ClientRef& to, Sink& sink);
  void deliver(const net::ClientRef& to, std::span<const std::uint8_t> wire, Sink& sink);
  std::span<const std::uint8_t> truncated_copy(std::span<const std::uint8_t> wire);
  void log_reply(const net::ClientRef& to, std::span<const std::uint8_t> wire);

  EngineConfig config_;
  Counters counters_;  // before attempts_, which bumps some of them
  // Sending, timing out and retrying upstream attempts (docs/architecture.md §7.4).
  upstream::Attempts attempts_;
  // attempts_'s table: its waiters and the coalescing of questions are the engine's.
  upstream::PendingTable& pending_;
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
};

}  // namespace heimdall::engine
