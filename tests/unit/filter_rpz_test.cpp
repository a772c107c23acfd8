#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "heimdall/dns/message.hpp"
#include "heimdall/filter/rpz.hpp"
#include "wire_builder.hpp"

namespace heimdall::filter {
namespace {

using Verdict = Decision::Verdict;

constexpr RpzPolicies kPolicies{.nxdomain = 1, .nodata = 2, .passthru = 3, .local_data = 4};

// A zone as operators publish them: BOM, CRLF, an SOA over several lines.
constexpr std::string_view kZone =
    "\xEF\xBB\xBF"
    "$TTL 2h\r\n"
    "$ORIGIN rpz.local.\r\n"
    "@ IN SOA ns.rpz.local. hostmaster.rpz.local. (\r\n"
    "        2024010101 ; serial\r\n"
    "        1h 15m 1w 300 )\r\n"
    "  IN NS ns.rpz.local.   ; blank owner: the apex again\r\n"
    "\r\n"
    "; NXDOMAIN\r\n"
    "ads.example.com        CNAME .\r\n"
    "*.ads.example.com      CNAME .\r\n"
    "; NODATA\r\n"
    "quiet.example.net      CNAME *.\r\n"
    "; a whole domain blocked, one name of it let through\r\n"
    "*.tracker.example      CNAME .\r\n"
    "ok.tracker.example     CNAME rpz-passthru.\r\n"
    "legacy.tracker.example CNAME legacy.tracker.example.\r\n"
    "; local data: two records, one owner\r\n"
    "portal.example.org 60  A   192.0.2.80\r\n"
    "                       TXT \"walled garden\"\r\n"
    "*.garden.example       CNAME portal.example.org.\r\n";

struct Loaded {
  RpzReport report;
  DomainTrie trie;
  LocalData data;
};

Loaded load(std::string_view text) {
  TrieBuilder trie;
  LocalDataBuilder data;
  Loaded loaded;
  loaded.report = parse_rpz(text, kPolicies, trie, data);
  loaded.trie = trie.build(7);
  loaded.data = data.build();
  return loaded;
}

Decision lookup(const Loaded& loaded, const std::string& name) {
  return loaded.trie.lookup(testing::folded_key(name));
}

std::vector<std::size_t> rejected_lines(const RpzReport& report) {
  return {report.first_rejected,
          report.first_rejected + std::min(report.rejected, RpzReport::kExamples)};
}

TEST(Rpz, ReadsARealisticZone) {
  const Loaded z = load(kZone);
  EXPECT_EQ(z.report.lines, 20u);
  EXPECT_EQ(z.report.rejected, 0u) << rejected_lines(z.report).at(0);
  EXPECT_EQ(z.report.unsupported, 0u);
  EXPECT_EQ(z.report.nxdomain, 3u);
  EXPECT_EQ(z.report.nodata, 1u);
  EXPECT_EQ(z.report.passthru, 2u);
  EXPECT_EQ(z.report.local_data, 2u) << "owners, not records";
  EXPECT_EQ(z.report.rules, 8u);
  EXPECT_EQ(z.report.shared_response, 0u);
  EXPECT_EQ(z.data.owners(), 2u);
  EXPECT_EQ(z.data.records(), 3u);
}

TEST(Rpz, ApexRecordsAreNotRules) {
  const Loaded z = load(kZone);
  EXPECT_EQ(lookup(z, "rpz.local").verdict, Verdict::None);
  EXPECT_EQ(lookup(z, "ns.rpz.local").verdict, Verdict::None);
}

TEST(Rpz, TriggersAreOwnersRelativeToTheOrigin) {
  const Loaded z = load(kZone);
  const Decision ads = lookup(z, "ads.example.com");
  EXPECT_EQ(ads.verdict, Verdict::Block);
  EXPECT_EQ(ads.list, kPolicies.nxdomain);
  EXPECT_EQ(ads.data, kNoIndex) << "the list's response";
  EXPECT_EQ(lookup(z, "x.ads.example.com").list, kPolicies.nxdomain);
  EXPECT_EQ(lookup(z, "ads.example.com.rpz.local").verdict, Verdict::None);
  const Decision quiet = lookup(z, "Quiet.Example.NET");
  EXPECT_EQ(quiet.verdict, Verdict::Block);
  EXPECT_EQ(quiet.list, kPolicies.nodata);
  EXPECT_EQ(lookup(z, "www.quiet.example.net").verdict, Verdict::None) << "exact trigger";
}

TEST(Rpz, WildcardsCoverOnlyNamesBelow) {
  const Loaded z = load(kZone);
  EXPECT_EQ(lookup(z, "a.b.tracker.example").verdict, Verdict::Block);
  EXPECT_EQ(lookup(z, "tracker.example").verdict, Verdict::None);
}

TEST(Rpz, PassthruBeatsAWildcardBlock) {
  const Loaded z = load(kZone);
  const Decision ok = lookup(z, "ok.tracker.example");
  EXPECT_EQ(ok.verdict, Verdict::Allow);
  EXPECT_EQ(ok.list, kPolicies.passthru);
  EXPECT_EQ(lookup(z, "legacy.tracker.example").verdict, Verdict::Allow)
      << "the older PASSTHRU: a CNAME to the trigger itself";
  EXPECT_EQ(lookup(z, "bad.tracker.example").verdict, Verdict::Block);
}

TEST(Rpz, LocalDataOfOneOwnerSharesOneIndex) {
  const Loaded z = load(kZone);
  const Decision portal = lookup(z, "portal.example.org");
  ASSERT_EQ(portal.verdict, Verdict::Block);
  EXPECT_EQ(portal.list, kPolicies.local_data);
  ASSERT_NE(portal.data, kNoIndex);

  testing::Packet query;
  query.header(9, dns::flag::RD, 1, 0, 0, 0).question("portal.example.org", dns::rrtype::ANY);
  dns::Message msg;
  ASSERT_EQ(dns::parse_message(query.bytes, msg), dns::ParseError::Ok);
  const dns::ClientView view{
      .id = 9, .flags = msg.header.flags, .question = msg.question.wire(query.bytes)};
  std::uint8_t out[512];
  const std::size_t length = z.data.answer(view, dns::rrtype::ANY, portal.data, 1232, out);
  testing::Bytes reply(out, out + length);
  dns::Message answer;
  ASSERT_EQ(dns::parse_message(reply, answer), dns::ParseError::Ok);
  std::vector<std::uint16_t> types;
  dns::for_each_record(reply, answer, [&](const dns::Record& r) {
    types.push_back(r.type);
    EXPECT_EQ(r.ttl, r.type == dns::rrtype::A ? 60u : 7200u) << "explicit TTL, else $TTL";
    return true;
  });
  EXPECT_EQ(types, (std::vector<std::uint16_t>{dns::rrtype::A, dns::rrtype::TXT}));
}

TEST(Rpz, ACnameToARealNameIsLocalDataForEveryNameBelow) {
  const Loaded z = load(kZone);
  const Decision garden = lookup(z, "www.garden.example");
  ASSERT_EQ(garden.verdict, Verdict::Block);
  EXPECT_EQ(garden.list, kPolicies.local_data);
  EXPECT_NE(garden.data, lookup(z, "portal.example.org").data);
  EXPECT_NE(garden.data, kNoIndex);
}

TEST(Rpz, CountsWhatItDoesNotSupport) {
  const Loaded z = load(
      "$ORIGIN rpz.local.\n"
      "drop.example          CNAME rpz-drop.\n"
      "tcp.example           CNAME rpz-tcp-only.\n"
      "*.prefix.example      CNAME *.garden.example.\n"
      "32.1.2.0.192.rpz-ip   CNAME .\n"
      "24.0.2.0.10.rpz-client-ip CNAME .\n"
      "ns.evil.rpz-nsdname   CNAME .\n"
      "32.2.2.0.192.rpz-nsip CNAME .\n"
      "fine.example          CNAME .\n");
  EXPECT_EQ(z.report.unsupported, 7u);
  EXPECT_EQ(z.report.rejected, 0u);
  EXPECT_EQ(z.report.rules, 1u);
  EXPECT_EQ(lookup(z, "drop.example").verdict, Verdict::None);
}

TEST(Rpz, RejectsMalformedLinesWithTheirNumbers) {
  const Loaded z = load(
      "$ORIGIN rpz.local.\n"                      // 1
      "good.example CNAME .\n"                    // 2
      "bad.example A 1.2.3\n"                     // 3
      "outside.example. CNAME .\n"                // 4 not under the origin
      "$INCLUDE other.zone\n"                     // 5
      "good.example A 192.0.2.1\n"                // 6 a policy owner with data
      "cname.example A 192.0.2.1\n"               // 7
      "cname.example CNAME somewhere.example.\n"  // 8 CNAME next to data
      "open.example TXT ( \"never closed\"\n"     // 9
      "still.example CNAME .\n");                 // 10 swallowed by line 9
  EXPECT_EQ(z.report.lines, 10u);
  EXPECT_EQ(z.report.rejected, 6u);
  EXPECT_EQ(rejected_lines(z.report), (std::vector<std::size_t>{3, 4, 5, 6, 8}));
  EXPECT_EQ(z.report.rules, 2u);
  EXPECT_EQ(lookup(z, "good.example").list, kPolicies.nxdomain);
  EXPECT_EQ(lookup(z, "cname.example").list, kPolicies.local_data);
}

TEST(Rpz, TakesTheOriginFromTheSoaWithoutOrigin) {
  const Loaded z = load(
      "blocked.example.rpz.local CNAME .\n"  // before the origin is known
      "rpz.local. 300 SOA ns.rpz.local. admin.rpz.local. 1 3600 600 86400 300\n"
      "ads.example CNAME .\n");
  EXPECT_EQ(rejected_lines(z.report), (std::vector<std::size_t>{1}));
  EXPECT_EQ(lookup(z, "ads.example").verdict, Verdict::Block);
}

TEST(Rpz, ALaterOriginShortensNamesButKeepsTheZone) {
  const Loaded z = load(
      "$ORIGIN rpz.local.\n"
      "@ SOA ns admin 1 3600 600 86400 300\n"
      "$ORIGIN example.com.rpz.local.\n"
      "ads CNAME .\n"
      "*.cdn CNAME *.\n");
  EXPECT_EQ(z.report.rejected, 0u);
  EXPECT_EQ(lookup(z, "ads.example.com").list, kPolicies.nxdomain);
  EXPECT_EQ(lookup(z, "x.cdn.example.com").list, kPolicies.nodata);
}

TEST(Rpz, NameAndWildcardShareOneResponse) {
  const Loaded z = load(
      "$ORIGIN rpz.local.\n"
      "both.example    CNAME .\n"
      "*.both.example  CNAME *.\n"
      "same.example    CNAME .\n"
      "*.same.example  CNAME .\n");
  EXPECT_EQ(z.report.rules, 4u);
  EXPECT_EQ(z.report.shared_response, 1u) << "the trie keeps one block response per name";
  EXPECT_EQ(lookup(z, "x.both.example").verdict, Verdict::Block);
}

}  // namespace
}  // namespace heimdall::filter
