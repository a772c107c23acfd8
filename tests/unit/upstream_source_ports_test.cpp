#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "heimdall/upstream/source_ports.hpp"

namespace heimdall::upstream {
namespace {

TEST(SourcePorts, UniformBelowCoversTheWholeRangeWithoutBias) {
  // random % 64512 from 16 bits (what the engine did before) made the first 1024
  // ports twice as likely; from 32 bits by multiply-shift every port is within
  // 2^-16 of 1/n.
  const std::uint32_t n = 64512;
  EXPECT_EQ(uniform_below(0, n), 0u);
  EXPECT_EQ(uniform_below(UINT32_MAX, n), n - 1);
  std::vector<unsigned> counts(n, 0);
  for (std::uint64_t r = 0; r < (std::uint64_t{1} << 32); r += 4099)
    ++counts[uniform_below(static_cast<std::uint32_t>(r), n)];
  const auto [low, high] = std::minmax_element(counts.begin(), counts.end());
  EXPECT_GE(*low, 15u);
  EXPECT_LE(*high, 17u);
}

TEST(SourcePorts, DrawPortStaysInRangeAndReachesBothEnds) {
  const PortRange range{.low = 1024, .high = 65535};
  EXPECT_EQ(range.size(), 64512u);
  EXPECT_EQ(draw_port(range, 0), 1024);
  EXPECT_EQ(draw_port(range, UINT32_MAX), 65535);
  std::mt19937 random(1);
  std::vector<bool> seen(65536, false);
  unsigned distinct = 0;
  for (int i = 0; i < 200000; ++i) {
    const std::uint16_t port = draw_port(range, random());
    ASSERT_TRUE(range.contains(port));
    if (!seen[port]) ++distinct;
    seen[port] = true;
  }
  // 200k draws over 64512 ports: 1 - e^-3.1 of them, about 95.5 %.
  EXPECT_GT(distinct, 60000u);
  const PortRange one{.low = 5000, .high = 5000};
  EXPECT_EQ(draw_port(one, 12345), 5000);
}

TEST(SourcePorts, DealGivesEveryWorkerItsShareInASecretOrder) {
  const PortRange range{.low = 1024, .high = 32767};
  std::mt19937 random(7);
  const auto owner = deal_ports(range, 3, [&] { return static_cast<std::uint32_t>(random()); });
  ASSERT_EQ(owner.size(), range.size());
  std::vector<unsigned> share(3, 0);
  unsigned modulo_like = 0;
  for (std::uint32_t i = 0; i < owner.size(); ++i) {
    ASSERT_LT(owner[i], 3);
    ++share[owner[i]];
    modulo_like += owner[i] == (range.low + i) % 3;
  }
  for (unsigned s : share) EXPECT_NEAR(s, range.size() / 3.0, 1.0);
  // Knowing the worker says nothing about the port: the deal is not port % workers.
  EXPECT_NEAR(modulo_like, range.size() / 3.0, range.size() / 30.0);
  std::mt19937 other(8);
  EXPECT_NE(owner, deal_ports(range, 3, [&] { return static_cast<std::uint32_t>(other()); }));
}

}  // namespace
}  // namespace heimdall::upstream
