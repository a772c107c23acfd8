// net::Endpoint: the address:port text forms of the configuration and the command
// line, and the round trip through the socket API.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "heimdall/net/endpoint.hpp"

namespace heimdall::net {
namespace {

std::string round_trip(std::string_view text, std::uint16_t default_port = 53) {
  const auto endpoint = Endpoint::parse(text, default_port);
  return endpoint ? endpoint->to_string() : "(rejected)";
}

TEST(Endpoint, ParsesIpv4WithPort) {
  const auto endpoint = Endpoint::parse("192.0.2.1:5353");
  ASSERT_TRUE(endpoint);
  EXPECT_EQ(endpoint->family, AF_INET);
  EXPECT_EQ(endpoint->port, 5353);
  const std::uint8_t expected[4] = {192, 0, 2, 1};
  EXPECT_EQ(std::memcmp(endpoint->address, expected, 4), 0);
}

TEST(Endpoint, BareIpv4TakesTheDefaultPort) {
  EXPECT_EQ(round_trip("127.0.0.1"), "127.0.0.1:53");
  EXPECT_EQ(round_trip("127.0.0.1", 5353), "127.0.0.1:5353");
}

TEST(Endpoint, ParsesBracketedIpv6WithPort) {
  const auto endpoint = Endpoint::parse("[::1]:5300");
  ASSERT_TRUE(endpoint);
  EXPECT_EQ(endpoint->family, AF_INET6);
  EXPECT_EQ(endpoint->port, 5300);
  EXPECT_EQ(endpoint->address[15], 1);
  EXPECT_EQ(endpoint->to_string(), "[::1]:5300");
}

TEST(Endpoint, BareAndBracketedIpv6WithoutPortTakeTheDefaultPort) {
  EXPECT_EQ(round_trip("::1"), "[::1]:53");
  EXPECT_EQ(round_trip("2001:db8::1", 853), "[2001:db8::1]:853");
  EXPECT_EQ(round_trip("[2001:db8::1]"), "[2001:db8::1]:53");
}

TEST(Endpoint, PrintsIpv6InCanonicalShortForm) {
  EXPECT_EQ(round_trip("[2001:0DB8:0000:0000:0000:0000:0000:0001]:53"), "[2001:db8::1]:53");
}

TEST(Endpoint, AcceptsTheExtremePorts) {
  EXPECT_EQ(round_trip("10.0.0.1:1"), "10.0.0.1:1");
  EXPECT_EQ(round_trip("10.0.0.1:65535"), "10.0.0.1:65535");
}

TEST(Endpoint, RejectsPortZeroAndPortsAbove65535) {
  EXPECT_FALSE(Endpoint::parse("1.2.3.4:0"));
  EXPECT_FALSE(Endpoint::parse("[::1]:0"));
  EXPECT_FALSE(Endpoint::parse("1.2.3.4:65536"));
  EXPECT_FALSE(Endpoint::parse("1.2.3.4:70000"));
  EXPECT_FALSE(Endpoint::parse("1.2.3.4:99999999999999999999"));
  EXPECT_FALSE(Endpoint::parse("1.2.3.4", 0)) << "a bare address with default port 0";
}

TEST(Endpoint, RejectsMalformedPorts) {
  for (const char* bad : {"1.2.3.4:", "1.2.3.4:+53", "1.2.3.4:-53", "1.2.3.4: 53", "1.2.3.4:53 ",
                          "1.2.3.4:5x", "1.2.3.4:0x35", "[::1]:", "[::1]x", "[::1]:53:54"}) {
    EXPECT_FALSE(Endpoint::parse(bad)) << bad;
  }
}

TEST(Endpoint, RejectsEmptyAndGarbage) {
  for (const char* bad : {"", ":", ":53", "[]", "[]:53", "[", "[::1", "garbage", "example.com:53",
                          "localhost", "1.2.3:53", "1.2.3.4.5", "256.1.1.1", " 1.2.3.4", "1.2.3.4 ",
                          ":::1:2:3:4:5:6:7:8", "fe80::1%eth0"}) {
    EXPECT_FALSE(Endpoint::parse(bad)) << "'" << bad << "'";
  }
}

TEST(Endpoint, RejectsIpv4InBrackets) { EXPECT_FALSE(Endpoint::parse("[1.2.3.4]:53")); }

TEST(Endpoint, RejectsAnEmbeddedNulByte) {
  using namespace std::string_view_literals;
  EXPECT_FALSE(Endpoint::parse("1.2.3.4\0junk"sv));
  EXPECT_FALSE(Endpoint::parse("[::1\0x]:53"sv));
}

TEST(Endpoint, EqualityComparesFamilyPortAndOnlyTheBytesOfTheFamily) {
  Endpoint a = *Endpoint::parse("192.0.2.1:53");
  Endpoint b = *Endpoint::parse("192.0.2.1:53");
  b.address[10] = 0xff;  // beyond the 4 bytes an IPv4 address uses
  EXPECT_EQ(a, b);
  EXPECT_FALSE(a == *Endpoint::parse("192.0.2.1:54"));
  EXPECT_FALSE(a == *Endpoint::parse("192.0.2.2:53"));
  EXPECT_FALSE(*Endpoint::parse("::1") == *Endpoint::parse("::2"));
  EXPECT_FALSE(*Endpoint::parse("[::ffff:192.0.2.1]:53") == a) << "v4-mapped is another family";
}

TEST(Endpoint, UnsetEndpointPrintsAsUnsetAndHasNoSockaddr) {
  const Endpoint unset;
  EXPECT_EQ(unset.to_string(), "(unset)");
  sockaddr_storage sa{};
  EXPECT_EQ(unset.to_sockaddr(sa), 0u);
}

TEST(Endpoint, WritesSockaddrInNetworkByteOrder) {
  sockaddr_storage storage{};
  ASSERT_EQ(Endpoint::parse("192.0.2.7:4242")->to_sockaddr(storage), sizeof(sockaddr_in));
  sockaddr_in in4{};
  std::memcpy(&in4, &storage, sizeof(in4));
  EXPECT_EQ(in4.sin_family, AF_INET);
  EXPECT_EQ(in4.sin_port, htons(4242));
  EXPECT_EQ(in4.sin_addr.s_addr, htonl(0xC0000207));

  ASSERT_EQ(Endpoint::parse("[2001:db8::7]:4242")->to_sockaddr(storage), sizeof(sockaddr_in6));
  sockaddr_in6 in6{};
  std::memcpy(&in6, &storage, sizeof(in6));
  EXPECT_EQ(in6.sin6_family, AF_INET6);
  EXPECT_EQ(in6.sin6_port, htons(4242));
  EXPECT_EQ(in6.sin6_addr.s6_addr[0], 0x20);
  EXPECT_EQ(in6.sin6_addr.s6_addr[15], 0x07);
  EXPECT_EQ(in6.sin6_scope_id, 0u);
}

TEST(Endpoint, RoundTripsThroughSockaddr) {
  for (const char* text : {"192.0.2.7:4242", "[2001:db8::7]:4242", "0.0.0.0:53", "[::]:65535"}) {
    const Endpoint endpoint = *Endpoint::parse(text);
    sockaddr_storage storage{};
    endpoint.to_sockaddr(storage);
    const Endpoint back = Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&storage));
    EXPECT_EQ(back, endpoint) << text;
    EXPECT_EQ(back.to_string(), text);
  }
}

TEST(Endpoint, FromSockaddrOfAnotherFamilyOrNullIsUnset) {
  sockaddr_storage storage{};
  storage.ss_family = AF_UNIX;
  EXPECT_EQ(Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&storage)).family, 0);
  EXPECT_EQ(Endpoint::from_sockaddr(nullptr).family, 0);
}

}  // namespace
}  // namespace heimdall::net
