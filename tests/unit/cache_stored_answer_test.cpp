#include <gtest/gtest.h>

#include <vector>

#include "heimdall/cache/stored_answer.hpp"
#include "wire_builder.hpp"

namespace heimdall::cache {
namespace {

using dns::rrtype::A;
using testing::a_rdata;
using testing::Bytes;
using testing::Packet;

// www.example.com: two A records (TTL 300 and 200), an NS in authority (900),
// and the upstream's OPT carrying an NSID option.
Bytes upstream_answer(std::uint16_t flags = 0x85a0) {
  return Packet()
      .header(0x2222, flags, 1, 2, 1, 1)
      .question("www.example.com")
      .pointer(12)
      .record(A, 300, a_rdata(1))
      .pointer(12)
      .record(A, 200, a_rdata(2))
      .pointer(16)
      .record(dns::rrtype::NS, 900, Packet().name("ns.example.com").bytes)
      .opt(4096, false, 0, Packet().u16(3).u16(2).u16(0x6869).bytes)
      .bytes;
}

Bytes store(const Bytes& answer) {
  dns::Message msg;
  EXPECT_EQ(dns::parse_message(answer, msg), dns::ParseError::Ok);
  Bytes stored(stored_size(answer, msg));
  EXPECT_EQ(store_answer(answer, msg, stored), stored.size());
  return stored;
}

struct Client {
  Bytes query;
  dns::ClientView view;
};

Client client(const char* name, bool edns, bool dnssec_ok = false, std::uint16_t limit = 1232) {
  Client c;
  Packet p;
  p.header(0x4321, 0x0100, 1, 0, 0, edns ? 1 : 0).question(name);
  if (edns) p.opt(limit, dnssec_ok);
  c.query = p.bytes;
  dns::Message msg;
  EXPECT_EQ(dns::parse_message(c.query, msg), dns::ParseError::Ok);
  c.view = dns::ClientView{.id = msg.header.id,
                           .flags = msg.header.flags,
                           .question = msg.question.wire(c.query),
                           .edns = edns,
                           .dnssec_ok = dnssec_ok,
                           .reply_limit = limit};
  return c;
}

struct Reply {
  Bytes wire;
  dns::Message msg;
  std::vector<std::uint32_t> ttls;
};

Reply reply(const Bytes& stored, const Client& c, Ageing ageing = {}) {
  std::uint8_t out[dns::kMaxMessage];
  const std::size_t length = reply_from_stored(stored, c.view, ageing, 1232, out);
  Reply r{Bytes(out, out + length), {}, {}};
  EXPECT_EQ(dns::parse_message(r.wire, r.msg), dns::ParseError::Ok);
  dns::for_each_record(r.wire, r.msg, [&](const dns::Record& record) {
    if (record.type != dns::rrtype::OPT) r.ttls.push_back(record.ttl);
    return true;
  });
  return r;
}

TEST(StoredAnswer, ClampingReadsATopBitTtlAsZero) {
  const Bytes answer = Packet()
                           .header(0x2222, 0x8180, 1, 3, 0, 0)
                           .question("www.example.com")
                           .pointer(12)
                           .record(A, 0xffffffffu, a_rdata(1))
                           .pointer(12)
                           .record(A, 0x7fffffffu, a_rdata(2))
                           .pointer(12)
                           .record(A, 300, a_rdata(3))
                           .bytes;
  Bytes stored = store(answer);
  clamp_stored_ttls(stored, 0, 86400);
  EXPECT_EQ(reply(stored, client("www.example.com", false)).ttls,
            (std::vector<std::uint32_t>{0, 86400, 300}));
  stored = store(answer);
  clamp_stored_ttls(stored, 30, 86400);
  EXPECT_EQ(reply(stored, client("www.example.com", false)).ttls,
            (std::vector<std::uint32_t>{30, 86400, 300}));
}

TEST(StoredAnswer, KeepsNoUpstreamOpt) {
  const Bytes answer = upstream_answer();
  const Bytes stored = store(answer);
  EXPECT_LT(stored.size(), answer.size()) << "the OPT and its NSID are not stored";
  const Reply r = reply(stored, client("www.example.com", false));
  EXPECT_FALSE(r.msg.edns.present);
  EXPECT_EQ(r.msg.header.arcount, 0);
  EXPECT_EQ(r.msg.header.ancount, 2);
  EXPECT_EQ(r.msg.header.nscount, 1);
}

TEST(StoredAnswer, ReplyIsTheClientsWithAgedTtls) {
  const Bytes stored = store(upstream_answer());
  const Client c = client("WWW.Example.COM", true);
  const Reply r = reply(stored, c, {.age_s = 100});
  EXPECT_EQ(r.msg.header.id, 0x4321);
  EXPECT_TRUE(r.msg.header.has(dns::flag::RA));
  EXPECT_TRUE(r.msg.header.has(dns::flag::RD));
  EXPECT_FALSE(r.msg.header.has(dns::flag::AA));
  EXPECT_FALSE(r.msg.header.has(dns::flag::AD)) << "stored AD, but not asked for";
  const auto question = r.msg.question.wire(r.wire);
  EXPECT_EQ(Bytes(question.begin(), question.end()),
            Bytes(c.query.begin() + 12, c.query.end() - 11));
  EXPECT_EQ(r.ttls, (std::vector<std::uint32_t>{200, 100, 800}));
  ASSERT_TRUE(r.msg.edns.present);
  EXPECT_EQ(r.msg.edns.udp_size, 1232);
  EXPECT_EQ(r.msg.edns.record_length, dns::kOptRecordSize);
  EXPECT_EQ(r.msg.header.arcount, 1);
}

TEST(StoredAnswer, AdOnlyForClientsAskingWithDo) {
  const Bytes stored = store(upstream_answer());
  EXPECT_TRUE(reply(stored, client("www.example.com", true, true)).msg.header.has(dns::flag::AD));
}

TEST(StoredAnswer, TtlsNeverGoBelowZero) {
  const Reply r = reply(store(upstream_answer()), client("www.example.com", false), {.age_s = 250});
  EXPECT_EQ(r.ttls, (std::vector<std::uint32_t>{50, 0, 650}));
}

TEST(StoredAnswer, ServeStaleSetsEveryTtl) {
  const Reply r = reply(store(upstream_answer()), client("www.example.com", false),
                        {.age_s = 5000, .stale_ttl = 30});
  EXPECT_EQ(r.ttls, (std::vector<std::uint32_t>{30, 30, 30}));
}

TEST(StoredAnswer, TooBigForTheClientIsCutWithTcAndStillAged) {
  Packet p;
  p.header(9, 0x8180, 1, 40, 0, 0).question("big.example.com");
  for (int i = 0; i < 40; ++i) p.pointer(12).record(A, 600, a_rdata(static_cast<std::uint8_t>(i)));
  const Bytes stored = store(p.bytes);
  Client c = client("big.example.com", false);
  c.view.reply_limit = 512;
  const Reply r = reply(stored, c, {.age_s = 10});
  EXPECT_TRUE(r.msg.header.has(dns::flag::TC));
  EXPECT_LE(r.wire.size(), 512u);
  EXPECT_EQ(r.msg.header.ancount, 0) << "one RRset of 40 does not fit: header + question only";
  Client tcp = client("big.example.com", false);
  tcp.view.reply_limit = dns::kMaxMessage;
  const Reply whole = reply(stored, tcp, {.age_s = 10});
  EXPECT_EQ(whole.msg.header.ancount, 40);
  EXPECT_EQ(whole.ttls.front(), 590u);
  EXPECT_EQ(whole.ttls.back(), 590u);
}

TEST(StoredAnswer, RefusesAnotherQuestionLengthAndASmallBuffer) {
  const Bytes stored = store(upstream_answer());
  std::uint8_t out[dns::kMaxMessage];
  EXPECT_EQ(reply_from_stored(stored, client("www.example.org.uk", false).view, {}, 1232, out), 0u);
  std::uint8_t tiny[16];
  EXPECT_EQ(reply_from_stored(stored, client("www.example.com", false).view, {}, 1232, tiny), 0u);
}

}  // namespace
}  // namespace heimdall::cache
