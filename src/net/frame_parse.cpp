// Frame classification (frame.hpp: parse_frame). Every read is preceded by a
// length check against the span it reads, so parse_frame can be fed anything;
// tests/fuzz/frame_parse_fuzz.cpp holds it to that under ASan. Header fields are
// read by byte offset, big-endian, so nothing depends on the alignment of the
// frame in its buffer.
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "checksum.hpp"
#include "heimdall/net/frame.hpp"
#include "layout.hpp"

namespace heimdall::net {
namespace {

// --- addresses ---

bool is_multicast6(Bytes address) { return address[0] == 0xff; }

bool is_loopback6(Bytes address) { return all_zero(address.first(15)) && address[15] == 1; }

bool is_solicited_node(Bytes address) {
  const Ipv6Address prefix = solicited_node(Ipv6Address{});
  return std::equal(prefix.begin(), prefix.begin() + 13, address.begin());
}

bool is_our_ipv6(Bytes address, const Interface& ours) {
  return equal(address, ours.ipv6) ||
         (has_link_local(ours) && equal(address, ours.ipv6_link_local));
}

// The groups we listen to: all-nodes and the solicited-node group of each address.
bool is_our_group(Bytes address, const Interface& ours) {
  return equal(address, kAllNodes) || equal(address, solicited_node(ours.ipv6)) ||
         (has_link_local(ours) && equal(address, solicited_node(ours.ipv6_link_local)));
}

bool accepts_mac(const MacAddress& destination, const Interface& ours) {
  if (destination == ours.mac || destination == kBroadcastMac) return true;
  if (!ours.has_ipv6) return false;
  return destination == multicast_mac(kAllNodes) ||
         destination == multicast_mac(solicited_node(ours.ipv6)) ||
         (has_link_local(ours) &&
          destination == multicast_mac(solicited_node(ours.ipv6_link_local)));
}

// RFC 1122 §3.2.1.3 / RFC 1812 §5.3.7: 0/8, 127/8, multicast, class E and
// broadcast sources are invalid; replying to them would reflect our answers.
bool is_martian_source4(Bytes address) {
  return address[0] == 0 || address[0] == 127 || address[0] >= 224;
}

// --- classification ---

void set_drop(Frame& out, DropReason reason) {
  out.kind = FrameKind::Drop;
  out.drop = reason;
}

// RFC 826 with the RFC 5227 refinements we need: a request is ours only when it asks
// for our address (a probe's sender 0.0.0.0 included); any reply is learnable.
void parse_arp(Bytes frame, const Interface& ours, Frame& out) {
  if (frame.size() < out.l3_offset + kArpBody) return set_drop(out, DropReason::Short);
  const Bytes arp = frame.subspan(out.l3_offset, kArpBody);
  if (load16(arp, 0) != kArpHardwareEthernet || load16(arp, 2) != kEtherTypeIpv4 || arp[4] != 6 ||
      arp[5] != 4) {
    return set_drop(out, DropReason::BadArp);
  }
  if (!ours.has_ipv4) return set_drop(out, DropReason::NotForUs);
  const MacAddress sender = mac_at(arp, 8);
  // No neighbour lives at a group address; learning one would flood our replies.
  if (sender.is_multicast()) return set_drop(out, DropReason::BadArp);
  out.neighbour_mac = sender;
  out.source = endpoint_of(AF_INET, arp.subspan(14, 4));
  out.destination = endpoint_of(AF_INET, arp.subspan(24, 4));
  const std::uint16_t operation = load16(arp, 6);
  if (operation == kArpReply) {
    if (all_zero(arp.subspan(14, 4))) return set_drop(out, DropReason::BadArp);
    out.kind = FrameKind::ArpReply;
  } else if (operation == kArpRequest && equal(arp.subspan(24, 4), ours.ipv4)) {
    out.kind = FrameKind::ArpRequest;
  } else {
    set_drop(out, DropReason::NotForUs);
  }
}

// `l4` is the IP payload; `pseudo` the pseudo-header sum without the length.
void classify_udp(Bytes l4, std::uint64_t pseudo, bool ipv6, const Interface& ours, Frame& out) {
  if (l4.size() < kUdpHeader) return set_drop(out, DropReason::BadUdpLength);
  const std::size_t length = load16(l4, 4);
  // A UDP length short of the IP payload is accepted and the rest ignored, as Linux
  // does; one past it is not.
  if (length < kUdpHeader || length > l4.size()) return set_drop(out, DropReason::BadUdpLength);
  const Bytes udp = l4.first(length);
  if (load16(udp, 6) == 0) {
    // "No checksum" exists only in IPv4 (RFC 768); IPv6 forbids it (RFC 8200 §8.1).
    if (ipv6) return set_drop(out, DropReason::BadUdpChecksum);
  } else if (!checksum_valid(udp, pseudo + length)) {
    return set_drop(out, DropReason::BadUdpChecksum);
  }
  out.source.port = load16(udp, 0);
  out.destination.port = load16(udp, 2);
  out.payload_offset = static_cast<std::uint16_t>(out.l4_offset + kUdpHeader);
  out.payload_length = static_cast<std::uint16_t>(length - kUdpHeader);
  out.kind = out.destination.port == ours.dns_port ? FrameKind::DnsQuery : FrameKind::UdpToUs;
}

void classify_icmp(Bytes icmp, Frame& out) {
  if (icmp.size() < kIcmpMinimum || !checksum_valid(icmp, 0)) {
    return set_drop(out, DropReason::BadIcmp);
  }
  const bool echo = icmp[0] == kIcmpEchoRequest && icmp[1] == 0;
  out.kind = echo ? FrameKind::EchoRequest : FrameKind::Exception;
}

// A fragment is ours but never the fast path's: it goes to the exception path and is
// counted under its own name (docs/architecture.md §12.4), hence an Exception carrying a reason.
void set_fragment(Frame& out) {
  out.kind = FrameKind::Exception;
  out.drop = DropReason::Fragment;
}

void parse_ipv4(Bytes frame, const Interface& ours, Frame& out) {
  if (frame.size() < out.l3_offset + kIpv4Header) return set_drop(out, DropReason::Short);
  const Bytes available = frame.subspan(out.l3_offset);
  const std::size_t header_length = (available[0] & 0x0fu) * 4u;
  if (available[0] >> 4 != 4 || header_length < kIpv4Header) {
    return set_drop(out, DropReason::BadIpv4Header);
  }
  if (available.size() < header_length) return set_drop(out, DropReason::Short);
  const std::size_t total_length = load16(available, 2);
  if (total_length < header_length) return set_drop(out, DropReason::BadIpv4Header);
  if (total_length > available.size()) return set_drop(out, DropReason::Short);
  // Bounded by the total length: a short datagram arrives padded to 60 bytes.
  const Bytes ip = available.first(total_length);
  if (!checksum_valid(ip.first(header_length), 0)) {
    return set_drop(out, DropReason::BadIpv4Checksum);
  }
  if (is_martian_source4(ip.subspan(12, 4))) return set_drop(out, DropReason::BadIpv4Header);
  if (!ours.has_ipv4 || !equal(ip.subspan(16, 4), ours.ipv4)) {
    return set_drop(out, DropReason::NotForUs);
  }
  out.source = endpoint_of(AF_INET, ip.subspan(12, 4));
  out.destination = endpoint_of(AF_INET, ip.subspan(16, 4));
  out.l4_offset = static_cast<std::uint16_t>(out.l3_offset + header_length);
  if ((load16(ip, 6) & kIpv4FragmentBits) != 0) return set_fragment(out);
  // Options are rare and some (source route, record route) want answers the fast
  // path does not give.
  if (header_length > kIpv4Header) {
    out.kind = FrameKind::Exception;
    return;
  }
  const Bytes l4 = ip.subspan(header_length);
  switch (ip[9]) {
    case kProtocolUdp:
      return classify_udp(l4, pseudo_header_sum(ip, false, kProtocolUdp), false, ours, out);
    case kProtocolIcmp:
      return classify_icmp(l4, out);
    default:
      out.kind = FrameKind::Exception;
  }
}

// Walks the options after an NDP message's fixed part (RFC 4861 §4.6) and keeps the
// link-layer address of type `wanted`. False when an option is malformed, which
// makes the whole message invalid (§7.1.1: every option's length is > 0).
bool find_link_layer_option(Bytes options, std::uint8_t wanted, std::optional<MacAddress>& found) {
  while (!options.empty()) {
    if (options.size() < 2 || options[1] == 0) return false;
    const std::size_t length = options[1] * 8u;
    if (length > options.size()) return false;
    if (options[0] == wanted) found = mac_at(options, 2);
    options = options.subspan(length);
  }
  return true;
}

// The checks RFC 4861 §7.1.1 and §7.1.2 share for NS and NA.
bool ndp_valid(Bytes ip, Bytes icmp) {
  return ip[7] == kNdpHopLimit && icmp[1] == 0 && icmp.size() >= kNdpHeader &&
         !is_multicast6(icmp.subspan(8, 16));
}

void classify_solicitation(Bytes ip, Bytes icmp, const Interface& ours, Frame& out) {
  std::optional<MacAddress> source_link_layer;
  if (!ndp_valid(ip, icmp) || !find_link_layer_option(icmp.subspan(kNdpHeader),
                                                      kOptionSourceLinkLayer, source_link_layer)) {
    return set_drop(out, DropReason::BadIcmp);
  }
  // Duplicate address detection (RFC 4861 §7.1.1): from ::, to a solicited-node
  // group, without a source link-layer address.
  if (all_zero(ip.subspan(8, 16)) &&
      (!is_solicited_node(ip.subspan(24, 16)) || source_link_layer)) {
    return set_drop(out, DropReason::BadIcmp);
  }
  const Bytes target = icmp.subspan(8, 16);
  if (!is_our_ipv6(target, ours)) return set_drop(out, DropReason::NotForUs);
  std::copy(target.begin(), target.end(), out.ndp_target.begin());
  out.neighbour_mac = source_link_layer.value_or(out.source_mac);
  out.kind = FrameKind::NeighbourSolicitation;
}

void classify_advertisement(Bytes ip, Bytes icmp, Frame& out) {
  std::optional<MacAddress> target_link_layer;
  if (!ndp_valid(ip, icmp) ||
      // An advertisement to a group cannot be solicited (RFC 4861 §7.1.2).
      (is_multicast6(ip.subspan(24, 16)) && (icmp[4] & kNaSolicited) != 0) ||
      !find_link_layer_option(icmp.subspan(kNdpHeader), kOptionTargetLinkLayer,
                              target_link_layer)) {
    return set_drop(out, DropReason::BadIcmp);
  }
  const Bytes target = icmp.subspan(8, 16);
  std::copy(target.begin(), target.end(), out.ndp_target.begin());
  out.neighbour_mac = target_link_layer.value_or(out.source_mac);
  out.kind = FrameKind::NeighbourAdvertisement;
}

void classify_icmpv6(Bytes ip, Bytes icmp, const Interface& ours, Frame& out) {
  const std::uint64_t pseudo = pseudo_header_sum(ip, true, kProtocolIcmpv6) + icmp.size();
  if (icmp.size() < 4 || !checksum_valid(icmp, pseudo)) return set_drop(out, DropReason::BadIcmp);
  const bool to_group = is_multicast6(ip.subspan(24, 16));
  switch (icmp[0]) {
    case kIcmpv6EchoRequest:
      if (icmp.size() < kIcmpMinimum) return set_drop(out, DropReason::BadIcmp);
      // Only a unicast echo is answered, so a ping to ff02::1 does not make every
      // appliance on the link answer at once.
      if (to_group) return set_drop(out, DropReason::NotForUs);
      if (all_zero(ip.subspan(8, 16))) return set_drop(out, DropReason::BadIpv6Header);
      out.kind = icmp[1] == 0 ? FrameKind::EchoRequest : FrameKind::Exception;
      return;
    case kNeighbourSolicitation:
      return classify_solicitation(ip, icmp, ours, out);
    case kNeighbourAdvertisement:
      return classify_advertisement(ip, icmp, out);
    default:
      // Router advertisements, MLD, errors: the exception path's kernel wants them.
      out.kind = FrameKind::Exception;
  }
}

void parse_ipv6(Bytes frame, const Interface& ours, Frame& out) {
  if (frame.size() < out.l3_offset + kIpv6Header) return set_drop(out, DropReason::Short);
  const Bytes available = frame.subspan(out.l3_offset);
  if (available[0] >> 4 != 6) return set_drop(out, DropReason::BadIpv6Header);
  const std::size_t payload_length = load16(available, 4);
  if (kIpv6Header + payload_length > available.size()) return set_drop(out, DropReason::Short);
  const Bytes ip = available.first(kIpv6Header + payload_length);
  const Bytes source = ip.subspan(8, 16);
  const Bytes destination = ip.subspan(24, 16);
  // RFC 4291 §2.5.3 and §2.7: never a valid source on the wire.
  if (is_multicast6(source) || is_loopback6(source)) {
    return set_drop(out, DropReason::BadIpv6Header);
  }
  const bool to_group = ours.has_ipv6 && is_our_group(destination, ours);
  if (!ours.has_ipv6 || (!to_group && !is_our_ipv6(destination, ours))) {
    return set_drop(out, DropReason::NotForUs);
  }
  out.source = endpoint_of(AF_INET6, source);
  out.destination = endpoint_of(AF_INET6, destination);
  out.l4_offset = static_cast<std::uint16_t>(out.l3_offset + kIpv6Header);
  const std::uint8_t next_header = ip[6];
  const Bytes l4 = ip.subspan(kIpv6Header);
  if (next_header == kProtocolIcmpv6) return classify_icmpv6(ip, l4, ours, out);
  // Our groups carry NDP, and MLD queries behind a hop-by-hop router alert that the
  // exception path's kernel answers, so switches that snoop MLD keep sending us NDP.
  if (to_group) {
    if (next_header == kNextHeaderHopByHop) {
      out.kind = FrameKind::Exception;
    } else {
      set_drop(out, DropReason::NotForUs);
    }
    return;
  }
  if (next_header == kNextHeaderFragment) return set_fragment(out);
  if (next_header != kProtocolUdp) {
    out.kind = FrameKind::Exception;  // extension headers, TCP, anything else
    return;
  }
  // :: is a source only while an address is tentative (RFC 4291 §2.5.2).
  if (all_zero(source)) return set_drop(out, DropReason::BadIpv6Header);
  classify_udp(l4, pseudo_header_sum(ip, true, kProtocolUdp), true, ours, out);
}

// Whether what answers this frame may go back to its sender. ARP and NDP are
// answered to the hardware address they carry; UDP and echo replies go to the
// frame's source MAC and IP, which must name one host that is not us.
bool answerable_sender(const Frame& frame, const Interface& ours) {
  if (frame.source_mac.is_multicast()) return false;
  if (frame.kind != FrameKind::DnsQuery && frame.kind != FrameKind::UdpToUs &&
      frame.kind != FrameKind::EchoRequest) {
    return true;
  }
  if (frame.destination_mac != ours.mac) return false;  // unicast IP in an L2 broadcast
  if ((frame.kind != FrameKind::EchoRequest) && frame.source.port == 0) return false;
  const std::uint8_t* source = frame.source.address;
  if (frame.source.family == AF_INET6) {
    return std::memcmp(source, ours.ipv6.data(), 16) != 0 &&
           std::memcmp(source, ours.ipv6_link_local.data(), 16) != 0;
  }
  if (std::memcmp(source, ours.ipv4.data(), 4) == 0) return false;
  if (ours.prefix4 >= 31) return true;  // RFC 3021: a /31 has no broadcast address
  const std::uint32_t mask = ~std::uint32_t{0} << (32 - ours.prefix4);
  const std::uint32_t address = std::uint32_t{source[0]} << 24 | std::uint32_t{source[1]} << 16 |
                                std::uint32_t{source[2]} << 8 | source[3];
  const std::uint32_t network = std::uint32_t{ours.ipv4[0]} << 24 |
                                std::uint32_t{ours.ipv4[1]} << 16 |
                                std::uint32_t{ours.ipv4[2]} << 8 | ours.ipv4[3];
  if ((address & mask) != (network & mask)) return true;  // off-link: not ours to judge
  const std::uint32_t host = address & ~mask;
  return host != 0 && host != ~mask;
}

}  // namespace

Frame parse_frame(std::span<const std::uint8_t> frame, const Interface& ours) {
  Frame out;
  if (frame.size() < kEthernetHeader) {
    set_drop(out, DropReason::Short);
    return out;
  }
  out.destination_mac = mac_at(frame, 0);
  out.source_mac = mac_at(frame, 6);
  out.neighbour_mac = out.source_mac;
  std::uint16_t ethertype = load16(frame, 12);
  std::size_t l3 = kEthernetHeader;
  if (ethertype == kEtherTypeVlan) {
    if (frame.size() < kEthernetHeader + kVlanTag) {
      set_drop(out, DropReason::Short);
      return out;
    }
    // VID 0 is a priority tag (802.1Q §9.6): the frame belongs to the untagged LAN.
    out.vlan = static_cast<std::uint16_t>(load16(frame, 14) & kVlanIdMask);
    ethertype = load16(frame, 16);
    l3 += kVlanTag;
  }
  out.l3_offset = static_cast<std::uint16_t>(l3);
  if (out.vlan != ours.vlan || !accepts_mac(out.destination_mac, ours)) {
    set_drop(out, DropReason::NotForUs);
    return out;
  }
  switch (ethertype) {
    case kEtherTypeArp:
      parse_arp(frame, ours, out);
      break;
    case kEtherTypeIpv4:
      parse_ipv4(frame, ours, out);
      break;
    case kEtherTypeIpv6:
      parse_ipv6(frame, ours, out);
      break;
    default:
      set_drop(out, DropReason::UnknownEthertype);  // a second tag (QinQ) included
  }
  if (out.kind != FrameKind::Drop && !answerable_sender(out, ours)) {
    set_drop(out, DropReason::BadSource);
  }
  return out;
}
}  // namespace heimdall::net
