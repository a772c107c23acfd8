#include "heimdall/net/address.hpp"

#include <arpa/inet.h>

#include <algorithm>

namespace heimdall::net {

std::optional<MacAddress> MacAddress::parse(std::string_view text) {
  constexpr std::string_view kDigits = "0123456789abcdef";
  if (text.size() != 17) return std::nullopt;
  MacAddress mac;
  for (std::size_t i = 0; i < 6; ++i) {
    if (i > 0 && text[i * 3 - 1] != ':') return std::nullopt;
    std::uint8_t byte = 0;
    for (std::size_t j = 0; j < 2; ++j) {
      const char c = text[i * 3 + j];
      const std::size_t digit = kDigits.find(c >= 'A' && c <= 'F' ? static_cast<char>(c + 32) : c);
      if (digit == std::string_view::npos) return std::nullopt;
      byte = static_cast<std::uint8_t>(byte << 4 | digit);
    }
    mac.bytes[i] = byte;
  }
  return mac;
}

std::string MacAddress::to_string() const {
  constexpr std::string_view kDigits = "0123456789abcdef";
  std::string text;
  for (const std::uint8_t byte : bytes) {
    if (!text.empty()) text += ':';
    text += kDigits[byte >> 4];
    text += kDigits[byte & 0x0f];
  }
  return text;
}

std::optional<Endpoint> parse_ip(std::string_view text) {
  // inet_pton wants a NUL-terminated string; a NUL inside would cut it short there
  // and parse as something it is not.
  if (text.empty() || text.find('\0') != std::string_view::npos) return std::nullopt;
  const std::string host(text);
  Endpoint endpoint;
  if (inet_pton(AF_INET, host.c_str(), endpoint.address) == 1) {
    endpoint.family = AF_INET;
  } else if (inet_pton(AF_INET6, host.c_str(), endpoint.address) == 1) {
    endpoint.family = AF_INET6;
  } else {
    return std::nullopt;
  }
  return endpoint;
}

bool same_prefix(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b,
                 std::size_t bits) {
  bits = std::min(bits, a.size() * 8);
  const std::size_t whole = bits / 8;
  if (!std::equal(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(whole), b.begin())) {
    return false;
  }
  if (bits % 8 == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - bits % 8));
  return ((a[whole] ^ b[whole]) & mask) == 0;
}

}  // namespace heimdall::net
