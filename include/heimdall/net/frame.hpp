// L2-L4 over raw Ethernet frames for the DPDK fast path (docs/architecture.md §3 `net`):
// classify what arrived on a port, turn ARP, NDP and echo requests into their
// replies, and write the Ethernet/VLAN/IP/UDP headers in front of a DNS payload.
// Pure functions over byte spans: no DPDK, no allocation, no DNS semantics, so the
// unit tests feed them crafted frames.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "heimdall/net/address.hpp"
#include "heimdall/net/endpoint.hpp"

namespace heimdall::net {

// The appliance's identity on one port.
struct Interface {
  MacAddress mac;
  bool has_ipv4 = false;
  std::array<std::uint8_t, 4> ipv4{};
  std::uint8_t prefix4 = 32;
  bool has_ipv6 = false;
  std::array<std::uint8_t, 16> ipv6{};
  std::uint8_t prefix6 = 128;
  std::array<std::uint8_t, 16> ipv6_link_local{};  // fe80::/64 + EUI-64 of `mac`
  std::uint16_t vlan = 0;                          // 802.1Q VLAN id; 0: untagged
  std::uint16_t dns_port = 53;

  // Fills ipv6_link_local from `mac` (RFC 4291 appendix A).
  void derive_link_local();
  // Whether `address` (family AF_INET/AF_INET6, network byte order) is on the
  // port's subnet, i.e. reached directly rather than through the gateway.
  bool on_link(const Endpoint& address) const;
};

enum class FrameKind : std::uint8_t {
  Drop,                    // see Frame::drop
  UdpToUs,                 // UDP to one of our addresses, any port but dns_port
  DnsQuery,                // UDP to one of our addresses, port dns_port
  ArpRequest,              // asks for one of our IPv4 addresses
  ArpReply,                // an answer (to anyone): a neighbour to learn
  NeighbourSolicitation,   // asks for one of our IPv6 addresses (unicast or solicited-node)
  NeighbourAdvertisement,  // an answer: a neighbour to learn
  EchoRequest,             // ICMP or ICMPv6 echo to one of our addresses
  Exception,               // ours, but not for the fast path: TCP, other ICMP, IP options...
};

enum class DropReason : std::uint8_t {
  None,
  Short,             // ends before a header it announces
  NotForUs,          // another MAC, or an IP address that is not ours, or another VLAN
  UnknownEthertype,  // not IPv4, IPv6 or ARP
  BadIpv4Header,     // version, IHL or total length wrong; a 0/8, 127/8 or >= 224 source
  BadIpv4Checksum,
  Fragment,       // IPv4 MF/offset or an IPv6 fragment header: never in the fast path; comes
                  // with kind Exception, not Drop (docs/architecture.md §12.4)
  BadIpv6Header,  // version; a multicast or ::1 source, or :: outside NDP
  BadUdpLength,
  BadUdpChecksum,  // also an IPv6 UDP datagram with checksum 0 (RFC 8200 §8.1)
  BadArp,
  BadIcmp,  // ICMP/ICMPv6 checksum or NDP validity (hop limit 255, RFC 4861 §7.1.1)
  // A sender no answer may go to: a multicast source MAC; for UDP and echo, our own
  // address, the subnet's broadcast or network address, or UDP port 0 (answering
  // would reflect or spray). Also unicast IP in a broadcast frame (RFC 1122 §3.3.6).
  BadSource,
};
constexpr std::size_t kDropReasonCount = static_cast<std::size_t>(DropReason::BadSource) + 1;

// A drop reason as metrics label it ("" for None: nothing is dropped for it).
constexpr std::string_view drop_reason_name(DropReason reason) {
  switch (reason) {
    case DropReason::None:
      return "";
    case DropReason::Short:
      return "short";
    case DropReason::NotForUs:
      return "not_for_us";
    case DropReason::UnknownEthertype:
      return "unknown_ethertype";
    case DropReason::BadIpv4Header:
      return "bad_ipv4_header";
    case DropReason::BadIpv4Checksum:
      return "bad_ipv4_csum";
    case DropReason::Fragment:
      return "fragment";
    case DropReason::BadIpv6Header:
      return "bad_ipv6_header";
    case DropReason::BadUdpLength:
      return "bad_udp_length";
    case DropReason::BadUdpChecksum:
      return "bad_udp_checksum";
    case DropReason::BadArp:
      return "bad_arp";
    case DropReason::BadIcmp:
      return "bad_icmp";
    case DropReason::BadSource:
      return "bad_source";
  }
  return "";
}

// What parse_frame found. Offsets index the frame given to it.
struct Frame {
  FrameKind kind = FrameKind::Drop;
  DropReason drop = DropReason::None;  // why, for Drop; Fragment or None for Exception
  MacAddress source_mac;
  MacAddress destination_mac;
  std::uint16_t vlan = 0;  // the 802.1Q VLAN id, 0 when untagged
  std::uint16_t l3_offset = 0;
  std::uint16_t l4_offset = 0;
  // UDP: the datagram's payload. Others: 0.
  std::uint16_t payload_offset = 0;
  std::uint16_t payload_length = 0;
  // IP source/destination with UDP ports (0 for non-UDP). For ARP: the sender's
  // and target's protocol addresses.
  Endpoint source;
  Endpoint destination;
  // ARP sender / NDP source or target link-layer address option when present;
  // for everything else the frame's source MAC.
  MacAddress neighbour_mac;
  // NDP: the target address of a solicitation or advertisement.
  std::array<std::uint8_t, 16> ndp_target{};
};

// Classifies a received frame for `ours`. Never reads past `frame`.
[[nodiscard]] Frame parse_frame(std::span<const std::uint8_t> frame, const Interface& ours);

// --- replies built in place, in the received frame (returns the new length) ---

// An ARP request for one of our addresses becomes our reply to its sender. Returns
// l3_offset + 28: the request's Ethernet padding is not kept (NICs pad on transmit).
[[nodiscard]] std::size_t make_arp_reply(std::span<std::uint8_t> frame, const Frame& request,
                                         const Interface& ours);
// An ICMP/ICMPv6 echo request becomes the echo reply (same length).
[[nodiscard]] std::size_t make_echo_reply(std::span<std::uint8_t> frame, const Frame& request,
                                          const Interface& ours);

// --- frames built into `out` (returns the length; 0 when `out` is too small) ---

// A neighbour advertisement answering `solicitation` (solicited, override flags;
// target link-layer address option). `out` needs kMaxNdpFrame bytes.
[[nodiscard]] std::size_t build_neighbour_advertisement(std::span<std::uint8_t> out,
                                                        const Frame& solicitation,
                                                        const Interface& ours);
// Who has `target` (IPv4, network byte order): broadcast ARP request.
[[nodiscard]] std::size_t build_arp_request(std::span<std::uint8_t> out, const Interface& ours,
                                            const std::array<std::uint8_t, 4>& target);
// Who has `target` (IPv6): neighbour solicitation to its solicited-node multicast
// group, with our source link-layer address option.
[[nodiscard]] std::size_t build_neighbour_solicitation(std::span<std::uint8_t> out,
                                                       const Interface& ours,
                                                       const std::array<std::uint8_t, 16>& target);
constexpr std::size_t kMaxNdpFrame = 14 + 4 + 40 + 32;
constexpr std::size_t kArpFrame = 14 + 4 + 28;

// --- UDP datagrams ---

struct UdpFlow {
  MacAddress source_mac;
  MacAddress destination_mac;
  std::uint16_t vlan = 0;  // 0: untagged
  Endpoint source;         // our address and port
  Endpoint destination;    // same family as source
};

// Ethernet (+ VLAN) + IP + UDP header bytes for `flow`; 0 when its family is unset.
[[nodiscard]] std::size_t udp_headers_length(const UdpFlow& flow);
constexpr std::size_t kMaxUdpHeaders = 14 + 4 + 40 + 8;

enum class UdpChecksum : std::uint8_t {
  Full,     // computed here over the payload
  Offload,  // the pseudo-header sum only, as NICs with UDP checksum offload expect
};

// Writes the headers into frame[0, udp_headers_length(flow)) for a payload already
// at frame[udp_headers_length(flow), + payload_length): IPv4 header checksum, DF
// set, TTL/hop limit 64, and the UDP checksum as asked. Returns the frame length, or 0
// when `frame` is too small, the families differ or the datagram exceeds 64 KiB.
[[nodiscard]] std::size_t write_udp_headers(std::span<std::uint8_t> frame, const UdpFlow& flow,
                                            std::size_t payload_length,
                                            UdpChecksum checksum = UdpChecksum::Full);

// RFC 1071: the one's complement of the folded one's-complement sum of `bytes` taken
// as big-endian 16-bit words (an odd last byte padded with zero), as a number to store
// big-endian in a checksum field. Over a message whose checksum field is right it
// returns 0. `initial` is a partial sum of words that precede `bytes` (a pseudo-header,
// an even number of bytes), neither folded nor complemented.
std::uint16_t internet_checksum(std::span<const std::uint8_t> bytes, std::uint32_t initial = 0);

}  // namespace heimdall::net
