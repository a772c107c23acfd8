// Addresses as values, apart from any frame: MAC addresses, IP addresses written
// without a port, and the tests on them that both the fast path and the
// configuration make (link-local, same prefix). No packet format here, so the
// control module may use it (docs/architecture.md §3: control knows no packet formats).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "heimdall/net/endpoint.hpp"

namespace heimdall::net {

struct MacAddress {
  std::array<std::uint8_t, 6> bytes{};

  bool operator==(const MacAddress&) const = default;
  bool is_multicast() const { return (bytes[0] & 1) != 0; }  // broadcast included
  [[nodiscard]] static std::optional<MacAddress> parse(
      std::string_view text);  // "02:00:00:00:00:01"
  std::string to_string() const;
};

constexpr MacAddress kBroadcastMac{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};

// "192.0.2.1" or "2001:db8::1": an address alone, no port, no brackets, no zone.
// The result's port is 0.
[[nodiscard]] std::optional<Endpoint> parse_ip(std::string_view text);

// The address's bytes: 4 for IPv4, 16 for IPv6.
inline std::span<const std::uint8_t> address_bytes(const Endpoint& endpoint) {
  return {endpoint.address, endpoint.family == AF_INET ? 4u : 16u};
}

// fe80::/10, every IPv6 link's own.
inline bool is_link_local6(std::span<const std::uint8_t> address) {
  return address[0] == 0xfe && (address[1] & 0xc0) == 0x80;
}
inline bool is_link_local(const Endpoint& address) {
  return address.family == AF_INET6 && is_link_local6(address_bytes(address));
}

// Whether the first `bits` bits of `a` and `b` agree (at most all of `a`).
bool same_prefix(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b,
                 std::size_t bits);

}  // namespace heimdall::net
