// The cache through its public interface, with an injected clock: what a lookup
// finds and for how long, what is stored, what is evicted, and how shards hand
// answers to their owners.
#include "heimdall/cache/cache.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cache_fixture.hpp"
#include "heimdall/cache/dump.hpp"
#include "heimdall/cache/stored_answer.hpp"
#include "heimdall/dns/build.hpp"
#include "wire_builder.hpp"

namespace heimdall::cache {
namespace {

TEST_F(CacheTest, NamesDifferingOnlyInCaseShareOneEntryAndEachClientGetsItsOwnCase) {
  make();
  EXPECT_EQ(cache_->digest(key_of("WwW.Example.COM")), cache_->digest(key_of("www.example.com")));
  offer("WwW.Example.COM", answer_for("WwW.Example.COM", 300), kStart);

  const Hit hit = lookup("www.example.com", kStart);
  ASSERT_EQ(hit.freshness, Freshness::Fresh);
  const Bytes client = query_for("wWw.eXAMPLE.cOm", 0x4242);
  const Bytes out = reply(hit, client);
  ASSERT_GT(out.size(), 0u);
  EXPECT_EQ(dns::load_u16(out.data()), 0x4242);
  EXPECT_TRUE(std::equal(client.begin() + 12, client.end(), out.begin() + 12))
      << "the reply echoes the client's question bytes";
  EXPECT_EQ(entries(), 1u);
}

TEST_F(CacheTest, TtlsAgeWithTheClockAndTheEntryExpires) {
  make();
  offer("www.example.com", answer_for("www.example.com", 300), kStart);
  const Hit later = lookup("www.example.com", kStart + 100 * kSecond + kSecond / 2);
  ASSERT_EQ(later.freshness, Freshness::Fresh);
  EXPECT_EQ(later.age_s, 100u);
  EXPECT_EQ(first_record(reply(later, query_for("www.example.com"))).ttl, 200u);

  EXPECT_EQ(lookup("www.example.com", kStart + 300 * kSecond).freshness, Freshness::Miss);
  EXPECT_EQ(lookup("www.example.com", kStart - kSecond).freshness, Freshness::Fresh)
      << "a reader whose clock is a little behind sees age 0, not a wrapped age";
}

TEST_F(CacheTest, NegativeAnswersLiveForTheSoaMinimumClampedByNegativeTtlMax) {
  config_.ttl.negative_ttl_max = 100;
  make();
  offer("nx.example.com", negative_for("nx.example.com", 3 /*NXDOMAIN*/, 3600, 60), kStart);
  offer("nodata.example.com", negative_for("nodata.example.com", 0, 3600, 900), kStart);
  EXPECT_EQ(lookup("nx.example.com", kStart).ttl_s, 60u) << "min(SOA TTL, MINIMUM)";
  EXPECT_EQ(lookup("nodata.example.com", kStart).ttl_s, 100u) << "clamped by negative_ttl_max";
  const Bytes out =
      reply(lookup("nx.example.com", kStart + 10 * kSecond), query_for("nx.example.com"));
  EXPECT_EQ(parsed(out).header.rcode(), 3);
  EXPECT_EQ(lookup("nx.example.com", kStart + 60 * kSecond).freshness, Freshness::Miss);
}

TEST_F(CacheTest, OperatorClampsBoundPositiveTtls) {
  config_.ttl.min_ttl = 30;
  config_.ttl.max_ttl = 600;
  make();
  offer("short.example.com", answer_for("short.example.com", 5), kStart);
  offer("long.example.com", answer_for("long.example.com", 86400), kStart);
  EXPECT_EQ(lookup("short.example.com", kStart).ttl_s, 30u);
  EXPECT_EQ(lookup("long.example.com", kStart).ttl_s, 600u);
  EXPECT_EQ(
      first_record(reply(lookup("short.example.com", kStart), query_for("short.example.com"))).ttl,
      30u)
      << "clients are told the clamped TTL too";
  EXPECT_EQ(first_record(reply(lookup("long.example.com", kStart + 100 * kSecond),
                               query_for("long.example.com")))
                .ttl,
            500u);
}

TEST_F(CacheTest, TruncatedAndRefusedAnswersAreNotStored) {
  make();
  Bytes truncated = answer_for("tc.example.com", 300);
  truncated[2] |= dns::flag::TC >> 8;
  offer("tc.example.com", truncated, kStart);
  Bytes refused = answer_for("refused.example.com", 300);
  refused[3] |= 5;
  offer("refused.example.com", refused, kStart);
  EXPECT_EQ(lookup("tc.example.com", kStart).freshness, Freshness::Miss);
  EXPECT_EQ(lookup("refused.example.com", kStart).freshness, Freshness::Miss);
  EXPECT_EQ(cache_->reader_counters(0).not_cacheable.load(), 2u);
  EXPECT_EQ(entries(), 0u);
}

TEST_F(CacheTest, AFullShardEvictsWithClockSparingRecentlyReadEntries) {
  config_.max_entries = 64;
  make();
  auto name = [](int i) { return "n" + std::to_string(i) + ".example.com"; };
  for (int i = 0; i < 64; ++i) offer(name(i).c_str(), answer_for(name(i).c_str(), 300), kStart);
  EXPECT_EQ(entries(), 64u);
  for (int i = 0; i < 8; ++i)
    ASSERT_EQ(lookup(name(i).c_str(), kStart).freshness, Freshness::Fresh);
  for (int i = 64; i < 72; ++i) offer(name(i).c_str(), answer_for(name(i).c_str(), 300), kStart);

  EXPECT_EQ(entries(), 64u);
  EXPECT_EQ(cache_->shard_counters(0).evictions.load(), 8u);
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(lookup(name(i).c_str(), kStart).freshness, Freshness::Fresh)
        << name(i) << " was read";
  }
  for (int i = 64; i < 72; ++i) {
    EXPECT_EQ(lookup(name(i).c_str(), kStart).freshness, Freshness::Fresh) << name(i) << " is new";
  }
  int evicted = 0;
  for (int i = 8; i < 64; ++i)
    evicted += lookup(name(i).c_str(), kStart).freshness == Freshness::Miss;
  EXPECT_EQ(evicted, 8);
}

TEST_F(CacheTest, MaxBytesBoundsEntryMemory) {
  config_.max_bytes = 256 * 1024;  // four 64 KiB chunks
  make();
  for (int i = 0; i < 2000; ++i) {
    const std::string name = "m" + std::to_string(i) + ".example.com";
    offer(name.c_str(), answer_for(name.c_str(), 300, 10), kStart);  // ~250-byte entries
    cache_->quiescent(0);  // let removed entries' memory come back
  }
  const ShardCounters& counters = cache_->shard_counters(0);
  EXPECT_LE(counters.bytes.load(), config_.max_bytes);
  EXPECT_GT(counters.evictions.load(), 0u);
  EXPECT_GT(counters.entries.load(), 500u) << "evicted memory is reused once readers pass";
  EXPECT_EQ(lookup("m1999.example.com", kStart).freshness, Freshness::Fresh);
}

Digest same_digest(const dns::QuestionKey&) { return Digest{.lo = 42, .hi = 42}; }

TEST_F(CacheTest, ADigestCollisionIsAMissNeverAnotherQuestionsAnswer) {
  config_.digest_override = same_digest;
  make();
  offer("a.example.com", answer_for("a.example.com", 300, 1, 1), kStart);
  offer("b.example.com", answer_for("b.example.com", 300, 1, 2), kStart);

  EXPECT_EQ(lookup("a.example.com", kStart).freshness, Freshness::Miss);
  EXPECT_EQ(cache_->reader_counters(0).collisions.load(), 1u);
  const Hit b = lookup("b.example.com", kStart);
  ASSERT_EQ(b.freshness, Freshness::Fresh);
  EXPECT_EQ(first_record(reply(b, query_for("b.example.com"))).last_octet, 2);
}

TEST_F(CacheTest, AReplyTooBigForTheClientIsCutWithTc) {
  make();
  offer("big.example.com", answer_for("big.example.com", 300, 40), kStart);  // ~670 bytes
  const Hit hit = lookup("big.example.com", kStart);
  ASSERT_EQ(hit.freshness, Freshness::Fresh);
  const Bytes plain = reply(hit, query_for("big.example.com"));
  EXPECT_LE(plain.size(), 512u) << "no EDNS: 512 bytes";
  EXPECT_TRUE(parsed(plain).header.has(dns::flag::TC));

  Bytes edns_query =
      Packet().header(1, dns::flag::RD, 1, 0, 0, 1).question("big.example.com").opt(1232).bytes;
  const Bytes large = reply(hit, edns_query);
  EXPECT_GT(large.size(), 512u);
  EXPECT_FALSE(parsed(large).header.has(dns::flag::TC));
  EXPECT_EQ(parsed(large).header.ancount, 40);
}

TEST_F(CacheTest, ExpiredEntriesAreServableAsStaleWithinMaxStale) {
  config_.serve_stale = ServeStaleConfig{.enabled = true, .ttl_s = 30, .max_stale_s = 100};
  make();
  offer("www.example.com", answer_for("www.example.com", 10), kStart);
  const Hit stale = lookup("www.example.com", kStart + 20 * kSecond);
  ASSERT_EQ(stale.freshness, Freshness::Stale);
  EXPECT_EQ(first_record(reply(stale, query_for("www.example.com"))).ttl, 30u)
      << "RFC 8767 §4: stale answers carry the stale TTL";
  EXPECT_EQ(lookup("www.example.com", kStart + 111 * kSecond).freshness, Freshness::Miss);

  cache_->maintain(0, kStart + 111 * kSecond);
  EXPECT_EQ(entries(), 0u) << "the owner's sweep removed it";
  EXPECT_EQ(cache_->shard_counters(0).expired.load(), 1u);
}

TEST_F(CacheTest, AServfailDoesNotReplaceAnAnswerThatCanStillBeServed) {
  config_.serve_stale.enabled = true;
  config_.ttl.servfail_ttl = 5;
  make();
  offer("www.example.com", answer_for("www.example.com", 10), kStart);
  Bytes servfail =
      Packet()
          .header(0x9999, dns::flag::QR | dns::flag::RD | dns::flag::RA | 2, 1, 0, 0, 0)
          .question("www.example.com")
          .bytes;
  offer("www.example.com", servfail, kStart + 20 * kSecond);
  EXPECT_EQ(lookup("www.example.com", kStart + 20 * kSecond).freshness, Freshness::Stale);
  EXPECT_EQ(cache_->shard_counters(0).kept_over_servfail.load(), 1u);
}

TEST_F(CacheTest, PrefetchIsDueInTheLastTenthOfTheTtl) {
  config_.prefetch = PrefetchConfig{.enabled = true, .threshold = 0.1, .min_ttl_s = 10};
  make();
  offer("www.example.com", answer_for("www.example.com", 100), kStart);
  offer("short.example.com", answer_for("short.example.com", 5), kStart);
  EXPECT_FALSE(lookup("www.example.com", kStart + 89 * kSecond).prefetch_due);
  EXPECT_TRUE(lookup("www.example.com", kStart + 91 * kSecond).prefetch_due);
  EXPECT_FALSE(lookup("short.example.com", kStart + 4 * kSecond + kSecond / 2).prefetch_due)
      << "under min_ttl_s: not worth refreshing early";
}

TEST_F(CacheTest, AnswersForAnotherShardReachItsOwnerThroughTheRing) {
  make(2, 2);
  // Find a name owned by shard 1 and offer it from worker 0.
  std::string name;
  for (int i = 0; name.empty(); ++i) {
    const std::string candidate = "h" + std::to_string(i) + ".example.com";
    if (cache_->shard_of(cache_->digest(key_of(candidate.c_str()))) == 1) name = candidate;
  }
  offer(name.c_str(), answer_for(name.c_str(), 300), kStart, 0);
  EXPECT_EQ(cache_->reader_counters(0).handed_over.load(), 1u);
  EXPECT_EQ(lookup(name.c_str(), kStart, 0).freshness, Freshness::Miss) << "not inserted yet";

  cache_->maintain(1, kStart);
  EXPECT_EQ(cache_->shard_counters(1).handovers_received.load(), 1u);
  EXPECT_EQ(lookup(name.c_str(), kStart, 0).freshness, Freshness::Fresh);
  EXPECT_EQ(lookup(name.c_str(), kStart + 10 * kSecond, 1).age_s, 10u)
      << "aged from when the answer arrived, not from the handover";
}

TEST_F(CacheTest, AReaderThatOwnsNoShardHasItsOwnCounters) {
  // The DPDK exception path's TCP worker reads as reader `workers`, past the shards:
  // whoever sums the readers' counters goes to reader_count(), not shard_count().
  make(1, 2);
  EXPECT_EQ(cache_->reader_count(), 2u);
  EXPECT_EQ(lookup("tcp.example.com", kStart, 1).freshness, Freshness::Miss);
  EXPECT_EQ(cache_->reader_counters(1).misses.load(), 1u);
  EXPECT_EQ(cache_->reader_counters(0).misses.load(), 0u);
}

TEST_F(CacheTest, AFullHandoverRingDropsTheInsertInsteadOfWaiting) {
  config_.handover_ring_slots = 1024;
  make(2, 2);
  int offered = 0;
  for (int i = 0; offered < 2000; ++i) {
    const std::string name = "r" + std::to_string(i) + ".example.com";
    if (cache_->shard_of(cache_->digest(key_of(name.c_str()))) != 1) continue;
    offer(name.c_str(), answer_for(name.c_str(), 300), kStart, 0);
    ++offered;
  }
  const ReaderCounters& counters = cache_->reader_counters(0);
  EXPECT_GT(counters.ring_drops.load(), 0u);
  EXPECT_EQ(counters.handed_over.load() + counters.ring_drops.load(), 2000u);
}

TEST_F(CacheTest, FlushAllEmptiesTheCacheAtOnce) {
  make();
  offer("www.example.com", answer_for("www.example.com", 300), kStart);
  cache_->flush_all();
  EXPECT_EQ(lookup("www.example.com", kStart).freshness, Freshness::Miss);
  offer("www.example.com", answer_for("www.example.com", 300), kStart);
  EXPECT_EQ(lookup("www.example.com", kStart).freshness, Freshness::Fresh) << "new answers count";
}

TEST_F(CacheTest, FlushByNameRemovesTheNameAndEverythingBelowIt) {
  make(2, 2);
  const char* names[] = {"example.com", "www.example.com", "a.b.example.com", "notexample.com",
                         "example.org"};
  for (const char* name : names) {
    const unsigned owner = cache_->shard_of(cache_->digest(key_of(name)));
    offer(name, answer_for(name, 300), kStart, owner);
  }
  std::uint8_t wire[dns::kMaxNameWire];
  const std::size_t length = dns::name_from_text("Example.COM", wire);
  const std::uint64_t ticket = cache_->flush_name({wire, length});
  EXPECT_FALSE(cache_->flush_done(ticket));
  for (int loop = 0; loop < 1000 && !cache_->flush_done(ticket); ++loop) {
    cache_->maintain(0, kStart);
    cache_->maintain(1, kStart);
  }
  ASSERT_TRUE(cache_->flush_done(ticket));
  EXPECT_EQ(lookup("example.com", kStart).freshness, Freshness::Miss);
  EXPECT_EQ(lookup("www.example.com", kStart).freshness, Freshness::Miss);
  EXPECT_EQ(lookup("a.b.example.com", kStart).freshness, Freshness::Miss);
  EXPECT_EQ(lookup("notexample.com", kStart).freshness, Freshness::Fresh);
  EXPECT_EQ(lookup("example.org", kStart).freshness, Freshness::Fresh);
}

// Takes every chunk of `walk` while `owner_loop` runs the owners' loops; the
// records in the order given.
std::vector<DumpRecord> walk_all(DumpWalk& walk, const std::function<void()>& owner_loop,
                                 std::size_t* chunks = nullptr) {
  std::vector<DumpRecord> records;
  for (int loop = 0; loop < 100000 && !walk.done(); ++loop) {
    owner_loop();
    while (const auto chunk = walk.next()) {
      EXPECT_LE(chunk->size(), DumpWalk::kChunkEntries);
      records.insert(records.end(), chunk->begin(), chunk->end());
      if (chunks != nullptr) ++*chunks;
      if (walk.done()) break;
    }
  }
  EXPECT_TRUE(walk.done());
  return records;
}

std::string name_of(const DumpRecord& record) {
  char text[dns::kMaxNameWire * 4 + 2];
  dns::name_to_text({record.name, record.name_length}, text);
  return text;
}

// A dump is walked by each shard's owner (here, this thread's maintain calls)
// while the control side waits in another thread.
TEST_F(CacheTest, DumpListsEveryShardsEntriesWalkedByTheirOwners) {
  config_.serve_stale = ServeStaleConfig{.enabled = true, .ttl_s = 30, .max_stale_s = 100};
  make(2, 2);
  const char* names[] = {"a.example.com", "b.example.com", "c.example.com", "d.example.com"};
  for (const char* name : names) offer(name, answer_for(name, 300), kStart);
  for (int loop = 0; loop < 4; ++loop) {
    cache_->maintain(0, kStart);
    cache_->maintain(1, kStart);
  }
  cache_->flush_all();  // entries of an older generation are not listed...
  offer("e.example.com", answer_for("e.example.com", 300), kStart);  // ...new ones are
  offer("f.example.com", answer_for("f.example.com", 5), kStart);    // stale at +10 s
  offer("g.example.com", answer_for("g.example.com", 5), kStart - 200 * kSecond);  // past it
  for (int loop = 0; loop < 4; ++loop) {
    cache_->maintain(0, kStart);
    cache_->maintain(1, kStart);
  }
  std::atomic<bool> done{false};
  std::vector<DumpRecord> records;
  std::thread control([&] {
    DumpWalk walk(*cache_);
    while (!walk.done()) {
      if (const auto chunk = walk.next()) {
        records.insert(records.end(), chunk->begin(), chunk->end());
      }
    }
    done = true;
  });
  while (!done) {
    cache_->maintain(0, kStart + 10 * kSecond);
    cache_->maintain(1, kStart + 10 * kSecond);
  }
  control.join();
  ASSERT_EQ(records.size(), 2u);
  std::sort(records.begin(), records.end(),
            [](const DumpRecord& a, const DumpRecord& b) { return name_of(a) < name_of(b); });
  EXPECT_EQ(name_of(records[0]), "e.example.com.");
  EXPECT_EQ(records[0].qtype, dns::rrtype::A);
  EXPECT_EQ(records[0].qclass, dns::rrclass::IN);
  EXPECT_EQ(records[0].flags, dns::QuestionKey::kRd);
  EXPECT_EQ(records[0].kind, AnswerKind::Positive);
  EXPECT_EQ(records[0].ttl_left_s, 290);
  EXPECT_GT(records[0].bytes, 0);
  EXPECT_EQ(records[0].shard, cache_->shard_of(cache_->digest(key_of("e.example.com"))));
  EXPECT_EQ(name_of(records[1]), "f.example.com.");
  EXPECT_EQ(records[1].ttl_left_s, -5);  // expired 5 s ago, served stale
}

TEST_F(CacheTest, DumpWalksAShardLargerThanAChunkListingEachEntryOnceWhileItsOwnerInserts) {
  config_.max_entries = 40000;
  make(1, 1);
  constexpr int kBefore = 10000;  // about 2.5 chunks
  for (int i = 0; i < kBefore; ++i) {
    const std::string name = "n" + std::to_string(i) + ".example.com";
    offer(name.c_str(), answer_for(name.c_str(), 300), kStart);
  }
  ASSERT_EQ(entries(), static_cast<std::uint64_t>(kBefore));
  DumpWalk walk(*cache_);
  int added = 0;
  std::size_t chunks = 0;
  const std::vector<DumpRecord> records = walk_all(
      walk,
      [&] {
        // Between two steps of the walk, the owner inserts more (into free slots
        // on either side of its cursor) and replaces nothing present.
        for (int i = 0; i < 40; ++i, ++added) {
          const std::string name = "new" + std::to_string(added) + ".example.com";
          offer(name.c_str(), answer_for(name.c_str(), 300), kStart);
        }
        cache_->maintain(0, kStart);
      },
      &chunks);
  EXPECT_GE(chunks, 3u);
  std::map<std::string, int> seen;
  for (const DumpRecord& record : records) ++seen[name_of(record)];
  for (int i = 0; i < kBefore; ++i) {
    EXPECT_EQ(seen["n" + std::to_string(i) + ".example.com."], 1) << i;
  }
  for (const auto& [name, count] : seen) EXPECT_EQ(count, 1) << name;
  EXPECT_GE(records.size(), static_cast<std::size_t>(kBefore));
  EXPECT_LE(records.size(), static_cast<std::size_t>(kBefore + added));
}

TEST_F(CacheTest, OneDumpAtATimeAndAnAbandonedOneDoesNotSpoilTheNext) {
  make(2, 2);
  for (int i = 0; i < 6000; ++i) {
    const std::string name = "n" + std::to_string(i) + ".example.com";
    // Each by its shard's owner: a handover ring would drop some.
    offer(name.c_str(), answer_for(name.c_str(), 300), kStart,
          cache_->shard_of(cache_->digest(key_of(name.c_str()))));
  }
  ASSERT_EQ(cache_->shard_counters(0).entries + cache_->shard_counters(1).entries, 6000u);
  const auto owners = [&] {
    cache_->maintain(0, kStart);
    cache_->maintain(1, kStart);
  };
  for (int loop = 0; loop < 4; ++loop) owners();
  {
    DumpWalk first(*cache_);
    EXPECT_THROW(DumpWalk second(*cache_), std::runtime_error);
    std::optional<std::span<const DumpRecord>> chunk;
    for (int loop = 0; loop < 100 && !chunk; ++loop) {
      owners();
      chunk = first.next();
    }
    ASSERT_TRUE(chunk.has_value());
    static_cast<void>(first.next());  // gives the chunk back: the next is asked for
    owners();                         // and half filled
  }                                   // abandoned with a chunk asked for and not taken
  DumpWalk again(*cache_);
  const std::vector<DumpRecord> records = walk_all(again, owners);
  std::set<std::string> names;
  for (const DumpRecord& record : records) names.insert(name_of(record));
  EXPECT_EQ(records.size(), 6000u);
  EXPECT_EQ(names.size(), 6000u);
}

TEST_F(CacheTest, DumpWaitsForOwnersThatHaveNotLoopedAndShowsEachLoopsStep) {
  make(2, 2);  // 500,000 slots a shard: several steps each
  offer("a.example.com", answer_for("a.example.com", 300), kStart);
  DumpWalk walk(*cache_);
  EXPECT_FALSE(walk.next().has_value());  // nobody walked anything yet
  EXPECT_FALSE(walk.done());
  // One loop of each owner: a step each, handed over even with nothing in it,
  // so that a sparse shard shows progress.
  cache_->maintain(0, kStart);
  cache_->maintain(1, kStart);
  std::size_t total = 0;
  for (int shard = 0; shard < 2; ++shard) {
    const auto chunk = walk.next();
    ASSERT_TRUE(chunk.has_value()) << shard;
    total += chunk->size();
  }
  EXPECT_FALSE(walk.next().has_value());  // each owner's next step is a loop away
  EXPECT_FALSE(walk.done());
  for (int loop = 0; loop < 100 && !walk.done(); ++loop) {
    cache_->maintain(0, kStart);
    cache_->maintain(1, kStart);
    while (const auto chunk = walk.next()) total += chunk->size();
  }
  EXPECT_TRUE(walk.done());
  EXPECT_EQ(total, 1u);
}

TEST_F(CacheTest, DoAndCdQueriesHaveTheirOwnEntries) {
  make();
  offer("www.example.com", answer_for("www.example.com", 300), kStart);
  const Bytes do_query = Packet()
                             .header(1, dns::flag::RD, 1, 0, 0, 1)
                             .question("www.example.com")
                             .opt(1232, true)
                             .bytes;
  const dns::QuestionKey key = dns::QuestionKey::of(parsed(do_query));
  const Probe probe{cache_->digest(key), &key};
  Hit hit;
  cache_->lookup(0, {&probe, 1}, kStart, {&hit, 1});
  EXPECT_EQ(hit.freshness, Freshness::Miss) << "docs/architecture.md §8.1: DO is part of the key";
}

TEST_F(CacheTest, RefusesConfigurationsItCannotHonour) {
  config_.handover_ring_slots = 1000;
  EXPECT_THROW(Cache(config_, 1, 1, 1), std::invalid_argument);
  config_.handover_ring_slots = 2048;
  EXPECT_THROW(Cache(config_, 2, 1, 1), std::invalid_argument) << "fewer readers than shards";
}

}  // namespace
}  // namespace heimdall::cache
