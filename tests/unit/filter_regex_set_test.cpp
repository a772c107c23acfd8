#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "heimdall/filter/regex_set.hpp"
#include "wire_builder.hpp"

namespace heimdall::filter {
namespace {

using Verdict = Decision::Verdict;

Decision match(const RegexSet& set, const std::string& name, unsigned worker = 0) {
  return set.match(testing::folded_key(name), worker);
}

RegexSet build(std::initializer_list<std::pair<const char*, Action>> rules, unsigned workers = 1) {
  RegexSetBuilder builder;
  std::uint16_t list = 0;
  for (const auto& [pattern, action] : rules) {
    std::string error;
    EXPECT_TRUE(builder.add(pattern, action, list++, &error)) << pattern << ": " << error;
  }
  return builder.build(workers);
}

TEST(RegexSet, BlocksTheNamesAPatternMatches) {
  const RegexSet set = build({{R"((^|\.)doubleclick\.net$)", Action::Block}});
  EXPECT_EQ(set.size(), 1u);
  EXPECT_EQ(match(set, "doubleclick.net").verdict, Verdict::Block);
  EXPECT_EQ(match(set, "ad.doubleclick.net").verdict, Verdict::Block);
  EXPECT_EQ(match(set, "notdoubleclick.net").verdict, Verdict::None);
  EXPECT_EQ(match(set, "doubleclick.net.example").verdict, Verdict::None)
      << "the text has no trailing dot, so `$` sits after the last label";
}

TEST(RegexSet, AnAllowBeatsABlockWhereverEachMatches) {
  const RegexSet set = build({{R"(^ads\.)", Action::Block},                    // list 0
                              {R"(\.example\.com$)", Action::Allow},           // list 1
                              {R"(^good\.)", Action::Allow},                   // list 2
                              {R"(tracker\.example\.org$)", Action::Block}});  // list 3
  // The block matches first in the text, the allow at its end: the scan goes on.
  const Decision late = match(set, "ads.example.com");
  EXPECT_EQ(late.verdict, Verdict::Allow);
  EXPECT_EQ(late.list, 1);
  // The allow matches first and stops the scan before the block.
  const Decision early = match(set, "good.tracker.example.org");
  EXPECT_EQ(early.verdict, Verdict::Allow);
  EXPECT_EQ(early.list, 2);
  EXPECT_EQ(match(set, "ads.example.net").verdict, Verdict::Block);
  EXPECT_EQ(match(set, "x.tracker.example.org").list, 3);
}

TEST(RegexSet, ReportsTheLowestListAmongTheBlocksThatMatch) {
  RegexSetBuilder builder;
  ASSERT_TRUE(builder.add("tracker", Action::Block, 7));
  ASSERT_TRUE(builder.add(R"(\.net$)", Action::Block, 4));
  ASSERT_TRUE(builder.add("^metrics", Action::Block, 9));
  const RegexSet set = builder.build(1);
  const Decision both = match(set, "metrics.tracker.net");
  EXPECT_EQ(both.verdict, Verdict::Block);
  EXPECT_EQ(both.list, 4);
  EXPECT_EQ(match(set, "metrics.tracker.com").list, 7);
  EXPECT_EQ(match(set, "metrics.example.com").list, 9);
  EXPECT_EQ(both.data, kNoIndex) << "a regex block uses its list's response";
}

TEST(RegexSet, AnchorsApplyToTheDottedName) {
  const RegexSet set = build({{R"(^ad[0-9]+\.)", Action::Block}});
  EXPECT_EQ(match(set, "ad12.example.com").verdict, Verdict::Block);
  EXPECT_EQ(match(set, "bad12.example.com").verdict, Verdict::None);
  EXPECT_EQ(match(set, "x.ad12.example.com").verdict, Verdict::None);
  EXPECT_EQ(match(set, "ad.example.com").verdict, Verdict::None);
}

TEST(RegexSet, MatchesWhateverTheCaseOfQueryAndPattern) {
  const RegexSet set =
      build({{R"(^ad[0-9]+\.example\.com$)", Action::Block}, {R"(^TELEMETRY\.)", Action::Block}});
  EXPECT_EQ(match(set, "AD12.Example.COM").verdict, Verdict::Block);
  EXPECT_EQ(match(set, "telemetry.example.org").verdict, Verdict::Block);
  EXPECT_EQ(match(set, "TeLeMeTrY.example.org").verdict, Verdict::Block);
}

TEST(RegexSet, RejectsABadPatternAloneAndBuildsTheRest) {
  RegexSetBuilder builder;
  std::string error;
  EXPECT_TRUE(builder.add(R"(^ads\.)", Action::Block, 0, &error));
  EXPECT_FALSE(builder.add("(unclosed", Action::Block, 0, &error));
  EXPECT_NE(error.find("parenthesis"), std::string::npos) << error;
  EXPECT_FALSE(builder.add("[z-a]", Action::Block, 0));  // no error wanted: no crash either
  EXPECT_TRUE(builder.add(R"(\.tracker\.)", Action::Block, 1, &error));
  EXPECT_EQ(builder.size(), 2u);
  const RegexSet set = builder.build(1);
  EXPECT_EQ(set.size(), 2u);
  EXPECT_EQ(match(set, "ads.example.com").verdict, Verdict::Block);
  EXPECT_EQ(match(set, "a.tracker.example").list, 1);
}

TEST(RegexSet, RejectsWhatHyperscanDoesNotSupport) {
  RegexSetBuilder builder;
  std::string error;
  EXPECT_FALSE(builder.add(R"((a)\1)", Action::Block, 0, &error));
  EXPECT_NE(error.find("Back-reference"), std::string::npos) << error;
  EXPECT_FALSE(builder.add("ads(?=\\.)", Action::Block, 0, &error)) << "lookahead";
  EXPECT_FALSE(builder.add("(?<!x)ads", Action::Block, 0, &error)) << "lookbehind";
  EXPECT_EQ(builder.size(), 0u);
}

TEST(RegexSet, RejectsPatternsThatWouldMatchEveryName) {
  RegexSetBuilder builder;
  std::string error;
  EXPECT_FALSE(builder.add(".*", Action::Block, 0, &error));
  EXPECT_NE(error.find("empty string"), std::string::npos) << error;
  EXPECT_FALSE(builder.add("", Action::Block, 0));
  EXPECT_FALSE(builder.add("ads?|", Action::Block, 0));
  EXPECT_FALSE(builder.add(std::string_view("ads\0x", 5), Action::Block, 0, &error))
      << "a NUL would cut the pattern short";
  EXPECT_EQ(builder.size(), 0u);
}

TEST(RegexSet, AnEmptySetMatchesNothing) {
  const RegexSet unbuilt;
  EXPECT_EQ(unbuilt.size(), 0u);
  EXPECT_EQ(unbuilt.memory_bytes(), 0u);
  EXPECT_EQ(match(unbuilt, "ads.example.com").verdict, Verdict::None);
  const RegexSet built = RegexSetBuilder().build(4);
  EXPECT_EQ(built.size(), 0u);
  EXPECT_EQ(built.memory_bytes(), 0u);
  EXPECT_EQ(match(built, "ads.example.com", 3).verdict, Verdict::None);
}

TEST(RegexSet, TheRootAndMalformedKeysMatchNothing) {
  const RegexSet set = build({{"[a-z0-9]", Action::Block}});
  EXPECT_EQ(match(set, "a").verdict, Verdict::Block);
  EXPECT_EQ(match(set, ".").verdict, Verdict::None);
  dns::NameKey empty;  // length 0
  EXPECT_EQ(set.match(empty, 0).verdict, Verdict::None);
  dns::NameKey overrun;  // a label that runs past the key's length
  overrun.length = 3;
  overrun.wire[0] = 5;
  overrun.wire[1] = 'a';
  overrun.wire[2] = 'b';
  EXPECT_EQ(set.match(overrun, 0).verdict, Verdict::None);
}

TEST(RegexSet, TheLongestNameFitsTheTextBuffer) {
  const RegexSet set = build({{R"(^a{63}\.b{63}\.c{63}\.d{60}x$)", Action::Block}});
  const std::string name = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                           std::string(63, 'c') + "." + std::string(60, 'd') + "x";
  ASSERT_EQ(name.size(), 253u);
  const dns::NameKey key = testing::folded_key(name);
  ASSERT_EQ(key.length, dns::kMaxNameWire);
  EXPECT_EQ(set.match(key, 0).verdict, Verdict::Block);
}

TEST(RegexSet, AWorkerOutOfRangeGetsNoDecision) {
  const RegexSet set = build({{"ads", Action::Block}}, 2);
  EXPECT_EQ(set.workers(), 2u);
  EXPECT_EQ(match(set, "ads.example", 1).verdict, Verdict::Block);
  EXPECT_EQ(match(set, "ads.example", 2).verdict, Verdict::None);
  EXPECT_THROW(RegexSetBuilder().build(0), std::invalid_argument);
}

TEST(RegexSet, CountsTheScratchOfEveryWorker) {
  RegexSetBuilder builder;
  ASSERT_TRUE(builder.add(R"(^ad[0-9]+\.)", Action::Block, 0));
  ASSERT_TRUE(builder.add(R"((^|\.)tracker\.)", Action::Block, 0));
  const RegexSet one = builder.build(1);
  const RegexSet three = builder.build(3);
  EXPECT_GT(one.memory_bytes(), 0u);
  EXPECT_GT(three.memory_bytes(), one.memory_bytes());
}

TEST(RegexSet, MovingHandsTheDatabaseOver) {
  RegexSet set = build({{"ads", Action::Block}});
  RegexSet moved(std::move(set));
  EXPECT_EQ(match(moved, "ads.example").verdict, Verdict::Block);
  EXPECT_EQ(match(set, "ads.example").verdict, Verdict::None);  // NOLINT(bugprone-use-after-move)
  RegexSet assigned = build({{"other", Action::Block}});
  assigned = std::move(moved);
  EXPECT_EQ(match(assigned, "ads.example").verdict, Verdict::Block);
  EXPECT_EQ(match(assigned, "other.example").verdict, Verdict::None);
  EXPECT_EQ(assigned.size(), 1u);
}

// Each worker scans with its own scratch: two threads at once over the same
// database must neither collide (Hyperscan returns HS_SCRATCH_IN_USE, seen here as
// a missing decision) nor race (this test also runs under TSan).
TEST(RegexSet, WorkersScanConcurrentlyEachWithItsOwnScratch) {
  const RegexSet set = build({{R"(^ad[0-9]+\.)", Action::Block},
                              {R"(^ad7[0-9]*\.)", Action::Allow},
                              {R"((^|\.)tracker\.example$)", Action::Block}},
                             2);
  std::vector<dns::NameKey> names;
  std::vector<Verdict> expected;
  for (int i = 0; i < 2000; ++i) {
    const std::string n = std::to_string(i);
    names.push_back(testing::folded_key("ad" + n + ".example.com"));
    expected.push_back(n.front() == '7' ? Verdict::Allow : Verdict::Block);
    names.push_back(testing::folded_key("host" + n + ".example.com"));
    expected.push_back(Verdict::None);
    names.push_back(testing::folded_key("x" + n + ".tracker.example"));
    expected.push_back(Verdict::Block);
  }
  std::atomic<int> ready{0};
  auto run = [&](unsigned worker, std::size_t& wrong) {
    ready.fetch_add(1);
    while (ready.load() < 2) {
    }
    for (int round = 0; round < 20; ++round) {
      for (std::size_t i = 0; i < names.size(); ++i) {
        if (set.match(names[i], worker).verdict != expected[i]) ++wrong;
      }
    }
  };
  std::size_t wrong0 = 0;
  std::size_t wrong1 = 0;
  std::thread t0(run, 0u, std::ref(wrong0));
  std::thread t1(run, 1u, std::ref(wrong1));
  t0.join();
  t1.join();
  EXPECT_EQ(wrong0, 0u);
  EXPECT_EQ(wrong1, 0u);
}

}  // namespace
}  // namespace heimdall::filter
