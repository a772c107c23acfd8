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

TEST(ListParser, DnsmasqFilesBlockEachNameAndBelow) {
  const Parsed p = parse(
      "# dnsmasq\n"
      "address=/one.example/0.0.0.0\n"
      "address=/two.example/three.example/\n"
      "local=/four.example/  # inline comment\n"
      "server=/five.example/\n"
      "server=/corp.example/10.0.0.53\n"  // forwarding, not blocking
      "address=//0.0.0.0\n"               // no name
      "cache-size=1000\n");
  EXPECT_EQ(p.report.format, ListFormat::Dnsmasq);
  EXPECT_EQ(p.report.rules, 5u);
  EXPECT_EQ(p.report.rejected, 3u);
  for (const char* name : {"one.example", "www.one.example", "two.example", "a.b.three.example",
                           "four.example", "five.example"}) {
    EXPECT_EQ(p(name), Verdict::Block) << name;
  }
  EXPECT_EQ(p("corp.example"), Verdict::None);
  EXPECT_EQ(p("example"), Verdict::None);
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

struct ParsedRegexes {
  ListReport report;
  DomainTrie trie;
  RegexSet regexes;
  Decision operator()(const std::string& name) const {
    return regexes.match(testing::folded_key(name), 0);
  }
};

ParsedRegexes parse_regexes(std::string_view text, ListOptions options = {}) {
  TrieBuilder builder;
  RegexSetBuilder regexes;
  options.regexes = &regexes;
  ParsedRegexes parsed;
  parsed.report = parse_list(text, options, builder);
  parsed.trie = builder.build(7);
  parsed.regexes = regexes.build(1);
  return parsed;
}

TEST(ListParser, AdblockRegexRulesBlockAndAllow) {
  const ParsedRegexes p = parse_regexes(
      "[Adblock Plus 2.0]\n"
      "/^ad[0-9]+\\./\n"
      "@@/^ad1\\./\n"
      "/tracker\\.example$/$important,client=10.0.0.0/8\n"
      "||plain.example^\n"
      "/banner/*\n"
      "//\n",
      {.list = 3});
  EXPECT_EQ(p.report.format, ListFormat::Adblock);
  EXPECT_EQ(p.report.lines, 7u);
  EXPECT_EQ(p.report.regex_rules, 3u);
  EXPECT_EQ(p.report.rules, 1u) << "only trie rules";
  EXPECT_EQ(p.report.options_ignored, 1u);
  EXPECT_EQ(p.report.rejected, 2u);
  EXPECT_EQ(p.report.first_rejected[0], 6u);
  EXPECT_EQ(p.report.first_rejected[1], 7u);
  EXPECT_EQ(p.regexes.size(), 3u);
  EXPECT_EQ(p("ad12.example.com").verdict, Verdict::Block);
  EXPECT_EQ(p("ad12.example.com").list, 3);
  EXPECT_EQ(p("ad1.example.com").verdict, Verdict::Allow);
  EXPECT_EQ(p("x.tracker.example").verdict, Verdict::Block) << "`$` inside the regex is kept";
  EXPECT_EQ(p("bad12.example.com").verdict, Verdict::None);
  EXPECT_EQ(p.trie.lookup(testing::folded_key("plain.example")).verdict, Verdict::Block);
}

TEST(ListParser, RegexListsWithCommentsAndCrlf) {
  const ParsedRegexes p = parse_regexes(
      "# Pi-hole regex list\r\n"
      "^ad[0-9]+\\.\r\n"
      "\r\n"
      "(^|\\.)doubleclick\\.net$ # inline comment\r\n"
      "[_.-]telemetry[_.-]\r\n"
      "  ^metrics\\.  \r\n",
      {.format = ListFormat::Regex, .list = 2});
  EXPECT_EQ(p.report.format, ListFormat::Regex);
  EXPECT_EQ(p.report.lines, 6u);
  EXPECT_EQ(p.report.regex_rules, 4u) << "a leading `[` is a regex here, not a comment";
  EXPECT_EQ(p.report.rejected, 0u);
  EXPECT_EQ(p.report.rules, 0u);
  EXPECT_EQ(p("ad7.example.com").verdict, Verdict::Block);
  EXPECT_EQ(p("ad7.example.com").list, 2);
  EXPECT_EQ(p("stats.doubleclick.net").verdict, Verdict::Block) << "CR and comment are cut";
  EXPECT_EQ(p("eu-telemetry.example.com").verdict, Verdict::Block);
  EXPECT_EQ(p("metrics.example.com").verdict, Verdict::Block);
  EXPECT_EQ(p("example.com").verdict, Verdict::None);
}

TEST(ListParser, ARegexListCanAllow) {
  const ParsedRegexes p =
      parse_regexes("^cdn[0-9]*\\.\n", {.format = ListFormat::Regex, .action = Action::Allow});
  EXPECT_EQ(p("cdn4.example.com").verdict, Verdict::Allow);
}

TEST(ListParser, BadRegexesAreCountedWithTheirLineNumbers) {
  const ParsedRegexes p = parse_regexes(
      "^ok\\.\n"
      "(a)\\1\n"
      "^fine\\.\n"
      "(unclosed\n"
      "^ads\\.;querytype=AAAA\n"
      ".*\n",
      {.format = ListFormat::Regex});
  EXPECT_EQ(p.report.regex_rules, 2u);
  EXPECT_EQ(p.report.rejected, 4u);
  EXPECT_EQ(p.report.first_rejected[0], 2u);
  EXPECT_EQ(p.report.first_rejected[1], 4u);
  EXPECT_EQ(p.report.first_rejected[2], 5u) << "Pi-hole extensions are not half-applied";
  EXPECT_EQ(p.report.first_rejected[3], 6u);
  EXPECT_EQ(p.report.first_regex_error.rfind("line 2: ", 0), 0u) << p.report.first_regex_error;
  EXPECT_EQ(p("ok.example").verdict, Verdict::Block);
  EXPECT_EQ(p("fine.example").verdict, Verdict::Block);
}

TEST(ListParser, RegexLinesWithoutARegexSetBuilderAreRejected) {
  TrieBuilder builder;
  const ListReport adblock =
      parse_list("||ads.example^\n/^ad[0-9]+\\./\n@@/^ad1\\./\n", {}, builder);
  EXPECT_EQ(adblock.format, ListFormat::Adblock);
  EXPECT_EQ(adblock.rules, 1u);
  EXPECT_EQ(adblock.regex_rules, 0u);
  EXPECT_EQ(adblock.rejected, 2u);
  EXPECT_EQ(adblock.first_rejected[0], 2u);
  EXPECT_EQ(adblock.first_rejected[1], 3u);
  const ListReport regex =
      parse_list("# c\n^ad\\.\n^tracker\\.\n", {.format = ListFormat::Regex}, builder);
  EXPECT_EQ(regex.regex_rules, 0u);
  EXPECT_EQ(regex.rejected, 2u);
  EXPECT_EQ(regex.first_rejected[0], 2u);
  EXPECT_EQ(builder.size(), 1u);
}

TEST(ListParser, DetectsARegexListOnlyWhenNoOtherFormatFits) {
  EXPECT_EQ(detect_format("# regex\n^ad[0-9]+\\.\n(^|\\.)tracker\\.com$\n[_.-]ads\n"),
            ListFormat::Regex);
  EXPECT_EQ(detect_format("^ad\\.\nads.example.com\n"), ListFormat::Domains)
      << "a plain name could be a domain list with one bad line";
  EXPECT_EQ(detect_format("^ad\\.\n||ads.example^\n"), ListFormat::Adblock);
  EXPECT_EQ(detect_format("/^ad[0-9]+\\./\n"), ListFormat::Domains)
      << "adblock's own regex syntax is not a regex list";
  EXPECT_EQ(detect_format("ads\\.example\n"), ListFormat::Regex);
  EXPECT_STREQ(to_string(ListFormat::Regex), "regex");
}

}  // namespace
}  // namespace heimdall::filter
