// net/address: the address values and tests that the fast path and the
// configuration share (an IP without a port, MAC text, link-local, same prefix).
#include <gtest/gtest.h>

#include <string>

#include "heimdall/net/address.hpp"

namespace heimdall::net {
namespace {

TEST(ParseIp, TakesAnAddressAloneOfEitherFamily) {
  const auto v4 = parse_ip("192.0.2.1");
  ASSERT_TRUE(v4.has_value());
  EXPECT_EQ(v4->family, AF_INET);
  EXPECT_EQ(v4->port, 0);
  EXPECT_EQ(v4->address[3], 1);
  const auto v6 = parse_ip("2001:db8::1");
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->family, AF_INET6);
  EXPECT_EQ(v6->address[15], 1);
}

TEST(ParseIp, RefusesPortsBracketsZonesAndNul) {
  const std::string texts[] = {"",
                               "192.0.2.1:53",
                               "[::1]",
                               "fe80::1%eth0",
                               "host.example",
                               "192.0.2.256",
                               std::string("192.0.2.1\0junk", 14)};
  for (const std::string& text : texts) {
    EXPECT_FALSE(parse_ip(text).has_value()) << text;
  }
}

TEST(MacAddress, ParsesEitherCaseAndPrintsLowerCase) {
  const auto mac = MacAddress::parse("02:00:5E:10:00:0a");
  ASSERT_TRUE(mac.has_value());
  EXPECT_EQ(mac->to_string(), "02:00:5e:10:00:0a");
  EXPECT_FALSE(mac->is_multicast());
  EXPECT_TRUE(kBroadcastMac.is_multicast());
  EXPECT_FALSE(MacAddress::parse("02-00-5e-10-00-0a").has_value());
  EXPECT_FALSE(MacAddress::parse("02:00:5e:10:00").has_value());
}

TEST(IsLinkLocal, IsFe80Slash10AndIpv6Only) {
  EXPECT_TRUE(is_link_local(*parse_ip("fe80::1")));
  EXPECT_TRUE(is_link_local(*parse_ip("febf::1")));
  EXPECT_FALSE(is_link_local(*parse_ip("fec0::1")));
  EXPECT_FALSE(is_link_local(*parse_ip("254.128.0.1")));
}

TEST(SamePrefix, ComparesWholeBytesThenTheBitsLeft) {
  const Endpoint a = *parse_ip("198.18.0.1");
  EXPECT_TRUE(same_prefix(address_bytes(a), address_bytes(*parse_ip("198.18.0.200")), 24));
  EXPECT_FALSE(same_prefix(address_bytes(a), address_bytes(*parse_ip("198.18.1.1")), 24));
  EXPECT_TRUE(same_prefix(address_bytes(a), address_bytes(*parse_ip("198.19.255.1")), 15));
  EXPECT_FALSE(same_prefix(address_bytes(a), address_bytes(*parse_ip("198.19.255.1")), 16));
  EXPECT_TRUE(same_prefix(address_bytes(a), address_bytes(*parse_ip("10.0.0.1")), 0));
  EXPECT_FALSE(same_prefix(address_bytes(a), address_bytes(*parse_ip("198.18.0.2")), 200))
      << "more bits than the address holds compare all of it";
}

}  // namespace
}  // namespace heimdall::net
