#include "heimdall/engine/engine.hpp"

#include <time.h>

#include <algorithm>
#include <cstring>

#include "heimdall/cache/stored_answer.hpp"
#include "heimdall/dns/case_randomisation.hpp"

namespace heimdall::engine {
namespace {

using dns::Rcode;
using upstream::kNoSlot;
using upstream::QuestionKey;

using upstream::Outcome;

upstream::AttemptsConfig attempts_config(const EngineConfig& config) {
  return upstream::AttemptsConfig{.selector = config.selector,
                                  .max_pending = config.max_pending,
                                  .max_waiters = config.max_waiters,
                                  .max_attempts = config.max_attempts,
                                  .max_udp = config.max_udp,
                                  .upstream_tcp = config.upstream_tcp,
                                  .case_randomisation = config.case_randomisation};
}

upstream::AttemptCounters attempt_counters(Counters& counters) {
  return upstream::AttemptCounters{.retries = counters.retries,
                                   .tcp_retries = counters.tcp_retries,
                                   .tcp_backoff = counters.tcp_backoff,
                                   .attempts_exhausted = counters.attempts_exhausted,
                                   .upstream_answers = counters.upstream_answers,
                                   .upstream_timeouts = counters.upstream_timeouts,
                                   .upstream_failures = counters.upstream_failures,
                                   .upstream_no_socket = counters.upstream_no_socket,
                                   .case_mismatches = counters.case_mismatches,
                                   .case_fallbacks = counters.case_fallbacks};
}

dns::ClientView view_of(const upstream::Waiter& waiter) {
  return dns::ClientView{.id = waiter.id,
                         .flags = waiter.flags,
                         .question = {waiter.question, waiter.question_length},
                         .edns = waiter.edns,
                         .dnssec_ok = waiter.dnssec_ok,
                         .reply_limit = waiter.reply_limit};
}

void fill_waiter(upstream::Waiter& waiter, const dns::ClientView& view,
                 const net::ClientRef& from) {
  waiter.client = from;
  waiter.id = view.id;
  waiter.flags = view.flags;
  waiter.reply_limit = view.reply_limit;
  waiter.edns = view.edns;
  waiter.dnssec_ok = view.dnssec_ok;
  waiter.question_length = static_cast<std::uint16_t>(view.question.size());
  std::memcpy(waiter.question, view.question.data(), view.question.size());
}

// RCODEs that say "this server will not answer this", not "this is the answer":
// another upstream may do better while the budget lasts.
bool refusal(std::uint8_t rcode) {
  return rcode == static_cast<std::uint8_t>(Rcode::FormErr) ||
         rcode == static_cast<std::uint8_t>(Rcode::NotImp) ||
         rcode == static_cast<std::uint8_t>(Rcode::Refused);
}

// One past the first question's QTYPE and QCLASS in a reply the engine built, or
// 0 when it has none.
std::size_t question_end(std::span<const std::uint8_t> wire) {
  if (dns::load_u16(wire.data() + 4) == 0) return 0;
  std::size_t offset = dns::kHeaderSize;
  if (dns::skip_name(wire, offset) != dns::ParseError::Ok || offset + 4 > wire.size()) return 0;
  return offset + 4;
}

}  // namespace

Engine::Engine(const EngineConfig& config, std::span<const std::uint16_t> udp_source_ports,
               std::uint64_t seed, cache::Cache* cache, unsigned cache_reader,
               const rcu::Published<filter::Snapshot>* filter)
    : config_(config),
      attempts_(attempts_config(config), config.servers, udp_source_ports, seed,
                attempt_counters(counters_)),
      pending_(attempts_.pending()),
      scratch_(new std::uint8_t[kScratchSize]),
      restored_(new std::uint8_t[kScratchSize]),
      cache_(cache),
      cache_reader_(cache_reader),
      filter_(filter),
      admitted_(new Admitted[kMaxBurst]),
      probes_(new cache::Probe[kMaxBurst]),
      hits_(new cache::Hit[kMaxBurst]),
      walks_(new filter::DomainTrie::Walk[kMaxBurst]),
      guard_(config.guard) {
  if (config.query_log != nullptr) {
    log_ring_ = config.query_log->rings.at(cache_reader).get();
    timespec wall{}, monotonic{};
    clock_gettime(CLOCK_REALTIME, &wall);
    clock_gettime(CLOCK_MONOTONIC, &monotonic);
    wall_clock_offset_ns_ =
        (wall.tv_sec - monotonic.tv_sec) * 1'000'000'000LL + (wall.tv_nsec - monotonic.tv_nsec);
  }
}

void Engine::on_queries(std::span<const ClientQuery> burst, std::uint64_t now_ns, Sink& sink) {
  now_ns_ = now_ns;
  for (std::size_t base = 0; base < burst.size(); base += kMaxBurst) {
    on_query_chunk(burst.subspan(base, std::min(kMaxBurst, burst.size() - base)), now_ns, sink);
  }
}

void Engine::on_query_chunk(std::span<const ClientQuery> chunk, std::uint64_t now_ns, Sink& sink) {
  std::size_t admitted = 0;
  for (const ClientQuery& query : chunk) {
    if (admit(query, admitted_[admitted], sink)) ++admitted;
  }
  if (filter_ != nullptr) admitted = apply_filter(admitted, sink);
  if (admitted == 0) return;
  if (cache_ == nullptr) {
    for (std::size_t i = 0; i < admitted; ++i) forward(admitted_[i], false, now_ns, sink);
    return;
  }
  // One bulk lookup for the burst hides the hash buckets' cache misses
  // (docs/architecture.md §2.2 rule 3).
  for (std::size_t i = 0; i < admitted; ++i) {
    probes_[i] = cache::Probe{cache_->digest(admitted_[i].key), &admitted_[i].key};
  }
  cache_->lookup(cache_reader_, {probes_.get(), admitted}, now_ns, {hits_.get(), admitted});
  for (std::size_t i = 0; i < admitted; ++i) {
    const Admitted& query = admitted_[i];
    const cache::Hit& hit = hits_[i];
    if (hit.freshness != cache::Freshness::Fresh) {
      forward(query, hit.freshness == cache::Freshness::Stale, now_ns, sink);
      continue;
    }
    reply_from_cache(query.view, query.query->from, hit, sink);
    stats::bump(counters_.cache_answers);
    if (hit.prefetch_due) prefetch(query, now_ns, sink);
  }
}

std::size_t Engine::apply_filter(std::size_t admitted, Sink& sink) {
  const filter::Snapshot* snapshot = filter_->read();
  if (snapshot == nullptr) return admitted;
  // The burst's trie walks in steps, so that their cache misses overlap.
  for (std::size_t i = 0; i < admitted; ++i) snapshot->start(admitted_[i].key.name, walks_[i]);
  for (std::size_t i = 0; i < admitted; ++i) snapshot->advance(admitted_[i].key.name, walks_[i]);
  std::size_t kept = 0;
  for (std::size_t i = 0; i < admitted; ++i) {
    Admitted& query = admitted_[i];
    // Lists and local records are names in class IN (ANY includes it); CHAOS and
    // friends pass as if nothing matched.
    const bool filtered =
        query.key.qclass == dns::rrclass::IN || query.key.qclass == dns::rrclass::ANY;
    const filter::Decision decision =
        filtered
            ? snapshot->decide(query.query->from.peer, query.key.name, cache_reader_, walks_[i])
            : filter::Decision{};
    if (decision.verdict == filter::Decision::Verdict::Block ||
        decision.verdict == filter::Decision::Verdict::Local) {
      if (decision.verdict == filter::Decision::Verdict::Block) {
        stats::bump(counters_.blocked);
        stats::bump(counters_.blocked_by_list[snapshot->list_of(decision)]);
      } else {
        stats::bump(counters_.local_answers);
      }
      std::size_t length = snapshot->answer(decision, query.view, query.key.qtype, config_.max_udp,
                                            {scratch_.get(), kScratchSize});
      if (length != 0 && decision.verdict == filter::Decision::Verdict::Block) {
        length =
            dns::add_extended_error({scratch_.get(), kScratchSize}, length, query.view.reply_limit,
                                    snapshot->extended_error(decision));
      }
      if (length == 0) {
        stats::bump(counters_.filter_too_big);
        reply_error(query.view, query.query->from, Rcode::ServFail, sink);
      } else {
        deliver(query.query->from, {scratch_.get(), length}, sink);
        stats::bump(counters_.replies);
      }
      continue;
    }
    if (decision.zone != filter::kNoIndex) query.servers = snapshot->zone_servers(decision.zone);
    if (kept != i) admitted_[kept] = query;
    ++kept;
  }
  return kept;
}

void Engine::on_upstream_answers(std::span<const UpstreamAnswer> burst, std::uint64_t now_ns,
                                 Sink& sink) {
  now_ns_ = now_ns;
  for (const UpstreamAnswer& answer : burst) handle_answer(answer, now_ns, sink);
}

void Engine::on_timer(std::uint64_t now_ns, Sink& sink) {
  now_ns_ = now_ns;
  attempts_.expire(now_ns, [&](std::uint32_t slot) { on_attempt_timer(slot, now_ns, sink); });
}

void Engine::on_attempt_timer(std::uint32_t slot, std::uint64_t now_ns, Sink& sink) {
  upstream::PendingQuery& query = pending_[slot];
  if (query.stale_deadline_ns != 0 && now_ns >= query.stale_deadline_ns) {
    // The clients have waited client_timeout_ms: they get the stale answer now and
    // the refresh goes on (RFC 8767 §5, docs/architecture.md §7.5).
    query.stale_deadline_ns = 0;
    if (answer_waiters_stale(slot, now_ns, sink)) pending_.drop_waiters(slot);
    if (attempts_.resume_after_stale(slot, now_ns)) return;
  }
  // An attempt that found no socket failed here, not at the server.
  const std::uint16_t why =
      query.no_socket ? dns::ede::kNetworkError : dns::ede::kNoReachableAuthority;
  if (attempts_.on_timeout(slot, now_ns, sink) == Outcome::Failed) give_up(slot, now_ns, sink, why);
}

void Engine::give_up(std::uint32_t slot, std::uint64_t now_ns, Sink& sink, std::uint16_t why) {
  fail_waiters(slot, now_ns, sink, why);
  attempts_.finish(slot, sink);
}

void Engine::on_upstream_failure(unsigned server, net::Transport transport,
                                 std::uint16_t local_port, std::uint16_t id, std::uint64_t now_ns,
                                 Sink& sink) {
  now_ns_ = now_ns;
  const std::uint32_t slot = attempts_.attempt_of(server, transport, local_port, id);
  if (slot == kNoSlot) return;
  if (attempts_.on_failure(slot, now_ns, sink) == Outcome::Failed) {
    give_up(slot, now_ns, sink, dns::ede::kNetworkError);
  }
}

bool Engine::admit(const ClientQuery& query, Admitted& admitted, Sink& sink) {
  stats::bump(counters_.queries);
  const auto wire = query.wire;
  if (wire.size() < dns::kHeaderSize) {
    stats::bump(counters_.drop_short);
    return false;
  }
  const ClientGuard::Admission admission = guard_.admit(query.from.peer, now_ns_);
  if (admission.verdict == ClientGuard::Verdict::Drop) {
    stats::bump(admission.reason == ClientGuard::Reason::Acl ? counters_.acl_dropped
                                                             : counters_.rate_limited);
    return false;
  }
  dns::Message msg;
  const dns::ParseError error = dns::parse_message(wire, msg);
  if (msg.header.has(dns::flag::QR)) {
    // Never answer a response: that would let anyone bounce traffic off us.
    stats::bump(counters_.drop_qr_set);
    return false;
  }

  const bool tcp = query.from.transport == net::Transport::Tcp;
  dns::ClientView& view = admitted.view;
  view = dns::ClientView{};
  view.id = msg.header.id;
  view.flags = msg.header.flags;
  // An OPT is only echoed when the whole query parsed: a malformed or duplicated
  // OPT gets a FORMERR without one (RFC 6891 §7).
  view.edns = error == dns::ParseError::Ok && msg.edns.present;
  view.dnssec_ok = view.edns && msg.edns.dnssec_ok;
  view.reply_limit =
      tcp ? static_cast<std::uint16_t>(dns::kMaxMessage)
          : dns::udp_reply_limit(view.edns ? msg.edns : dns::Edns{}, config_.max_udp);
  if (msg.has_question) view.question = msg.question.wire(wire);

  if (admission.verdict == ClientGuard::Verdict::Refuse) {
    stats::bump(counters_.acl_refused);
    reply_error(view, query.from, Rcode::Refused, sink, {dns::ede::kProhibited, {}});
  } else if (msg.header.opcode() != dns::Opcode::Query) {
    reply_error(view, query.from, Rcode::NotImp, sink);
  } else if (error != dns::ParseError::Ok || !msg.has_question || msg.header.ancount != 0 ||
             msg.header.nscount != 0 || msg.question.qtype == dns::rrtype::OPT) {
    reply_error(view, query.from, Rcode::FormErr, sink);
  } else if (msg.edns.present && msg.edns.version != 0) {
    reply_error(view, query.from, Rcode::BadVers, sink);  // RFC 6891 §6.1.3
  } else if (msg.question.qclass == dns::rrclass::CH || msg.question.qclass == dns::rrclass::HS) {
    answer_chaos(view, msg.question, query.from, sink);  // never forwarded
  } else if (msg.question.qtype == dns::rrtype::AXFR || msg.question.qtype == dns::rrtype::IXFR) {
    reply_error(view, query.from, Rcode::Refused, sink);  // zone transfers are not forwarded
  } else if (msg.question.qtype == dns::rrtype::ANY && guard_.config().any != AnyPolicy::Forward) {
    answer_any(view, query.from, sink);
  } else {
    admitted.key = QuestionKey::of(msg);
    admitted.query = &query;
    admitted.servers = config_.default_servers;
    return true;
  }
  return false;
}

void Engine::reply_from_cache(const dns::ClientView& view, const net::ClientRef& to,
                              const cache::Hit& hit, Sink& sink) {
  const cache::Ageing ageing{
      .age_s = hit.age_s,
      .stale_ttl =
          hit.freshness == cache::Freshness::Stale ? cache_->config().serve_stale.ttl_s : 0,
  };
  std::size_t length = cache::reply_from_stored(hit.stored, view, ageing, config_.max_udp,
                                                {scratch_.get(), kScratchSize});
  if (length == 0) {
    stats::bump(counters_.drop_reply_too_big);
    reply_error(view, to, Rcode::ServFail, sink);
    return;
  }
  if (ageing.stale_ttl != 0) {  // RFC 8767 §6: say so
    length = dns::add_extended_error({scratch_.get(), kScratchSize}, length, view.reply_limit,
                                     {dns::ede::kStaleAnswer, {}});
  }
  deliver(to, {scratch_.get(), length}, sink);
  stats::bump(counters_.replies);
}

void Engine::forward(const Admitted& admitted, bool stale_held, std::uint64_t now_ns, Sink& sink) {
  const dns::ClientView& view = admitted.view;
  const net::ClientRef& from = admitted.query->from;
  const std::uint32_t in_flight = pending_.find_question(admitted.key);
  if (in_flight != kNoSlot && pending_[in_flight].waiter_count < config_.max_waiters_per_query) {
    upstream::Waiter* waiter = pending_.add_waiter(in_flight);
    if (waiter == nullptr) {
      stats::bump(counters_.drop_pending_full);
      reply_error(view, from, Rcode::ServFail, sink);
      return;
    }
    fill_waiter(*waiter, view, from);
    stats::bump(counters_.coalesced);
    return;
  }

  const std::uint32_t slot = pending_.allocate();
  if (slot == kNoSlot) {
    stats::bump(counters_.drop_pending_full);
    reply_error(view, from, Rcode::ServFail, sink);
    return;
  }
  upstream::Waiter* waiter = pending_.add_waiter(slot);
  if (waiter == nullptr) {
    pending_.release(slot);
    stats::bump(counters_.drop_pending_full);
    reply_error(view, from, Rcode::ServFail, sink);
    return;
  }
  fill_waiter(*waiter, view, from);
  if (stale_held) {
    pending_[slot].stale_deadline_ns =
        now_ns + std::uint64_t{cache_->config().serve_stale.client_timeout_ms} * 1'000'000;
  }
  stats::bump(counters_.forwarded);
  launch(slot, admitted, now_ns, sink);
}

void Engine::prefetch(const Admitted& admitted, std::uint64_t now_ns, Sink& sink) {
  // De-duplicated by the pending table (docs/architecture.md §7.5): a refresh already in
  // flight, or a client's query for the same question, will refresh the entry anyway.
  if (pending_.find_question(admitted.key) != kNoSlot) return;
  const std::uint32_t slot = pending_.allocate();
  if (slot == kNoSlot) return;
  stats::bump(counters_.prefetches);
  launch(slot, admitted, now_ns, sink);
}

void Engine::launch(std::uint32_t slot, const Admitted& admitted, std::uint64_t now_ns,
                    Sink& sink) {
  attempts_.launch(slot, admitted.key, admitted.view.question, admitted.view.flags,
                   admitted.servers, now_ns, sink);
}

void Engine::handle_answer(const UpstreamAnswer& answer, std::uint64_t now_ns, Sink& sink) {
  if (answer.wire.size() < dns::kHeaderSize) {
    stats::bump(counters_.upstream_malformed);
    return;
  }
  const std::uint16_t id = dns::load_u16(answer.wire.data());
  const std::uint32_t slot =
      attempts_.answered_attempt(answer.from, answer.transport, answer.local_port, id);
  if (slot == kNoSlot) {
    stats::bump(counters_.upstream_unmatched);
    return;
  }
  const upstream::PendingQuery& query = pending_[slot];
  dns::Message msg;
  if (dns::parse_message(answer.wire, msg) != dns::ParseError::Ok || !msg.has_question) {
    // Leave the attempt running: a forged packet must not cut a real query short.
    stats::bump(counters_.upstream_malformed);
    return;
  }
  if (!msg.header.has(dns::flag::QR) || !(msg.question.name == query.key.name) ||
      msg.question.qtype != query.key.qtype || msg.question.qclass != query.key.qclass) {
    stats::bump(counters_.upstream_unmatched);
    return;
  }
  std::span<const std::uint8_t> wire = answer.wire;
  if (query.case_randomised) {
    if (!dns::echoes_case(wire.subspan(dns::kHeaderSize), query.key.name.bytes(),
                          query.case_seed)) {
      if (attempts_.on_case_mismatch(slot, now_ns, sink) == Outcome::Failed) {
        give_up(slot, now_ns, sink, dns::ede::kNoReachableAuthority);
      }
      return;
    }
    attempts_.on_case_echoed(slot);
    // Clients and the cache see the question as the first client wrote it; the
    // records that point into it take its case too.
    std::memcpy(restored_.get(), wire.data(), wire.size());
    std::memcpy(restored_.get() + dns::kHeaderSize, query.question, query.key.name.length);
    wire = {restored_.get(), wire.size()};
  }

  const bool refused = refusal(msg.header.rcode()) || msg.edns.extended_rcode != 0;
  switch (attempts_.on_answer(slot, msg.header.has(dns::flag::TC), refused, now_ns, sink)) {
    case Outcome::InFlight:
      return;
    case Outcome::Failed:  // every server refused, or the last one timed out
      give_up(slot, now_ns, sink, dns::ede::kNoReachableAuthority);
      return;
    case Outcome::Answered:
      break;
  }
  if (msg.edns.extended_rcode != 0) {
    // An extended RCODE (BADVERS, BADCOOKIE) concerns our query, not the client's.
    fail_waiters(slot, now_ns, sink, dns::ede::kNoReachableAuthority);
  } else if (msg.header.rcode() == static_cast<std::uint8_t>(Rcode::ServFail) &&
             answer_waiters_stale(slot, now_ns, sink)) {
    // RFC 8767 §4: a failed refresh is answered from stale data when there is some.
  } else {
    answer_waiters(slot, wire, msg, sink);
  }
  if (cache_ != nullptr && msg.edns.extended_rcode == 0) {
    const cache::Probe probe{cache_->digest(query.key), &query.key};
    cache_->offer(cache_reader_, probe, wire, msg, now_ns);
  }
  attempts_.finish(slot, sink);
}

void Engine::answer_waiters(std::uint32_t slot, std::span<const std::uint8_t> wire,
                            const dns::Message& msg, Sink& sink) {
  // The clamps a hit would show (RFC 2181 §8's top bit included).
  const dns::TtlBounds ttl =
      cache::reply_ttl_bounds(wire, msg, cache_ != nullptr ? cache_->config().ttl : config_.ttl);
  for (std::uint32_t index = pending_[slot].waiters; index != kNoSlot;) {
    const upstream::Waiter& waiter = pending_.waiter(index);
    const dns::ClientView view = view_of(waiter);
    const std::size_t length =
        dns::build_reply(wire, msg, view, config_.max_udp, {scratch_.get(), kScratchSize}, ttl);
    if (length == 0) {
      stats::bump(counters_.drop_reply_too_big);
      reply_error(view, waiter.client, Rcode::ServFail, sink);
    } else {
      deliver(waiter.client, {scratch_.get(), length}, sink);
      stats::bump(counters_.replies);
      stats::bump(counters_.relayed);
    }
    index = waiter.next;
  }
}

bool Engine::answer_waiters_stale(std::uint32_t slot, std::uint64_t now_ns, Sink& sink) {
  const upstream::PendingQuery& query = pending_[slot];
  if (cache_ == nullptr || !cache_->config().serve_stale.enabled || query.waiters == kNoSlot) {
    return false;
  }
  const cache::Probe probe{cache_->digest(query.key), &query.key};
  cache::Hit hit;
  // The waiters' queries were counted when they missed; this is a second look.
  cache_->lookup(cache_reader_, {&probe, 1}, now_ns, {&hit, 1}, cache::Cache::Counting::Uncounted);
  if (hit.freshness == cache::Freshness::Miss) return false;
  // A fresh entry can appear meanwhile (another worker's answer): it is served as is.
  for (std::uint32_t index = query.waiters; index != kNoSlot;) {
    const upstream::Waiter& waiter = pending_.waiter(index);
    reply_from_cache(view_of(waiter), waiter.client, hit, sink);
    stats::bump(hit.freshness == cache::Freshness::Stale ? counters_.stale_answers
                                                         : counters_.cache_answers);
    index = waiter.next;
  }
  return true;
}

void Engine::fail_waiters(std::uint32_t slot, std::uint64_t now_ns, Sink& sink, std::uint16_t why) {
  if (answer_waiters_stale(slot, now_ns, sink)) return;
  for (std::uint32_t index = pending_[slot].waiters; index != kNoSlot;) {
    const upstream::Waiter& waiter = pending_.waiter(index);
    reply_error(view_of(waiter), waiter.client, Rcode::ServFail, sink, {why, {}});
    index = waiter.next;
  }
}

// Every reply to a client leaves here: UDP replies pass response-rate limiting
// first (a TCP client has proven its address).
void Engine::deliver(const net::ClientRef& to, std::span<const std::uint8_t> wire, Sink& sink) {
  if (to.transport == net::Transport::Udp && guard_.limits_responses()) {
    switch (guard_.limit_response(to.peer, wire, now_ns_)) {
      case ClientGuard::Response::Send:
        break;
      case ClientGuard::Response::Drop:
        stats::bump(counters_.rrl_dropped);
        return;
      case ClientGuard::Response::Slip:
        // It leaves, truncated, with the answer's RCODE: counted by it as well.
        stats::bump(counters_.rrl_slipped);
        sink.send_to_client(to, truncated_copy(wire));
        stats::bump(counters_.answers_by_rcode[wire[3] & 0x0f]);
        return;
    }
  }
  sink.send_to_client(to, wire);
  stats::bump(counters_.answers_by_rcode[wire[3] & 0x0f]);
  if (log_ring_ != nullptr && --log_countdown_ == 0) {
    log_countdown_ = config_.query_log->sample_one_in;
    log_reply(to, wire);
  }
}

// One entry in this worker's ring; a full ring drops it (counted there).
void Engine::log_reply(const net::ClientRef& to, std::span<const std::uint8_t> wire) {
  QueryLogEntry* entry = log_ring_->reserve();
  if (entry == nullptr) return;
  const dns::Header header = dns::Header::read(wire.data());
  entry->unix_ns =
      static_cast<std::uint64_t>(static_cast<std::int64_t>(now_ns_) + wall_clock_offset_ns_);
  entry->client = to.peer;
  entry->transport = to.transport;
  entry->rcode = static_cast<std::uint8_t>(header.rcode());
  entry->truncated = header.has(dns::flag::TC);
  entry->size = static_cast<std::uint16_t>(wire.size());
  entry->name_length = 0;
  entry->qtype = 0;
  if (const std::size_t end = question_end(wire); end != 0) {
    const std::size_t name_length = end - 4 - dns::kHeaderSize;
    if (name_length <= dns::kMaxNameWire) {
      entry->name_length = static_cast<std::uint8_t>(name_length);
      std::memcpy(entry->name, wire.data() + dns::kHeaderSize, name_length);
      entry->qtype = dns::load_u16(wire.data() + end - 4);
    }
  }
  log_ring_->commit();
}

// Header and question of `wire` with TC set and no records: small, and it sends a
// real client to TCP.
std::span<const std::uint8_t> Engine::truncated_copy(std::span<const std::uint8_t> wire) {
  std::size_t end = question_end(wire);
  if (end == 0 || end > kSlipSize) end = dns::kHeaderSize;
  std::memcpy(slip_.data(), wire.data(), end);
  dns::Header header = dns::Header::read(slip_.data());
  header.flags |= dns::flag::TC;
  header.qdcount = end > dns::kHeaderSize ? 1 : 0;
  header.ancount = header.nscount = header.arcount = 0;
  header.write(slip_.data());
  return {slip_.data(), end};
}

void Engine::reply_error(const dns::ClientView& view, const net::ClientRef& to, Rcode rcode,
                         Sink& sink, const dns::ExtendedError& why) {
  switch (rcode) {
    case Rcode::FormErr:
      stats::bump(counters_.formerr);
      break;
    case Rcode::ServFail:
      stats::bump(counters_.servfail);
      break;
    case Rcode::NotImp:
      stats::bump(counters_.notimp);
      break;
    case Rcode::Refused:
      stats::bump(counters_.refused);
      break;
    case Rcode::BadVers:
      stats::bump(counters_.badvers);
      break;
    default:
      break;
  }
  std::size_t length =
      dns::build_error(view, rcode, config_.max_udp, {scratch_.get(), kScratchSize});
  if (length == 0) return;
  length = dns::add_extended_error({scratch_.get(), kScratchSize}, length, view.reply_limit, why);
  deliver(to, {scratch_.get(), length}, sink);
  stats::bump(counters_.replies);
}

}  // namespace heimdall::engine
