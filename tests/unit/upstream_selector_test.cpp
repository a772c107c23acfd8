#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "heimdall/upstream/selector.hpp"

namespace heimdall::upstream {
namespace {

constexpr std::uint64_t kMs = 1'000'000;

std::vector<net::Endpoint> servers(int count) {
  std::vector<net::Endpoint> result;
  for (int i = 0; i < count; ++i) {
    net::Endpoint endpoint;
    endpoint.family = AF_INET;
    endpoint.port = static_cast<std::uint16_t>(5300 + i);
    endpoint.address[0] = 127;
    endpoint.address[3] = 1;
    result.push_back(endpoint);
  }
  return result;
}

SelectorConfig config(Strategy strategy) {
  return SelectorConfig{.strategy = strategy,
                        .max_failures = 3,
                        .probe_interval_ns = 1000 * kMs,
                        .budget_ns = 1500 * kMs};
}

TEST(Selector, FailoverPrefersTheFirstHealthyServer) {
  const auto list = servers(3);
  Selector selector(list, config(Strategy::Failover), 1);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(selector.choose(0, 0), 0u);
  EXPECT_EQ(selector.choose(0, 0b001), 1u) << "a server already tried is skipped";
  EXPECT_EQ(selector.choose(0, 0b011), 2u);
}

TEST(Selector, MarksServerDownAfterConsecutiveFailuresAndProbesItBack) {
  const auto list = servers(2);
  Selector selector(list, config(Strategy::Failover), 1);
  selector.on_failure(0, 0);
  selector.on_failure(0, 0);
  EXPECT_FALSE(selector.server(0).down);
  EXPECT_EQ(selector.choose(10 * kMs, 0), 0u) << "two failures are not enough to give up on it";
  selector.on_failure(0, 10 * kMs);
  EXPECT_TRUE(selector.server(0).down);
  EXPECT_EQ(selector.choose(20 * kMs, 0), 1u);
  EXPECT_EQ(selector.choose(500 * kMs, 0), 1u) << "no probe before the interval";
  EXPECT_EQ(selector.choose(1010 * kMs, 0), 0u) << "the probe interval has passed";
  EXPECT_EQ(selector.choose(1011 * kMs, 0), 1u) << "one probe per interval";
  selector.on_answer(0, 5 * kMs);
  EXPECT_FALSE(selector.server(0).down);
  EXPECT_EQ(selector.choose(1012 * kMs, 0), 0u);
}

TEST(Selector, AnAnswerResetsTheFailureCount) {
  const auto list = servers(2);
  Selector selector(list, config(Strategy::Failover), 1);
  selector.on_failure(0, 0);
  selector.on_failure(0, 0);
  selector.on_answer(0, kMs);
  selector.on_failure(0, 0);
  selector.on_failure(0, 0);
  EXPECT_FALSE(selector.server(0).down);
}

TEST(Selector, RoundRobinVisitsEveryServerInTurn) {
  const auto list = servers(3);
  Selector selector(list, config(Strategy::RoundRobin), 1);
  std::vector<unsigned> picks;
  for (int i = 0; i < 6; ++i) picks.push_back(selector.choose(0, 0));
  EXPECT_EQ(picks, (std::vector<unsigned>{0, 1, 2, 0, 1, 2}));
}

TEST(Selector, FastestPrefersTheLowestSmoothedRtt) {
  const auto list = servers(3);
  Selector selector(list, config(Strategy::Fastest), 7);
  selector.on_answer(0, 30 * kMs);
  selector.on_answer(1, 5 * kMs);
  selector.on_answer(2, 12 * kMs);
  int fastest = 0;
  for (int i = 0; i < 640; ++i) fastest += selector.choose(0, 0) == 1u;
  // One choice in 64 explores another server so that its RTT stays known.
  EXPECT_GE(fastest, 600);
  EXPECT_LT(fastest, 640);
}

TEST(Selector, FastestSamplesAnUnmeasuredServerFirst) {
  const auto list = servers(2);
  Selector selector(list, config(Strategy::Fastest), 7);
  selector.on_answer(0, 5 * kMs);
  EXPECT_EQ(selector.choose(0, 0), 1u);
}

TEST(Selector, AttemptTimeoutIsThreeSrttClampedBetween50msAndHalfTheBudget) {
  const auto list = servers(1);
  Selector selector(list, config(Strategy::Fastest), 1);
  EXPECT_EQ(selector.attempt_timeout_ns(0), 750 * kMs) << "no sample yet: half the budget";
  selector.on_answer(0, 10 * kMs);
  EXPECT_EQ(selector.attempt_timeout_ns(0), 50 * kMs);
  Selector slow(list, config(Strategy::Fastest), 1);
  slow.on_answer(0, 200 * kMs);
  EXPECT_EQ(slow.attempt_timeout_ns(0), 600 * kMs);
  slow.on_answer(0, 2000 * kMs);  // srtt = (7 * 200 + 2000) / 8 = 425 ms
  EXPECT_EQ(slow.attempt_timeout_ns(0), 750 * kMs);
}

TEST(Selector, StartsOverWhenEveryServerWasTried) {
  const auto list = servers(2);
  Selector selector(list, config(Strategy::Failover), 1);
  EXPECT_EQ(selector.choose(0, 0b11), 0u);
}

// What operators see of a server: attempts, answers into RTT buckets, failures,
// SRTT and the down flag, as atomics the control thread may read at any time.
TEST(Selector, ExportsEachServersCountersForOperators) {
  const auto list = servers(2);
  Selector selector(list, config(Strategy::Failover), 1);
  selector.on_attempt(0);
  selector.on_attempt(0);
  selector.on_answer(0, 3 * kMs);     // bucket le=0.005
  selector.on_answer(0, 2000 * kMs);  // beyond the last bound
  for (int i = 0; i < 3; ++i) selector.on_failure(1, 0);
  const ServerCounters& first = selector.exported(0);
  EXPECT_EQ(first.chosen.load(), 2u);
  EXPECT_EQ(first.answers.load(), 2u);
  EXPECT_EQ(first.rtt_counts[2].load(), 1u);
  EXPECT_EQ(first.rtt_counts.back().load(), 1u);
  EXPECT_EQ(first.rtt_sum_ns.load(), 2003 * kMs);
  EXPECT_EQ(first.srtt_ns.load(), selector.server(0).srtt_ns);
  const ServerCounters& second = selector.exported(1);
  EXPECT_EQ(second.failures.load(), 3u);
  EXPECT_EQ(second.down.load(), 1u);
  selector.on_answer(1, kMs);
  EXPECT_EQ(second.down.load(), 0u);
}

TEST(Selector, RejectsNoServersAndTooMany) {
  EXPECT_THROW(Selector(std::vector<net::Endpoint>{}, config(Strategy::Fastest), 1),
               std::invalid_argument);
  const auto many = servers(33);
  EXPECT_THROW(Selector(many, config(Strategy::Fastest), 1), std::invalid_argument);
}

TEST(Selector, TcpBacksOffDoublingPerFailureInARowUntilAnAnswer) {
  const auto list = servers(2);
  Selector selector(list, config(Strategy::Failover), 1);
  EXPECT_TRUE(selector.tcp_usable(0, 0));
  selector.on_tcp_result(0, false, 100 * kMs);
  EXPECT_FALSE(selector.tcp_usable(0, 1099 * kMs)) << "probe_interval (1 s) first";
  EXPECT_TRUE(selector.tcp_usable(0, 1100 * kMs));
  EXPECT_TRUE(selector.tcp_usable(1, 100 * kMs)) << "per server";
  EXPECT_EQ(selector.tcp_backing_off(500 * kMs), 0b01u);
  selector.on_tcp_result(0, false, 1100 * kMs);
  EXPECT_FALSE(selector.tcp_usable(0, 3099 * kMs)) << "then 2 s";
  EXPECT_TRUE(selector.tcp_usable(0, 3100 * kMs));
  for (int i = 0; i < 20; ++i) selector.on_tcp_result(0, false, 0);
  EXPECT_FALSE(selector.tcp_usable(0, kMaxTcpBackoffNs - 1));
  EXPECT_TRUE(selector.tcp_usable(0, kMaxTcpBackoffNs)) << "never more than 60 s";
  EXPECT_EQ(selector.exported(0).tcp_failures.load(), 22u);
  selector.on_tcp_result(0, true, 10 * kMs);
  EXPECT_TRUE(selector.tcp_usable(0, 10 * kMs));
  selector.on_tcp_result(0, false, 20 * kMs);
  EXPECT_TRUE(selector.tcp_usable(0, 1020 * kMs)) << "an answer starts the doubling over";
}

TEST(Selector, ATruncatedAnswerDoesNotClearFailures) {
  const auto list = servers(2);
  Selector selector(list, config(Strategy::Failover), 1);
  selector.on_failure(0, 0);
  selector.on_failure(0, 0);
  selector.on_truncated(0, 2 * kMs);
  EXPECT_EQ(selector.server(0).consecutive_failures, 2u);
  EXPECT_EQ(selector.server(0).srtt_ns, (7 * 750 * kMs + 2 * kMs) / 8)
      << "its round trip still counts";
  EXPECT_EQ(selector.exported(0).answers.load(), 0u) << "the answer is TCP's, still to come";
  selector.on_failure(0, 0);
  EXPECT_TRUE(selector.server(0).down);
}

}  // namespace
}  // namespace heimdall::upstream
