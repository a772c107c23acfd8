// Ethernet/VLAN, ARP, IPv4, IPv6 + NDP, ICMP echo and UDP over raw frames
// (frame.hpp). Every read is preceded by a length check against the span it reads,
// so parse_frame can be fed anything; tests/fuzz/frame_parse_fuzz.cpp holds it to
// that under ASan. Header fields are read by byte offset, big-endian, so nothing
// depends on the alignment of the frame in its buffer.
#include "heimdall/net/frame.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <bit>

namespace heimdall::net {
namespace {

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

std::uint16_t load16(Bytes bytes, std::size_t at) {
  return static_cast<std::uint16_t>(bytes[at] << 8 | bytes[at + 1]);
}

void store16(MutableBytes bytes, std::size_t at, std::uint16_t value) {
  bytes[at] = static_cast<std::uint8_t>(value >> 8);
  bytes[at + 1] = static_cast<std::uint8_t>(value);
}

void put(MutableBytes out, std::size_t at, Bytes value) {
  std::copy(value.begin(), value.end(), out.begin() + static_cast<std::ptrdiff_t>(at));
}

bool equal(Bytes a, Bytes b) { return std::equal(a.begin(), a.end(), b.begin(), b.end()); }

bool all_zero(Bytes bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t byte) { return byte == 0; });
}

MacAddress mac_at(Bytes bytes, std::size_t at) {
  MacAddress mac;
  std::copy_n(bytes.begin() + static_cast<std::ptrdiff_t>(at), 6, mac.bytes.begin());
  return mac;
}

Endpoint endpoint_of(std::uint8_t family, Bytes address) {
  Endpoint endpoint;
  endpoint.family = family;
  std::copy(address.begin(), address.end(), endpoint.address);
  return endpoint;
}

// --- checksums (RFC 1071) ---

std::uint16_t fold(std::uint64_t sum) {
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(sum);
}

// Adds `bytes` as big-endian 16-bit words to `sum`; an odd last byte is the high half
// of a zero-padded word. 64 bits cannot overflow for any frame. Every reply and
// query pays for this, so it adds 32-bit words in the machine's byte order and
// swaps once: the one's-complement sum is byte-order independent (RFC 1071 §2(B)).
std::uint64_t add_words(Bytes bytes, std::uint64_t sum) {
  std::uint64_t native = 0;
  std::size_t at = 0;
  for (; at + 4 <= bytes.size(); at += 4) {
    std::uint32_t word;
    std::memcpy(&word, bytes.data() + at, 4);
    native += word;
  }
  if (at + 2 <= bytes.size()) {
    std::uint16_t half;
    std::memcpy(&half, bytes.data() + at, 2);
    native += half;
    at += 2;
  }
  std::uint16_t folded = fold(native);
  if constexpr (std::endian::native == std::endian::little) {
    folded = static_cast<std::uint16_t>(folded << 8 | folded >> 8);
  }
  sum += folded;
  if (at < bytes.size()) sum += static_cast<std::uint64_t>(bytes[at]) << 8;
  return sum;
}

// A message whose checksum field is right sums to 0xffff (RFC 1071 §1, step 3).
bool checksum_valid(Bytes bytes, std::uint64_t initial) {
  return fold(add_words(bytes, initial)) == 0xffff;
}

std::uint16_t checksum_of(Bytes bytes, std::uint64_t initial) {
  return static_cast<std::uint16_t>(~fold(add_words(bytes, initial)));
}

// The pseudo-header's addresses and protocol, read from the IP header in place
// (RFC 768; RFC 8200 §8.1). The upper-layer length is added by the caller, since
// for UDP it is the UDP length rather than what the IP header says.
std::uint64_t pseudo_header_sum(Bytes ip, bool ipv6, std::uint8_t protocol) {
  const Bytes addresses = ipv6 ? ip.subspan(8, 32) : ip.subspan(12, 8);
  return add_words(addresses, protocol);
}

// --- addresses ---

bool is_multicast6(Bytes address) { return address[0] == 0xff; }

bool is_loopback6(Bytes address) { return all_zero(address.first(15)) && address[15] == 1; }

// derive_link_local() may not have run: an unset link-local address must not make
// frames to :: ours.
bool has_link_local(const Interface& ours) { return is_link_local6(ours.ipv6_link_local); }

// ff02::1:ffXX:XXXX, the group a solicitation for `address` goes to (RFC 4291 §2.7.1).
Ipv6Address solicited_node(Bytes address) {
  Ipv6Address group{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff};
  std::copy(address.begin() + 13, address.end(), group.begin() + 13);
  return group;
}

bool is_solicited_node(Bytes address) {
  const Ipv6Address prefix = solicited_node(Ipv6Address{});
  return std::equal(prefix.begin(), prefix.begin() + 13, address.begin());
}

// 33:33 + the group's last 32 bits (RFC 2464 §7).
MacAddress multicast_mac(Bytes group) {
  return MacAddress{{0x33, 0x33, group[12], group[13], group[14], group[15]}};
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
// counted under its own name (DESIGN.md §8.9), hence an Exception carrying a reason.
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

// --- Interface ---

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

// --- parsing ---

namespace {

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
