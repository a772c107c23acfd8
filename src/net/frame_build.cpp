// Frames written (frame.hpp): replies made in place of the request (ARP, ICMP
// echo), neighbour discovery frames built from nothing, and the Ethernet/IP/UDP
// headers in front of each DNS message the DPDK backend sends.
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "checksum.hpp"
#include "heimdall/net/frame.hpp"
#include "layout.hpp"

namespace heimdall::net {
namespace {

// --- writing ---

std::size_t l2_length(std::uint16_t vlan) { return kEthernetHeader + (vlan != 0 ? kVlanTag : 0); }

// Returns the L3 offset.
std::size_t write_ethernet(MutableBytes out, const MacAddress& destination,
                           const MacAddress& source, std::uint16_t vlan, std::uint16_t ethertype) {
  put(out, 0, destination.bytes);
  put(out, 6, source.bytes);
  std::size_t at = 12;
  if (vlan != 0) {
    store16(out, at, kEtherTypeVlan);
    store16(out, at + 2, static_cast<std::uint16_t>(vlan & kVlanIdMask));  // priority 0, DEI 0
    at += kVlanTag;
  }
  store16(out, at, ethertype);
  return at + 2;
}

void write_ipv4_header(MutableBytes ip, std::size_t total_length, std::uint8_t protocol,
                       Bytes source, Bytes destination) {
  ip[0] = 0x45;
  ip[1] = 0;
  store16(ip, 2, static_cast<std::uint16_t>(total_length));
  store16(ip, 4, 0);  // with DF set the identification is never used (RFC 6864 §4.1)
  store16(ip, 6, kIpv4DontFragment);
  ip[8] = kTtl;
  ip[9] = protocol;
  store16(ip, 10, 0);
  put(ip, 12, source);
  put(ip, 16, destination);
  store16(ip, 10, checksum_of(ip.first(kIpv4Header), 0));
}

void write_ipv6_header(MutableBytes ip, std::size_t payload_length, std::uint8_t next_header,
                       std::uint8_t hop_limit, Bytes source, Bytes destination) {
  ip[0] = 0x60;  // traffic class and flow label 0
  ip[1] = ip[2] = ip[3] = 0;
  store16(ip, 4, static_cast<std::uint16_t>(payload_length));
  ip[6] = next_header;
  ip[7] = hop_limit;
  put(ip, 8, source);
  put(ip, 24, destination);
}

// An NS or NA body: type, code 0, checksum, flags, target, one link-layer option.
void write_ndp_message(MutableBytes ip, std::uint8_t type, std::uint8_t flags, Bytes target,
                       std::uint8_t option, const MacAddress& mac) {
  const MutableBytes icmp = ip.subspan(kIpv6Header, kNdpMessage);
  std::fill(icmp.begin(), icmp.end(), 0);
  icmp[0] = type;
  icmp[4] = flags;
  put(icmp, 8, target);
  icmp[kNdpHeader] = option;
  icmp[kNdpHeader + 1] = 1;  // in units of 8 bytes
  put(icmp, kNdpHeader + 2, mac.bytes);
  const std::uint64_t pseudo = pseudo_header_sum(ip, true, kProtocolIcmpv6) + kNdpMessage;
  store16(icmp, 2, checksum_of(icmp, pseudo));
}

std::size_t echo_reply4(MutableBytes frame, const Frame& request) {
  const std::size_t l3 = request.l3_offset;
  if (frame.size() < l3 + kIpv4Header) return 0;
  if (request.l4_offset < l3 + kIpv4Header) return 0;
  const std::size_t total_length = load16(frame, l3 + 2);
  const std::size_t header_length = request.l4_offset - l3;
  if (l3 + total_length > frame.size() || total_length < header_length + kIcmpMinimum) return 0;
  const MutableBytes ip = frame.subspan(l3, total_length);
  std::swap_ranges(ip.begin() + 12, ip.begin() + 16, ip.begin() + 16);
  ip[8] = kTtl;
  store16(ip, 10, 0);
  store16(ip, 10, checksum_of(ip.first(header_length), 0));
  const MutableBytes icmp = ip.subspan(header_length);
  icmp[0] = kIcmpEchoReply;
  store16(icmp, 2, 0);
  store16(icmp, 2, checksum_of(icmp, 0));
  return l3 + total_length;
}

std::size_t echo_reply6(MutableBytes frame, const Frame& request) {
  const std::size_t l3 = request.l3_offset;
  if (frame.size() < l3 + kIpv6Header) return 0;
  const std::size_t payload_length = load16(frame, l3 + 4);
  if (l3 + kIpv6Header + payload_length > frame.size() || payload_length < kIcmpMinimum) return 0;
  const MutableBytes ip = frame.subspan(l3, kIpv6Header + payload_length);
  std::swap_ranges(ip.begin() + 8, ip.begin() + 24, ip.begin() + 24);
  ip[7] = kTtl;
  const MutableBytes icmp = ip.subspan(kIpv6Header);
  icmp[0] = kIcmpv6EchoReply;
  store16(icmp, 2, 0);
  const std::uint64_t pseudo = pseudo_header_sum(ip, true, kProtocolIcmpv6) + payload_length;
  store16(icmp, 2, checksum_of(icmp, pseudo));
  return l3 + kIpv6Header + payload_length;
}

}  // namespace

// --- replies in place ---

std::size_t make_arp_reply(std::span<std::uint8_t> frame, const Frame& request,
                           const Interface& ours) {
  const std::size_t l3 = request.l3_offset;
  if (request.kind != FrameKind::ArpRequest || frame.size() < l3 + kArpBody) return 0;
  // RFC 826: the reply goes to the sender's hardware address, the tag stays as it was.
  put(frame, 0, request.neighbour_mac.bytes);
  put(frame, 6, ours.mac.bytes);
  const MutableBytes arp = frame.subspan(l3, kArpBody);
  store16(arp, 6, kArpReply);
  put(arp, 8, ours.mac.bytes);
  put(arp, 14, ours.ipv4);
  put(arp, 18, request.neighbour_mac.bytes);
  put(arp, 24, address_bytes(request.source));
  // The request's padding is not sent back: NICs pad short frames on transmit.
  return l3 + kArpBody;
}

std::size_t make_echo_reply(std::span<std::uint8_t> frame, const Frame& request,
                            const Interface& ours) {
  if (request.kind != FrameKind::EchoRequest || request.l3_offset < kEthernetHeader) return 0;
  const std::size_t length = request.destination.family == AF_INET ? echo_reply4(frame, request)
                                                                   : echo_reply6(frame, request);
  if (length == 0) return 0;
  put(frame, 0, request.source_mac.bytes);
  put(frame, 6, ours.mac.bytes);
  return length;
}

// --- frames built ---

std::size_t build_neighbour_advertisement(std::span<std::uint8_t> out, const Frame& solicitation,
                                          const Interface& ours) {
  const std::size_t length = l2_length(ours.vlan) + kIpv6Header + kNdpMessage;
  if (solicitation.kind != FrameKind::NeighbourSolicitation || out.size() < length) return 0;
  // A DAD probe's sender has no address yet: answer all nodes (RFC 4861 §7.2.4),
  // unsolicited.
  const bool dad = all_zero(address_bytes(solicitation.source));
  const Bytes destination = dad ? Bytes(kAllNodes) : address_bytes(solicitation.source);
  const MacAddress destination_mac = dad ? multicast_mac(kAllNodes) : solicitation.neighbour_mac;
  const std::size_t l3 = write_ethernet(out, destination_mac, ours.mac, ours.vlan, kEtherTypeIpv6);
  const MutableBytes ip = out.subspan(l3, kIpv6Header + kNdpMessage);
  write_ipv6_header(ip, kNdpMessage, kProtocolIcmpv6, kNdpHopLimit, solicitation.ndp_target,
                    destination);
  const std::uint8_t flags = static_cast<std::uint8_t>((dad ? 0 : kNaSolicited) | kNaOverride);
  write_ndp_message(ip, kNeighbourAdvertisement, flags, solicitation.ndp_target,
                    kOptionTargetLinkLayer, ours.mac);
  return length;
}

std::size_t build_arp_request(std::span<std::uint8_t> out, const Interface& ours,
                              const std::array<std::uint8_t, 4>& target) {
  const std::size_t length = l2_length(ours.vlan) + kArpBody;
  if (out.size() < length) return 0;
  const std::size_t l3 = write_ethernet(out, kBroadcastMac, ours.mac, ours.vlan, kEtherTypeArp);
  const MutableBytes arp = out.subspan(l3, kArpBody);
  store16(arp, 0, kArpHardwareEthernet);
  store16(arp, 2, kEtherTypeIpv4);
  arp[4] = 6;
  arp[5] = 4;
  store16(arp, 6, kArpRequest);
  put(arp, 8, ours.mac.bytes);
  put(arp, 14, ours.ipv4);
  std::fill_n(arp.begin() + 18, 6, 0);  // the unknown target hardware address
  put(arp, 24, target);
  return length;
}

std::size_t build_neighbour_solicitation(std::span<std::uint8_t> out, const Interface& ours,
                                         const std::array<std::uint8_t, 16>& target) {
  const std::size_t length = l2_length(ours.vlan) + kIpv6Header + kNdpMessage;
  if (out.size() < length || (!ours.has_ipv6 && !has_link_local(ours))) return 0;
  // The neighbour caches our source address from the solicitation (RFC 4861 §7.2.3):
  // an on-link global neighbour learns the global address our DNS replies come from;
  // a link-local target (a router, typically) can only be asked from link-local.
  const Endpoint target_endpoint = endpoint_of(AF_INET6, target);
  const bool from_global =
      ours.has_ipv6 &&
      (!has_link_local(ours) || (!is_link_local6(target) && ours.on_link(target_endpoint)));
  const Bytes source = from_global ? Bytes(ours.ipv6) : Bytes(ours.ipv6_link_local);
  const Ipv6Address group = solicited_node(target);
  const std::size_t l3 =
      write_ethernet(out, multicast_mac(group), ours.mac, ours.vlan, kEtherTypeIpv6);
  const MutableBytes ip = out.subspan(l3, kIpv6Header + kNdpMessage);
  write_ipv6_header(ip, kNdpMessage, kProtocolIcmpv6, kNdpHopLimit, source, group);
  write_ndp_message(ip, kNeighbourSolicitation, 0, target, kOptionSourceLinkLayer, ours.mac);
  return length;
}

// --- UDP ---

std::size_t udp_headers_length(const UdpFlow& flow) {
  if (flow.source.family != AF_INET && flow.source.family != AF_INET6) return 0;
  const std::size_t ip = flow.source.family == AF_INET6 ? kIpv6Header : kIpv4Header;
  return l2_length(flow.vlan) + ip + kUdpHeader;
}

std::size_t write_udp_headers(std::span<std::uint8_t> frame, const UdpFlow& flow,
                              std::size_t payload_length, UdpChecksum checksum) {
  const std::size_t headers = udp_headers_length(flow);
  const bool ipv6 = flow.source.family == AF_INET6;
  const std::size_t udp_length = kUdpHeader + payload_length;
  const std::size_t ip_header = ipv6 ? kIpv6Header : kIpv4Header;
  // IPv4's total length and IPv6's payload length are both 16-bit fields.
  const std::size_t ip_length = (ipv6 ? 0 : kIpv4Header) + udp_length;
  if (headers == 0 || flow.destination.family != flow.source.family || ip_length > 0xffff ||
      frame.size() < headers + payload_length) {
    return 0;
  }
  const std::size_t l3 = write_ethernet(frame, flow.destination_mac, flow.source_mac, flow.vlan,
                                        ipv6 ? kEtherTypeIpv6 : kEtherTypeIpv4);
  const MutableBytes ip = frame.subspan(l3, ip_header + udp_length);
  if (ipv6) {
    write_ipv6_header(ip, udp_length, kProtocolUdp, kTtl, address_bytes(flow.source),
                      address_bytes(flow.destination));
  } else {
    write_ipv4_header(ip, ip_length, kProtocolUdp, address_bytes(flow.source),
                      address_bytes(flow.destination));
  }
  const MutableBytes udp = ip.subspan(ip_header);
  store16(udp, 0, flow.source.port);
  store16(udp, 2, flow.destination.port);
  store16(udp, 4, static_cast<std::uint16_t>(udp_length));
  store16(udp, 6, 0);
  const std::uint64_t pseudo = pseudo_header_sum(ip, ipv6, kProtocolUdp) + udp_length;
  std::uint16_t sum = 0;
  if (checksum == UdpChecksum::Full) {
    sum = checksum_of(udp, pseudo);
    if (sum == 0) sum = 0xffff;  // 0 would mean "no checksum" (RFC 768)
  } else {
    // What rte_ipv4_phdr_cksum / rte_ipv6_phdr_cksum give for RTE_MBUF_F_TX_UDP_CKSUM:
    // the NIC adds the datagram to it and complements.
    sum = fold(pseudo);
  }
  store16(udp, 6, sum);
  return headers + payload_length;
}

std::uint16_t internet_checksum(std::span<const std::uint8_t> bytes, std::uint32_t initial) {
  return checksum_of(bytes, initial);
}

}  // namespace heimdall::net
