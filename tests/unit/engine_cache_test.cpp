// The engine with a real cache behind it: hits answered without an upstream
// query, serve-stale when the upstreams fail or are slow, and prefetch.
#include <gtest/gtest.h>

#include "engine_harness.hpp"
#include "heimdall/cache/cache.hpp"

namespace heimdall::engine {
namespace {

using namespace heimdall::engine::testing;

constexpr std::uint64_t kSecond = 1000 * kMs;

std::uint32_t first_ttl(const Bytes& reply) {
  const dns::Message msg = parsed(reply);
  std::uint32_t ttl = 0;
  dns::for_each_record(reply, msg, [&](const dns::Record& record) {
    ttl = dns::load_u32(reply.data() + record.ttl_offset);
    return false;
  });
  return ttl;
}

class EngineCacheTest : public EngineTest {
 protected:
  void with_cache(const cache::CacheConfig& config) {
    cache_owner_ = std::make_unique<cache::Cache>(config, 1, 1, 3);
    cache_owner_->register_reader(0);
    cache_ = cache_owner_.get();
    make_engine(2, upstream::Strategy::Failover);
  }
  void TearDown() override {
    engine_.reset();
    if (cache_owner_) cache_owner_->unregister_reader(0);
  }
  // Sends a query at `now`; answers it from upstream when it goes there.
  void resolve(std::uint64_t now) {
    ask(query(0x1111, "www.example.com", dns::rrtype::A), client(1, 5000), now);
    ASSERT_EQ(sink_.sent.size(), 1u);
    answer(answer_to(sink_.sent[0].wire), sink_.sent[0], now + 2 * kMs);
    ASSERT_EQ(sink_.replies.size(), 1u);
    sink_.sent.clear();
    sink_.replies.clear();
  }
  // Lets every attempt of the query in flight time out.
  void time_out_everything(std::uint64_t from, std::uint64_t until) {
    for (std::uint64_t now = from; now <= until; now += 10 * kMs) engine_->on_timer(now, sink_);
  }

  std::unique_ptr<cache::Cache> cache_owner_;
};

TEST_F(EngineCacheTest, ARepeatedQuestionIsAnsweredFromTheCacheWithAgedTtls) {
  with_cache({});
  resolve(0);
  ask(query(0x2222, "WWW.example.COM", dns::rrtype::A), client(2, 6000), 10 * kSecond + 2 * kMs);

  EXPECT_TRUE(sink_.sent.empty()) << "no upstream query for a cached answer";
  ASSERT_EQ(sink_.replies.size(), 1u);
  const Bytes& reply = sink_.replies[0].wire;
  const dns::Message msg = parsed(reply);
  EXPECT_EQ(msg.header.id, 0x2222);
  EXPECT_EQ(sink_.replies[0].to.peer, endpoint(2, 6000));
  EXPECT_EQ(std::string(reply.begin() + 13, reply.begin() + 16), "WWW");
  EXPECT_EQ(first_ttl(reply), 290u);
  EXPECT_EQ(engine_->counters().cache_answers.load(), 1u);
}

TEST_F(EngineCacheTest, ExpiredEntriesAreServedStaleWhenEveryUpstreamFails) {
  cache::CacheConfig config;
  config.serve_stale = cache::ServeStaleConfig{
      .enabled = true, .ttl_s = 30, .max_stale_s = 3600, .client_timeout_ms = 1800};
  with_cache(config);
  resolve(0);
  const std::uint64_t later = 400 * kSecond;  // the 300 s TTL is past
  ask(query(0x3333, "www.example.com", dns::rrtype::A), client(3, 7000), later);
  ASSERT_EQ(sink_.sent.size(), 1u) << "an expired entry is refreshed first";
  EXPECT_TRUE(sink_.replies.empty());
  time_out_everything(later, later + 1600 * kMs);

  ASSERT_EQ(sink_.replies.size(), 1u);
  const dns::Message msg = parsed(sink_.replies[0].wire);
  EXPECT_EQ(msg.header.rcode(), 0) << "stale data, not SERVFAIL";
  EXPECT_EQ(msg.header.id, 0x3333);
  EXPECT_EQ(first_ttl(sink_.replies[0].wire), 30u);
  EXPECT_EQ(engine_->counters().stale_answers.load(), 1u);
  const auto& reader = cache_owner_->reader_counters(0);
  EXPECT_EQ(reader.misses.load(), 2u) << "the first resolve and the expired entry, once each";
  EXPECT_EQ(reader.stale_candidates.load(), 1u);
}

TEST_F(EngineCacheTest, WithoutServeStaleAnExpiredEntryEndsInServfail) {
  with_cache({});
  resolve(0);
  ask(query(0x3333, "www.example.com", dns::rrtype::A), client(3, 7000), 400 * kSecond);
  time_out_everything(400 * kSecond, 400 * kSecond + 1600 * kMs);
  ASSERT_EQ(sink_.replies.size(), 1u);
  EXPECT_EQ(parsed(sink_.replies[0].wire).header.rcode(), 2);
}

TEST_F(EngineCacheTest, ASlowRefreshGivesWaitingClientsTheStaleAnswerAfterClientTimeout) {
  config_.selector.budget_ns = 5000 * kMs;
  cache::CacheConfig config;
  config.serve_stale = cache::ServeStaleConfig{
      .enabled = true, .ttl_s = 30, .max_stale_s = 3600, .client_timeout_ms = 300};
  with_cache(config);
  resolve(0);
  const std::uint64_t later = 400 * kSecond;
  ask(query(0x4444, "www.example.com", dns::rrtype::A), client(4, 8000), later);
  time_out_everything(later, later + 290 * kMs);
  EXPECT_TRUE(sink_.replies.empty());
  time_out_everything(later + 300 * kMs, later + 320 * kMs);
  ASSERT_EQ(sink_.replies.size(), 1u) << "client_timeout_ms passed";
  EXPECT_EQ(first_ttl(sink_.replies[0].wire), 30u);
  EXPECT_EQ(engine_->pending(), 1u) << "the refresh goes on";

  const Sent last = sink_.sent.back();
  answer(answer_to(last.wire), last, later + 400 * kMs);
  EXPECT_EQ(sink_.replies.size(), 1u) << "the client was already answered";
  EXPECT_EQ(engine_->pending(), 0u);
  sink_.replies.clear();
  ask(query(0x5555, "www.example.com", dns::rrtype::A), client(5, 9000), later + kSecond);
  ASSERT_EQ(sink_.replies.size(), 1u);
  EXPECT_EQ(first_ttl(sink_.replies[0].wire), 300u) << "the refresh replaced the entry";
}

TEST_F(EngineCacheTest, AnUpstreamServfailIsAnsweredFromStaleData) {
  cache::CacheConfig config;
  config.serve_stale.enabled = true;
  with_cache(config);
  resolve(0);
  const std::uint64_t later = 400 * kSecond;
  ask(query(0x6666, "www.example.com", dns::rrtype::A), client(6, 9100), later);
  ASSERT_EQ(sink_.sent.size(), 1u);
  answer(answer_to(sink_.sent[0].wire, 0, 2 /*SERVFAIL*/), sink_.sent[0], later + kMs);
  ASSERT_EQ(sink_.replies.size(), 1u);
  EXPECT_EQ(parsed(sink_.replies[0].wire).header.rcode(), 0);
  EXPECT_EQ(parsed(sink_.replies[0].wire).header.ancount, 1);
}

TEST_F(EngineCacheTest, AHitNearExpiryPrefetchesOnceAndTheAnswerRefreshesTheEntry) {
  cache::CacheConfig config;
  config.prefetch = cache::PrefetchConfig{.enabled = true, .threshold = 0.1, .min_ttl_s = 10};
  with_cache(config);
  resolve(0);
  ask(query(0x7777, "www.example.com", dns::rrtype::A), client(7, 9200), 200 * kSecond);
  EXPECT_TRUE(sink_.sent.empty()) << "two thirds of the TTL left: no prefetch";

  ask(query(0x7778, "www.example.com", dns::rrtype::A), client(7, 9201), 275 * kSecond);
  ask(query(0x7779, "www.example.com", dns::rrtype::A), client(7, 9202), 276 * kSecond);
  EXPECT_EQ(sink_.replies.size(), 3u) << "every client answered from the cache";
  ASSERT_EQ(sink_.sent.size(), 1u) << "one refresh, however many hits";
  EXPECT_EQ(engine_->counters().prefetches.load(), 1u);

  answer(answer_to(sink_.sent[0].wire), sink_.sent[0], 276 * kSecond + 5 * kMs);
  EXPECT_EQ(sink_.replies.size(), 3u) << "nobody was waiting on the refresh";
  ask(query(0x777a, "www.example.com", dns::rrtype::A), client(7, 9203), 286 * kSecond + 5 * kMs);
  EXPECT_EQ(first_ttl(sink_.replies.back().wire), 290u);
}

// answer_to's answer with its one record's TTL set to `ttl`.
Bytes answer_with_ttl(const Bytes& sent, std::uint32_t ttl) {
  Bytes wire = answer_to(sent);
  dns::store_u32(wire.data() + wire.size() - 10, ttl);  // TTL, RDLENGTH, 4 bytes of RDATA
  return wire;
}

// RFC 2181 §8 and the operator's clamps hold on a miss too: the relayed answer
// tells the client what a hit would.
TEST_F(EngineCacheTest, RelayedTtlsAreClampedLikeCachedOnesAndATopBitTtlIsZero) {
  cache::CacheConfig config;
  config.ttl.max_ttl = 3600;
  with_cache(config);
  ask(query(1, "big-ttl.example", dns::rrtype::A), client(1, 5000), 0);
  ASSERT_EQ(sink_.sent.size(), 1u);
  answer(answer_with_ttl(sink_.sent[0].wire, 0x7fffffffu), sink_.sent[0], kMs);
  ASSERT_EQ(sink_.replies.size(), 1u);
  EXPECT_EQ(first_ttl(sink_.replies[0].wire), 3600u) << "max_ttl on the miss";
  ask(query(2, "big-ttl.example", dns::rrtype::A), client(1, 5000), 10 * kSecond + kMs);
  ASSERT_EQ(sink_.replies.size(), 2u);
  EXPECT_EQ(sink_.sent.size(), 1u);
  EXPECT_EQ(first_ttl(sink_.replies[1].wire), 3590u) << "and on the hit, aged";

  ask(query(3, "top-bit.example", dns::rrtype::A), client(1, 5000), 20 * kSecond);
  ASSERT_EQ(sink_.sent.size(), 2u);
  answer(answer_with_ttl(sink_.sent[1].wire, 0xffffffffu), sink_.sent[1], 20 * kSecond + kMs);
  ASSERT_EQ(sink_.replies.size(), 3u);
  EXPECT_EQ(first_ttl(sink_.replies[2].wire), 0u) << "top bit set: 0, not 4294967295";
  ask(query(4, "top-bit.example", dns::rrtype::A), client(1, 5000), 21 * kSecond);
  EXPECT_EQ(sink_.sent.size(), 3u) << "a TTL of 0 is not cached (it was for a day)";
}

TEST_F(EngineCacheTest, WithoutACacheRelayedTtlsAreStillClamped) {
  config_.ttl.max_ttl = 600;
  make_engine(2, upstream::Strategy::Failover);
  ask(query(1, "a.example", dns::rrtype::A), client(1, 5000), 0);
  answer(answer_with_ttl(sink_.sent[0].wire, 0x7fffffffu), sink_.sent[0], kMs);
  ask(query(2, "b.example", dns::rrtype::A), client(1, 5000), 0);
  answer(answer_with_ttl(sink_.sent[1].wire, 0x80000000u), sink_.sent[1], kMs);
  ASSERT_EQ(sink_.replies.size(), 2u);
  EXPECT_EQ(first_ttl(sink_.replies[0].wire), 600u);
  EXPECT_EQ(first_ttl(sink_.replies[1].wire), 0u);
}

}  // namespace
}  // namespace heimdall::engine
