#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "heimdall/upstream/timer_wheel.hpp"

namespace heimdall::upstream {
namespace {

constexpr std::uint64_t kMs = 1'000'000;

std::vector<std::uint32_t> expire(TimerWheel& wheel, std::uint64_t now) {
  std::vector<std::uint32_t> fired;
  wheel.expire(now, [&](std::uint32_t item) { fired.push_back(item); });
  return fired;
}

TEST(TimerWheel, FiresOnlyItemsWhoseDeadlinePassed) {
  TimerWheel wheel(8, kMs, 64);
  expire(wheel, 1000 * kMs);
  wheel.schedule(1, 1010 * kMs);
  wheel.schedule(2, 1020 * kMs);
  EXPECT_TRUE(expire(wheel, 1005 * kMs).empty());
  EXPECT_EQ(expire(wheel, 1010 * kMs), std::vector<std::uint32_t>{1});
  EXPECT_EQ(expire(wheel, 1030 * kMs), std::vector<std::uint32_t>{2});
  EXPECT_EQ(wheel.size(), 0u);
}

TEST(TimerWheel, CancelledItemsNeverFire) {
  TimerWheel wheel(8, kMs, 64);
  expire(wheel, 0);
  wheel.schedule(3, 5 * kMs);
  wheel.cancel(3);
  EXPECT_FALSE(wheel.scheduled(3));
  EXPECT_TRUE(expire(wheel, 10 * kMs).empty());
}

TEST(TimerWheel, DeadlinesBeyondTheHorizonWaitForTheirLap) {
  TimerWheel wheel(8, kMs, 16);  // 16 ms horizon
  expire(wheel, 0);
  wheel.schedule(4, 100 * kMs);
  for (std::uint64_t t = 1; t < 100; ++t) EXPECT_TRUE(expire(wheel, t * kMs).empty()) << t;
  EXPECT_EQ(expire(wheel, 100 * kMs), std::vector<std::uint32_t>{4});
}

TEST(TimerWheel, ALongGapStillFiresEverythingDue) {
  TimerWheel wheel(8, kMs, 16);
  expire(wheel, 0);
  wheel.schedule(0, 3 * kMs);
  wheel.schedule(1, 40 * kMs);
  wheel.schedule(2, 900 * kMs);
  auto fired = expire(wheel, 500 * kMs);
  std::sort(fired.begin(), fired.end());
  EXPECT_EQ(fired, (std::vector<std::uint32_t>{0, 1}));
  EXPECT_EQ(expire(wheel, 900 * kMs), std::vector<std::uint32_t>{2});
}

TEST(TimerWheel, RescheduleMovesTheDeadline) {
  TimerWheel wheel(8, kMs, 64);
  expire(wheel, 0);
  wheel.schedule(5, 5 * kMs);
  wheel.schedule(5, 50 * kMs);
  EXPECT_TRUE(expire(wheel, 10 * kMs).empty());
  EXPECT_EQ(expire(wheel, 50 * kMs), std::vector<std::uint32_t>{5});
}

TEST(TimerWheel, AnItemMayBeRescheduledFromItsOwnCallback) {
  TimerWheel wheel(8, kMs, 64);
  expire(wheel, 0);
  wheel.schedule(6, 5 * kMs);
  int fired = 0;
  wheel.expire(5 * kMs, [&](std::uint32_t item) {
    ++fired;
    wheel.schedule(item, 20 * kMs);
  });
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(expire(wheel, 20 * kMs), std::vector<std::uint32_t>{6});
}

TEST(TimerWheel, PastDeadlinesFireOnTheNextExpiry) {
  TimerWheel wheel(8, kMs, 64);
  expire(wheel, 100 * kMs);
  wheel.schedule(7, 50 * kMs);
  EXPECT_EQ(expire(wheel, 100 * kMs), std::vector<std::uint32_t>{7});
}

}  // namespace
}  // namespace heimdall::upstream
