// libFuzzer target over net::parse_frame and the replies built from what it accepts:
// every frame on a port comes from someone we do not control. ASan catches a read or
// write past the frame; the aborts below catch results that contradict the input.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "heimdall/net/frame.hpp"

using namespace heimdall::net;

namespace {

constexpr MacAddress kOurMac{{0x02, 0, 0, 0, 0, 0x01}};
constexpr MacAddress kPeerMac{{0x02, 0, 0, 0, 0, 0x02}};

// 192.0.2.1/24 and 2001:db8::1/64, as the seed corpus addresses them.
Interface make_interface(std::uint16_t vlan, bool ipv4, bool ipv6) {
  Interface ours;
  ours.mac = kOurMac;
  ours.has_ipv4 = ipv4;
  ours.ipv4 = {192, 0, 2, 1};
  ours.prefix4 = 24;
  ours.has_ipv6 = ipv6;
  ours.ipv6 = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  ours.prefix6 = 64;
  ours.vlan = vlan;
  ours.derive_link_local();
  return ours;
}

const std::array<Interface, 3> kInterfaces = {
    make_interface(0, true, true), make_interface(100, true, true), make_interface(0, true, false)};

void check(bool condition) {
  if (!condition) std::abort();
}

// Replies are built on an exact-size copy, so ASan sees any byte past the frame.
void build_reply(std::span<const std::uint8_t> input, const Frame& frame, const Interface& ours) {
  std::vector<std::uint8_t> copy(input.begin(), input.end());
  std::size_t length = 0;
  switch (frame.kind) {
    case FrameKind::ArpRequest:
      length = make_arp_reply(copy, frame, ours);
      check(length != 0 && length <= copy.size());
      break;
    case FrameKind::EchoRequest:
      length = make_echo_reply(copy, frame, ours);
      check(length != 0 && length <= copy.size());
      break;
    case FrameKind::NeighbourSolicitation: {
      std::vector<std::uint8_t> out(kMaxNdpFrame);
      length = build_neighbour_advertisement(out, frame, ours);
      check(length != 0 && length <= out.size());
      break;
    }
    default:
      break;
  }
}

void parse_as(std::span<const std::uint8_t> input, const Interface& ours) {
  const Frame frame = parse_frame(input, ours);
  check((frame.kind == FrameKind::Drop) == (frame.drop != DropReason::None) ||
        (frame.kind == FrameKind::Exception && frame.drop == DropReason::Fragment));
  if (frame.kind == FrameKind::DnsQuery || frame.kind == FrameKind::UdpToUs) {
    check(std::size_t{frame.payload_offset} + frame.payload_length <= input.size());
  }
  build_reply(input, frame, ours);
}

// The input as a payload behind headers we write must parse back to itself.
void round_trip(std::span<const std::uint8_t> payload, const Endpoint& source,
                const Endpoint& destination, std::uint16_t vlan) {
  UdpFlow flow;
  flow.source_mac = kPeerMac;
  flow.destination_mac = kOurMac;
  flow.vlan = vlan;
  flow.source = source;
  flow.destination = destination;
  const std::size_t headers = udp_headers_length(flow);
  std::vector<std::uint8_t> frame(headers);
  frame.insert(frame.end(), payload.begin(), payload.end());
  check(write_udp_headers(frame, flow, payload.size()) == frame.size());
  const Frame parsed = parse_frame(frame, make_interface(vlan, true, true));
  check(parsed.kind == FrameKind::DnsQuery && parsed.payload_offset == headers &&
        parsed.payload_length == payload.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> input(data, size);
  for (const Interface& ours : kInterfaces) parse_as(input, ours);
  static const auto v4_peer = Endpoint::parse("192.0.2.2:40000");
  static const auto v4_ours = Endpoint::parse("192.0.2.1:53");
  static const auto v6_peer = Endpoint::parse("[2001:db8::2]:40000");
  static const auto v6_ours = Endpoint::parse("[2001:db8::1]:53");
  const std::span<const std::uint8_t> payload = input.first(std::min<std::size_t>(size, 1500));
  round_trip(payload, *v4_peer, *v4_ours, 0);
  round_trip(payload, *v6_peer, *v6_ours, 100);
  return 0;
}
