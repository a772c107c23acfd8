#include <gtest/gtest.h>

#include <string>

#include "heimdall/filter/list_parser.hpp"
#include "wire_builder.hpp"

namespace heimdall::filter {
namespace {

using Verdict = Decision::Verdict;

struct Parsed {
  ListReport report;
  DomainTrie trie;
  Verdict operator()(const std::string& name) const {
    return trie.lookup(testing::folded_key(name)).verdict;
  }
};

Parsed parse(std::string_view text, ListOptions options = {}) {
  TrieBuilder builder;
  Parsed parsed;
  parsed.report = parse_list(text, options, builder);
  parsed.trie = builder.build(99);
  return parsed;
}

TEST(ListParser, HostsFilesWithTheLinesRealOnesContain) {
  const Parsed p = parse(
      "\xEF\xBB\xBF# Title: a hosts file\r\n"
      "127.0.0.1 localhost\r\n"
      "::1 localhost ip6-localhost ip6-loopback\r\n"
      "0.0.0.0 0.0.0.0\r\n"
      "0.0.0.0 Ads.Example.COM\r\n"
      "0.0.0.0 tracker.example.net. pixel.example.net # two on one line\r\n"
      "0.0.0.0\txn--bcher-kva.example\r\n"
      "\r\n"
      "0.0.0.0\r\n"
      "nonsense ads.example.org\r\n"
      "0.0.0.0 bad!name.example\r\n");
  EXPECT_EQ(p.report.format, ListFormat::Hosts);
  EXPECT_EQ(p.report.lines, 11u);
  EXPECT_EQ(p.report.rules, 4u);
  EXPECT_EQ(p.report.skipped, 5u)
      << "localhost, ip6-localhost, ip6-loopback, 0.0.0.0 and ::1's localhost";
  EXPECT_EQ(p.report.rejected, 3u);
  EXPECT_EQ(p.report.first_rejected[0], 9u);
  EXPECT_EQ(p.report.first_rejected[1], 10u);
  EXPECT_EQ(p.report.first_rejected[2], 11u);
  EXPECT_EQ(p("ads.example.com"), Verdict::Block);
  EXPECT_EQ(p("www.ads.example.com"), Verdict::None) << "hosts entries are exact";
  EXPECT_EQ(p("tracker.example.net"), Verdict::Block);
  EXPECT_EQ(p("pixel.example.net"), Verdict::Block);
  EXPECT_EQ(p("xn--bcher-kva.example"), Verdict::Block);
  EXPECT_EQ(p("localhost"), Verdict::None);
}

TEST(ListParser, PlainDomainListsAndTheMatchOverride) {
  const char* list =
      "# comment\nads.example.com\ntracker.example.net # inline\nbad..name\ntwo words\n";
  const Parsed exact = parse(list);
  EXPECT_EQ(exact.report.format, ListFormat::Domains);
  EXPECT_EQ(exact.report.rules, 2u);
  EXPECT_EQ(exact.report.rejected, 2u);
  EXPECT_EQ(exact("ads.example.com"), Verdict::Block);
  EXPECT_EQ(exact("sub.ads.example.com"), Verdict::None);
  const Parsed subtree = parse(list, {.match = Scope::Subtree});
  EXPECT_EQ(subtree("sub.ads.example.com"), Verdict::Block);
}

TEST(ListParser, AdblockBasicSyntax) {
  const Parsed p = parse(
      "[Adblock Plus 2.0]\n"
      "! Title: ads\n"
      "||ads.example.com^\n"
      "@@||good.ads.example.com^\n"
      "||tracker.example.net^$third-party\n"
      "||cdn.example.org^|\n"
      "/banner/*\n"
      "example.com##.advert\n");
  EXPECT_EQ(p.report.format, ListFormat::Adblock);
  EXPECT_EQ(p.report.rules, 4u);
  EXPECT_EQ(p.report.options_ignored, 1u);
  EXPECT_EQ(p.report.rejected, 2u);
  EXPECT_EQ(p("ads.example.com"), Verdict::Block) << "||name^ covers the name itself";
  EXPECT_EQ(p("x.ads.example.com"), Verdict::Block);
  EXPECT_EQ(p("good.ads.example.com"), Verdict::Allow);
  EXPECT_EQ(p("tracker.example.net"), Verdict::Block);
  EXPECT_EQ(p("cdn.example.org"), Verdict::Block);
  EXPECT_EQ(p("notads.example.com"), Verdict::None);
}

TEST(ListParser, WildcardListsCoverOnlyWhatIsBelow) {
  const Parsed p = parse("*.example.org\nplain.example\n");
  EXPECT_EQ(p.report.format, ListFormat::Wildcard);
  EXPECT_EQ(p("example.org"), Verdict::None);
  EXPECT_EQ(p("www.example.org"), Verdict::Block);
  EXPECT_EQ(p("plain.example"), Verdict::Block);
}

TEST(ListParser, AnAllowListAllows) {
  TrieBuilder builder;
  parse_list("ads.example.com\n",
             {.format = ListFormat::Domains, .match = Scope::Subtree, .list = 1}, builder);
  parse_list(
      "ok.ads.example.com\n",
      {.format = ListFormat::Auto, .action = Action::Allow, .match = std::nullopt, .list = 2},
      builder);
  const DomainTrie trie = builder.build(1);
  EXPECT_EQ(trie.lookup(testing::folded_key("ok.ads.example.com")).verdict, Verdict::Allow);
  EXPECT_EQ(trie.lookup(testing::folded_key("ok.ads.example.com")).list, 2);
  EXPECT_EQ(trie.lookup(testing::folded_key("no.ads.example.com")).verdict, Verdict::Block);
}

TEST(ListParser, DetectsEachFormat) {
  EXPECT_EQ(detect_format("# hosts\n0.0.0.0 a.example\n"), ListFormat::Hosts);
  EXPECT_EQ(detect_format("! c\n||a.example^\n"), ListFormat::Adblock);
  EXPECT_EQ(detect_format("*.a.example\n"), ListFormat::Wildcard);
  EXPECT_EQ(detect_format("a.example\nb.example\n"), ListFormat::Domains);
  EXPECT_EQ(detect_format(""), ListFormat::Domains);
}

TEST(ListParser, KeepsOnlyTheFirstFewRejectedLineNumbers) {
  std::string bad;
  for (int i = 0; i < 20; ++i) bad += "not a domain\n";
  const Parsed p = parse(
      bad,
      {.format = ListFormat::Domains, .action = Action::Block, .match = std::nullopt, .list = 0});
  EXPECT_EQ(p.report.rejected, 20u);
  EXPECT_EQ(p.report.first_rejected[4], 5u);
  EXPECT_EQ(p.report.rules, 0u);
}

}  // namespace
}  // namespace heimdall::filter
