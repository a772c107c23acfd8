#include "heimdall/upstream/selector.hpp"

#include <algorithm>
#include <bit>
#include <stdexcept>
#include <string>

namespace heimdall::upstream {
namespace {

constexpr std::uint64_t kMinAttemptNs = 50'000'000;  // docs/architecture.md §7.3
// One choice in this many goes to a random healthy server under `fastest`, so the
// RTT estimate of the servers that lost the race stays current.
constexpr unsigned kExploreEvery = 64;

}  // namespace

Selector::Selector(std::span<const net::Endpoint> servers, const SelectorConfig& config,
                   std::uint64_t seed)
    : config_(config), rng_state_(seed | 1) {
  if (servers.empty()) throw std::invalid_argument("no upstream servers");
  if (servers.size() > kMaxServers) {
    throw std::invalid_argument("at most " + std::to_string(kMaxServers) +
                                " upstream servers are supported");
  }
  servers_.reserve(servers.size());
  for (const auto& address : servers) servers_.push_back(ServerState{.address = address});
  exported_ = std::make_unique<ServerCounters[]>(servers.size());
}

void Selector::on_attempt(unsigned server) { stats::bump(exported_[server].chosen); }

std::uint64_t Selector::next_random() {
  // xorshift64*: the worker's own generator, for exploration only (not for IDs).
  rng_state_ ^= rng_state_ >> 12;
  rng_state_ ^= rng_state_ << 25;
  rng_state_ ^= rng_state_ >> 27;
  return rng_state_ * 0x2545F4914F6CDD1DULL;
}

unsigned Selector::choose(std::uint64_t now_ns, std::uint32_t tried_mask, std::uint32_t allowed) {
  const std::uint32_t all = all_servers() & allowed;
  std::uint32_t untried = all & ~tried_mask;
  if (untried == 0) untried = all;  // every server had its turn: start over

  std::uint32_t healthy = 0;
  for (unsigned i = 0; i < servers_.size(); ++i) {
    if (!(untried & (1u << i))) continue;
    ServerState& server = servers_[i];
    if (!server.down) {
      healthy |= 1u << i;
    } else if (now_ns >= server.next_probe_ns) {
      // This query probes the down server; the next probe waits an interval.
      server.next_probe_ns = now_ns + config_.probe_interval_ns;
      return i;
    }
  }
  if (healthy != 0) return pick_by_strategy(healthy);

  // Only down servers are left untried: take the one that has waited longest.
  unsigned best = static_cast<unsigned>(std::countr_zero(untried));
  for (unsigned i = best + 1; i < servers_.size(); ++i) {
    if ((untried & (1u << i)) && servers_[i].next_probe_ns < servers_[best].next_probe_ns) best = i;
  }
  return best;
}

unsigned Selector::pick_by_strategy(std::uint32_t candidates) {
  switch (config_.strategy) {
    case Strategy::Failover:
      return static_cast<unsigned>(std::countr_zero(candidates));
    case Strategy::RoundRobin: {
      const unsigned n = static_cast<unsigned>(servers_.size());
      for (unsigned step = 0; step < n; ++step) {
        const unsigned i = (round_robin_next_ + step) % n;
        if (candidates & (1u << i)) {
          round_robin_next_ = (i + 1) % n;
          return i;
        }
      }
      return static_cast<unsigned>(std::countr_zero(candidates));
    }
    case Strategy::Fastest:
      break;
  }
  if (++choices_ % kExploreEvery == 0 && std::popcount(candidates) > 1) {
    unsigned skip = static_cast<unsigned>(next_random() % std::popcount(candidates));
    for (unsigned i = 0; i < servers_.size(); ++i) {
      if ((candidates & (1u << i)) && skip-- == 0) return i;
    }
  }
  // An unmeasured server (SRTT 0) wins, which gets it its first sample.
  unsigned best = static_cast<unsigned>(std::countr_zero(candidates));
  for (unsigned i = best + 1; i < servers_.size(); ++i) {
    if ((candidates & (1u << i)) && servers_[i].srtt_ns < servers_[best].srtt_ns) best = i;
  }
  return best;
}

void Selector::on_answer(unsigned server, std::uint64_t rtt_ns) {
  ServerState& state = servers_[server];
  state.consecutive_failures = 0;
  state.down = false;
  ++state.answers;
  stats::bump(exported_[server].answers);
  record_rtt(server, rtt_ns);
}

// Not an answer: the same question follows over TCP, and its answer is the one
// counted (a truncated answer and its TCP answer counted one answer twice).
void Selector::on_truncated(unsigned server, std::uint64_t rtt_ns) { record_rtt(server, rtt_ns); }

void Selector::record_rtt(unsigned server, std::uint64_t rtt_ns) {
  ServerState& state = servers_[server];
  state.srtt_ns = state.srtt_ns == 0 ? rtt_ns : (7 * state.srtt_ns + rtt_ns) / 8;
  ServerCounters& exported = exported_[server];
  stats::bump(exported.rtt_sum_ns, rtt_ns);
  std::size_t bucket = 0;
  while (bucket < ServerCounters::kRttBounds.size() &&
         static_cast<double>(rtt_ns) > ServerCounters::kRttBounds[bucket] * 1e9) {
    ++bucket;
  }
  stats::bump(exported.rtt_counts[bucket]);
  export_state(server);
}

void Selector::export_state(unsigned server) {
  stats::set(exported_[server].srtt_ns, servers_[server].srtt_ns);
  stats::set(exported_[server].down, servers_[server].down ? 1 : 0);
}

void Selector::on_failure(unsigned server, std::uint64_t now_ns) {
  ServerState& state = servers_[server];
  // A timeout counts as a sample of the attempt's length, so `fastest` moves away.
  const std::uint64_t penalty = attempt_timeout_ns(server);
  state.srtt_ns = state.srtt_ns == 0 ? penalty : (7 * state.srtt_ns + penalty) / 8;
  ++state.failures;
  if (++state.consecutive_failures >= config_.max_failures && !state.down) {
    state.down = true;
    state.next_probe_ns = now_ns + config_.probe_interval_ns;
  }
  stats::bump(exported_[server].failures);
  export_state(server);
}

void Selector::on_tcp_result(unsigned server, bool answered, std::uint64_t now_ns) {
  ServerState& state = servers_[server];
  if (answered) {
    state.tcp_failures = 0;
    state.tcp_retry_ns = 0;
    return;
  }
  const unsigned doublings = std::min(state.tcp_failures, 16u);
  ++state.tcp_failures;
  const std::uint64_t base = std::min(config_.probe_interval_ns, kMaxTcpBackoffNs);
  state.tcp_retry_ns = now_ns + std::min(base << doublings, kMaxTcpBackoffNs);
  stats::bump(exported_[server].tcp_failures);
}

bool Selector::on_case_mismatch(unsigned server) {
  ServerState& state = servers_[server];
  stats::bump(exported_[server].case_mismatches);
  if (state.case_fallback || ++state.case_mismatches < kCaseMismatchesForFallback) return false;
  state.case_fallback = true;
  stats::set(exported_[server].case_fallback, 1);
  return true;
}

std::uint32_t Selector::tcp_backing_off(std::uint64_t now_ns) const {
  std::uint32_t mask = 0;
  for (unsigned i = 0; i < servers_.size(); ++i) {
    if (now_ns < servers_[i].tcp_retry_ns) mask |= 1u << i;
  }
  return mask;
}

std::uint64_t Selector::attempt_timeout_ns(unsigned server) const {
  const std::uint64_t half_budget = std::max(config_.budget_ns / 2, kMinAttemptNs);
  const std::uint64_t srtt = servers_[server].srtt_ns;
  if (srtt == 0) return half_budget;
  return std::clamp(3 * srtt, kMinAttemptNs, half_budget);
}

}  // namespace heimdall::upstream
