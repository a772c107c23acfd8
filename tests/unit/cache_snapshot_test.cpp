// Warm restarts: a cache saved through its owners' walk and restored into a new
// cache (another digest seed, as a new process has), TTLs aged by the time down;
// and every way a snapshot file can be wrong refused before anything is restored.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cache_fixture.hpp"
#include "heimdall/cache/dump.hpp"
#include "heimdall/cache/snapshot.hpp"

namespace heimdall::cache {
namespace {

constexpr std::uint64_t kWall = 1'800'000'000 * kSecond;  // the wall clock when saved

class CacheSnapshotTest : public CacheTest {
 protected:
  void SetUp() override {
    directory_ = std::filesystem::temp_directory_path() /
                 ("heimdall-snapshot-" + std::to_string(::getpid()));
    std::filesystem::create_directories(directory_);
    path_ = (directory_ / "cache.snap").string();
  }
  void TearDown() override {
    CacheTest::TearDown();
    std::filesystem::remove_all(directory_);
  }

  // Saves cache_ as its owners walk it at monotonic `now`; the entries written.
  std::uint64_t save(SnapshotClock clock) {
    DumpWalk walk(*cache_, DumpContent::WithAnswers);
    SnapshotWriter writer(path_, clock);
    for (int loop = 0; loop < 100000 && !walk.done(); ++loop) {
      for (unsigned owner = 0; owner < cache_->shard_count(); ++owner) {
        cache_->maintain(owner, clock.monotonic_ns);
      }
      while (const auto chunk = walk.next()) writer.add(*chunk, walk.answers());
    }
    EXPECT_TRUE(walk.done());
    writer.commit();
    return writer.entries();
  }
  // A new cache, as the next process builds it, with the snapshot restored.
  SnapshotLoad restart(SnapshotClock clock, unsigned shards = 3) {
    fresh(shards);
    return load_snapshot(*cache_, path_, clock);
  }
  std::vector<char> file() const {
    std::ifstream in(path_, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }
  void write_file(const std::vector<char>& bytes) const {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  // A new empty cache; the old one's readers unregistered first.
  void fresh(unsigned shards) {
    if (cache_) CacheTest::TearDown();
    make(shards, shards);
  }
  std::string refusal(SnapshotClock clock) {
    fresh(2);
    try {
      load_snapshot(*cache_, path_, clock);
    } catch (const SnapshotError& error) {
      EXPECT_EQ(cache_->shard_counters(0).entries.load() + cache_->shard_counters(1).entries.load(),
                0u)
          << "a refused snapshot restores nothing";
      return error.what();
    }
    return "(loaded)";
  }

  std::filesystem::path directory_;
  std::string path_;
};

TEST_F(CacheSnapshotTest, EveryLiveEntryComesBackInANewCacheWithItsTtlAgedByTheTimeDown) {
  make(2, 2);
  std::vector<std::string> names;
  for (int i = 0; i < 5000; ++i) names.push_back("n" + std::to_string(i) + ".example.com");
  for (std::size_t i = 0; i < names.size(); ++i) {
    offer(names[i].c_str(), answer_for(names[i].c_str(), 300, 1, static_cast<std::uint8_t>(i)),
          kStart, static_cast<unsigned>(i % 2));
    // The owners take handed-over answers before their rings fill.
    if (i % 256 == 255) {
      for (unsigned owner = 0; owner < 2; ++owner) cache_->maintain(owner, kStart);
    }
  }
  offer("nx.example.com", negative_for("nx.example.com", 3 /*NXDOMAIN*/, 3600, 600), kStart);
  for (unsigned owner = 0; owner < 2; ++owner) cache_->maintain(owner, kStart);

  // Saved 10 s after the answers arrived; restored 100 s later after a reboot,
  // when the monotonic clock starts again near zero.
  EXPECT_EQ(save({.wall_ns = kWall, .monotonic_ns = kStart + 10 * kSecond}), names.size() + 1);
  const std::uint64_t boot = 5 * kSecond;
  const SnapshotLoad load = restart({.wall_ns = kWall + 100 * kSecond, .monotonic_ns = boot});
  EXPECT_EQ(load.restored, names.size() + 1);
  EXPECT_EQ(load.expired, 0u);
  EXPECT_EQ(load.saved_at_wall_ns, kWall);

  for (std::size_t i = 0; i < names.size(); i += 97) {
    const Hit hit = lookup(names[i].c_str(), boot, static_cast<unsigned>(i % 3));
    ASSERT_EQ(hit.freshness, Freshness::Fresh) << names[i];
    EXPECT_EQ(hit.ttl_s, 190u) << "300 s less 10 before the save and 100 down";
    const FirstRecord first = first_record(reply(hit, query_for(names[i].c_str())));
    EXPECT_EQ(first.ttl, 190u);
    EXPECT_EQ(first.last_octet, static_cast<std::uint8_t>(i)) << "its own answer";
  }
  const Hit nx = lookup("nx.example.com", boot + 30 * kSecond);
  ASSERT_EQ(nx.freshness, Freshness::Fresh);
  const Bytes out = reply(nx, query_for("nx.example.com"));
  EXPECT_EQ(out[3] & 0x0f, 3) << "still NXDOMAIN";
  EXPECT_EQ(lookup("n1.example.com", boot + 190 * kSecond).freshness, Freshness::Miss)
      << "and it expires when it would have without the restart";
}

TEST_F(CacheSnapshotTest, EntriesThatExpiredWhileDownAreLeftOut) {
  make(1, 1);
  offer("short.example.com", answer_for("short.example.com", 60), kStart);
  offer("long.example.com", answer_for("long.example.com", 3600), kStart);
  offer("gone.example.com", answer_for("gone.example.com", 5), kStart);
  EXPECT_EQ(save({.wall_ns = kWall, .monotonic_ns = kStart + 10 * kSecond}), 2u)
      << "an entry already expired when saved is not written";
  const SnapshotLoad load = restart({.wall_ns = kWall + 120 * kSecond, .monotonic_ns = kStart});
  EXPECT_EQ(load.restored, 1u);
  EXPECT_EQ(load.expired, 1u);
  EXPECT_EQ(lookup("long.example.com", kStart).freshness, Freshness::Fresh);
  EXPECT_EQ(lookup("short.example.com", kStart).freshness, Freshness::Miss);
}

TEST_F(CacheSnapshotTest, ACacheSmallerThanTheSnapshotKeepsWhatFitsAndCountsTheRest) {
  make(1, 1);
  for (int i = 0; i < 200; ++i) {
    const std::string name = "n" + std::to_string(i) + ".example.com";
    offer(name.c_str(), answer_for(name.c_str(), 300), kStart);
  }
  ASSERT_EQ(save({.wall_ns = kWall, .monotonic_ns = kStart}), 200u);
  config_.max_entries = 64;
  const SnapshotLoad load = restart({.wall_ns = kWall, .monotonic_ns = kStart}, 1);
  EXPECT_EQ(load.restored + load.no_room, 200u);
  EXPECT_LE(cache_->shard_counters(0).entries.load(), 64u);
}

TEST_F(CacheSnapshotTest, CorruptTruncatedForeignAndOtherVersionFilesAreRefusedWithTheReason) {
  make(2, 2);
  for (int i = 0; i < 50; ++i) {
    const std::string name = "n" + std::to_string(i) + ".example.com";
    offer(name.c_str(), answer_for(name.c_str(), 300), kStart, static_cast<unsigned>(i % 2));
  }
  for (unsigned owner = 0; owner < 2; ++owner) cache_->maintain(owner, kStart);
  ASSERT_EQ(save({.wall_ns = kWall, .monotonic_ns = kStart}), 50u);
  const std::vector<char> good = file();
  const SnapshotClock later{.wall_ns = kWall + kSecond, .monotonic_ns = kStart};

  std::vector<char> bad = good;
  bad[good.size() / 2] ^= 0x40;
  write_file(bad);
  EXPECT_NE(refusal(later).find("corrupt (the entries' checksum"), std::string::npos);

  bad = good;
  bad[24] ^= 1;  // the entry count
  write_file(bad);
  EXPECT_NE(refusal(later).find("corrupt (its header's checksum"), std::string::npos);

  bad.assign(good.begin(), good.end() - 7);
  write_file(bad);
  EXPECT_NE(refusal(later).find("truncated"), std::string::npos);

  const std::string text = "; a zone file, not a snapshot\nexample.com. 300 IN A 192.0.2.1\n";
  write_file({text.begin(), text.end()});
  EXPECT_NE(refusal(later).find("not a Heimdall cache snapshot"), std::string::npos);

  write_file({});
  EXPECT_NE(refusal(later).find("not a Heimdall cache snapshot"), std::string::npos);

  bad = good;
  bad[8] = 2;  // the format version
  write_file(bad);
  EXPECT_NE(refusal(later).find("format version 2; this build reads version 1"), std::string::npos);

  std::filesystem::remove(path_);
  EXPECT_NE(refusal(later).find("cannot open"), std::string::npos);

  write_file(good);
  EXPECT_EQ(refusal(later), "(loaded)") << "the untouched file still loads";
}

TEST_F(CacheSnapshotTest, AWriteThatIsNotCommittedLeavesTheEarlierSnapshotWhole) {
  make(1, 1);
  offer("www.example.com", answer_for("www.example.com", 300), kStart);
  ASSERT_EQ(save({.wall_ns = kWall, .monotonic_ns = kStart}), 1u);
  const std::vector<char> first = file();
  { SnapshotWriter abandoned(path_, {.wall_ns = kWall, .monotonic_ns = kStart}); }
  EXPECT_EQ(file(), first);
  EXPECT_FALSE(std::filesystem::exists(path_ + ".tmp"));
  EXPECT_THROW(SnapshotWriter((directory_ / "missing" / "cache.snap").string(),
                              {.wall_ns = kWall, .monotonic_ns = kStart}),
               SnapshotError);
}

}  // namespace
}  // namespace heimdall::cache
