// An IPv4 or IPv6 address with a UDP/TCP port, as a small trivially-copyable value
// the engine can store in fixed tables and compare without touching sockets.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace heimdall::net {

struct Endpoint {
  std::uint8_t family = 0;        // AF_INET or AF_INET6; 0 when unset
  std::uint16_t port = 0;         // host byte order
  std::uint8_t address[16] = {};  // network byte order; IPv4 uses the first 4 bytes

  bool operator==(const Endpoint& other) const {
    return family == other.family && port == other.port &&
           std::memcmp(address, other.address, family == AF_INET ? 4 : 16) == 0;
  }

  // "127.0.0.1:53", "[::1]:53". A bare address takes `default_port`.
  [[nodiscard]] static std::optional<Endpoint> parse(std::string_view text,
                                                     std::uint16_t default_port = 53);
  std::string to_string() const;

  // Conversions to and from the socket API; `to_sockaddr` returns the length used.
  socklen_t to_sockaddr(sockaddr_storage& out) const;
  static Endpoint from_sockaddr(const sockaddr* sa);
};

}  // namespace heimdall::net
