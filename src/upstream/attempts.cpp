#include "heimdall/upstream/attempts.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "heimdall/dns/case_randomisation.hpp"
#include "heimdall/upstream/source_ports.hpp"

namespace heimdall::upstream {
namespace {

constexpr std::uint64_t kTimerTickNs = 1'000'000;
constexpr std::uint32_t kTimerSlots = 4096;
// Less budget than this left: another attempt could not get an answer back in time.
constexpr std::uint64_t kMinUsefulAttemptNs = 5'000'000;
// An attempt that got no socket (the worker's limit, the descriptors) is tried
// again this much later: soon enough for the client, slow enough not to spin.
constexpr std::uint64_t kNoSocketRetryNs = 50'000'000;
// Ports drawn for one attempt before it counts as having no socket: a draw hits a
// port in use with the probability of the range's busy share, so a few suffice.
constexpr int kPortDraws = 4;

}  // namespace

Attempts::Attempts(const AttemptsConfig& config, std::span<const net::Endpoint> servers,
                   std::span<const std::uint16_t> source_ports, std::uint64_t seed,
                   const AttemptCounters& counters)
    : config_(config),
      source_ports_(source_ports.begin(), source_ports.end()),
      selector_(servers, config.selector, seed),
      pending_(config.max_pending, config.max_waiters),
      timers_(config.max_pending, kTimerTickNs, kTimerSlots),
      random_(seed),
      counters_(counters) {
  if (source_ports_.empty()) {
    throw std::invalid_argument("upstream attempts need at least one source port");
  }
}

void Attempts::launch(std::uint32_t slot, const QuestionKey& key,
                      std::span<const std::uint8_t> question, std::uint16_t flags,
                      std::uint32_t servers, std::uint64_t now_ns, Sender& sender) {
  PendingQuery& query = pending_[slot];
  query.key = key;
  query.question_length = static_cast<std::uint16_t>(question.size());
  std::memcpy(query.question, question.data(), question.size());
  query.query_flags = flags;
  query.servers = servers;
  query.started_ns = now_ns;
  pending_.index_question(slot);
  send_attempt(slot, net::Transport::Udp, selector_.choose(now_ns, 0, query.servers), now_ns,
               sender);
}

bool Attempts::resume_after_stale(std::uint32_t slot, std::uint64_t now_ns) {
  const PendingQuery& query = pending_[slot];
  if (now_ns >= query.attempt_deadline_ns) return false;
  timers_.schedule(slot, query.attempt_deadline_ns);
  return true;
}

Outcome Attempts::on_timeout(std::uint32_t slot, std::uint64_t now_ns, Sender& sender) {
  const PendingQuery& query = pending_[slot];
  if (query.no_socket) return retry_or_fail(slot, now_ns, sender);  // ours, not the server's
  stats::bump(counters_.upstream_timeouts);
  selector_.on_failure(query.server, now_ns);
  if (query.transport == net::Transport::Tcp) selector_.on_tcp_result(query.server, false, now_ns);
  return retry_or_fail(slot, now_ns, sender);
}

std::uint32_t Attempts::attempt_of(unsigned server, net::Transport transport,
                                   std::uint16_t local_port, std::uint16_t id) const {
  const std::uint32_t slot = pending_.find_id(local_port, id);
  if (slot == kNoSlot || pending_[slot].server != server || pending_[slot].transport != transport) {
    return kNoSlot;
  }
  return slot;
}

Outcome Attempts::on_failure(std::uint32_t slot, std::uint64_t now_ns, Sender& sender) {
  const PendingQuery& query = pending_[slot];
  stats::bump(counters_.upstream_failures);
  timers_.cancel(slot);
  selector_.on_failure(query.server, now_ns);
  // A refused or reset connection backs this server's TCP off: its next truncated
  // answers fail over at once instead of reconnecting (docs/architecture.md §7.4).
  if (query.transport == net::Transport::Tcp) {
    selector_.on_tcp_result(query.server, false, now_ns);
  }
  return retry_or_fail(slot, now_ns, sender);
}

std::uint32_t Attempts::answered_attempt(const net::Endpoint& from, net::Transport transport,
                                         std::uint16_t local_port, std::uint16_t id) const {
  const std::uint32_t slot = pending_.find_id(local_port, id);
  if (slot == kNoSlot) return kNoSlot;
  const PendingQuery& query = pending_[slot];
  if (query.transport != transport || !(selector_.server(query.server).address == from)) {
    return kNoSlot;
  }
  return slot;
}

Outcome Attempts::on_case_mismatch(std::uint32_t slot, std::uint64_t now_ns, Sender& sender) {
  PendingQuery& query = pending_[slot];
  stats::bump(counters_.case_mismatches);
  if (selector_.on_case_mismatch(query.server)) stats::bump(counters_.case_fallbacks);
  // The server answered, only not in our case: it is asked again as the client
  // wrote the name, which counts against max_attempts like any attempt. A forger
  // who got here had to guess the port and the ID (32 bits) first.
  timers_.cancel(slot);
  query.case_plain = true;
  if (query.attempts >= config_.max_attempts || now_ns + kMinUsefulAttemptNs >= budget_end(query)) {
    return retry_or_fail(slot, now_ns, sender);
  }
  stats::bump(counters_.retries);
  send_attempt(slot, net::Transport::Udp, query.server, now_ns, sender);
  return Outcome::InFlight;
}

Outcome Attempts::on_answer(std::uint32_t slot, bool truncated, bool refused, std::uint64_t now_ns,
                            Sender& sender) {
  PendingQuery& query = pending_[slot];
  stats::bump(counters_.upstream_answers);
  timers_.cancel(slot);

  if (truncated && query.transport == net::Transport::Udp && config_.upstream_tcp) {
    // Not an answer yet: the server's failures in a row stand until TCP brings one.
    selector_.on_truncated(query.server, now_ns - query.sent_ns);
    query.truncated = true;
    if (!selector_.tcp_usable(query.server, now_ns)) {
      // Its TCP failed lately: fail over now rather than reconnect (docs/architecture.md §7.4).
      stats::bump(counters_.tcp_backoff);
      selector_.on_failure(query.server, now_ns);
      return retry_or_fail(slot, now_ns, sender);
    }
    if (query.attempts >= config_.max_attempts) {
      return retry_or_fail(slot, now_ns, sender);  // counted there, failed
    }
    stats::bump(counters_.tcp_retries);
    send_attempt(slot, net::Transport::Tcp, query.server, now_ns, sender);
    return Outcome::InFlight;
  }
  selector_.on_answer(query.server, now_ns - query.sent_ns);
  if (query.transport == net::Transport::Tcp) selector_.on_tcp_result(query.server, true, now_ns);
  const bool untried_left = (query.servers & selector_.all_servers() & ~query.tried_mask) != 0;
  if (refused && untried_left && query.attempts < config_.max_attempts &&
      now_ns + kMinUsefulAttemptNs < budget_end(query)) {
    stats::bump(counters_.retries);
    send_attempt(slot, net::Transport::Udp,
                 selector_.choose(now_ns, query.tried_mask, query.servers), now_ns, sender);
    return Outcome::InFlight;
  }
  return Outcome::Answered;
}

void Attempts::finish(std::uint32_t slot, Sender& sender) {
  end_attempt(slot, sender);
  pending_.release(slot);
}

void Attempts::end_attempt(std::uint32_t slot, Sender& sender) {
  PendingQuery& query = pending_[slot];
  if (query.id_registered) pending_.unregister_id(slot);
  if (query.transport == net::Transport::Udp && query.local_port != 0) {
    sender.close_udp_attempt(query.local_port);
  }
  query.local_port = 0;
}

std::uint16_t Attempts::open_udp_port(unsigned server, Sender& sender) {
  for (int draw = 0; draw < kPortDraws; ++draw) {
    const std::uint16_t drawn = source_ports_[uniform_below(
        random_.next(), static_cast<std::uint32_t>(source_ports_.size()))];
    const Sender::UdpAttempt opened = sender.open_udp_attempt(server, drawn);
    switch (opened.result) {
      case Sender::PortOpen::Opened:
        return opened.port;
      case Sender::PortOpen::InUse:
        continue;
      case Sender::PortOpen::Unavailable:
        return 0;
    }
  }
  return 0;
}

void Attempts::send_attempt(std::uint32_t slot, net::Transport transport, unsigned server,
                            std::uint64_t now_ns, Sender& sender) {
  PendingQuery& query = pending_[slot];
  end_attempt(slot, sender);
  query.server = static_cast<std::uint8_t>(server);
  query.transport = transport;
  query.tried_mask |= 1u << server;
  ++query.attempts;
  query.sent_ns = now_ns;
  query.case_randomised = false;
  query.no_socket = false;
  const std::uint64_t budget_end = this->budget_end(query);

  if (transport == net::Transport::Udp) {
    query.local_port = open_udp_port(server, sender);
    if (query.local_port == 0) {
      // Counted against max_attempts like any attempt, so that a worker out of
      // sockets answers SERVFAIL after a few tries instead of looping.
      stats::bump(counters_.upstream_no_socket);
      query.no_socket = true;
      query.attempt_deadline_ns = std::min(now_ns + kNoSocketRetryNs, budget_end);
      timers_.schedule(slot, query.attempt_deadline_ns);
      return;
    }
  }
  selector_.on_attempt(server);
  // The ID is drawn apart from the port: 16 bits of its own (RFC 5452 §4).
  query.id = static_cast<std::uint16_t>(random_.next());
  // With at most max_pending of 65536 IDs per port taken, a few draws always suffice.
  while (pending_.id_in_use(query.local_port, query.id)) {
    query.id = static_cast<std::uint16_t>(random_.next());
  }
  pending_.register_id(slot);

  // TCP is the last resort for a truncated answer, and the last attempt the limit
  // allows has no successor: either may use what is left (a slow server still
  // gets its answer through).
  const bool last = transport == net::Transport::Tcp || query.attempts >= config_.max_attempts;
  const std::uint64_t attempt =
      last ? budget_end - std::min(now_ns, budget_end) : selector_.attempt_timeout_ns(server);
  query.attempt_deadline_ns = std::min(now_ns + attempt, budget_end);
  const bool stale_first =
      query.stale_deadline_ns > now_ns && query.stale_deadline_ns < query.attempt_deadline_ns;
  timers_.schedule(slot, stale_first ? query.stale_deadline_ns : query.attempt_deadline_ns);

  const dns::ClientView as_client{
      .id = 0,
      .flags = query.query_flags,
      .question = {query.question, query.question_length},
      .edns = true,
      .dnssec_ok = (query.key.flags & QuestionKey::kDo) != 0,
      .reply_limit = 0,
  };
  const std::size_t length =
      dns::build_upstream_query(as_client, query.id, config_.max_udp, query_);
  // 0x20 only over UDP: a TCP answer cannot be forged off-path. The name is
  // rewritten in place, so only when the question holds it uncompressed.
  const bool plain_name = query.question_length == query.key.name.length + 4u;
  if (transport == net::Transport::Udp && config_.case_randomisation && !query.case_plain &&
      selector_.randomises_case(server) && length != 0 && plain_name) {
    query.case_seed = (std::uint64_t{random_.next()} << 32) | random_.next();
    query.case_randomised = true;
    dns::randomise_case({query_.data() + dns::kHeaderSize, query.key.name.length}, query.case_seed);
  }
  sender.send_to_upstream(server, transport, query.local_port, {query_.data(), length});
}

Outcome Attempts::retry_or_fail(std::uint32_t slot, std::uint64_t now_ns, Sender& sender) {
  const PendingQuery& query = pending_[slot];
  std::uint32_t allowed = query.servers;
  if (query.truncated) {
    // Asking a server again whose TCP just failed would only bring back the same
    // truncated answer (docs/architecture.md §7.4).
    allowed &= selector_.all_servers() & ~query.tried_mask & ~selector_.tcp_backing_off(now_ns);
  }
  const bool exhausted = query.attempts >= config_.max_attempts;
  if (exhausted || allowed == 0 || now_ns + kMinUsefulAttemptNs >= budget_end(query)) {
    if (exhausted) stats::bump(counters_.attempts_exhausted);
    return Outcome::Failed;
  }
  stats::bump(counters_.retries);
  send_attempt(slot, net::Transport::Udp, selector_.choose(now_ns, query.tried_mask, allowed),
               now_ns, sender);
  return Outcome::InFlight;
}

}  // namespace heimdall::upstream
