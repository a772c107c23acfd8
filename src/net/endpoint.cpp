#include "heimdall/net/endpoint.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace heimdall::net {
namespace {

std::optional<std::uint16_t> parse_port(std::string_view text) {
  unsigned value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size() || value == 0 || value > 65535) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(value);
}

}  // namespace

std::optional<Endpoint> Endpoint::parse(std::string_view text, std::uint16_t default_port) {
  std::string host;
  std::uint16_t port = default_port;
  if (!text.empty() && text.front() == '[') {
    // "[v6]" or "[v6]:port"
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = std::string(text.substr(1, close - 1));
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      const auto parsed = parse_port(rest.substr(1));
      if (!parsed) return std::nullopt;
      port = *parsed;
    }
  } else if (std::count(text.begin(), text.end(), ':') > 1) {
    host = std::string(text);  // a bare IPv6 address: no port
  } else {
    const std::size_t colon = text.find(':');
    host = std::string(text.substr(0, colon));
    if (colon != std::string_view::npos) {
      const auto parsed = parse_port(text.substr(colon + 1));
      if (!parsed) return std::nullopt;
      port = *parsed;
    }
  }
  if (port == 0 || host.empty()) return std::nullopt;

  Endpoint endpoint;
  endpoint.port = port;
  if (inet_pton(AF_INET, host.c_str(), endpoint.address) == 1) {
    endpoint.family = AF_INET;
  } else if (inet_pton(AF_INET6, host.c_str(), endpoint.address) == 1) {
    endpoint.family = AF_INET6;
  } else {
    return std::nullopt;
  }
  return endpoint;
}

std::string Endpoint::to_string() const {
  char text[INET6_ADDRSTRLEN] = "?";
  inet_ntop(family == AF_INET6 ? AF_INET6 : AF_INET, address, text, sizeof(text));
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
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  std::memcpy(&sa.sin_addr, address, 4);
  std::memcpy(&out, &sa, sizeof(sa));
  return sizeof(sa);
}

Endpoint Endpoint::from_sockaddr(const sockaddr* sa) {
  Endpoint endpoint;
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
