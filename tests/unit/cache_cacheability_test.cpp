#include <gtest/gtest.h>

#include <vector>

#include "heimdall/cache/cacheability.hpp"
#include "wire_builder.hpp"

namespace heimdall::cache {
namespace {

using dns::rrtype::A;
using dns::rrtype::CNAME;
using dns::rrtype::SOA;
using testing::a_rdata;
using testing::Bytes;
using testing::Packet;
using testing::soa_rdata;

constexpr std::uint16_t kNoError = 0x8180, kNxDomain = 0x8183, kServFail = 0x8182,
                        kRefused = 0x8185;

Cacheability judge_bytes(const Bytes& wire, const TtlPolicy& policy = {}) {
  dns::Message msg;
  EXPECT_EQ(dns::parse_message(wire, msg), dns::ParseError::Ok);
  return judge(wire, msg, policy);
}

Bytes positive(std::uint32_t first_ttl, std::uint32_t second_ttl) {
  return Packet()
      .header(1, kNoError, 1, 2, 0, 1)
      .question("www.example.com")
      .pointer(12)
      .record(A, first_ttl, a_rdata(1))
      .pointer(12)
      .record(A, second_ttl, a_rdata(2))
      .opt()
      .bytes;
}

// A negative answer whose SOA record has `soa_ttl` and MINIMUM `minimum`.
Bytes negative(std::uint16_t flags, std::uint32_t soa_ttl, std::uint32_t minimum) {
  return Packet()
      .header(1, flags, 1, 0, 1, 0)
      .question("nx.example.com")
      .pointer(15)
      .record(SOA, soa_ttl, soa_rdata(minimum))
      .bytes;
}

TEST(Cacheability, PositiveAnswerLivesAsLongAsItsShortestRecord) {
  const Cacheability verdict = judge_bytes(positive(300, 120));
  EXPECT_TRUE(verdict.cacheable);
  EXPECT_EQ(verdict.kind, AnswerKind::Positive);
  EXPECT_EQ(verdict.ttl, 120u) << "the OPT's TTL field is flags, not a TTL";
}

TEST(Cacheability, OperatorClampsApplyToPositiveAnswers) {
  EXPECT_EQ(judge_bytes(positive(300, 120), {.min_ttl = 0, .max_ttl = 60}).ttl, 60u);
  EXPECT_EQ(judge_bytes(positive(300, 20), {.min_ttl = 30}).ttl, 30u);
  EXPECT_FALSE(judge_bytes(positive(300, 0)).cacheable) << "TTL 0 means do not cache";
  EXPECT_EQ(judge_bytes(positive(300, 0), {.min_ttl = 5}).ttl, 5u) << "unless the operator says so";
}

TEST(Cacheability, NegativeTtlIsTheSoaMinimumOrTtlBoundedByTheMaximum) {
  const Cacheability nx = judge_bytes(negative(kNxDomain, 3600, 300));
  EXPECT_TRUE(nx.cacheable);
  EXPECT_EQ(nx.kind, AnswerKind::NxDomain);
  EXPECT_EQ(nx.ttl, 300u);
  const Cacheability nodata = judge_bytes(negative(kNoError, 60, 300));
  EXPECT_EQ(nodata.kind, AnswerKind::NoData);
  EXPECT_EQ(nodata.ttl, 60u);
  EXPECT_EQ(judge_bytes(negative(kNxDomain, 7200, 7200), {.negative_ttl_max = 900}).ttl, 900u);
}

TEST(Cacheability, NegativeAnswerWithoutSoaIsNotCached) {
  const Bytes referral = Packet()
                             .header(1, kNoError, 1, 0, 1, 0)
                             .question("nx.example.com")
                             .pointer(15)
                             .record(dns::rrtype::NS, 3600, Packet().name("ns.example.com").bytes)
                             .bytes;
  EXPECT_FALSE(judge_bytes(referral).cacheable);
  EXPECT_FALSE(
      judge_bytes(Packet().header(1, kNxDomain, 1, 0, 0, 0).question("nx.example.com").bytes)
          .cacheable);
}

TEST(Cacheability, CnameToNoDataIsBoundedLikeANegativeAnswer) {
  const Bytes wire = Packet()
                         .header(1, kNoError, 1, 1, 1, 0)
                         .question("a.example.com")
                         .pointer(12)
                         .record(CNAME, 3600, Packet().name("b.example.com").bytes)
                         .pointer(14)
                         .record(SOA, 3600, soa_rdata(60))
                         .bytes;
  const Cacheability verdict = judge_bytes(wire);
  EXPECT_EQ(verdict.kind, AnswerKind::Positive);
  EXPECT_EQ(verdict.ttl, 60u);
}

TEST(Cacheability, ServfailIsCachedOnlyWhenConfiguredAndAtMostFiveMinutes) {
  const Bytes servfail =
      Packet().header(1, kServFail, 1, 0, 0, 0).question("www.example.com").bytes;
  EXPECT_FALSE(judge_bytes(servfail).cacheable) << "off by default";
  const Cacheability brief = judge_bytes(servfail, {.servfail_ttl = 5});
  EXPECT_TRUE(brief.cacheable);
  EXPECT_EQ(brief.kind, AnswerKind::ServFail);
  EXPECT_EQ(brief.ttl, 5u);
  EXPECT_EQ(judge_bytes(servfail, {.servfail_ttl = 3600}).ttl, 300u) << "RFC 2308 §7.1";
}

TEST(Cacheability, TruncatedAndOtherRcodesAreNotCached) {
  Bytes truncated = positive(300, 300);
  truncated[2] |= 0x02;  // TC
  EXPECT_FALSE(judge_bytes(truncated).cacheable);
  const Bytes refused = Packet().header(1, kRefused, 1, 0, 0, 0).question("www.example.com").bytes;
  EXPECT_FALSE(judge_bytes(refused).cacheable);
  const Bytes badcookie = Packet()
                              .header(1, kNoError, 1, 0, 0, 1)
                              .question("www.example.com")
                              .opt(1232, false, 0, {}, 1)
                              .bytes;
  EXPECT_FALSE(judge_bytes(badcookie).cacheable) << "an extended RCODE";
}

TEST(Cacheability, ATopBitTtlIsZeroAndA31BitOneIsCappedAtMaxTtl) {
  EXPECT_FALSE(judge_bytes(positive(0xffffffffu, 0xffffffffu)).cacheable)
      << "RFC 2181 §8: TTL 0, not a day";
  EXPECT_FALSE(judge_bytes(positive(300, 0x80000000u)).cacheable);
  EXPECT_EQ(judge_bytes(positive(0xffffffffu, 300), {.min_ttl = 60}).ttl, 60u)
      << "min_ttl raises the zero, as it does for a real 0";
  EXPECT_EQ(judge_bytes(positive(0x7fffffffu, 0x7fffffffu)).ttl, 86400u);
  EXPECT_FALSE(judge_bytes(negative(kNxDomain, 0xffffffffu, 300)).cacheable);
}

TEST(Cacheability, RelayedTtlBoundsAreWhatAHitWouldShow) {
  const TtlPolicy policy{.min_ttl = 5, .max_ttl = 3600, .negative_ttl_max = 900};
  const auto bounds = [&](const Bytes& wire) {
    dns::Message msg;
    EXPECT_EQ(dns::parse_message(wire, msg), dns::ParseError::Ok);
    return reply_ttl_bounds(wire, msg, policy);
  };
  const dns::TtlBounds positive_bounds = bounds(positive(300, 120));
  EXPECT_EQ(positive_bounds.floor, 5u);
  EXPECT_EQ(positive_bounds.ceiling, 3600u);
  const dns::TtlBounds nx = bounds(negative(kNxDomain, 7200, 600));
  EXPECT_EQ(nx.floor, 0u);
  EXPECT_EQ(nx.ceiling, 600u) << "min(SOA TTL, MINIMUM, negative_ttl_max)";
  EXPECT_EQ(bounds(negative(kNoError, 7200, 7200)).ceiling, 900u) << "NODATA likewise";
  const dns::TtlBounds refused =
      bounds(Packet().header(1, kRefused, 1, 0, 0, 0).question("a.example").bytes);
  EXPECT_EQ(refused.floor, 0u);
  EXPECT_EQ(refused.ceiling, 3600u);
}

// Found by the fuzzer: the second record's owner is compressed into the first's
// TTL, which a stored entry rewrites as it ages; the name would change with it.
TEST(Cacheability, NameCompressedIntoATtlIsNotStored) {
  const std::vector<std::uint8_t> answer = {
      0x00, 0x04, 0x81, 0x80, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00,   // header
      0x01, 0x00, 0x03, 'c',  'o',  'm',  0x00, 0x04, 0xff, 0x00, 0x01,         // question
      0xc0, 0x0c, 0x2c, 0x00, 0x01, 0x00, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00,   // record 1
      0xc0, 0x1b, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0xff, 0xd3, 0x00, 0x00};  // into its TTL
  dns::Message msg;
  ASSERT_EQ(dns::parse_message(answer, msg), dns::ParseError::Ok);
  EXPECT_FALSE(judge(answer, msg, TtlPolicy{}).cacheable);
  // The same answer with the second owner pointing at the question name is stored.
  std::vector<std::uint8_t> sane = answer;
  sane[36] = 0x0c;
  ASSERT_EQ(dns::parse_message(sane, msg), dns::ParseError::Ok);
  EXPECT_TRUE(judge(sane, msg, TtlPolicy{}).cacheable);
}

}  // namespace
}  // namespace heimdall::cache
