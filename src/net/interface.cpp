// Interface (frame.hpp): its link-local address, and what its own addresses
// make on-link.
#include <netinet/in.h>

#include "heimdall/net/frame.hpp"
#include "layout.hpp"

namespace heimdall::net {

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
    return has_ipv4 && same_prefix(address_bytes(address), ipv4, prefix4);
  }
  if (address.family != AF_INET6) return false;
  if (is_link_local6(address_bytes(address))) return true;  // fe80::/10 is every link's own
  return has_ipv6 && same_prefix(address_bytes(address), ipv6, prefix6);
}
}  // namespace heimdall::net
