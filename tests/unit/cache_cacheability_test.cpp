#include <gtest/gtest.h>

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

}  // namespace
}  // namespace heimdall::cache
