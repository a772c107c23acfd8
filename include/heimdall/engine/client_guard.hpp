// Abuse limits in the fast path (an appliance must not be an open resolver or an
// amplifier): an access list of client networks, a rate per client prefix, and
// response-rate limiting (RRL) of identical answers. One ClientGuard per worker;
// its tables are owned by that worker and sized once, so the checks take no lock
// and allocate nothing. Limits are per worker: RSS (or the kernel's SO_REUSEPORT
// hash) keeps a client's flow on one worker (docs/architecture.md §6.1).
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "heimdall/filter/client_groups.hpp"
#include "heimdall/net/endpoint.hpp"

namespace heimdall::engine {

enum class AclAction : std::uint8_t { Refuse, Drop };
// RFC 8482: what a query of type ANY gets.
enum class AnyPolicy : std::uint8_t { Minimal, Refuse, Forward };

struct GuardConfig {
  // Clients in these networks are served (ListMask bit 0 set for them); null:
  // everyone. Shared by the workers and read-only (rte_lpm lookups take no lock).
  const filter::ClientGroups* acl = nullptr;
  AclAction acl_action = AclAction::Refuse;
  // Queries per second per client prefix, with a burst of `client_burst`; 0: off.
  std::uint32_t client_qps = 0;
  std::uint32_t client_burst = 0;
  std::uint8_t ipv4_prefix = 24;  // 1-32
  std::uint8_t ipv6_prefix = 56;  // 1-64
  // Identical UDP responses (client prefix, name, type, RCODE) per second; 0: off.
  std::uint32_t responses_per_second = 0;
  // Every slip-th limited response leaves truncated (TC, no records) instead of
  // being dropped, so a real client behind a forged flood retries over TCP; 0: all
  // dropped.
  std::uint8_t slip = 2;
  AnyPolicy any = AnyPolicy::Minimal;
  std::uint32_t table_entries = 65536;  // per table per worker; a power of two
};

class ClientGuard {
 public:
  explicit ClientGuard(const GuardConfig& config);

  enum class Verdict : std::uint8_t { Serve, Refuse, Drop };
  enum class Reason : std::uint8_t { None, Acl, Rate };
  struct Admission {
    Verdict verdict = Verdict::Serve;
    Reason reason = Reason::None;
  };
  // A client's query before it is parsed: the access list, then its rate.
  Admission admit(const net::Endpoint& client, std::uint64_t now_ns);

  enum class Response : std::uint8_t { Send, Drop, Slip };
  // A UDP response about to leave for `client` (RRL).
  Response limit_response(const net::Endpoint& client, std::span<const std::uint8_t> wire,
                          std::uint64_t now_ns);

  const GuardConfig& config() const { return config_; }
  bool limits_responses() const { return config_.responses_per_second != 0; }

 private:
  // Generic cell rate algorithm: one "theoretical arrival time" per key. A key
  // that lands on another key's slot takes it over, starting afresh.
  struct Slot {
    std::uint64_t key = 0;
    std::uint64_t arrival_ns = 0;
  };
  std::uint64_t prefix_key(const net::Endpoint& client) const;
  static bool conforms(Slot& slot, std::uint64_t key, std::uint64_t now_ns,
                       std::uint64_t interval_ns, std::uint64_t tolerance_ns);

  GuardConfig config_;
  std::uint64_t client_interval_ns_ = 0;
  std::uint64_t client_tolerance_ns_ = 0;
  std::uint64_t response_interval_ns_ = 0;
  std::uint64_t response_tolerance_ns_ = 0;
  std::uint64_t mask_ = 0;
  std::unique_ptr<Slot[]> clients_;
  std::unique_ptr<Slot[]> responses_;
  std::uint32_t limited_responses_ = 0;  // for the slip count
};

}  // namespace heimdall::engine
