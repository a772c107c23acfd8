// Concurrency: one owner inserting, evicting and reclaiming while readers look up
// the same keys (and hand answers over through the rings), for a bounded time.
// Every answer a reader sees must be, byte for byte, one that was inserted for
// that question. Run under ThreadSanitizer in CI, and under ASan, whose poisoning
// of freed entries catches a reader touching memory past its grace period.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "heimdall/cache/cache.hpp"
#include "heimdall/cache/stored_answer.hpp"
#include "wire_builder.hpp"

namespace heimdall::cache {
namespace {

using heimdall::testing::Bytes;
using heimdall::testing::Packet;

constexpr int kKeys = 256;
constexpr int kVersions = 16;
constexpr unsigned kReaders = 4;  // reader 0 owns the only shard
constexpr auto kDuration = std::chrono::milliseconds(1500);

std::string name_of(int key) { return "k" + std::to_string(key) + ".stress.example"; }

// Version `version` of the answer for `key`: the A record's address names both.
Bytes answer(int key, int version) {
  return Packet()
      .header(1, dns::flag::QR | dns::flag::RD | dns::flag::RA, 1, 1, 0, 0)
      .question(name_of(key).c_str())
      .pointer(12)
      .record(dns::rrtype::A, 3600,
              {static_cast<std::uint8_t>(key >> 8), static_cast<std::uint8_t>(key),
               static_cast<std::uint8_t>(version), 0})
      .bytes;
}

struct Question {
  dns::QuestionKey key;
  Digest digest;
};

TEST(CacheStress, ReadersOnlyEverSeeAnswersThatWereInsertedForTheirQuestion) {
  CacheConfig config;
  config.max_entries = kKeys / 2;  // constant eviction and reclamation
  Cache cache(config, 1, kReaders, 11);

  std::vector<Question> questions(kKeys);
  std::vector<std::vector<Bytes>> answers(kKeys);
  std::vector<std::vector<Bytes>> stored(kKeys);  // what the cache must hold, per version
  for (int key = 0; key < kKeys; ++key) {
    const Bytes query =
        Packet().header(1, dns::flag::RD, 1, 0, 0, 0).question(name_of(key).c_str()).bytes;
    dns::Message msg;
    ASSERT_EQ(dns::parse_message(query, msg), dns::ParseError::Ok);
    questions[key].key = dns::QuestionKey::of(msg);
    questions[key].digest = cache.digest(questions[key].key);
    for (int version = 0; version < kVersions; ++version) {
      answers[key].push_back(answer(key, version));
      dns::Message parsed;
      ASSERT_EQ(dns::parse_message(answers[key].back(), parsed), dns::ParseError::Ok);
      Bytes form(stored_size(answers[key].back(), parsed));
      ASSERT_EQ(store_answer(answers[key].back(), parsed, form), form.size());
      // The cache keeps the question name folded: these names are lower case already.
      stored[key].push_back(form);
    }
  }

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> wrong{0};
  std::atomic<std::uint64_t> hits{0};
  const auto now_ns = [] {
    return static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  };

  auto owner = [&] {
    cache.register_reader(0);
    std::uint64_t round = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      const int key = static_cast<int>(round % kKeys);
      const int version = static_cast<int>((round / kKeys) % kVersions);
      dns::Message msg;
      EXPECT_EQ(dns::parse_message(answers[key][version], msg), dns::ParseError::Ok);
      cache.offer(0, Probe{questions[key].digest, &questions[key].key}, answers[key][version], msg,
                  now_ns());
      cache.maintain(0, now_ns());
      cache.quiescent(0);
      ++round;
    }
    cache.unregister_reader(0);
  };

  auto reader = [&](unsigned id) {
    cache.register_reader(id);
    std::uint64_t round = id * 7919;
    Probe probes[32];
    Hit found[32];
    while (!stop.load(std::memory_order_relaxed)) {
      int keys[32];
      for (int i = 0; i < 32; ++i) {
        keys[i] = static_cast<int>((round * 31 + i * 17) % kKeys);
        probes[i] = Probe{questions[keys[i]].digest, &questions[keys[i]].key};
      }
      cache.lookup(id, probes, now_ns(), found);
      for (int i = 0; i < 32; ++i) {
        if (found[i].freshness != Freshness::Fresh) continue;
        hits.fetch_add(1, std::memory_order_relaxed);
        const std::span<const std::uint8_t> bytes = found[i].stored;
        const int version = bytes.size() >= 2 ? bytes[bytes.size() - 2] : -1;
        if (version < 0 || version >= kVersions ||
            !std::equal(bytes.begin(), bytes.end(), stored[keys[i]][version].begin(),
                        stored[keys[i]][version].end())) {
          wrong.fetch_add(1, std::memory_order_relaxed);
        }
      }
      if (round % 64 == 0) {  // readers produce too: answers reach the owner by ring
        const int key = static_cast<int>(round % kKeys);
        dns::Message msg;
        EXPECT_EQ(dns::parse_message(answers[key][0], msg), dns::ParseError::Ok);
        cache.offer(id, Probe{questions[key].digest, &questions[key].key}, answers[key][0], msg,
                    now_ns());
      }
      cache.quiescent(id);
      ++round;
    }
    cache.unregister_reader(id);
  };

  std::vector<std::thread> threads;
  threads.emplace_back(owner);
  for (unsigned id = 1; id < kReaders; ++id) threads.emplace_back(reader, id);
  std::this_thread::sleep_for(kDuration);
  stop.store(true);
  for (auto& thread : threads) thread.join();

  EXPECT_EQ(wrong.load(), 0u);
  EXPECT_GT(hits.load(), 0u) << "the readers must have read something for this to mean anything";
  const ShardCounters& shard = cache.shard_counters(0);
  EXPECT_GT(shard.evictions.load() + shard.replaced.load(), 0u);
  EXPECT_LE(shard.entries.load(), config.max_entries);
  std::uint64_t handed = 0;
  for (unsigned id = 1; id < kReaders; ++id) handed += cache.reader_counters(id).handed_over.load();
  EXPECT_GT(handed, 0u);
}

}  // namespace
}  // namespace heimdall::cache
