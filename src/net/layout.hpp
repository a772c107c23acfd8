// The layout of the frames net/ reads and writes (Ethernet, ARP, IPv4, IPv6 + NDP,
// ICMP, UDP): field sizes, protocol numbers, big-endian byte access at an offset,
// and the address helpers both the parser (frame_parse.cpp) and the builders
// (frame_build.cpp) use. Private to src/net; everything is inline because it runs
// for every frame on the DPDK data path.
#pragma once

#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>

#include "heimdall/net/frame.hpp"

namespace heimdall::net {

using Bytes = std::span<const std::uint8_t>;
using MutableBytes = std::span<std::uint8_t>;
using Ipv6Address = std::array<std::uint8_t, 16>;

constexpr std::size_t kEthernetHeader = 14;
constexpr std::size_t kVlanTag = 4;
constexpr std::uint16_t kEtherTypeIpv4 = 0x0800;
constexpr std::uint16_t kEtherTypeArp = 0x0806;
constexpr std::uint16_t kEtherTypeVlan = 0x8100;
constexpr std::uint16_t kEtherTypeIpv6 = 0x86dd;
constexpr std::uint16_t kVlanIdMask = 0x0fff;

constexpr std::size_t kArpBody = 28;
constexpr std::uint16_t kArpHardwareEthernet = 1;
constexpr std::uint16_t kArpRequest = 1;
constexpr std::uint16_t kArpReply = 2;

constexpr std::size_t kIpv4Header = 20;
constexpr std::size_t kIpv6Header = 40;
constexpr std::size_t kUdpHeader = 8;
constexpr std::size_t kIcmpMinimum = 8;  // type, code, checksum, 4 bytes of rest of header
constexpr std::size_t kNdpHeader = 24;   // type, code, checksum, flags, target (RFC 4861 §4.3)
constexpr std::size_t kNdpMessage = kNdpHeader + 8;  // + one Ethernet link-layer option
constexpr std::uint8_t kTtl = 64;
constexpr std::uint8_t kNdpHopLimit = 255;  // proves the sender is on-link (RFC 4861 §7.1.1)
constexpr std::uint16_t kIpv4DontFragment = 0x4000;
constexpr std::uint16_t kIpv4FragmentBits = 0x3fff;  // MF + fragment offset

constexpr std::uint8_t kProtocolIcmp = 1;
constexpr std::uint8_t kProtocolUdp = 17;
constexpr std::uint8_t kProtocolIcmpv6 = 58;
constexpr std::uint8_t kNextHeaderHopByHop = 0;
constexpr std::uint8_t kNextHeaderFragment = 44;

constexpr std::uint8_t kIcmpEchoReply = 0;
constexpr std::uint8_t kIcmpEchoRequest = 8;
constexpr std::uint8_t kIcmpv6EchoRequest = 128;
constexpr std::uint8_t kIcmpv6EchoReply = 129;
constexpr std::uint8_t kNeighbourSolicitation = 135;
constexpr std::uint8_t kNeighbourAdvertisement = 136;
constexpr std::uint8_t kOptionSourceLinkLayer = 1;
constexpr std::uint8_t kOptionTargetLinkLayer = 2;
constexpr std::uint8_t kNaSolicited = 0x40;
constexpr std::uint8_t kNaOverride = 0x20;

constexpr Ipv6Address kAllNodes{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

// --- bytes ---

inline std::uint16_t load16(Bytes bytes, std::size_t at) {
  return static_cast<std::uint16_t>(bytes[at] << 8 | bytes[at + 1]);
}

inline void store16(MutableBytes bytes, std::size_t at, std::uint16_t value) {
  bytes[at] = static_cast<std::uint8_t>(value >> 8);
  bytes[at + 1] = static_cast<std::uint8_t>(value);
}

inline void put(MutableBytes out, std::size_t at, Bytes value) {
  std::copy(value.begin(), value.end(), out.begin() + static_cast<std::ptrdiff_t>(at));
}

inline bool equal(Bytes a, Bytes b) { return std::equal(a.begin(), a.end(), b.begin(), b.end()); }

inline bool all_zero(Bytes bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t byte) { return byte == 0; });
}

inline MacAddress mac_at(Bytes bytes, std::size_t at) {
  MacAddress mac;
  std::copy_n(bytes.begin() + static_cast<std::ptrdiff_t>(at), 6, mac.bytes.begin());
  return mac;
}

inline Endpoint endpoint_of(std::uint8_t family, Bytes address) {
  Endpoint endpoint;
  endpoint.family = family;
  std::copy(address.begin(), address.end(), endpoint.address);
  return endpoint;
}

// --- addresses ---

// derive_link_local() may not have run: an unset link-local address must not make
// frames to :: ours.
inline bool has_link_local(const Interface& ours) { return is_link_local6(ours.ipv6_link_local); }

// ff02::1:ffXX:XXXX, the group a solicitation for `address` goes to (RFC 4291 §2.7.1).
inline Ipv6Address solicited_node(Bytes address) {
  Ipv6Address group{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff};
  std::copy(address.begin() + 13, address.end(), group.begin() + 13);
  return group;
}

// 33:33 + the group's last 32 bits (RFC 2464 §7).
inline MacAddress multicast_mac(Bytes group) {
  return MacAddress{{0x33, 0x33, group[12], group[13], group[14], group[15]}};
}

}  // namespace heimdall::net
