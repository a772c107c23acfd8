// A whole snapshot's decision: trie, regex rules and client groups together.
// Needs the EAL for the groups' LPM tables (eal_test_main.cpp).
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include "heimdall/filter/snapshot.hpp"
#include "wire_builder.hpp"

namespace heimdall::filter {
namespace {

using Verdict = Decision::Verdict;

net::Endpoint client(const char* text) {
  net::Endpoint endpoint;
  endpoint.family = AF_INET;
  EXPECT_EQ(inet_pton(AF_INET, text, endpoint.address), 1);
  return endpoint;
}

// Lists: 0 `^ads\.` (regex), 1 `ads` (regex), 2 tracker.example (trie),
// 3 allow `example\.org$` (regex). 10.0.0.0/8 gets lists 1 and 2 only. A
// wildcard local record *.example.com (its LocalData is not needed to decide).
Snapshot make() {
  TrieBuilder trie;
  trie.add_text("tracker.example", Action::Block, Scope::Subtree, 2);
  trie.add_text("blocked.example.org", Action::Block, Scope::Exact, 2);
  const dns::NameKey com = testing::folded_key("example.com");
  trie.add_local_below({com.wire, com.length}, 0);  // *.example.com
  RegexSetBuilder regexes;
  EXPECT_TRUE(regexes.add("^ads\\.", Action::Block, 0));
  EXPECT_TRUE(regexes.add("ads", Action::Block, 1));
  EXPECT_TRUE(regexes.add("example\\.org$", Action::Allow, 3));
  ClientGroupsBuilder groups;
  Prefix prefix;
  EXPECT_TRUE(Prefix::parse("10.0.0.0/8", prefix));
  groups.add_prefix(groups.add_group(0b0110), prefix);
  SnapshotParts parts;
  parts.trie = trie.build(1);
  parts.regexes = regexes.build(1);
  parts.groups = groups.build(kAllLists);
  for (std::uint16_t list = 0; list < 4; ++list) parts.policies.push_back({list, BlockResponse{}});
  parts.list_names = {"a", "b", "c", "d"};
  return Snapshot(std::move(parts));
}

TEST(Snapshot, RegexRulesCountOnlyForTheClientsLists) {
  const Snapshot snapshot = make();
  const dns::NameKey name = testing::folded_key("ads.example.com");
  const Decision everyone = snapshot.decide(client("192.0.2.1"), name, 0);
  EXPECT_EQ(everyone.verdict, Verdict::Block);
  EXPECT_EQ(everyone.list, 0);
  const Decision grouped = snapshot.decide(client("10.1.1.1"), name, 0);
  EXPECT_EQ(grouped.verdict, Verdict::Block) << "list 0 is not theirs, list 1 is";
  EXPECT_EQ(grouped.list, 1);
}

TEST(Snapshot, AnAllowRegexBeatsATrieBlockOfTheSameClient) {
  const Snapshot snapshot = make();
  const dns::NameKey name = testing::folded_key("blocked.example.org");
  EXPECT_EQ(snapshot.decide(client("192.0.2.1"), name, 0).verdict, Verdict::Allow);
  EXPECT_EQ(snapshot.decide(client("10.1.1.1"), name, 0).verdict, Verdict::Block)
      << "the allow list is not the group's";
  EXPECT_EQ(snapshot.decide(client("10.1.1.1"), testing::folded_key("x.tracker.example"), 0).list,
            2);
}

TEST(Snapshot, AWildcardLocalRecordAnswersOnlyWhatNoRegexDecides) {
  const Snapshot snapshot = make();
  const Decision www =
      snapshot.decide(client("192.0.2.1"), testing::folded_key("www.example.com"), 0);
  EXPECT_EQ(www.verdict, Verdict::Local);
  EXPECT_TRUE(www.wildcard);
  const Decision ads =
      snapshot.decide(client("192.0.2.1"), testing::folded_key("ads.example.com"), 0);
  EXPECT_EQ(ads.verdict, Verdict::Block) << "the regex decides before the wildcard";
}

}  // namespace
}  // namespace heimdall::filter
