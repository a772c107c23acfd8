#include "heimdall/net/endpoint.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace heimdall::net {
namespace {

// Decimal 1..65535 and nothing else: no sign, no spaces, no trailing bytes.
std::optional<std::uint16_t> parse_port(std::string_view text) {
  unsigned value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc{} || end != text.data() + text.size() || value == 0 ||
      value > 65535) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(value);
}

// inet_pton wants a NUL-terminated string, so `host` is copied; a host holding a NUL
// byte would otherwise be cut short there and parse as something it is not.
bool parse_address(std::string_view host, int family, std::uint8_t* out) {
  if (host.empty() || host.find('\0') != std::string_view::npos) return false;
  return inet_pton(family, std::string(host).c_str(), out) == 1;
}

}  // namespace

std::optional<Endpoint> Endpoint::parse(std::string_view text, std::uint16_t default_port) {
  std::string_view host;
  std::uint16_t port = default_port;
  bool bracketed = false;
  if (!text.empty() && text.front() == '[') {
    // "[v6]" or "[v6]:port": the brackets keep the port apart from the address.
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    bracketed = true;
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      const auto parsed = parse_port(rest.substr(1));
      if (!parsed) return std::nullopt;
      port = *parsed;
    }
  } else if (std::count(text.begin(), text.end(), ':') > 1) {
    host = text;  // a bare IPv6 address; a port needs the bracketed form
  } else {
    const std::size_t colon = text.find(':');
    host = text.substr(0, colon);
    if (colon != std::string_view::npos) {
      const auto parsed = parse_port(text.substr(colon + 1));
      if (!parsed) return std::nullopt;
      port = *parsed;
    }
  }
  if (port == 0) return std::nullopt;

  Endpoint endpoint;
  endpoint.port = port;
  if (!bracketed && parse_address(host, AF_INET, endpoint.address)) {
    endpoint.family = AF_INET;
  } else if (parse_address(host, AF_INET6, endpoint.address)) {
    endpoint.family = AF_INET6;
  } else {
    return std::nullopt;
  }
  return endpoint;
}

std::string Endpoint::to_string() const {
  if (family != AF_INET && family != AF_INET6) return "(unset)";
  char text[INET6_ADDRSTRLEN] = "?";
  inet_ntop(family, address, text, sizeof(text));
  if (family == AF_INET6) return "[" + std::string(text) + "]:" + std::to_string(port);
  return std::string(text) + ":" + std::to_string(port);
}

socklen_t Endpoint::to_sockaddr(sockaddr_storage& out) const {
  std::memset(&out, 0, sizeof(out));
  if (family == AF_INET6) {
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(port);
    std::memcpy(&sa.sin6_addr, address, 16);
    std::memcpy(&out, &sa, sizeof(sa));
    return sizeof(sa);
  }
  if (family == AF_INET) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    std::memcpy(&sa.sin_addr, address, 4);
    std::memcpy(&out, &sa, sizeof(sa));
    return sizeof(sa);
  }
  // An unset endpoint must not turn into 0.0.0.0:0, which Linux treats as "this
  // host": a zero length makes bind/sendto fail with EINVAL instead.
  return 0;
}

Endpoint Endpoint::from_sockaddr(const sockaddr* sa) {
  Endpoint endpoint;
  if (sa == nullptr) return endpoint;
  // memcpy, not a cast: `sa` often points into a sockaddr_storage of another type.
  if (sa->sa_family == AF_INET6) {
    sockaddr_in6 in6;
    std::memcpy(&in6, sa, sizeof(in6));
    endpoint.family = AF_INET6;
    endpoint.port = ntohs(in6.sin6_port);
    std::memcpy(endpoint.address, &in6.sin6_addr, 16);
  } else if (sa->sa_family == AF_INET) {
    sockaddr_in in4;
    std::memcpy(&in4, sa, sizeof(in4));
    endpoint.family = AF_INET;
    endpoint.port = ntohs(in4.sin_port);
    std::memcpy(endpoint.address, &in4.sin_addr, 4);
  }
  return endpoint;
}

}  // namespace heimdall::net
