// The per-client connection counts of a TCP server worker: keys by /32 and /64,
// the limit, and removal that keeps every other key findable (backward shift).
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "heimdall/io/connection_counts.hpp"

namespace heimdall::io {
namespace {

ConnectionCounts::Key key(const char* address) {
  return ConnectionCounts::key_of(*net::Endpoint::parse(address, 53));
}

TEST(ConnectionCounts, CountsUpToTheLimitPerClient) {
  ConnectionCounts counts(16, 1);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(counts.add(key("192.0.2.1"), 3));
  EXPECT_FALSE(counts.add(key("192.0.2.1"), 3)) << "a fourth is over the limit";
  EXPECT_TRUE(counts.add(key("192.0.2.2"), 3)) << "another address has its own count";
  EXPECT_EQ(counts.count(key("192.0.2.1")), 3u);
  counts.remove(key("192.0.2.1"));
  EXPECT_TRUE(counts.add(key("192.0.2.1"), 3)) << "a closed connection frees its place";
}

TEST(ConnectionCounts, ZeroMeansNoLimit) {
  ConnectionCounts counts(200, 1);
  for (int i = 0; i < 200; ++i) EXPECT_TRUE(counts.add(key("192.0.2.1"), 0));
  EXPECT_EQ(counts.count(key("192.0.2.1")), 200u);
}

TEST(ConnectionCounts, AnIpv6Slash64IsOneClient) {
  ConnectionCounts counts(16, 1);
  EXPECT_EQ(key("[2001:db8:1:2::1]"), key("[2001:db8:1:2:ffff::9]"));
  EXPECT_NE(key("[2001:db8:1:2::1]"), key("[2001:db8:1:3::1]"));
  EXPECT_TRUE(counts.add(key("[2001:db8:1:2::1]"), 2));
  EXPECT_TRUE(counts.add(key("[2001:db8:1:2::2]"), 2));
  EXPECT_FALSE(counts.add(key("[2001:db8:1:2::3]"), 2));
  EXPECT_NE(key("0.0.0.1"), key("[::1]")) << "families never share a count";
}

// Random opens and closes against a plain map: every count stays right, so
// deletion never hides an entry behind a hole in its probe run.
TEST(ConnectionCounts, MatchesAMapUnderRandomChurnAtFullLoad) {
  constexpr std::size_t kSlots = 64;
  ConnectionCounts counts(kSlots, 12345);
  std::map<std::uint64_t, unsigned> model;
  std::size_t open = 0;
  std::mt19937_64 random(7);
  const auto key_of = [](std::uint64_t n) { return ConnectionCounts::Key{n, AF_INET}; };
  for (int step = 0; step < 200000; ++step) {
    const std::uint64_t client = random() % 150;
    if (open < kSlots && random() % 2 == 0) {
      ASSERT_TRUE(counts.add(key_of(client), 0));
      ++model[client];
      ++open;
    } else if (auto it = model.find(client); it != model.end()) {
      counts.remove(key_of(client));
      if (--it->second == 0) model.erase(it);
      --open;
    }
    if (step % 97 == 0) {
      for (std::uint64_t c = 0; c < 150; ++c) {
        const auto it = model.find(c);
        ASSERT_EQ(counts.count(key_of(c)), it == model.end() ? 0u : it->second) << "step " << step;
      }
    }
  }
}

}  // namespace
}  // namespace heimdall::io
