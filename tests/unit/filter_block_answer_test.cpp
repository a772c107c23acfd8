#include <gtest/gtest.h>

#include <vector>

#include "heimdall/dns/message.hpp"
#include "heimdall/filter/block_answer.hpp"
#include "wire_builder.hpp"

namespace heimdall::filter {
namespace {

using testing::Bytes;
using testing::Packet;

struct Query {
  Bytes wire;
  dns::ClientView view;
};

Query blocked_query(std::uint16_t qtype, bool edns) {
  Query q;
  Packet p;
  p.header(0x7777, 0x0100, 1, 0, 0, edns ? 1 : 0).question("Ads.Example.com", qtype);
  if (edns) p.opt(1232, true);
  q.wire = p.bytes;
  dns::Message msg;
  EXPECT_EQ(dns::parse_message(q.wire, msg), dns::ParseError::Ok);
  q.view = dns::ClientView{.id = msg.header.id,
                           .flags = msg.header.flags,
                           .question = msg.question.wire(q.wire),
                           .edns = edns,
                           .dnssec_ok = edns,
                           .reply_limit = 512};
  return q;
}

struct Answer {
  Bytes wire;
  dns::Message msg;
  std::vector<dns::Record> records;
};

Answer answer(std::uint16_t qtype, const BlockResponse& response, bool edns = false) {
  const Query q = blocked_query(qtype, edns);
  std::uint8_t out[512];
  const std::size_t length = build_block_answer(q.view, qtype, response, 1232, out);
  Answer a{Bytes(out, out + length), {}, {}};
  EXPECT_EQ(dns::parse_message(a.wire, a.msg), dns::ParseError::Ok);
  dns::for_each_record(a.wire, a.msg, [&](const dns::Record& r) {
    if (r.type != dns::rrtype::OPT) a.records.push_back(r);
    return true;
  });
  EXPECT_EQ(a.msg.header.id, 0x7777);
  EXPECT_TRUE(a.msg.header.has(dns::flag::QR));
  EXPECT_TRUE(a.msg.header.has(dns::flag::RA));
  const auto question = a.msg.question.wire(a.wire);
  EXPECT_EQ(Bytes(question.begin(), question.end()),
            Bytes(q.wire.begin() + 12, q.wire.begin() + 12 + q.view.question.size()))
      << "the client's question, case and all";
  return a;
}

TEST(BlockAnswer, NxdomainCarriesAnSoaForNegativeCaching) {
  const Answer a = answer(dns::rrtype::A, {.mode = BlockMode::NxDomain, .ttl = 120});
  EXPECT_EQ(a.msg.header.rcode(), 3);
  ASSERT_EQ(a.records.size(), 1u);
  EXPECT_EQ(a.records[0].section, dns::Section::Authority);
  EXPECT_EQ(a.records[0].type, dns::rrtype::SOA);
  EXPECT_EQ(dns::negative_ttl(a.wire, a.msg), 120u) << "min(SOA TTL, MINIMUM) = the configured TTL";
}

TEST(BlockAnswer, NodataIsNoerrorWithTheSoaAndNoAnswer) {
  const Answer a = answer(dns::rrtype::AAAA, {.mode = BlockMode::NoData, .ttl = 60});
  EXPECT_EQ(a.msg.header.rcode(), 0);
  EXPECT_EQ(a.msg.header.ancount, 0);
  EXPECT_EQ(dns::negative_ttl(a.wire, a.msg), 60u);
}

TEST(BlockAnswer, NullAnswersZeroAddressesAndNodataForOtherTypes) {
  const Answer a4 = answer(dns::rrtype::A, {.mode = BlockMode::Null, .ttl = 30});
  ASSERT_EQ(a4.records.size(), 1u);
  EXPECT_EQ(a4.records[0].type, dns::rrtype::A);
  EXPECT_EQ(a4.records[0].ttl, 30u);
  EXPECT_EQ(
      Bytes(a4.wire.begin() + a4.records[0].rdata_offset, a4.wire.begin() + a4.records[0].end),
      Bytes(4, 0));
  const Answer a6 = answer(dns::rrtype::AAAA, {.mode = BlockMode::Null});
  ASSERT_EQ(a6.records.size(), 1u);
  EXPECT_EQ(a6.records[0].rdlength, 16);
  const Answer mx = answer(dns::rrtype::MX, {.mode = BlockMode::Null});
  EXPECT_EQ(mx.msg.header.ancount, 0);
  EXPECT_EQ(mx.records.at(0).type, dns::rrtype::SOA);
}

TEST(BlockAnswer, CustomAddressesPerFamily) {
  BlockResponse response{.mode = BlockMode::Addresses, .ttl = 10};
  response.ipv4[0] = {192, 0, 2, 10};
  response.ipv4[1] = {192, 0, 2, 11};
  response.ipv4_count = 2;
  const Answer a4 = answer(dns::rrtype::A, response);
  ASSERT_EQ(a4.msg.header.ancount, 2);
  EXPECT_EQ(a4.wire[a4.records[1].rdata_offset + 3], 11);
  const Answer a6 = answer(dns::rrtype::AAAA, response);
  EXPECT_EQ(a6.msg.header.ancount, 0) << "no IPv6 address configured: NODATA";
  EXPECT_EQ(a6.records.at(0).type, dns::rrtype::SOA);
}

TEST(BlockAnswer, RefusedHasNoRecords) {
  const Answer a = answer(dns::rrtype::A, {.mode = BlockMode::Refused});
  EXPECT_EQ(a.msg.header.rcode(), 5);
  EXPECT_TRUE(a.records.empty());
}

TEST(BlockAnswer, AnOptForAClientThatSentOne) {
  const Answer a = answer(dns::rrtype::A, {.mode = BlockMode::NxDomain}, true);
  ASSERT_TRUE(a.msg.edns.present);
  EXPECT_EQ(a.msg.edns.udp_size, 1232);
  EXPECT_TRUE(a.msg.edns.dnssec_ok);
  EXPECT_FALSE(answer(dns::rrtype::A, {.mode = BlockMode::NxDomain}).msg.edns.present);
}

TEST(BlockAnswer, TooSmallABufferWritesNothing) {
  const Query q = blocked_query(dns::rrtype::A, false);
  std::uint8_t out[40];
  EXPECT_EQ(build_block_answer(q.view, dns::rrtype::A, {.mode = BlockMode::NxDomain}, 1232, out),
            0u);
}

}  // namespace
}  // namespace heimdall::filter
