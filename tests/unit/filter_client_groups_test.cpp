// Client groups over rte_lpm / rte_lpm6: longest prefix wins, IPv4 and IPv6,
// clients in no group get every list. Needs the EAL (eal_test_main.cpp).
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include "heimdall/filter/client_groups.hpp"

namespace heimdall::filter {
namespace {

net::Endpoint address(const char* text) {
  net::Endpoint endpoint;
  if (inet_pton(AF_INET, text, endpoint.address) == 1) {
    endpoint.family = AF_INET;
  } else {
    EXPECT_EQ(inet_pton(AF_INET6, text, endpoint.address), 1) << text;
    endpoint.family = AF_INET6;
  }
  return endpoint;
}

Prefix prefix(const char* text) {
  Prefix result;
  EXPECT_TRUE(Prefix::parse(text, result)) << text;
  return result;
}

TEST(ClientGroups, ParsesPrefixesAndRejectsNonsense) {
  Prefix parsed;
  EXPECT_TRUE(Prefix::parse("10.1.0.0/16", parsed));
  EXPECT_EQ(parsed.length, 16);
  EXPECT_TRUE(Prefix::parse("2001:db8::/32", parsed));
  EXPECT_EQ(parsed.address.family, AF_INET6);
  EXPECT_TRUE(Prefix::parse("192.0.2.7", parsed));
  EXPECT_EQ(parsed.length, 32) << "a bare address is a host";
  for (const char* bad : {"10.0.0.0/33", "10.0.0.0/", "10.0.0.0/x", "2001:db8::/129", "nonsense",
                          "10.0.0.0/8/8", ""}) {
    EXPECT_FALSE(Prefix::parse(bad, parsed)) << bad;
  }
}

TEST(ClientGroups, LongestPrefixWinsInBothFamilies) {
  ClientGroupsBuilder builder;
  const unsigned wide = builder.add_group(0b001);
  const unsigned narrow = builder.add_group(0b010);
  const unsigned host = builder.add_group(0);
  builder.add_prefix(wide, prefix("10.0.0.0/8"));
  builder.add_prefix(narrow, prefix("10.1.0.0/16"));
  builder.add_prefix(host, prefix("10.1.2.3"));
  builder.add_prefix(narrow, prefix("2001:db8:1::/48"));
  builder.add_prefix(wide, prefix("2001:db8::/32"));
  builder.add_prefix(host, prefix("10.0.0.0/8"));  // given again: the first group keeps it
  const ClientGroups groups = builder.build(0b100);
  EXPECT_EQ(groups.lists_for(address("10.9.9.9")), 0b001u);
  EXPECT_EQ(groups.lists_for(address("10.1.9.9")), 0b010u);
  EXPECT_EQ(groups.lists_for(address("10.1.2.3")), 0u);
  EXPECT_EQ(groups.lists_for(address("192.0.2.1")), 0b100u) << "in no group";
  EXPECT_EQ(groups.lists_for(address("2001:db8:1::5")), 0b010u);
  EXPECT_EQ(groups.lists_for(address("2001:db8:2::5")), 0b001u);
  EXPECT_EQ(groups.lists_for(address("2001:db9::1")), 0b100u);
  EXPECT_GT(groups.memory_bytes(), 0u);
}

TEST(ClientGroups, WithoutGroupsEveryoneGetsTheDefault) {
  const ClientGroups groups(0b11);
  EXPECT_EQ(groups.lists_for(address("10.0.0.1")), 0b11u);
  EXPECT_EQ(groups.lists_for(address("::1")), 0b11u);
  EXPECT_EQ(groups.memory_bytes(), 0u);
}

TEST(ClientGroups, TwoGenerationsLiveSideBySide) {
  // A reload builds the next snapshot's tables while the old ones are in use.
  ClientGroupsBuilder builder;
  builder.add_prefix(builder.add_group(1), prefix("10.0.0.0/8"));
  const ClientGroups first = builder.build(0);
  const ClientGroups second = builder.build(0);
  EXPECT_EQ(first.lists_for(address("10.1.1.1")), 1u);
  EXPECT_EQ(second.lists_for(address("10.1.1.1")), 1u);
}

}  // namespace
}  // namespace heimdall::filter
