// net::parse_frame and the frames built from it: hand-built Ethernet frames, valid
// and broken, checked against byte-exact expectations. Checksums here come from the
// test's own RFC 1071 sum, not from the code under test.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "heimdall/net/frame.hpp"

namespace heimdall::net {
namespace {

using Buffer = std::vector<std::uint8_t>;
using Ipv4 = std::array<std::uint8_t, 4>;
using Ipv6 = std::array<std::uint8_t, 16>;

// --- an independent RFC 1071 checksum ---

std::uint32_t sum_words(std::span<const std::uint8_t> data, std::uint32_t sum = 0) {
  for (std::size_t i = 0; i < data.size(); i += 2) {
    sum += static_cast<std::uint32_t>(data[i] << 8);
    if (i + 1 < data.size()) sum += data[i + 1];
  }
  return sum;
}

std::uint16_t fold_sum(std::uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(sum);
}

std::uint16_t reference_checksum(std::span<const std::uint8_t> data, std::uint32_t initial = 0) {
  return static_cast<std::uint16_t>(~fold_sum(sum_words(data, initial)));
}

std::uint32_t pseudo4(const Ipv4& source, const Ipv4& destination, std::uint8_t protocol,
                      std::size_t length) {
  return sum_words(source) + sum_words(destination) + protocol + static_cast<std::uint32_t>(length);
}

std::uint32_t pseudo6(const Ipv6& source, const Ipv6& destination, std::uint8_t protocol,
                      std::size_t length) {
  return sum_words(source) + sum_words(destination) + protocol + static_cast<std::uint32_t>(length);
}

// --- frame building ---

constexpr MacAddress kOurMac{{0x02, 0, 0, 0, 0, 0x01}};
constexpr MacAddress kPeerMac{{0x02, 0, 0, 0, 0, 0x02}};
constexpr MacAddress kAllNodesMac{{0x33, 0x33, 0, 0, 0, 1}};
constexpr Ipv4 kOur4{192, 0, 2, 1};
constexpr Ipv4 kPeer4{192, 0, 2, 2};

Ipv6 v6(const char* text) {
  Ipv6 address{};
  EXPECT_EQ(inet_pton(AF_INET6, text, address.data()), 1) << text;
  return address;
}

const Ipv6 kOur6 = v6("2001:db8::1");
const Ipv6 kOurLinkLocal = v6("fe80::ff:fe00:1");
const Ipv6 kPeer6 = v6("2001:db8::2");
const Ipv6 kPeerLinkLocal = v6("fe80::2");
const Ipv6 kAllNodes = v6("ff02::1");
const Ipv6 kOurSolicitedNode = v6("ff02::1:ff00:1");

// A DNS query for example.com/A.
const Buffer kQuery = {0x12, 0x34, 0x01, 0x00, 0,   1, 0,   0,   0,   0, 0, 0, 7, 'e', 'x',
                       'a',  'm',  'p',  'l',  'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1};

Interface our_interface(std::uint16_t vlan = 0) {
  Interface ours;
  ours.mac = kOurMac;
  ours.has_ipv4 = true;
  ours.ipv4 = kOur4;
  ours.prefix4 = 24;
  ours.has_ipv6 = true;
  ours.ipv6 = kOur6;
  ours.prefix6 = 64;
  ours.vlan = vlan;
  ours.derive_link_local();
  return ours;
}

// The other end, for parsing what we build as the receiver would.
Interface peer_interface(std::uint16_t vlan = 0) {
  Interface peer = our_interface(vlan);
  peer.mac = kPeerMac;
  peer.ipv4 = kPeer4;
  peer.ipv6 = kPeer6;
  peer.ipv6_link_local = kPeerLinkLocal;
  return peer;
}

void push16(Buffer& buffer, std::uint16_t value) {
  buffer.push_back(static_cast<std::uint8_t>(value >> 8));
  buffer.push_back(static_cast<std::uint8_t>(value));
}

void append(Buffer& buffer, std::span<const std::uint8_t> data) {
  buffer.insert(buffer.end(), data.begin(), data.end());
}

Buffer cat(Buffer first, std::span<const std::uint8_t> second) {
  append(first, second);
  return first;
}

void store16(Buffer& buffer, std::size_t at, std::uint16_t value) {
  buffer[at] = static_cast<std::uint8_t>(value >> 8);
  buffer[at + 1] = static_cast<std::uint8_t>(value);
}

std::uint16_t load16(std::span<const std::uint8_t> buffer, std::size_t at) {
  return static_cast<std::uint16_t>(buffer[at] << 8 | buffer[at + 1]);
}

Buffer pad_to(Buffer buffer, std::size_t length, std::uint8_t filler = 0) {
  if (buffer.size() < length) buffer.resize(length, filler);
  return buffer;
}

Buffer ethernet(const MacAddress& destination, const MacAddress& source, std::uint16_t ethertype,
                std::optional<std::uint16_t> tci = std::nullopt) {
  Buffer buffer;
  append(buffer, destination.bytes);
  append(buffer, source.bytes);
  if (tci) {
    push16(buffer, 0x8100);
    push16(buffer, *tci);
  }
  push16(buffer, ethertype);
  return buffer;
}

struct Ipv4Fields {
  std::uint16_t id = 0;
  std::uint16_t fragment = 0x4000;  // DF
  std::uint8_t ttl = 64;
  Buffer options;
};

Buffer ipv4(const Ipv4& source, const Ipv4& destination, std::uint8_t protocol,
            std::span<const std::uint8_t> payload, const Ipv4Fields& fields = {}) {
  const std::size_t header_length = 20 + fields.options.size();
  Buffer buffer;
  buffer.push_back(static_cast<std::uint8_t>(0x40 | header_length / 4));
  buffer.push_back(0);
  push16(buffer, static_cast<std::uint16_t>(header_length + payload.size()));
  push16(buffer, fields.id);
  push16(buffer, fields.fragment);
  buffer.push_back(fields.ttl);
  buffer.push_back(protocol);
  push16(buffer, 0);
  append(buffer, source);
  append(buffer, destination);
  append(buffer, fields.options);
  store16(buffer, 10, reference_checksum(buffer));
  append(buffer, payload);
  return buffer;
}

Buffer ipv6(const Ipv6& source, const Ipv6& destination, std::uint8_t next_header,
            std::span<const std::uint8_t> payload, std::uint8_t hop_limit = 64) {
  Buffer buffer = {0x60, 0, 0, 0};
  push16(buffer, static_cast<std::uint16_t>(payload.size()));
  buffer.push_back(next_header);
  buffer.push_back(hop_limit);
  append(buffer, source);
  append(buffer, destination);
  append(buffer, payload);
  return buffer;
}

// `pseudo` holds the pseudo-header without its length.
Buffer udp(std::uint16_t source_port, std::uint16_t destination_port,
           std::span<const std::uint8_t> payload, std::uint32_t pseudo) {
  Buffer buffer;
  push16(buffer, source_port);
  push16(buffer, destination_port);
  push16(buffer, static_cast<std::uint16_t>(8 + payload.size()));
  push16(buffer, 0);
  append(buffer, payload);
  const std::uint16_t checksum =
      reference_checksum(buffer, pseudo + static_cast<std::uint32_t>(buffer.size()));
  store16(buffer, 6, checksum == 0 ? 0xffff : checksum);
  return buffer;
}

// ICMP or ICMPv6: `rest` follows the checksum; `pseudo` is the full pseudo-header sum.
Buffer icmp(std::uint8_t type, std::uint8_t code, std::span<const std::uint8_t> rest,
            std::uint32_t pseudo = 0) {
  Buffer buffer = {type, code, 0, 0};
  append(buffer, rest);
  store16(buffer, 2, reference_checksum(buffer, pseudo));
  return buffer;
}

Buffer icmp6(const Ipv6& source, const Ipv6& destination, std::uint8_t type, std::uint8_t code,
             std::span<const std::uint8_t> rest) {
  return icmp(type, code, rest, pseudo6(source, destination, 58, 4 + rest.size()));
}

Buffer query4(std::optional<std::uint16_t> tci = std::nullopt, const Buffer& payload = kQuery) {
  const Buffer datagram = udp(40000, 53, payload, pseudo4(kPeer4, kOur4, 17, 0));
  return cat(ethernet(kOurMac, kPeerMac, 0x0800, tci), ipv4(kPeer4, kOur4, 17, datagram));
}

Buffer query6(const Buffer& payload = kQuery) {
  const Buffer datagram = udp(40000, 53, payload, pseudo6(kPeer6, kOur6, 17, 0));
  return cat(ethernet(kOurMac, kPeerMac, 0x86dd), ipv6(kPeer6, kOur6, 17, datagram));
}

Buffer arp(std::uint16_t operation, const MacAddress& sender_mac, const Ipv4& sender,
           const MacAddress& target_mac, const Ipv4& target) {
  Buffer buffer = {0, 1, 0x08, 0x00, 6, 4};
  push16(buffer, operation);
  append(buffer, sender_mac.bytes);
  append(buffer, sender);
  append(buffer, target_mac.bytes);
  append(buffer, target);
  return buffer;
}

Buffer arp_request_for(const Ipv4& target, std::optional<std::uint16_t> tci = std::nullopt) {
  return pad_to(cat(ethernet(kBroadcastMac, kPeerMac, 0x0806, tci),
                    arp(1, kPeerMac, kPeer4, MacAddress{}, target)),
                60);
}

// NS or NA body after the checksum: flags/reserved, target, an optional link-layer option.
Buffer ndp_rest(std::uint8_t flags, const Ipv6& target, std::optional<std::uint8_t> option_type,
                const MacAddress& option_mac = kPeerMac) {
  Buffer rest = {flags, 0, 0, 0};
  append(rest, target);
  if (option_type) {
    rest.push_back(*option_type);
    rest.push_back(1);
    append(rest, option_mac.bytes);
  }
  return rest;
}

Buffer ndp_frame(std::uint8_t type, const MacAddress& destination_mac, const Ipv6& source,
                 const Ipv6& destination, const Buffer& rest, std::uint8_t hop_limit = 255) {
  return cat(ethernet(destination_mac, kPeerMac, 0x86dd),
             ipv6(source, destination, 58, icmp6(source, destination, type, 0, rest), hop_limit));
}

Ipv6 solicited_node_of(const Ipv6& address) {
  Ipv6 group = v6("ff02::1:ff00:0");
  std::copy(address.begin() + 13, address.end(), group.begin() + 13);
  return group;
}

MacAddress group_mac(const Ipv6& group) {
  return MacAddress{{0x33, 0x33, group[12], group[13], group[14], group[15]}};
}

// A solicitation for `target` to its solicited-node group.
Buffer solicitation_for(const Ipv6& target, const Ipv6& source = kPeer6,
                        std::optional<std::uint8_t> option = 1, std::uint8_t hop_limit = 255) {
  const Ipv6 group = solicited_node_of(target);
  return ndp_frame(135, group_mac(group), source, group, ndp_rest(0, target, option), hop_limit);
}

Frame parse(const Buffer& frame, const Interface& ours = our_interface()) {
  return parse_frame(frame, ours);
}

void expect_drop(const Frame& frame, DropReason reason) {
  EXPECT_EQ(frame.kind, FrameKind::Drop);
  EXPECT_EQ(frame.drop, reason);
}

// --- checksum, MacAddress, Interface ---

TEST(InternetChecksum, MatchesRfc1071Example) {
  // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2; the checksum is its complement.
  const Buffer data = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(internet_checksum(data), 0x220d);
  Buffer with_checksum = data;
  push16(with_checksum, internet_checksum(data));
  EXPECT_EQ(internet_checksum(with_checksum), 0);
}

TEST(InternetChecksum, PadsAnOddByteAndCarriesAPartialSum) {
  EXPECT_EQ(internet_checksum(Buffer{0x00, 0x01, 0xf2}), static_cast<std::uint16_t>(~0xf201));
  const Buffer data = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  const std::span<const std::uint8_t> all(data);
  EXPECT_EQ(internet_checksum(all.subspan(4), 0x0001 + 0xf203), 0x220d);
  EXPECT_EQ(internet_checksum(Buffer{}), 0xffff);
}

TEST(MacAddress, ParsesEitherCaseAndPrintsLowerCase) {
  const auto mac = MacAddress::parse("AA:bb:Cc:00:0F:ff");
  ASSERT_TRUE(mac);
  EXPECT_EQ(*mac, (MacAddress{{0xaa, 0xbb, 0xcc, 0x00, 0x0f, 0xff}}));
  EXPECT_EQ(mac->to_string(), "aa:bb:cc:00:0f:ff");
  EXPECT_EQ(kOurMac.to_string(), "02:00:00:00:00:01");
}

TEST(MacAddress, RejectsOtherForms) {
  for (const char* text :
       {"", "02:00:00:00:00", "02:00:00:00:00:01:", "02-00-00-00-00-01", "02:00:00:00:00:0g",
        "2:00:00:00:00:001", "0200.0000.0001", "02:00:00:00:00:01 ", " 02:00:00:00:00:01"}) {
    EXPECT_FALSE(MacAddress::parse(text)) << text;
  }
}

TEST(Interface, DerivesLinkLocalWithModifiedEui64) {
  Interface ours;
  ours.mac = kOurMac;
  ours.derive_link_local();
  EXPECT_EQ(ours.ipv6_link_local, v6("fe80::ff:fe00:1"));
  ours.mac = *MacAddress::parse("00:11:22:33:44:55");
  ours.derive_link_local();
  EXPECT_EQ(ours.ipv6_link_local, v6("fe80::211:22ff:fe33:4455"));
}

TEST(Interface, OnLinkComparesThePrefixOfTheFamily) {
  Interface ours = our_interface();
  EXPECT_TRUE(ours.on_link(*Endpoint::parse("192.0.2.200")));
  EXPECT_FALSE(ours.on_link(*Endpoint::parse("192.0.3.1")));
  EXPECT_TRUE(ours.on_link(*Endpoint::parse("2001:db8::ffff:1")));
  EXPECT_FALSE(ours.on_link(*Endpoint::parse("2001:db8:1::1")));
  EXPECT_TRUE(ours.on_link(*Endpoint::parse("fe80::1234")));  // always, whatever prefix6
  EXPECT_FALSE(ours.on_link(Endpoint{}));
  ours.prefix4 = 25;
  EXPECT_TRUE(ours.on_link(*Endpoint::parse("192.0.2.127")));
  EXPECT_FALSE(ours.on_link(*Endpoint::parse("192.0.2.128")));
  ours.prefix6 = 0;
  EXPECT_TRUE(ours.on_link(*Endpoint::parse("2a00::1")));
  ours.has_ipv4 = false;
  EXPECT_FALSE(ours.on_link(*Endpoint::parse("192.0.2.2")));
}

// --- ARP ---

TEST(Arp, RequestForOurAddressBecomesTheExactReply) {
  Buffer frame = arp_request_for(kOur4);
  const Frame request = parse(frame);
  ASSERT_EQ(request.kind, FrameKind::ArpRequest);
  EXPECT_EQ(request.neighbour_mac, kPeerMac);
  EXPECT_EQ(request.source, (Endpoint{AF_INET, 0, {192, 0, 2, 2}}));
  EXPECT_EQ(request.destination, (Endpoint{AF_INET, 0, {192, 0, 2, 1}}));
  EXPECT_EQ(request.l3_offset, 14);

  const std::size_t length = make_arp_reply(frame, request, our_interface());
  const Buffer expected =
      cat(ethernet(kPeerMac, kOurMac, 0x0806), arp(2, kOurMac, kOur4, kPeerMac, kPeer4));
  ASSERT_EQ(length, 42u);  // the request's padding is left behind
  EXPECT_EQ(Buffer(frame.begin(), frame.begin() + 42), expected);
}

TEST(Arp, ReplyKeepsTheVlanTag) {
  Buffer frame = arp_request_for(kOur4, 0x2064);  // priority 1, VID 100
  const Frame request = parse(frame, our_interface(100));
  ASSERT_EQ(request.kind, FrameKind::ArpRequest);
  EXPECT_EQ(request.vlan, 100);
  ASSERT_EQ(make_arp_reply(frame, request, our_interface(100)), 46u);
  const Buffer expected =
      cat(ethernet(kPeerMac, kOurMac, 0x0806, 0x2064), arp(2, kOurMac, kOur4, kPeerMac, kPeer4));
  EXPECT_EQ(Buffer(frame.begin(), frame.begin() + 46), expected);
}

TEST(Arp, RequestForAnotherAddressIsNotForUs) {
  expect_drop(parse(arp_request_for(Ipv4{192, 0, 2, 9})), DropReason::NotForUs);
  // Gratuitous: a neighbour announcing itself.
  expect_drop(parse(pad_to(cat(ethernet(kBroadcastMac, kPeerMac, 0x0806),
                               arp(1, kPeerMac, kPeer4, MacAddress{}, kPeer4)),
                           60)),
              DropReason::NotForUs);
}

TEST(Arp, ReplyIsLearnable) {
  const MacAddress sender{{0x02, 0xaa, 0, 0, 0, 7}};
  const Frame frame =
      parse(cat(ethernet(kOurMac, kPeerMac, 0x0806), arp(2, sender, kPeer4, kOurMac, kOur4)));
  ASSERT_EQ(frame.kind, FrameKind::ArpReply);
  EXPECT_EQ(frame.neighbour_mac, sender);  // the ARP sender, not the Ethernet source
  EXPECT_EQ(frame.source, (Endpoint{AF_INET, 0, {192, 0, 2, 2}}));
  // A gratuitous reply to broadcast is learnable too.
  EXPECT_EQ(parse(cat(ethernet(kBroadcastMac, kPeerMac, 0x0806),
                      arp(2, kPeerMac, kPeer4, kBroadcastMac, kPeer4)))
                .kind,
            FrameKind::ArpReply);
}

TEST(Arp, MalformedIsBadArpAndTruncatedIsShort) {
  Buffer frame = arp_request_for(kOur4);
  frame[14 + 4] = 8;  // hardware address length
  expect_drop(parse(frame), DropReason::BadArp);
  frame = arp_request_for(kOur4);
  store16(frame, 14 + 2, 0x86dd);  // protocol type
  expect_drop(parse(frame), DropReason::BadArp);
  frame = arp_request_for(kOur4);
  frame[14 + 8] = 0x01;  // a multicast sender hardware address
  expect_drop(parse(frame), DropReason::BadArp);
  frame = cat(ethernet(kBroadcastMac, kPeerMac, 0x0806), arp(1, kPeerMac, kPeer4, {}, kOur4));
  frame.pop_back();
  expect_drop(parse(frame), DropReason::Short);
  // A reply cannot teach us where 0.0.0.0 lives; other operations are not ours.
  expect_drop(
      parse(cat(ethernet(kOurMac, kPeerMac, 0x0806), arp(2, kPeerMac, Ipv4{}, kOurMac, kOur4))),
      DropReason::BadArp);
  expect_drop(
      parse(cat(ethernet(kOurMac, kPeerMac, 0x0806), arp(3, kPeerMac, kPeer4, kOurMac, kOur4))),
      DropReason::NotForUs);
}

// --- NDP ---

TEST(Ndp, SolicitationForOurGlobalAddressGetsAnAdvertisement) {
  const Frame solicitation = parse(solicitation_for(kOur6));
  ASSERT_EQ(solicitation.kind, FrameKind::NeighbourSolicitation);
  EXPECT_EQ(solicitation.ndp_target, kOur6);
  EXPECT_EQ(solicitation.neighbour_mac, kPeerMac);
  EXPECT_EQ(solicitation.source.family, AF_INET6);

  std::array<std::uint8_t, kMaxNdpFrame> out{};
  const std::size_t length = build_neighbour_advertisement(out, solicitation, our_interface());
  const Buffer expected =
      cat(ethernet(kPeerMac, kOurMac, 0x86dd),
          ipv6(kOur6, kPeer6, 58, icmp6(kOur6, kPeer6, 136, 0, ndp_rest(0x60, kOur6, 2, kOurMac)),
               255));
  ASSERT_EQ(length, expected.size());
  EXPECT_EQ(Buffer(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(length)), expected);
  // The checksum validates on its own terms too.
  const std::span<const std::uint8_t> message(out.data() + 54, 32);
  EXPECT_EQ(reference_checksum(message, pseudo6(kOur6, kPeer6, 58, 32)), 0);
}

TEST(Ndp, SolicitationForOurLinkLocalAddressIsAnswered) {
  // A router resolving us from its link-local address, straight to our unicast address.
  const Buffer request =
      ndp_frame(135, kOurMac, kPeerLinkLocal, kOurLinkLocal, ndp_rest(0, kOurLinkLocal, 1));
  const Frame solicitation = parse(request);
  ASSERT_EQ(solicitation.kind, FrameKind::NeighbourSolicitation);
  EXPECT_EQ(solicitation.ndp_target, kOurLinkLocal);

  std::array<std::uint8_t, kMaxNdpFrame> out{};
  const std::size_t length = build_neighbour_advertisement(out, solicitation, our_interface());
  const Buffer expected = cat(
      ethernet(kPeerMac, kOurMac, 0x86dd),
      ipv6(kOurLinkLocal, kPeerLinkLocal, 58,
           icmp6(kOurLinkLocal, kPeerLinkLocal, 136, 0, ndp_rest(0x60, kOurLinkLocal, 2, kOurMac)),
           255));
  ASSERT_EQ(length, expected.size());
  EXPECT_EQ(Buffer(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(length)), expected);
  // The peer takes it as an advertisement of our MAC.
  const Frame advertisement = parse_frame(std::span(out.data(), length), peer_interface());
  ASSERT_EQ(advertisement.kind, FrameKind::NeighbourAdvertisement);
  EXPECT_EQ(advertisement.neighbour_mac, kOurMac);
  EXPECT_EQ(advertisement.ndp_target, kOurLinkLocal);
}

TEST(Ndp, DuplicateAddressDetectionIsAnsweredToAllNodesUnsolicited) {
  const Frame solicitation = parse(solicitation_for(kOur6, Ipv6{}, std::nullopt));
  ASSERT_EQ(solicitation.kind, FrameKind::NeighbourSolicitation);
  EXPECT_EQ(solicitation.neighbour_mac, kPeerMac);  // no option: the Ethernet source

  std::array<std::uint8_t, kMaxNdpFrame> out{};
  const std::size_t length = build_neighbour_advertisement(out, solicitation, our_interface());
  const Buffer expected =
      cat(ethernet(kAllNodesMac, kOurMac, 0x86dd),
          ipv6(kOur6, kAllNodes, 58,
               icmp6(kOur6, kAllNodes, 136, 0, ndp_rest(0x20, kOur6, 2, kOurMac)), 255));
  ASSERT_EQ(length, expected.size());
  EXPECT_EQ(Buffer(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(length)), expected);
}

TEST(Ndp, DuplicateAddressDetectionWithASourceOptionIsInvalid) {
  expect_drop(parse(solicitation_for(kOur6, Ipv6{}, 1)), DropReason::BadIcmp);
}

TEST(Ndp, SolicitationWithoutOptionUsesTheEthernetSource) {
  const Frame solicitation = parse(solicitation_for(kOur6, kPeer6, std::nullopt));
  ASSERT_EQ(solicitation.kind, FrameKind::NeighbourSolicitation);
  EXPECT_EQ(solicitation.neighbour_mac, kPeerMac);
}

TEST(Ndp, SolicitationFromOffLinkHopLimitIsDropped) {
  expect_drop(parse(solicitation_for(kOur6, kPeer6, 1, 64)), DropReason::BadIcmp);
}

TEST(Ndp, SolicitationWithBadChecksumOrZeroLengthOptionIsDropped) {
  Buffer frame = solicitation_for(kOur6);
  frame[54 + 2] ^= 0x01;
  expect_drop(parse(frame), DropReason::BadIcmp);
  const Ipv6 group = solicited_node_of(kOur6);
  Buffer rest = ndp_rest(0, kOur6, 1);
  rest[20 + 1] = 0;  // the option's length
  expect_drop(parse(ndp_frame(135, group_mac(group), kPeer6, group, rest)), DropReason::BadIcmp);
}

TEST(Ndp, SolicitationForAnotherTargetIsNotForUs) {
  // Same solicited-node group as ours, another address.
  const Ipv6 other = v6("2001:db8::5:0:1");
  expect_drop(parse(solicitation_for(other)), DropReason::NotForUs);
  // And a group we are not in never gets past the MAC filter.
  expect_drop(parse(solicitation_for(v6("2001:db8::99"))), DropReason::NotForUs);
}

TEST(Ndp, AdvertisementIsLearnedFromItsTargetOption) {
  const MacAddress option_mac{{0x02, 0xbb, 0, 0, 0, 9}};
  const Frame solicited =
      parse(ndp_frame(136, kOurMac, kPeer6, kOur6, ndp_rest(0x60, kPeer6, 2, option_mac)));
  ASSERT_EQ(solicited.kind, FrameKind::NeighbourAdvertisement);
  EXPECT_EQ(solicited.neighbour_mac, option_mac);
  EXPECT_EQ(solicited.ndp_target, kPeer6);

  const Frame unsolicited =
      parse(ndp_frame(136, kAllNodesMac, kPeer6, kAllNodes, ndp_rest(0x20, kPeer6, std::nullopt)));
  ASSERT_EQ(unsolicited.kind, FrameKind::NeighbourAdvertisement);
  EXPECT_EQ(unsolicited.neighbour_mac, kPeerMac);
}

TEST(Ndp, AdvertisementThatCannotBeValidIsDropped) {
  // Solicited flag on a multicast advertisement (RFC 4861 §7.1.2).
  expect_drop(parse(ndp_frame(136, kAllNodesMac, kPeer6, kAllNodes, ndp_rest(0x60, kPeer6, 2))),
              DropReason::BadIcmp);
  expect_drop(parse(ndp_frame(136, kOurMac, kPeer6, kOur6, ndp_rest(0x60, kPeer6, 2), 254)),
              DropReason::BadIcmp);
  // A multicast target.
  expect_drop(parse(ndp_frame(136, kOurMac, kPeer6, kOur6, ndp_rest(0x60, kAllNodes, 2))),
              DropReason::BadIcmp);
}

TEST(Ndp, BuildsSolicitationsFromTheMatchingSourceAddress) {
  std::array<std::uint8_t, kMaxNdpFrame> out{};
  std::size_t length = build_neighbour_solicitation(out, our_interface(), kPeer6);
  Buffer expected = cat(
      ethernet(group_mac(solicited_node_of(kPeer6)), kOurMac, 0x86dd),
      ipv6(kOur6, solicited_node_of(kPeer6), 58,
           icmp6(kOur6, solicited_node_of(kPeer6), 135, 0, ndp_rest(0, kPeer6, 1, kOurMac)), 255));
  ASSERT_EQ(length, expected.size());
  EXPECT_EQ(Buffer(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(length)), expected);
  EXPECT_EQ(out[0], 0x33);
  EXPECT_EQ(out[2], 0xff);

  // A link-local target (the router) is asked from our link-local address.
  length = build_neighbour_solicitation(out, our_interface(), kPeerLinkLocal);
  const Ipv6 group = solicited_node_of(kPeerLinkLocal);
  expected =
      cat(ethernet(group_mac(group), kOurMac, 0x86dd),
          ipv6(kOurLinkLocal, group, 58,
               icmp6(kOurLinkLocal, group, 135, 0, ndp_rest(0, kPeerLinkLocal, 1, kOurMac)), 255));
  ASSERT_EQ(length, expected.size());
  EXPECT_EQ(Buffer(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(length)), expected);

  // The neighbour takes it as a solicitation, learning our MAC from the option.
  const Frame parsed = parse_frame(std::span(out.data(), length), peer_interface());
  ASSERT_EQ(parsed.kind, FrameKind::NeighbourSolicitation);
  EXPECT_EQ(parsed.neighbour_mac, kOurMac);
}

TEST(Ndp, BuildersRefuseABufferTooSmall) {
  std::array<std::uint8_t, kMaxNdpFrame - 5> small{};
  EXPECT_EQ(build_neighbour_solicitation(small, our_interface(), kPeer6), 0u);
  const Frame solicitation = parse(solicitation_for(kOur6));
  std::array<std::uint8_t, 14 + 40 + 31> almost{};
  EXPECT_EQ(build_neighbour_advertisement(almost, solicitation, our_interface()), 0u);
  std::array<std::uint8_t, kMaxNdpFrame> tagged{};
  EXPECT_EQ(build_neighbour_solicitation(tagged, our_interface(7), kPeer6), kMaxNdpFrame);
  EXPECT_EQ(load16(tagged, 12), 0x8100);
  EXPECT_EQ(load16(tagged, 14), 7);
}

TEST(Arp, BuildsABroadcastRequest) {
  std::array<std::uint8_t, kArpFrame> out{};
  out.fill(0xee);
  ASSERT_EQ(build_arp_request(out, our_interface(), kPeer4), 42u);
  const Buffer expected =
      cat(ethernet(kBroadcastMac, kOurMac, 0x0806), arp(1, kOurMac, kOur4, MacAddress{}, kPeer4));
  EXPECT_EQ(Buffer(out.begin(), out.begin() + 42), expected);
  ASSERT_EQ(build_arp_request(out, our_interface(100), kPeer4), kArpFrame);
  EXPECT_EQ(Buffer(out.begin(), out.end()), cat(ethernet(kBroadcastMac, kOurMac, 0x0806, 100),
                                                arp(1, kOurMac, kOur4, MacAddress{}, kPeer4)));
  std::array<std::uint8_t, 41> small{};
  EXPECT_EQ(build_arp_request(small, our_interface(), kPeer4), 0u);
}

// --- VLAN and the MAC filter ---

TEST(Vlan, TaggedFrameForOurVlanIsAccepted) {
  const Frame frame = parse(query4(100), our_interface(100));
  ASSERT_EQ(frame.kind, FrameKind::DnsQuery);
  EXPECT_EQ(frame.vlan, 100);
  EXPECT_EQ(frame.l3_offset, 18);
  EXPECT_EQ(frame.payload_offset, 18 + 20 + 8);
}

TEST(Vlan, OtherVlansAndUntaggedFramesAreNotOurs) {
  expect_drop(parse(query4(200), our_interface(100)), DropReason::NotForUs);
  expect_drop(parse(query4(), our_interface(100)), DropReason::NotForUs);
  expect_drop(parse(query4(100)), DropReason::NotForUs);
}

TEST(Vlan, PriorityTaggedFrameBelongsToTheUntaggedLan) {
  const Frame frame = parse(query4(0x6000));  // priority 3, VID 0
  EXPECT_EQ(frame.kind, FrameKind::DnsQuery);
  EXPECT_EQ(frame.vlan, 0);
  expect_drop(parse(query4(0x6000), our_interface(100)), DropReason::NotForUs);
}

TEST(Ethernet, OtherDestinationMacOrEthertypeIsDropped) {
  Buffer frame = query4();
  frame[5] = 0x99;
  expect_drop(parse(frame), DropReason::NotForUs);
  frame = query4();
  store16(frame, 12, 0x88cc);  // LLDP
  expect_drop(parse(frame), DropReason::UnknownEthertype);
  // QinQ: a second tag is not looked into.
  frame = cat(ethernet(kOurMac, kPeerMac, 0x8100, 100), Buffer{0x00, 0x05, 0x08, 0x00});
  expect_drop(parse(pad_to(frame, 60), our_interface(100)), DropReason::UnknownEthertype);
}

// --- IPv4 ---

TEST(Ipv4, DnsQueryIsClassifiedWithOffsetsAndEndpoints) {
  const Frame frame = parse(query4());
  ASSERT_EQ(frame.kind, FrameKind::DnsQuery);
  EXPECT_EQ(frame.drop, DropReason::None);
  EXPECT_EQ(frame.l3_offset, 14);
  EXPECT_EQ(frame.l4_offset, 34);
  EXPECT_EQ(frame.payload_offset, 42);
  EXPECT_EQ(frame.payload_length, kQuery.size());
  EXPECT_EQ(frame.source.to_string(), "192.0.2.2:40000");
  EXPECT_EQ(frame.destination.to_string(), "192.0.2.1:53");
  EXPECT_EQ(frame.source_mac, kPeerMac);
  EXPECT_EQ(frame.destination_mac, kOurMac);
}

TEST(Ipv4, UdpToAnotherPortIsUdpToUs) {
  const Buffer datagram = udp(53, 30000, kQuery, pseudo4(kPeer4, kOur4, 17, 0));
  const Frame frame =
      parse(cat(ethernet(kOurMac, kPeerMac, 0x0800), ipv4(kPeer4, kOur4, 17, datagram)));
  EXPECT_EQ(frame.kind, FrameKind::UdpToUs);
  EXPECT_EQ(frame.destination.port, 30000);
}

TEST(Ipv4, EthernetPaddingIsIgnored) {
  const Buffer payload = {1, 2, 3, 4};
  Buffer frame = query4(std::nullopt, payload);
  ASSERT_EQ(frame.size(), 46u);
  frame = pad_to(frame, 60, 0xa5);  // padding that would spoil the UDP checksum if summed
  const Frame parsed = parse(frame);
  ASSERT_EQ(parsed.kind, FrameKind::DnsQuery);
  EXPECT_EQ(parsed.payload_offset, 42);
  EXPECT_EQ(parsed.payload_length, 4);
  // A UDP length reaching into the padding is past the IP datagram.
  store16(frame, 34 + 4, 8 + 4 + 14);
  expect_drop(parse(frame), DropReason::BadUdpLength);
}

TEST(Ipv4, BadHeaderChecksumIsDropped) {
  Buffer frame = query4();
  frame[14 + 10] ^= 0x40;
  expect_drop(parse(frame), DropReason::BadIpv4Checksum);
}

TEST(Ipv4, BadHeaderFieldsAreDropped) {
  Buffer frame = query4();
  frame[14] = 0x55;  // version 5
  expect_drop(parse(frame), DropReason::BadIpv4Header);
  frame = query4();
  frame[14] = 0x44;  // IHL 4
  expect_drop(parse(frame), DropReason::BadIpv4Header);
  frame = query4();
  store16(frame, 14 + 2, 19);  // total length shorter than the header
  expect_drop(parse(frame), DropReason::BadIpv4Header);
  // A broadcast source: answering it would reach the whole subnet.
  const Ipv4 broadcast{255, 255, 255, 255};
  const Buffer datagram = udp(40000, 53, kQuery, pseudo4(broadcast, kOur4, 17, 0));
  expect_drop(parse(cat(ethernet(kOurMac, kPeerMac, 0x0800), ipv4(broadcast, kOur4, 17, datagram))),
              DropReason::BadIpv4Header);
}

TEST(Ipv4, OtherDestinationsAreNotForUs) {
  for (const Ipv4& destination :
       {Ipv4{192, 0, 2, 3}, Ipv4{192, 0, 2, 255}, Ipv4{255, 255, 255, 255}}) {
    const Buffer datagram = udp(40000, 53, kQuery, pseudo4(kPeer4, destination, 17, 0));
    expect_drop(parse(cat(ethernet(kBroadcastMac, kPeerMac, 0x0800),
                          ipv4(kPeer4, destination, 17, datagram))),
                DropReason::NotForUs);
  }
  Interface v6_only = our_interface();
  v6_only.has_ipv4 = false;
  expect_drop(parse(query4(), v6_only), DropReason::NotForUs);
}

// Nothing is answered that would go to a group, to ourselves, or to a whole subnet.
TEST(Ipv4, SendersNoAnswerMayGoToAreDropped) {
  const auto query_from = [](const MacAddress& source_mac, const MacAddress& destination_mac,
                             const Ipv4& source, std::uint16_t source_port) {
    const Buffer datagram = udp(source_port, 53, kQuery, pseudo4(source, kOur4, 17, 0));
    return cat(ethernet(destination_mac, source_mac, 0x0800), ipv4(source, kOur4, 17, datagram));
  };
  const MacAddress multicast_source{{0x01, 0, 0x5e, 0, 0, 1}};
  expect_drop(parse(query_from(multicast_source, kOurMac, kPeer4, 40000)), DropReason::BadSource);
  expect_drop(parse(query_from(kPeerMac, kBroadcastMac, kPeer4, 40000)), DropReason::BadSource);
  expect_drop(parse(query_from(kPeerMac, kOurMac, kOur4, 40000)), DropReason::BadSource);
  const Ipv4 subnet_broadcast{kOur4[0], kOur4[1], kOur4[2], 255};
  const Ipv4 subnet_network{kOur4[0], kOur4[1], kOur4[2], 0};
  expect_drop(parse(query_from(kPeerMac, kOurMac, subnet_broadcast, 40000)), DropReason::BadSource);
  expect_drop(parse(query_from(kPeerMac, kOurMac, subnet_network, 40000)), DropReason::BadSource);
  expect_drop(parse(query_from(kPeerMac, kOurMac, kPeer4, 0)), DropReason::BadSource);
  // A host of the subnet and one beyond it are answered.
  EXPECT_EQ(parse(query_from(kPeerMac, kOurMac, kPeer4, 40000)).kind, FrameKind::DnsQuery);
  EXPECT_EQ(parse(query_from(kPeerMac, kOurMac, Ipv4{203, 0, 113, 255}, 40000)).kind,
            FrameKind::DnsQuery);
}

TEST(Arp, RequestFromAMulticastMacIsDropped) {
  Buffer request = arp_request_for(kOur4);
  const MacAddress multicast_source{{0x03, 0, 0, 0, 0, 1}};
  std::copy(multicast_source.bytes.begin(), multicast_source.bytes.end(), request.begin() + 6);
  EXPECT_EQ(parse(request).kind, FrameKind::Drop);
}

TEST(Ipv4, FragmentsLeaveTheFastPath) {
  const Buffer datagram = udp(40000, 53, kQuery, pseudo4(kPeer4, kOur4, 17, 0));
  for (const std::uint16_t fragment : {std::uint16_t{0x2000}, std::uint16_t{0x0001},
                                       std::uint16_t{0x00b9}, std::uint16_t{0x2010}}) {
    const Frame frame =
        parse(cat(ethernet(kOurMac, kPeerMac, 0x0800),
                  ipv4(kPeer4, kOur4, 17, datagram, {.fragment = fragment, .options = {}})));
    EXPECT_EQ(frame.kind, FrameKind::Exception) << fragment;
    EXPECT_EQ(frame.drop, DropReason::Fragment) << fragment;
  }
}

TEST(Ipv4, OptionsGoToTheExceptionPath) {
  const Buffer datagram = udp(40000, 53, kQuery, pseudo4(kPeer4, kOur4, 17, 0));
  const Frame frame =
      parse(cat(ethernet(kOurMac, kPeerMac, 0x0800),
                ipv4(kPeer4, kOur4, 17, datagram, {.options = {0x94, 0x04, 0x00, 0x00}})));
  EXPECT_EQ(frame.kind, FrameKind::Exception);
  EXPECT_EQ(frame.drop, DropReason::None);
  EXPECT_EQ(frame.l4_offset, 14 + 24);
}

TEST(Ipv4, TcpGoesToTheExceptionPath) {
  const Buffer segment(20, 0);
  const Frame frame =
      parse(cat(ethernet(kOurMac, kPeerMac, 0x0800), ipv4(kPeer4, kOur4, 6, segment)));
  EXPECT_EQ(frame.kind, FrameKind::Exception);
}

TEST(Ipv4, BadUdpChecksumOrLengthIsDropped) {
  Buffer frame = query4();
  frame.back() ^= 0x01;
  expect_drop(parse(frame), DropReason::BadUdpChecksum);
  frame = query4();
  store16(frame, 34 + 4, static_cast<std::uint16_t>(8 + kQuery.size() + 1));
  expect_drop(parse(frame), DropReason::BadUdpLength);
  frame = query4();
  store16(frame, 34 + 4, 7);
  expect_drop(parse(frame), DropReason::BadUdpLength);
  // An IP payload too short for a UDP header.
  expect_drop(parse(pad_to(cat(ethernet(kOurMac, kPeerMac, 0x0800),
                               ipv4(kPeer4, kOur4, 17, Buffer{0, 53, 0, 53})),
                           60)),
              DropReason::BadUdpLength);
}

TEST(Ipv4, UdpWithoutChecksumIsAccepted) {
  Buffer frame = query4();
  store16(frame, 34 + 6, 0);
  EXPECT_EQ(parse(frame).kind, FrameKind::DnsQuery);
}

TEST(Ipv4, EveryTruncationIsShortAndNeverAQuery) {
  for (const std::uint16_t vlan : {0, 100}) {
    const Buffer full = vlan == 0 ? query4() : query4(vlan);
    const Interface ours = our_interface(vlan);
    ASSERT_EQ(parse(full, ours).kind, FrameKind::DnsQuery);
    for (std::size_t length = 0; length < full.size(); ++length) {
      const Frame frame = parse_frame(std::span(full.data(), length), ours);
      EXPECT_EQ(frame.kind, FrameKind::Drop) << length;
      EXPECT_EQ(frame.drop, DropReason::Short) << length;
    }
  }
}

// --- ICMP echo ---

TEST(Icmp, EchoRequestBecomesAValidReply) {
  const Buffer rest = {0x12, 0x34, 0x00, 0x07, 'p', 'i', 'n', 'g', 0, 1, 2, 3};
  Buffer frame = pad_to(
      cat(ethernet(kOurMac, kPeerMac, 0x0800),
          ipv4(kPeer4, kOur4, 1, icmp(8, 0, rest), {.id = 0x4242, .ttl = 57, .options = {}})),
      60, 0xa5);  // padding the ICMP checksum must not cover
  const Frame request = parse(frame);
  ASSERT_EQ(request.kind, FrameKind::EchoRequest);
  EXPECT_EQ(request.l4_offset, 34);

  const std::size_t length = make_echo_reply(frame, request, our_interface());
  const Buffer expected =
      cat(ethernet(kPeerMac, kOurMac, 0x0800),
          ipv4(kOur4, kPeer4, 1, icmp(0, 0, rest), {.id = 0x4242, .options = {}}));
  ASSERT_EQ(length, expected.size());
  EXPECT_EQ(Buffer(frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(length)), expected);
  // The peer sees a valid ICMP message that is not an echo request.
  const Frame reply = parse_frame(std::span(frame.data(), length), peer_interface());
  EXPECT_EQ(reply.kind, FrameKind::Exception);
}

TEST(Icmp, BadChecksumIsDroppedAndOtherTypesAreExceptions) {
  const Buffer rest = {0, 1, 0, 1, 'x', 'y'};
  Buffer frame = cat(ethernet(kOurMac, kPeerMac, 0x0800), ipv4(kPeer4, kOur4, 1, icmp(8, 0, rest)));
  frame.back() ^= 0xff;
  expect_drop(parse(frame), DropReason::BadIcmp);
  const Buffer unreachable =
      cat(ethernet(kOurMac, kPeerMac, 0x0800), ipv4(kPeer4, kOur4, 1, icmp(3, 3, rest)));
  EXPECT_EQ(parse(unreachable).kind, FrameKind::Exception);
}

TEST(Icmp, Ipv6EchoRequestBecomesAValidReply) {
  const Buffer rest = {0xbe, 0xef, 0x00, 0x01, 'h', 'e', 'l', 'l', 'o'};
  Buffer frame = cat(ethernet(kOurMac, kPeerMac, 0x86dd),
                     ipv6(kPeer6, kOur6, 58, icmp6(kPeer6, kOur6, 128, 0, rest), 33));
  const Frame request = parse(frame);
  ASSERT_EQ(request.kind, FrameKind::EchoRequest);

  const std::size_t length = make_echo_reply(frame, request, our_interface());
  const Buffer expected = cat(ethernet(kPeerMac, kOurMac, 0x86dd),
                              ipv6(kOur6, kPeer6, 58, icmp6(kOur6, kPeer6, 129, 0, rest), 64));
  ASSERT_EQ(length, expected.size());
  EXPECT_EQ(Buffer(frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(length)), expected);
  EXPECT_EQ(parse_frame(std::span(frame.data(), length), peer_interface()).kind,
            FrameKind::Exception);
}

TEST(Icmp, Ipv6EchoToAllNodesIsNotAnswered) {
  const Buffer rest = {0, 1, 0, 1};
  expect_drop(parse(cat(ethernet(kAllNodesMac, kPeerMac, 0x86dd),
                        ipv6(kPeer6, kAllNodes, 58, icmp6(kPeer6, kAllNodes, 128, 0, rest)))),
              DropReason::NotForUs);
}

// --- IPv6 ---

TEST(Ipv6, DnsQueryIsClassifiedWithOffsetsAndEndpoints) {
  const Frame frame = parse(query6());
  ASSERT_EQ(frame.kind, FrameKind::DnsQuery);
  EXPECT_EQ(frame.l3_offset, 14);
  EXPECT_EQ(frame.l4_offset, 54);
  EXPECT_EQ(frame.payload_offset, 62);
  EXPECT_EQ(frame.payload_length, kQuery.size());
  EXPECT_EQ(frame.source.to_string(), "[2001:db8::2]:40000");
  EXPECT_EQ(frame.destination.to_string(), "[2001:db8::1]:53");
}

TEST(Ipv6, QueryToOurLinkLocalAddressIsOurs) {
  const Buffer datagram = udp(40000, 53, kQuery, pseudo6(kPeerLinkLocal, kOurLinkLocal, 17, 0));
  EXPECT_EQ(parse(cat(ethernet(kOurMac, kPeerMac, 0x86dd),
                      ipv6(kPeerLinkLocal, kOurLinkLocal, 17, datagram)))
                .kind,
            FrameKind::DnsQuery);
}

TEST(Ipv6, UdpChecksumZeroOrWrongIsDropped) {
  Buffer frame = query6();
  store16(frame, 54 + 6, 0);
  expect_drop(parse(frame), DropReason::BadUdpChecksum);
  frame = query6();
  frame[22] ^= 0x10;  // the source address, covered by the pseudo-header
  expect_drop(parse(frame), DropReason::BadUdpChecksum);
}

TEST(Ipv6, FragmentHeaderLeavesTheFastPath) {
  const Buffer fragment = {17, 0, 0x00, 0x01, 0, 0, 0, 1};
  const Frame frame =
      parse(cat(ethernet(kOurMac, kPeerMac, 0x86dd), ipv6(kPeer6, kOur6, 44, fragment)));
  EXPECT_EQ(frame.kind, FrameKind::Exception);
  EXPECT_EQ(frame.drop, DropReason::Fragment);
}

TEST(Ipv6, ExtensionHeadersAndTcpAreExceptions) {
  const Buffer header = {17, 0, 1, 4, 0, 0, 0, 0};
  for (const std::uint8_t next : {0, 43, 60, 6}) {
    const Frame frame =
        parse(cat(ethernet(kOurMac, kPeerMac, 0x86dd), ipv6(kPeer6, kOur6, next, header)));
    EXPECT_EQ(frame.kind, FrameKind::Exception) << int{next};
    EXPECT_EQ(frame.drop, DropReason::None);
  }
}

TEST(Ipv6, OtherDestinationsAndBadSourcesAreDropped) {
  const Ipv6 other = v6("2001:db8::3");
  Buffer datagram = udp(40000, 53, kQuery, pseudo6(kPeer6, other, 17, 0));
  expect_drop(parse(cat(ethernet(kOurMac, kPeerMac, 0x86dd), ipv6(kPeer6, other, 17, datagram))),
              DropReason::NotForUs);
  // Our solicited-node group carries NDP only.
  datagram = udp(40000, 53, kQuery, pseudo6(kPeer6, kOurSolicitedNode, 17, 0));
  expect_drop(parse(cat(ethernet(group_mac(kOurSolicitedNode), kPeerMac, 0x86dd),
                        ipv6(kPeer6, kOurSolicitedNode, 17, datagram))),
              DropReason::NotForUs);
  const Ipv6 multicast = v6("ff02::2");
  datagram = udp(40000, 53, kQuery, pseudo6(multicast, kOur6, 17, 0));
  expect_drop(parse(cat(ethernet(kOurMac, kPeerMac, 0x86dd), ipv6(multicast, kOur6, 17, datagram))),
              DropReason::BadIpv6Header);
  Buffer frame = query6();
  frame[14] = 0x40;
  expect_drop(parse(frame), DropReason::BadIpv6Header);
}

TEST(Ipv6, EveryTruncationIsShortAndNeverAQuery) {
  const Buffer full = query6();
  for (std::size_t length = 0; length < full.size(); ++length) {
    const Frame frame = parse_frame(std::span(full.data(), length), our_interface());
    EXPECT_EQ(frame.kind, FrameKind::Drop) << length;
    EXPECT_EQ(frame.drop, DropReason::Short) << length;
  }
}

// --- writing UDP ---

UdpFlow flow_from_us(const char* source, const char* destination, std::uint16_t vlan = 0) {
  UdpFlow flow;
  flow.source_mac = kOurMac;
  flow.destination_mac = kPeerMac;
  flow.vlan = vlan;
  flow.source = *Endpoint::parse(source);
  flow.destination = *Endpoint::parse(destination);
  return flow;
}

// Writes the headers in front of `payload` and parses the frame as the destination.
Frame round_trip(const UdpFlow& flow, Buffer& frame, UdpChecksum checksum = UdpChecksum::Full) {
  const std::size_t headers = udp_headers_length(flow);
  frame.assign(headers, 0);
  append(frame, kQuery);
  EXPECT_EQ(write_udp_headers(frame, flow, kQuery.size(), checksum), frame.size());
  Interface peer = peer_interface(flow.vlan);
  peer.dns_port = flow.destination.port;
  return parse(frame, peer);
}

TEST(WriteUdpHeaders, Ipv4RoundTripsAndMatchesTheExpectedBytes) {
  const UdpFlow flow = flow_from_us("192.0.2.1:33000", "192.0.2.2:53");
  EXPECT_EQ(udp_headers_length(flow), 42u);
  Buffer frame;
  const Frame parsed = round_trip(flow, frame);
  ASSERT_EQ(parsed.kind, FrameKind::DnsQuery);
  EXPECT_EQ(parsed.source, flow.source);
  EXPECT_EQ(Buffer(frame.begin() + parsed.payload_offset, frame.end()), kQuery);
  const Buffer expected =
      cat(ethernet(kPeerMac, kOurMac, 0x0800),
          ipv4(kOur4, kPeer4, 17, udp(33000, 53, kQuery, pseudo4(kOur4, kPeer4, 17, 0))));
  EXPECT_EQ(frame, expected);
}

TEST(WriteUdpHeaders, Ipv6RoundTripsAndMatchesTheExpectedBytes) {
  const UdpFlow flow = flow_from_us("[2001:db8::1]:33000", "[2001:db8::2]:53");
  EXPECT_EQ(udp_headers_length(flow), 62u);
  Buffer frame;
  const Frame parsed = round_trip(flow, frame);
  ASSERT_EQ(parsed.kind, FrameKind::DnsQuery);
  EXPECT_EQ(parsed.source, flow.source);
  EXPECT_EQ(Buffer(frame.begin() + parsed.payload_offset, frame.end()), kQuery);
  const Buffer expected =
      cat(ethernet(kPeerMac, kOurMac, 0x86dd),
          ipv6(kOur6, kPeer6, 17, udp(33000, 53, kQuery, pseudo6(kOur6, kPeer6, 17, 0))));
  EXPECT_EQ(frame, expected);
}

TEST(WriteUdpHeaders, VlanRoundTrips) {
  for (const auto& [source, destination] : {std::pair{"192.0.2.1:53", "192.0.2.2:5353"},
                                            std::pair{"[2001:db8::1]:53", "[2001:db8::2]:5353"}}) {
    const UdpFlow flow = flow_from_us(source, destination, 42);
    Buffer frame;
    const Frame parsed = round_trip(flow, frame);
    ASSERT_EQ(parsed.kind, FrameKind::DnsQuery) << source;
    EXPECT_EQ(parsed.vlan, 42);
    EXPECT_EQ(load16(frame, 12), 0x8100);
    EXPECT_EQ(Buffer(frame.begin() + parsed.payload_offset, frame.end()), kQuery);
  }
}

TEST(WriteUdpHeaders, OffloadWritesThePseudoHeaderSum) {
  const UdpFlow flow4 = flow_from_us("192.0.2.1:33000", "192.0.2.2:53");
  Buffer frame;
  round_trip(flow4, frame, UdpChecksum::Offload);
  const std::size_t udp_length = 8 + kQuery.size();
  EXPECT_EQ(load16(frame, 34 + 6), fold_sum(pseudo4(kOur4, kPeer4, 17, udp_length)));
  // What the NIC then does: sum the datagram onto it and complement, which must give
  // the checksum computed in full.
  const std::uint16_t by_nic = reference_checksum(std::span(frame).subspan(34));
  round_trip(flow4, frame, UdpChecksum::Full);
  EXPECT_EQ(by_nic, load16(frame, 34 + 6));

  const UdpFlow flow6 = flow_from_us("[2001:db8::1]:33000", "[2001:db8::2]:53");
  round_trip(flow6, frame, UdpChecksum::Offload);
  EXPECT_EQ(load16(frame, 54 + 6), fold_sum(pseudo6(kOur6, kPeer6, 17, udp_length)));
}

TEST(WriteUdpHeaders, ChecksumThatComputesToZeroIsSentAsAllOnes) {
  const UdpFlow flow = flow_from_us("192.0.2.1:33000", "192.0.2.2:53");
  const std::size_t headers = udp_headers_length(flow);
  Buffer frame(headers + 2, 0);
  ASSERT_EQ(write_udp_headers(frame, flow, 2), frame.size());
  // With this payload word the datagram's sum becomes 0xffff, its complement 0.
  const std::uint16_t word = load16(frame, headers - 2);
  store16(frame, headers, word);
  ASSERT_EQ(write_udp_headers(frame, flow, 2), frame.size());
  EXPECT_EQ(load16(frame, headers - 2), 0xffff);
  EXPECT_EQ(parse(frame, peer_interface()).kind, FrameKind::DnsQuery);
}

TEST(WriteUdpHeaders, RefusesWhatDoesNotFit) {
  const UdpFlow flow = flow_from_us("192.0.2.1:33000", "192.0.2.2:53");
  Buffer frame(udp_headers_length(flow) + 10, 0);
  EXPECT_EQ(write_udp_headers(frame, flow, 11), 0u);
  UdpFlow mixed = flow;
  mixed.destination = *Endpoint::parse("[2001:db8::2]:53");
  EXPECT_EQ(write_udp_headers(frame, mixed, 10), 0u);
  EXPECT_EQ(udp_headers_length(UdpFlow{}), 0u);
  Buffer huge(udp_headers_length(flow) + 65536, 0);
  EXPECT_EQ(write_udp_headers(huge, flow, 65535 - 28 + 1), 0u);
  EXPECT_EQ(write_udp_headers(huge, flow, 65535 - 28), udp_headers_length(flow) + 65535 - 28);
}

}  // namespace
}  // namespace heimdall::net
