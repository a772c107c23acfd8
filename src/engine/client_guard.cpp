#include "heimdall/engine/client_guard.hpp"

#include <sys/socket.h>

#include <bit>
#include <cstring>
#include <stdexcept>

#include "heimdall/dns/wire.hpp"

namespace heimdall::engine {
namespace {

constexpr std::uint64_t kSecondNs = 1'000'000'000;

std::uint64_t mix(std::uint64_t value) {  // splitmix64's finaliser
  value ^= value >> 30;
  value *= 0xbf58476d1ce4e5b9ull;
  value ^= value >> 27;
  value *= 0x94d049bb133111ebull;
  return value ^ (value >> 31);
}

std::uint64_t leading_bits(const std::uint8_t* bytes, unsigned bits) {
  std::uint64_t value = 0;
  for (unsigned i = 0; i < 8; ++i) value = value << 8 | bytes[i];
  return bits >= 64 ? value : value & ~(~std::uint64_t{0} >> bits);
}

}  // namespace

ClientGuard::ClientGuard(const GuardConfig& config) : config_(config) {
  if (!std::has_single_bit(config.table_entries)) {
    throw std::invalid_argument("client guard tables need a power-of-two size");
  }
  mask_ = config.table_entries - 1;
  if (config.client_qps != 0) {
    client_interval_ns_ = kSecondNs / config.client_qps;
    const std::uint32_t burst = config.client_burst != 0 ? config.client_burst : config.client_qps;
    client_tolerance_ns_ = client_interval_ns_ * (burst - 1);
    clients_ = std::make_unique<Slot[]>(config.table_entries);
  }
  if (config.responses_per_second != 0) {
    response_interval_ns_ = kSecondNs / config.responses_per_second;
    // A second's worth of identical answers may come at once, as BIND's RRL window.
    response_tolerance_ns_ = response_interval_ns_ * (config.responses_per_second - 1);
    responses_ = std::make_unique<Slot[]>(config.table_entries);
  }
}

// The client's network (its /24 or /56 by default) with the family in the low
// bits, which the prefix leaves clear.
std::uint64_t ClientGuard::prefix_key(const net::Endpoint& client) const {
  if (client.family == AF_INET) {
    std::uint8_t padded[8] = {};
    std::memcpy(padded, client.address, 4);
    return leading_bits(padded, config_.ipv4_prefix) | 4;
  }
  return leading_bits(client.address, config_.ipv6_prefix) | 6;
}

bool ClientGuard::conforms(Slot& slot, std::uint64_t key, std::uint64_t now_ns,
                           std::uint64_t interval_ns, std::uint64_t tolerance_ns) {
  if (slot.key != key) slot = Slot{key, now_ns};
  const std::uint64_t arrival = slot.arrival_ns > now_ns ? slot.arrival_ns : now_ns;
  if (arrival > now_ns + tolerance_ns) return false;
  slot.arrival_ns = arrival + interval_ns;
  return true;
}

ClientGuard::Admission ClientGuard::admit(const net::Endpoint& client, std::uint64_t now_ns) {
  if (config_.acl != nullptr && (config_.acl->lists_for(client) & 1u) == 0) {
    return {config_.acl_action == AclAction::Drop ? Verdict::Drop : Verdict::Refuse, Reason::Acl};
  }
  if (clients_) {
    const std::uint64_t key = prefix_key(client);
    if (!conforms(clients_[mix(key) & mask_], key, now_ns, client_interval_ns_,
                  client_tolerance_ns_)) {
      return {Verdict::Drop, Reason::Rate};
    }
  }
  return {};
}

// RRL keys on what makes answers identical for an amplifier: the victim's
// network, the question name (case-folded: 0x20 must not evade it), its type and
// the RCODE.
ClientGuard::Response ClientGuard::limit_response(const net::Endpoint& client,
                                                  std::span<const std::uint8_t> wire,
                                                  std::uint64_t now_ns) {
  if (!responses_ || wire.size() < dns::kHeaderSize) return Response::Send;
  std::uint64_t key = mix(prefix_key(client) ^ (wire[3] & 0x0fu));
  std::size_t at = dns::kHeaderSize;
  if (dns::load_u16(wire.data() + 4) != 0) {
    while (at < wire.size() && wire[at] != 0 && wire[at] < 64) {
      const std::size_t end = at + 1 + wire[at];
      for (++at; at < end && at < wire.size(); ++at) {
        const std::uint8_t byte = wire[at];
        key = mix(key ^ (byte >= 'A' && byte <= 'Z' ? byte + 32u : byte));
      }
    }
    if (at + 3 < wire.size()) key = mix(key ^ dns::load_u16(wire.data() + at + 1));
  }
  if (conforms(responses_[key & mask_], key, now_ns, response_interval_ns_,
               response_tolerance_ns_)) {
    return Response::Send;
  }
  if (config_.slip != 0 && ++limited_responses_ % config_.slip == 0) return Response::Slip;
  return Response::Drop;
}

}  // namespace heimdall::engine
