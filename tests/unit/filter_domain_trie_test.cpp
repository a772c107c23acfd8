#include <gtest/gtest.h>

#include <bit>
#include <string>
#include <vector>

#include "heimdall/filter/domain_trie.hpp"
#include "wire_builder.hpp"

namespace heimdall::filter {
namespace {

using Verdict = Decision::Verdict;

Verdict verdict(const DomainTrie& trie, const std::string& name) {
  return trie.lookup(testing::folded_key(name)).verdict;
}

TEST(DomainTrie, ExactRulesMatchOnlyTheirName) {
  TrieBuilder builder;
  ASSERT_TRUE(builder.add_text("tracker.example.com", Action::Block, Scope::Exact, 1));
  const DomainTrie trie = builder.build(42);
  EXPECT_EQ(verdict(trie, "tracker.example.com"), Verdict::Block);
  EXPECT_EQ(verdict(trie, "a.tracker.example.com"), Verdict::None);
  EXPECT_EQ(verdict(trie, "example.com"), Verdict::None);
}

TEST(DomainTrie, SubtreeRulesMatchTheNameAndEverythingBelow) {
  TrieBuilder builder;
  builder.add_text("ads.example.com", Action::Block, Scope::Subtree, 3);
  const DomainTrie trie = builder.build(42);
  EXPECT_EQ(verdict(trie, "ads.example.com"), Verdict::Block);
  EXPECT_EQ(verdict(trie, "x.y.ads.example.com"), Verdict::Block);
  EXPECT_EQ(trie.lookup(testing::folded_key("x.ads.example.com")).list, 3);
  EXPECT_EQ(verdict(trie, "example.com"), Verdict::None);
}

TEST(DomainTrie, BelowRulesSpareTheNameItself) {
  TrieBuilder builder;
  builder.add_text("example.com", Action::Block, Scope::Below, 1);
  const DomainTrie trie = builder.build(42);
  EXPECT_EQ(verdict(trie, "example.com"), Verdict::None) << "*.example.com is not example.com";
  EXPECT_EQ(verdict(trie, "www.example.com"), Verdict::Block);
  EXPECT_EQ(verdict(trie, "a.b.example.com"), Verdict::Block);
}

TEST(DomainTrie, ASuffixThatIsNotASubdomainDoesNotMatch) {
  TrieBuilder builder;
  builder.add_text("ads.example.com", Action::Block, Scope::Subtree, 1);
  const DomainTrie trie = builder.build(42);
  EXPECT_EQ(verdict(trie, "notads.example.com"), Verdict::None);
  EXPECT_EQ(verdict(trie, "ads.example.com.evil"), Verdict::None);
}

TEST(DomainTrie, ADeeperAllowPassesInsideABlockedSubtree) {
  TrieBuilder builder;
  builder.add_text("ads.example.com", Action::Block, Scope::Subtree, 1);
  builder.add_text("good.ads.example.com", Action::Allow, Scope::Exact, 2);
  const DomainTrie trie = builder.build(42);
  EXPECT_EQ(verdict(trie, "good.ads.example.com"), Verdict::Allow);
  EXPECT_EQ(trie.lookup(testing::folded_key("good.ads.example.com")).list, 2);
  EXPECT_EQ(verdict(trie, "bad.ads.example.com"), Verdict::Block);
  EXPECT_EQ(verdict(trie, "x.good.ads.example.com"), Verdict::Block) << "an exact allow";
}

TEST(DomainTrie, AnAllowedSubtreeBeatsEveryBlockInsideIt) {
  TrieBuilder builder;
  builder.add_text("tracker.example.com", Action::Block, Scope::Exact, 1);
  builder.add_text("deep.tracker.example.com", Action::Block, Scope::Subtree, 1);
  builder.add_text("example.com", Action::Allow, Scope::Subtree, 2);
  const DomainTrie trie = builder.build(42);
  EXPECT_EQ(verdict(trie, "tracker.example.com"), Verdict::Allow);
  EXPECT_EQ(verdict(trie, "x.deep.tracker.example.com"), Verdict::Allow);
}

TEST(DomainTrie, ExactAndSubtreeAllowOnTheSameNameAsABlock) {
  TrieBuilder builder;
  builder.add_text("both.example", Action::Block, Scope::Subtree, 1);
  builder.add_text("both.example", Action::Allow, Scope::Exact, 2);
  const DomainTrie trie = builder.build(42);
  EXPECT_EQ(verdict(trie, "both.example"), Verdict::Allow) << "allow wins at the same label";
  EXPECT_EQ(verdict(trie, "sub.both.example"), Verdict::Block);
  EXPECT_EQ(trie.nodes(), 1u) << "one node carries both rules";
}

TEST(DomainTrie, RulesAndQueriesAreCaseInsensitive) {
  TrieBuilder builder;
  builder.add_text("Ads.Example.COM", Action::Block, Scope::Exact, 1);
  const DomainTrie trie = builder.build(42);
  EXPECT_EQ(verdict(trie, "ADS.example.com"), Verdict::Block);
}

TEST(DomainTrie, TheLowestListWithARuleDecides) {
  TrieBuilder builder;
  builder.add_text("dup.example", Action::Block, Scope::Subtree, 8);
  builder.add_text("dup.example", Action::Block, Scope::Exact, 7);
  const DomainTrie trie = builder.build(42);
  EXPECT_EQ(trie.rules(), 2u);
  EXPECT_EQ(trie.nodes(), 1u);
  EXPECT_EQ(trie.lookup(testing::folded_key("dup.example")).list, 7);
  EXPECT_EQ(trie.lookup(testing::folded_key("x.dup.example")).list, 8) << "7 is exact only";
}

TEST(DomainTrie, OnlyTheListsGivenToALookupMatch) {
  TrieBuilder builder;
  builder.add_text("ads.example.com", Action::Block, Scope::Subtree, 1);
  builder.add_text("ads.example.com", Action::Block, Scope::Subtree, 3);
  builder.add_text("good.ads.example.com", Action::Allow, Scope::Exact, 2);
  const DomainTrie trie = builder.build(42);
  const auto lookup = [&](const char* name, ListMask lists) {
    return trie.lookup(testing::folded_key(name), lists);
  };
  const ListMask one = 1u << 1, two = 1u << 2, three = 1u << 3;
  EXPECT_EQ(lookup("x.ads.example.com", one | three).list, 1);
  EXPECT_EQ(lookup("x.ads.example.com", three).list, 3);
  EXPECT_EQ(lookup("x.ads.example.com", two).verdict, Verdict::None);
  EXPECT_EQ(lookup("good.ads.example.com", one).verdict, Verdict::Block)
      << "the allowlist is not the client's";
  EXPECT_EQ(lookup("good.ads.example.com", one | two).verdict, Verdict::Allow);
  EXPECT_EQ(lookup("x.ads.example.com", 0).verdict, Verdict::None);
  EXPECT_FALSE(builder.add_text("too.high", Action::Block, Scope::Exact, kMaxLists));
}

TEST(DomainTrie, ManyDistinctCombinationsOfListsStayApart) {
  // More distinct (list set, scope) combinations than a 16-bit index holds.
  TrieBuilder builder;
  std::vector<ListMask> expected;
  std::uint64_t state = 12345;
  for (int i = 0; i < 70000; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const ListMask lists = (state >> 20) & 0x1ffff;  // a random subset of 17 lists
    expected.push_back(lists);
    const std::string name = "n" + std::to_string(i) + ".test";
    for (unsigned list = 0; list < 17; ++list) {
      if (lists & (ListMask{1} << list)) {
        builder.add_text(name.c_str(), Action::Block, Scope::Exact,
                         static_cast<std::uint16_t>(list));
      }
    }
  }
  const DomainTrie trie = builder.build(3);
  for (int i = 0; i < 70000; ++i) {
    const dns::NameKey key = testing::folded_key("n" + std::to_string(i) + ".test");
    for (const ListMask client : {ListMask{0x1ffff}, ListMask{0x10000}, ListMask{0x00f0f}}) {
      const Decision decision = trie.lookup(key, client);
      const ListMask matching = expected[i] & client;
      if (matching == 0) {
        ASSERT_EQ(decision.verdict, Verdict::None) << i;
      } else {
        ASSERT_EQ(decision.verdict, Verdict::Block) << i;
        ASSERT_EQ(decision.list, std::countr_zero(matching)) << i;
      }
    }
  }
}

TEST(DomainTrie, LocalRecordsWinOverEveryRuleAtTheirExactName) {
  TrieBuilder builder;
  const auto wire = [](const char* text) { return testing::folded_key(text); };
  builder.add_text("lan", Action::Block, Scope::Subtree, 0);
  const dns::NameKey router = wire("router.lan");
  ASSERT_TRUE(builder.add_local({router.wire, router.length}, 9));
  const DomainTrie trie = builder.build(42);
  const Decision local = trie.lookup(wire("ROUTER.lan"));
  EXPECT_EQ(local.verdict, Verdict::Local);
  EXPECT_EQ(local.data, 9);
  EXPECT_EQ(verdict(trie, "x.router.lan"), Verdict::Block) << "local records are exact";
}

TEST(DomainTrie, AWildcardAnswersNamesBelowItsOwnerThatNothingElseDecides) {
  TrieBuilder builder;
  const auto add = [&](const char* text, std::uint16_t data, bool below) {
    const dns::NameKey name = testing::folded_key(text);
    return below ? builder.add_local_below({name.wire, name.length}, data)
                 : builder.add_local({name.wire, name.length}, data);
  };
  ASSERT_TRUE(add("bench.test", 3, true));       // *.bench.test
  ASSERT_TRUE(add("deep.bench.test", 4, true));  // *.deep.bench.test
  ASSERT_TRUE(add("exact.bench.test", 5, false));
  ASSERT_TRUE(add("deep.bench.test", 4, false));  // deep.bench.test's own records
  builder.add_text("ads.bench.test", Action::Block, Scope::Subtree, 0);
  const DomainTrie trie = builder.build(42);

  const Decision any = trie.lookup(testing::folded_key("A.B.bench.TEST"));
  EXPECT_EQ(any.verdict, Verdict::Local);
  EXPECT_EQ(any.data, 3);
  EXPECT_TRUE(any.wildcard);
  const Decision deeper = trie.lookup(testing::folded_key("x.deep.bench.test"));
  EXPECT_EQ(deeper.data, 4) << "the deepest wildcard";
  EXPECT_TRUE(deeper.wildcard);
  const Decision exact = trie.lookup(testing::folded_key("exact.bench.test"));
  EXPECT_EQ(exact.data, 5);
  EXPECT_FALSE(exact.wildcard) << "a name's own records beat the wildcard";
  const Decision own = trie.lookup(testing::folded_key("deep.bench.test"));
  EXPECT_EQ(own.data, 4);
  EXPECT_FALSE(own.wildcard) << "exact and wildcard records of one name share its data";
  EXPECT_EQ(verdict(trie, "bench.test"), Verdict::None) << "*.name does not cover name";
  EXPECT_EQ(verdict(trie, "tracker.ads.bench.test"), Verdict::Block) << "a rule beats it";
}

TEST(DomainTrie, TheDeepestZoneHoldsTheNameWhateverTheVerdict) {
  TrieBuilder builder;
  const dns::NameKey corp = testing::folded_key("corp.example");
  const dns::NameKey lab = testing::folded_key("lab.corp.example");
  ASSERT_TRUE(builder.add_zone({corp.wire, corp.length}, 0));
  ASSERT_TRUE(builder.add_zone({lab.wire, lab.length}, 1));
  builder.add_text("ads.corp.example", Action::Block, Scope::Exact, 0);
  const DomainTrie trie = builder.build(42);
  EXPECT_EQ(trie.lookup(testing::folded_key("corp.example")).zone, 0);
  EXPECT_EQ(trie.lookup(testing::folded_key("www.corp.example")).zone, 0);
  EXPECT_EQ(trie.lookup(testing::folded_key("a.b.lab.corp.example")).zone, 1);
  EXPECT_EQ(trie.lookup(testing::folded_key("example")).zone, kNoIndex);
  const Decision blocked = trie.lookup(testing::folded_key("ads.corp.example"));
  EXPECT_EQ(blocked.verdict, Verdict::Block);
  EXPECT_EQ(blocked.zone, 0);
}

TEST(DomainTrie, AnAnsweringRuleGivesItsDataOnlyWhenItsListDecides) {
  TrieBuilder builder;
  const dns::NameKey name = testing::folded_key("walled.example");
  ASSERT_TRUE(builder.add_answer({name.wire, name.length}, Scope::Subtree, 4, 17));
  builder.add_text("walled.example", Action::Block, Scope::Exact, 2);
  const DomainTrie trie = builder.build(42);
  const Decision below = trie.lookup(testing::folded_key("x.walled.example"));
  EXPECT_EQ(below.list, 4);
  EXPECT_EQ(below.data, 17);
  const Decision exact = trie.lookup(testing::folded_key("walled.example"));
  EXPECT_EQ(exact.list, 2) << "list 2 is lower";
  EXPECT_EQ(exact.data, kNoIndex) << "and answers with its own response";
  EXPECT_EQ(trie.lookup(testing::folded_key("walled.example"), 1u << 4).data, 17);
}

TEST(DomainTrie, RejectsTheRootAndMalformedNames) {
  TrieBuilder builder;
  EXPECT_FALSE(builder.add_text(".", Action::Block, Scope::Subtree, 1));
  EXPECT_FALSE(builder.add_text("a..b", Action::Block, Scope::Exact, 1));
  const std::uint8_t truncated[] = {3, 'a', 'b'};
  EXPECT_FALSE(builder.add(truncated, Action::Block, Scope::Exact, 1));
  const std::uint8_t trailing[] = {1, 'a', 0, 0};
  EXPECT_FALSE(builder.add(trailing, Action::Block, Scope::Exact, 1));
  EXPECT_EQ(builder.size(), 0u);
  EXPECT_EQ(verdict(builder.build(1), "anything.example"), Verdict::None);
}

TEST(DomainTrie, FindsEveryOneOfManyRulesAndNothingElse) {
  TrieBuilder builder;
  for (int i = 0; i < 20000; ++i) {
    builder.add_text(
        ("host" + std::to_string(i) + ".zone" + std::to_string(i % 97) + ".test").c_str(),
        Action::Block, Scope::Exact, static_cast<std::uint16_t>(i % 5));
  }
  const DomainTrie trie = builder.build(0x5eed);
  for (int i = 0; i < 20000; ++i) {
    const std::string name =
        "host" + std::to_string(i) + ".zone" + std::to_string(i % 97) + ".test";
    const Decision decision = trie.lookup(testing::folded_key(name));
    ASSERT_EQ(decision.verdict, Verdict::Block) << name;
    ASSERT_EQ(decision.list, i % 5) << name;
    ASSERT_EQ(verdict(trie, "host" + std::to_string(i) + ".zone" + std::to_string((i + 1) % 97) +
                                ".test"),
              Verdict::None);
  }
}

TEST(DomainTrie, DifferentSeedsGiveTheSameAnswers) {
  TrieBuilder builder;
  builder.add_text("ads.example.com", Action::Block, Scope::Subtree, 1);
  for (std::uint64_t seed : {0ULL, 1ULL, 0xdeadbeefULL}) {
    EXPECT_EQ(verdict(builder.build(seed), "x.ads.example.com"), Verdict::Block) << seed;
  }
}

}  // namespace
}  // namespace heimdall::filter
