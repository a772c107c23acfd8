// MacAddress and Interface (frame.hpp): the link-layer address in text, and
// what an interface's own addresses make on-link.
#include <netinet/in.h>

#include <algorithm>

#include "heimdall/net/frame.hpp"
#include "layout.hpp"

namespace heimdall::net {
namespace {

bool same_prefix(Bytes a, Bytes b, std::size_t bits) {
  bits = std::min(bits, a.size() * 8);
  const std::size_t whole = bits / 8;
  if (!std::equal(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(whole), b.begin())) {
    return false;
  }
  if (bits % 8 == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - bits % 8));
  return ((a[whole] ^ b[whole]) & mask) == 0;
}

}  // namespace

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

void Interface::derive_link_local() {
  ipv6_link_local = Ipv6Address{0xfe, 0x80};
  // Modified EUI-64: the universal/local bit inverted, ff:fe in the middle.
  ipv6_link_local[8] = static_cast<std::uint8_t>(mac.bytes[0] ^ 0x02);
  ipv6_link_local[9] = mac.bytes[1];
  ipv6_link_local[10] = mac.bytes[2];
  ipv6_link_local[11] = 0xff;
  ipv6_link_local[12] = 0xfe;
  ipv6_link_local[13] = mac.bytes[3];
  ipv6_link_local[14] = mac.bytes[4];
  ipv6_link_local[15] = mac.bytes[5];
}

bool Interface::on_link(const Endpoint& address) const {
  if (address.family == AF_INET) {
    return has_ipv4 && same_prefix(address_of(address), ipv4, prefix4);
  }
  if (address.family != AF_INET6) return false;
  if (is_link_local6(address_of(address))) return true;  // fe80::/10 is every link's own
  return has_ipv6 && same_prefix(address_of(address), ipv6, prefix6);
}
}  // namespace heimdall::net
