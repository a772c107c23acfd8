// The wire format on hand-built packets, malformed ones included.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "heimdall/dns/build.hpp"
#include "heimdall/dns/extended_error.hpp"
#include "heimdall/dns/message.hpp"
#include "heimdall/dns/name.hpp"
#include "wire_builder.hpp"

namespace heimdall::dns {
namespace {

using testing::a_rdata;
using testing::Bytes;
using testing::Packet;
using testing::soa_rdata;

ParseError parse(const Bytes& wire, Message& msg) { return parse_message(wire, msg); }

std::string text_of(const NameKey& key) {
  char out[kMaxNameWire + 2];
  name_to_text(key.bytes(), out);
  return out;
}

// ---------------------------------------------------------------- names

TEST(Name, FoldsCaseIntoTheKey) {
  const Bytes wire = Packet().header(1, 0, 1, 0, 0, 0).question("WwW.ExAmple.COM").bytes;
  Message msg;
  ASSERT_EQ(parse(wire, msg), ParseError::Ok);
  EXPECT_EQ(text_of(msg.question.name), "www.example.com.");
  EXPECT_EQ(msg.question.name.label_count, 3);
  const Bytes lower = Packet().header(1, 0, 1, 0, 0, 0).question("www.example.com").bytes;
  Message other;
  ASSERT_EQ(parse(lower, other), ParseError::Ok);
  EXPECT_TRUE(msg.question.name == other.question.name);
  EXPECT_NE(Bytes(wire.begin() + 12, wire.end()), Bytes(lower.begin() + 12, lower.end()))
      << "the wire keeps the sender's case";
}

TEST(Name, FollowsBackwardPointersAndStopsInPlaceAfterThem) {
  const Bytes wire = Packet()
                         .header(1, 0x8000, 1, 1, 0, 0)
                         .question("example.com")
                         .raw({3, 'w', 'w', 'w'})
                         .pointer(12)
                         .record(rrtype::A, 60, a_rdata(1))
                         .bytes;
  std::size_t offset = 12 + 13 + 4;
  NameKey key;
  ASSERT_EQ(read_name(wire, offset, &key), ParseError::Ok);
  EXPECT_EQ(text_of(key), "www.example.com.");
  EXPECT_EQ(offset, 12u + 13 + 4 + 4 + 2) << "a pointer counts two bytes in place";
}

TEST(Name, RejectsCompressionLoop) {
  // A name at 12 whose pointer points at itself.
  const Bytes wire = Packet().header(1, 0, 1, 0, 0, 0).pointer(12).u16(1).u16(1).bytes;
  Message msg;
  EXPECT_EQ(parse(wire, msg), ParseError::BadPointer);
  // Two names pointing at each other, reached from a record.
  Bytes loop = Packet().header(1, 0x8000, 1, 1, 0, 0).question("a.com").bytes;
  const std::uint16_t first = static_cast<std::uint16_t>(loop.size());
  Packet tail;
  tail.raw({1, 'x'}).pointer(static_cast<std::uint16_t>(first + 4));  // forward
  tail.raw({1, 'y'}).pointer(first);                                  // back to the first
  loop.insert(loop.end(), tail.bytes.begin(), tail.bytes.end());
  std::size_t offset = first;
  EXPECT_EQ(read_name(loop, offset, nullptr), ParseError::BadPointer);
}

TEST(Name, RejectsForwardPointers) {
  const Bytes wire = Packet()
                         .header(1, 0x8000, 1, 1, 0, 0)
                         .question("a.com")
                         .pointer(200)
                         .record(rrtype::A, 60, a_rdata(1))
                         .bytes;
  Message msg;
  EXPECT_EQ(parse(wire, msg), ParseError::BadPointer);
}

TEST(Name, RejectsAPointerToANameThatRunsOnPastThePointer) {
  // Found by the fuzzer: a pointer at 20 to offset 19 (QCLASS's low byte, read as
  // a label length) makes a name that continues over the pointer into the OPT.
  // Dropping the OPT from a reply then left the name unreadable.
  const Bytes wire = {0x00, 0x06, 0x81, 0x83, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00,
                      0x01, 0x02, 0x6e, 0x6d, 0x00, 0x00, 0x01, 0x00, 0x01, 0xc0, 0x13,
                      0x00, 0x06, 0x00, 0x01, 0x00, 0x51, 0x80, 0x00, 0x00, 0x01, 0x2c,
                      0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  Message msg;
  EXPECT_EQ(parse(wire, msg), ParseError::BadPointer);
}

TEST(Name, RejectsPointersIntoTheHeader) {
  const Bytes wire = Packet()
                         .header(1, 0x8000, 1, 1, 0, 0)
                         .question("a.com")
                         .pointer(2)
                         .record(rrtype::A, 60, a_rdata(1))
                         .bytes;
  Message msg;
  EXPECT_EQ(parse(wire, msg), ParseError::BadPointer);
}

TEST(Name, RejectsLabelsOver63) {
  Bytes wire = Packet().header(1, 0, 1, 0, 0, 0).bytes;
  wire.push_back(64);
  wire.insert(wire.end(), 64, 'a');
  Packet tail;
  tail.raw({0}).u16(1).u16(1);
  wire.insert(wire.end(), tail.bytes.begin(), tail.bytes.end());
  Message msg;
  EXPECT_EQ(parse(wire, msg), ParseError::BadLabelType) << "64 has the 0x40 type bit set";
  std::size_t offset = 12;
  wire[12] = 63;  // now legal: 63 + 1 trailing 'a' read as the next label's length ('a' = 97)
  EXPECT_NE(read_name(wire, offset, nullptr), ParseError::Ok);
}

TEST(Name, RejectsNamesOver255) {
  // 4 labels of 63: 4 * 64 + 1 = 257 octets.
  Bytes wire = Packet().header(1, 0, 1, 0, 0, 0).bytes;
  for (int i = 0; i < 4; ++i) {
    wire.push_back(63);
    wire.insert(wire.end(), 63, 'a');
  }
  Packet tail;
  tail.raw({0}).u16(1).u16(1);
  wire.insert(wire.end(), tail.bytes.begin(), tail.bytes.end());
  Message msg;
  EXPECT_EQ(parse(wire, msg), ParseError::NameTooLong);
}

TEST(Name, AcceptsExactly255Octets) {
  const std::string text = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                           std::string(63, 'c') + "." + std::string(61, 'd');
  const Bytes wire = Packet().header(1, 0, 1, 0, 0, 0).question(text.c_str()).bytes;
  Message msg;
  ASSERT_EQ(parse(wire, msg), ParseError::Ok);
  EXPECT_EQ(msg.question.name.length, 255);
  std::uint8_t out[kMaxNameWire];
  EXPECT_EQ(name_from_text((text + "e").c_str(), out), 0u) << "one more octet is too long";
}

TEST(Name, RejectsReservedLabelTypes) {
  const Bytes wire = Packet().header(1, 0, 1, 0, 0, 0).raw({0x80, 0, 0, 1, 0, 1}).bytes;
  Message msg;
  EXPECT_EQ(parse(wire, msg), ParseError::BadLabelType);
}

TEST(Name, ConvertsTextBothWays) {
  std::uint8_t wire[kMaxNameWire];
  ASSERT_EQ(name_from_text("example.com.", wire), 13u);
  EXPECT_EQ(name_from_text("example.com", wire), 13u);
  EXPECT_EQ(name_from_text(".", wire), 1u);
  EXPECT_EQ(name_from_text("a..b", wire), 0u);
  EXPECT_EQ(name_from_text("", wire), 0u);
  char text[64];
  ASSERT_EQ(name_from_text("Mail.Example.com", wire), 18u);
  name_to_text({wire, 18}, text);
  EXPECT_STREQ(text, "Mail.Example.com.");
  name_to_text({wire, 1}, text);
}

// ---------------------------------------------------------------- messages

TEST(Message, RejectsATruncatedHeader) {
  Message msg;
  EXPECT_EQ(parse(Bytes{0, 1, 0, 0, 0}, msg), ParseError::Truncated);
}

TEST(Message, AcceptsNoQuestionAndRejectsTwo) {
  Message msg;
  EXPECT_EQ(parse(Packet().header(1, 0x8001, 0, 0, 0, 0).bytes, msg), ParseError::Ok);
  EXPECT_FALSE(msg.has_question);
  const Bytes two = Packet().header(1, 0, 2, 0, 0, 0).question("a.com").question("b.com").bytes;
  EXPECT_EQ(parse(two, msg), ParseError::BadQuestionCount);
}

TEST(Message, RejectsATruncatedQuestionAndRecord) {
  Bytes wire = Packet().header(1, 0, 1, 0, 0, 0).question("a.com").bytes;
  wire.pop_back();
  Message msg;
  EXPECT_EQ(parse(wire, msg), ParseError::Truncated);
  Bytes answer = Packet()
                     .header(1, 0x8000, 1, 1, 0, 0)
                     .question("a.com")
                     .pointer(12)
                     .record(rrtype::A, 60, a_rdata(1))
                     .bytes;
  answer.pop_back();
  EXPECT_EQ(parse(answer, msg), ParseError::Truncated) << "RDATA shorter than RDLENGTH";
}

TEST(Message, RejectsTrailingGarbage) {
  Bytes wire = Packet().header(1, 0, 1, 0, 0, 0).question("a.com").bytes;
  wire.push_back(0);
  Message msg;
  EXPECT_EQ(parse(wire, msg), ParseError::TrailingData);
}

TEST(Message, WalksEverySectionAndRecordsTtlOffsets) {
  const Bytes wire = Packet()
                         .header(1, 0x8180, 1, 2, 1, 1)
                         .question("www.example.com")
                         .pointer(12)
                         .record(rrtype::A, 300, a_rdata(1))
                         .pointer(12)
                         .record(rrtype::A, 200, a_rdata(2))
                         .pointer(16)
                         .record(rrtype::NS, 900, Packet().name("ns.example.com").bytes)
                         .opt()
                         .bytes;
  Message msg;
  ASSERT_EQ(parse(wire, msg), ParseError::Ok);
  std::vector<Record> records;
  for_each_record(wire, msg, [&](const Record& r) {
    records.push_back(r);
    return true;
  });
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[0].section, Section::Answer);
  EXPECT_EQ(records[2].section, Section::Authority);
  EXPECT_EQ(records[3].section, Section::Additional);
  EXPECT_EQ(records[3].type, rrtype::OPT);
  for (const Record& r : records) {
    EXPECT_EQ(load_u32(wire.data() + r.ttl_offset), r.ttl);
  }
  EXPECT_EQ(records[1].ttl, 200u);
  EXPECT_EQ(msg.end, wire.size());
}

TEST(Message, ParsesEdns) {
  const Bytes options = Packet().u16(10).u16(8).u32(1).u32(2).u16(65001).u16(0).bytes;
  const Bytes wire =
      Packet().header(1, 0, 1, 0, 0, 1).question("a.com").opt(4096, true, 0, options).bytes;
  Message msg;
  ASSERT_EQ(parse(wire, msg), ParseError::Ok) << "unknown options are ignored";
  EXPECT_TRUE(msg.edns.present);
  EXPECT_EQ(msg.edns.udp_size, 4096);
  EXPECT_TRUE(msg.edns.dnssec_ok);
  EXPECT_EQ(msg.edns.version, 0);
  EXPECT_EQ(msg.edns.record_length, 11 + options.size());

  const Bytes v1 =
      Packet().header(1, 0, 1, 0, 0, 1).question("a.com").opt(512, false, 1, {}, 3).bytes;
  ASSERT_EQ(parse(v1, msg), ParseError::Ok);
  EXPECT_EQ(msg.edns.version, 1);
  EXPECT_EQ(msg.edns.extended_rcode, 3);
  EXPECT_FALSE(msg.edns.dnssec_ok);
}

TEST(Message, RejectsOptInTheWrongSectionTwiceOrMalformed) {
  Message msg;
  const Bytes in_answer = Packet().header(1, 0, 1, 1, 0, 0).question("a.com").opt().bytes;
  EXPECT_EQ(parse(in_answer, msg), ParseError::OptNotInAdditional);
  const Bytes in_authority = Packet().header(1, 0, 1, 0, 1, 0).question("a.com").opt().bytes;
  EXPECT_EQ(parse(in_authority, msg), ParseError::OptNotInAdditional);
  const Bytes twice = Packet().header(1, 0, 1, 0, 0, 2).question("a.com").opt().opt().bytes;
  EXPECT_EQ(parse(twice, msg), ParseError::DuplicateOpt);
  const Bytes named = Packet()
                          .header(1, 0, 1, 0, 0, 1)
                          .question("a.com")
                          .name("x.com")
                          .record(rrtype::OPT, 0, {}, 1232)
                          .bytes;
  EXPECT_EQ(parse(named, msg), ParseError::BadOpt);
  const Bytes bad_option = Packet()
                               .header(1, 0, 1, 0, 0, 1)
                               .question("a.com")
                               .opt(1232, false, 0, {0, 10, 0, 9, 1})
                               .bytes;
  EXPECT_EQ(parse(bad_option, msg), ParseError::BadOpt) << "option longer than the RDATA";
}

TEST(Message, NegativeTtlIsTheSmallerOfSoaTtlAndMinimum) {
  Message msg;
  const Bytes minimum_smaller = Packet()
                                    .header(1, 0x8183, 1, 0, 1, 0)
                                    .question("nx.example.com")
                                    .pointer(15)
                                    .record(rrtype::SOA, 3600, soa_rdata(300))
                                    .bytes;
  ASSERT_EQ(parse(minimum_smaller, msg), ParseError::Ok);
  EXPECT_EQ(negative_ttl(minimum_smaller, msg), 300u);
  const Bytes ttl_smaller = Packet()
                                .header(1, 0x8183, 1, 0, 1, 0)
                                .question("nx.example.com")
                                .pointer(15)
                                .record(rrtype::SOA, 60, soa_rdata(300))
                                .bytes;
  ASSERT_EQ(parse(ttl_smaller, msg), ParseError::Ok);
  EXPECT_EQ(negative_ttl(ttl_smaller, msg), 60u);
  const Bytes no_soa = Packet().header(1, 0x8183, 1, 0, 0, 0).question("nx.example.com").bytes;
  ASSERT_EQ(parse(no_soa, msg), ParseError::Ok);
  EXPECT_FALSE(negative_ttl(no_soa, msg).has_value());
}

TEST(Message, NegativeTtlReadsATopBitTtlAsZero) {
  Message msg;
  const Bytes top_bit = Packet()
                            .header(1, 0x8183, 1, 0, 1, 0)
                            .question("nx.example.com")
                            .pointer(15)
                            .record(rrtype::SOA, 0x80000000u, soa_rdata(300))
                            .bytes;
  ASSERT_EQ(parse(top_bit, msg), ParseError::Ok);
  EXPECT_EQ(negative_ttl(top_bit, msg), 0u) << "RFC 2181 §8";
  const Bytes top_bit_minimum = Packet()
                                    .header(1, 0x8183, 1, 0, 1, 0)
                                    .question("nx.example.com")
                                    .pointer(15)
                                    .record(rrtype::SOA, 3600, soa_rdata(0xffffffffu))
                                    .bytes;
  ASSERT_EQ(parse(top_bit_minimum, msg), ParseError::Ok);
  EXPECT_EQ(negative_ttl(top_bit_minimum, msg), 0u);
}

TEST(Ttl, TopBitMeansZeroThenTheBoundsApply) {
  EXPECT_EQ(ttl_value(0x7fffffffu), 0x7fffffffu);
  EXPECT_EQ(ttl_value(0x80000000u), 0u);
  EXPECT_EQ(ttl_value(0xffffffffu), 0u);
  EXPECT_EQ(clamp_ttl(0xffffffffu, 0, 86400), 0u);
  EXPECT_EQ(clamp_ttl(0xffffffffu, 60, 86400), 60u) << "min_ttl raises a zero";
  EXPECT_EQ(clamp_ttl(0x7fffffffu, 0, 86400), 86400u);
  EXPECT_EQ(clamp_ttl(300, 0, 86400), 300u);
}

// ---------------------------------------------------------------- building

ClientView client_of(const Bytes& query, const Message& msg, std::uint16_t limit) {
  return ClientView{.id = msg.header.id,
                    .flags = msg.header.flags,
                    .question = msg.question.wire(query),
                    .edns = msg.edns.present,
                    .dnssec_ok = msg.edns.dnssec_ok,
                    .reply_limit = limit};
}

// The reply to `query` built from `upstream` within `limit` bytes, parsed back.
struct Built {
  Bytes wire;
  Message msg;
};

Built reply_for(const Bytes& query, const Bytes& upstream, std::uint16_t limit) {
  Message qmsg, umsg;
  EXPECT_EQ(parse(query, qmsg), ParseError::Ok);
  EXPECT_EQ(parse(upstream, umsg), ParseError::Ok);
  std::uint8_t out[kMaxMessage];
  const std::size_t length = build_reply(upstream, umsg, client_of(query, qmsg, limit), 1232, out);
  Built built{Bytes(out, out + length), Message{}};
  EXPECT_LE(length, limit);
  EXPECT_EQ(parse(built.wire, built.msg), ParseError::Ok);
  return built;
}

TEST(Build, ReplyIsTheAppliancesOwn) {
  const Bytes query =
      Packet().header(0x1111, 0x0110, 1, 0, 0, 1).question("WWW.example.com").opt(1232, true).bytes;
  const Bytes nsid = Packet().u16(3).u16(4).u32(0x61626364).bytes;
  const Bytes upstream = Packet()
                             .header(0x2222, 0x8580 | 0x0020, 1, 1, 0, 1)
                             .question("www.example.com")
                             .pointer(12)
                             .record(rrtype::A, 300, a_rdata(1))
                             .opt(4096, true, 0, nsid)
                             .bytes;
  const auto [reply, msg] = reply_for(query, upstream, 1232);
  EXPECT_EQ(msg.header.id, 0x1111);
  EXPECT_TRUE(msg.header.has(flag::QR));
  EXPECT_TRUE(msg.header.has(flag::RD));
  EXPECT_TRUE(msg.header.has(flag::RA));
  EXPECT_TRUE(msg.header.has(flag::CD)) << "CD copied from the client";
  EXPECT_FALSE(msg.header.has(flag::AA));
  EXPECT_TRUE(msg.header.has(flag::AD)) << "the client asked with DO";
  const auto echoed = msg.question.wire(reply);
  EXPECT_EQ(Bytes(echoed.begin(), echoed.end()), Bytes(query.begin() + 12, query.end() - 11));
  ASSERT_TRUE(msg.edns.present);
  EXPECT_EQ(msg.edns.udp_size, 1232) << "our size, not the upstream's 4096";
  EXPECT_TRUE(msg.edns.dnssec_ok);
  EXPECT_EQ(msg.edns.record_length, kOptRecordSize) << "the upstream's NSID is not passed on";
  EXPECT_EQ(msg.header.ancount, 1);
  EXPECT_EQ(msg.header.arcount, 1);
}

// The TTL of each answer record of a reply.
std::vector<std::uint32_t> ttls_of(const Bytes& wire, const Message& msg) {
  std::vector<std::uint32_t> ttls;
  for_each_record(wire, msg, [&](const Record& record) {
    ttls.push_back(record.ttl);
    return true;
  });
  return ttls;
}

TEST(Build, ReplyTtlsAreClampedAndATopBitTtlIsZero) {
  const Bytes query = Packet().header(7, 0x0100, 1, 0, 0, 0).question("a.com").bytes;
  const Bytes upstream = Packet()
                             .header(9, 0x8180, 1, 4, 0, 0)
                             .question("a.com")
                             .pointer(12)
                             .record(rrtype::A, 0xffffffffu, a_rdata(1))
                             .pointer(12)
                             .record(rrtype::A, 0x7fffffffu, a_rdata(2))
                             .pointer(12)
                             .record(rrtype::A, 300, a_rdata(3))
                             .pointer(12)
                             .record(rrtype::A, 5, a_rdata(4))
                             .bytes;
  Message qmsg, umsg;
  ASSERT_EQ(parse(query, qmsg), ParseError::Ok);
  ASSERT_EQ(parse(upstream, umsg), ParseError::Ok);
  std::uint8_t out[512];
  std::size_t length = build_reply(upstream, umsg, client_of(query, qmsg, 512), 1232, out);
  Message msg;
  ASSERT_EQ(parse(Bytes(out, out + length), msg), ParseError::Ok);
  EXPECT_EQ(ttls_of(Bytes(out, out + length), msg),
            (std::vector<std::uint32_t>{0, 0x7fffffffu, 300, 5}))
      << "without bounds only RFC 2181 §8 applies";
  length = build_reply(upstream, umsg, client_of(query, qmsg, 512), 1232, out,
                       TtlBounds{.floor = 10, .ceiling = 86400});
  ASSERT_EQ(parse(Bytes(out, out + length), msg), ParseError::Ok);
  EXPECT_EQ(ttls_of(Bytes(out, out + length), msg),
            (std::vector<std::uint32_t>{10, 86400, 300, 10}));
  EXPECT_EQ(load_u32(upstream.data() + 12 + 11 + 6), 0xffffffffu) << "the upstream's bytes stay";
}

TEST(Build, ReplyHasNoOptOrAdWhenTheClientSentNoOpt) {
  const Bytes query = Packet().header(7, 0x0100, 1, 0, 0, 0).question("a.com").bytes;
  const Bytes upstream = Packet()
                             .header(9, 0x81a0, 1, 1, 0, 1)
                             .question("a.com")
                             .pointer(12)
                             .record(rrtype::A, 60, a_rdata(1))
                             .opt()
                             .bytes;
  const Message msg = reply_for(query, upstream, 512).msg;
  EXPECT_FALSE(msg.edns.present);
  EXPECT_EQ(msg.header.arcount, 0);
  EXPECT_FALSE(msg.header.has(flag::AD)) << "RFC 6840 §5.8: only when asked with AD or DO";
}

// An answer of `count` A records for big.example.com, each 16 bytes on the wire,
// and `extra_additional` glue records after them.
Bytes big_answer(int count, std::uint16_t extra_additional = 0) {
  Packet p;
  p.header(9, 0x8180, 1, static_cast<std::uint16_t>(count), 0, extra_additional)
      .question("big.example.com");
  for (int i = 0; i < count; ++i)
    p.pointer(12).record(rrtype::A, 60, a_rdata(static_cast<std::uint8_t>(i)));
  for (int i = 0; i < extra_additional; ++i) {
    p.name("glue.example.com").record(rrtype::A, 60, a_rdata(static_cast<std::uint8_t>(i)));
  }
  return p.bytes;
}

const Bytes kBigQuery = Packet().header(1, 0x0100, 1, 0, 0, 0).question("big.example.com").bytes;

TEST(Build, TruncatesAtRrsetBoundariesWithTc) {
  // Two RRsets: 20 A records for big.example.com, then 20 AAAA records.
  Packet p;
  p.header(9, 0x8180, 1, 40, 0, 0).question("big.example.com");
  for (int i = 0; i < 20; ++i) p.pointer(12).record(rrtype::A, 60, a_rdata(1));
  for (int i = 0; i < 20; ++i) p.pointer(12).record(rrtype::AAAA, 60, Bytes(16, 1));
  const Message msg = reply_for(kBigQuery, p.bytes, 512).msg;
  EXPECT_TRUE(msg.header.has(flag::TC));
  EXPECT_EQ(msg.header.ancount, 20) << "the whole A RRset (33 + 20 * 16 = 353 bytes), no AAAA";
}

TEST(Build, ATruncatedReplyClampsTheRecordsItKeeps) {
  Packet p;
  p.header(9, 0x8180, 1, 40, 0, 0).question("big.example.com");
  for (int i = 0; i < 20; ++i) p.pointer(12).record(rrtype::A, 0x80000001u, a_rdata(1));
  for (int i = 0; i < 20; ++i) p.pointer(12).record(rrtype::AAAA, 0x80000001u, Bytes(16, 1));
  const auto [reply, msg] = reply_for(kBigQuery, p.bytes, 512);
  EXPECT_TRUE(msg.header.has(flag::TC));
  for (const std::uint32_t ttl : ttls_of(reply, msg)) EXPECT_EQ(ttl, 0u);
}

TEST(Build, KeepsOnlyHeaderQuestionAndOptWhenNothingFits) {
  const Bytes query =
      Packet().header(1, 0x0100, 1, 0, 0, 1).question("big.example.com").opt(512).bytes;
  const auto [reply, msg] = reply_for(query, big_answer(60), 512);
  EXPECT_EQ(reply.size(), 12u + 21 + kOptRecordSize);
  EXPECT_TRUE(msg.header.has(flag::TC));
  EXPECT_EQ(msg.header.ancount, 0);
  EXPECT_TRUE(msg.edns.present) << "the OPT is kept when truncating";
}

TEST(Build, DropsAdditionalRecordsWithoutTc) {
  const Message msg = reply_for(kBigQuery, big_answer(20, 20), 512).msg;
  EXPECT_FALSE(msg.header.has(flag::TC)) << "RFC 2181 §9: additional data is optional";
  EXPECT_EQ(msg.header.ancount, 20);
  EXPECT_EQ(msg.header.arcount, 0);
}

TEST(Build, KeepsTheUpstreamsTcBit) {
  const Bytes upstream = Packet().header(9, 0x8380, 1, 0, 0, 0).question("big.example.com").bytes;
  EXPECT_TRUE(reply_for(kBigQuery, upstream, 512).msg.header.has(flag::TC));
}

TEST(Build, RefusesAQuestionOfAnotherLengthAndATooSmallBuffer) {
  const Bytes upstream = big_answer(2);
  const Bytes other = Packet().header(1, 0x0100, 1, 0, 0, 0).question("big.example.org.uk").bytes;
  Message qmsg, umsg;
  ASSERT_EQ(parse(other, qmsg), ParseError::Ok);
  ASSERT_EQ(parse(upstream, umsg), ParseError::Ok);
  std::uint8_t out[512];
  EXPECT_EQ(build_reply(upstream, umsg, client_of(other, qmsg, 512), 1232, out), 0u);
  const Bytes query = Packet().header(1, 0x0100, 1, 0, 0, 0).question("big.example.com").bytes;
  ASSERT_EQ(parse(query, qmsg), ParseError::Ok);
  std::uint8_t tiny[20];
  EXPECT_EQ(build_reply(upstream, umsg, client_of(query, qmsg, 512), 1232, tiny), 0u);
}

TEST(Build, ErrorRepliesCarryTheRcodeAndEchoTheQuestion) {
  const Bytes query = Packet().header(0x5555, 0x0100, 1, 0, 0, 1).question("a.com").opt().bytes;
  Message qmsg;
  ASSERT_EQ(parse(query, qmsg), ParseError::Ok);
  for (Rcode rcode : {Rcode::FormErr, Rcode::ServFail, Rcode::NotImp, Rcode::Refused}) {
    std::uint8_t out[512];
    const std::size_t length = build_error(client_of(query, qmsg, 512), rcode, 1232, out);
    Message msg;
    ASSERT_EQ(parse(Bytes(out, out + length), msg), ParseError::Ok);
    EXPECT_EQ(msg.header.rcode(), static_cast<std::uint8_t>(rcode));
    EXPECT_EQ(msg.header.id, 0x5555);
    EXPECT_TRUE(msg.has_question);
    EXPECT_TRUE(msg.edns.present);
    EXPECT_EQ(msg.edns.extended_rcode, 0);
  }
  ClientView headless;
  headless.id = 3;
  headless.flags = 0x0100;
  std::uint8_t out[512];
  const std::size_t length = build_error(headless, Rcode::FormErr, 1232, out);
  EXPECT_EQ(length, kHeaderSize);
  EXPECT_EQ(Header::read(out).qdcount, 0);
}

TEST(Build, ErrorsToOtherOpcodesCarryNoQueryOnlyFlags) {
  // Opcode 15 with RD, CD and AD set, and DO: RA, AD and CD are QUERY's only.
  const Bytes query = Packet()
                          .header(0x4444, 0x7800 | 0x0100 | 0x0020 | 0x0010, 1, 0, 0, 1)
                          .question("a.com")
                          .opt(1232, true)
                          .bytes;
  Message qmsg;
  ASSERT_EQ(parse(query, qmsg), ParseError::Ok);
  for (Rcode rcode : {Rcode::NotImp, Rcode::Refused, Rcode::FormErr}) {
    std::uint8_t out[512];
    const std::size_t length = build_error(client_of(query, qmsg, 512), rcode, 1232, out);
    Message msg;
    ASSERT_EQ(parse(Bytes(out, out + length), msg), ParseError::Ok);
    EXPECT_EQ(msg.header.rcode(), static_cast<std::uint8_t>(rcode));
    EXPECT_EQ(msg.header.flags & flag::kOpcodeMask, 0x7800) << "the opcode is echoed";
    EXPECT_TRUE(msg.header.has(flag::QR));
    EXPECT_FALSE(msg.header.has(flag::RA));
    EXPECT_FALSE(msg.header.has(flag::CD));
    EXPECT_FALSE(msg.header.has(flag::AD));
    EXPECT_FALSE(msg.header.has(flag::AA));
  }
  // The same query as a QUERY keeps RA and CD.
  Bytes as_query = query;
  as_query[2] &= 0x87;
  ASSERT_EQ(parse(as_query, qmsg), ParseError::Ok);
  std::uint8_t out[512];
  const std::size_t length =
      build_error(client_of(as_query, qmsg, 512), Rcode::ServFail, 1232, out);
  const Header header = Header::read(out);
  ASSERT_GT(length, 0u);
  EXPECT_TRUE(header.has(flag::RA));
  EXPECT_TRUE(header.has(flag::CD));
  EXPECT_TRUE(header.has(flag::RD));
}

TEST(Build, ChaosTxtAnswerCarriesTheTextInClassCh) {
  Bytes query = Packet().header(0x0102, 0x0100, 1, 0, 0, 1).question("VERSION.bind").opt().bytes;
  // QTYPE TXT, QCLASS CH.
  const std::size_t qtype_at = 12 + 14;
  store_u16(query.data() + qtype_at, rrtype::TXT);
  store_u16(query.data() + qtype_at + 2, rrclass::CH);
  Message qmsg;
  ASSERT_EQ(parse(query, qmsg), ParseError::Ok);
  const std::string text = "heimdall 1.0";
  std::uint8_t out[512];
  const std::size_t length =
      build_chaos_txt(client_of(query, qmsg, 512),
                      {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()}, 1232, out);
  const Bytes reply(out, out + length);
  Message msg;
  ASSERT_EQ(parse(reply, msg), ParseError::Ok);
  EXPECT_EQ(msg.header.id, 0x0102);
  EXPECT_EQ(msg.header.rcode(), 0);
  EXPECT_TRUE(msg.header.has(flag::AA));
  EXPECT_EQ(msg.header.ancount, 1);
  EXPECT_TRUE(msg.edns.present);
  const auto echoed = msg.question.wire(reply);
  EXPECT_EQ(Bytes(echoed.begin(), echoed.end()), Bytes(query.begin() + 12, query.end() - 11))
      << "the client's case";
  std::vector<Record> records;
  for_each_record(reply, msg, [&](const Record& record) {
    records.push_back(record);
    return true;
  });
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].type, rrtype::TXT);
  EXPECT_EQ(records[0].rclass, rrclass::CH);
  EXPECT_EQ(records[0].ttl, 0u);
  ASSERT_EQ(records[0].rdlength, text.size() + 1);
  EXPECT_EQ(reply[records[0].rdata_offset], text.size());
  EXPECT_EQ(
      std::string(reply.begin() + records[0].rdata_offset + 1, reply.begin() + records[0].end),
      text);
  const std::string too_long(256, 'x');
  EXPECT_EQ(
      build_chaos_txt(client_of(query, qmsg, 512),
                      {reinterpret_cast<const std::uint8_t*>(too_long.data()), 256}, 1232, out),
      0u);
}

TEST(Build, BadversLivesInTheOpt) {
  const Bytes query =
      Packet().header(1, 0x0100, 1, 0, 0, 1).question("a.com").opt(1232, false, 1).bytes;
  Message qmsg;
  ASSERT_EQ(parse(query, qmsg), ParseError::Ok);
  ClientView view = client_of(query, qmsg, 512);
  view.edns = false;  // even when the caller would not echo an OPT
  std::uint8_t out[512];
  const std::size_t length = build_error(view, Rcode::BadVers, 1232, out);
  Message msg;
  ASSERT_EQ(parse(Bytes(out, out + length), msg), ParseError::Ok);
  EXPECT_EQ(msg.header.rcode(), 0);
  ASSERT_TRUE(msg.edns.present);
  EXPECT_EQ(msg.edns.extended_rcode, 1);
  EXPECT_EQ(msg.edns.version, 0);
}

TEST(Build, UpstreamQueryCarriesTheClientsQuestionAndOurEdns) {
  const Bytes query =
      Packet().header(1, 0x0110, 1, 0, 0, 1).question("MiXeD.example").opt(4096, true).bytes;
  Message qmsg;
  ASSERT_EQ(parse(query, qmsg), ParseError::Ok);
  std::uint8_t out[512];
  const std::size_t length = build_upstream_query(client_of(query, qmsg, 512), 0xbeef, 1232, out);
  const Bytes sent(out, out + length);
  Message msg;
  ASSERT_EQ(parse(sent, msg), ParseError::Ok);
  EXPECT_EQ(msg.header.id, 0xbeef);
  EXPECT_FALSE(msg.header.has(flag::QR));
  EXPECT_TRUE(msg.header.has(flag::RD));
  EXPECT_TRUE(msg.header.has(flag::CD));
  EXPECT_TRUE(msg.header.has(flag::AD)) << "DO implies interest in AD";
  EXPECT_EQ(msg.edns.udp_size, 1232);
  EXPECT_TRUE(msg.edns.dnssec_ok);
  const auto q = msg.question.wire(sent);
  EXPECT_EQ(q[1], 'M') << "case preserved";
}

TEST(Build, UdpReplyLimitFollowsTheClientWithinOurCap) {
  Edns edns;
  EXPECT_EQ(udp_reply_limit(edns, 1232), 512) << "no EDNS: 512";
  edns.present = true;
  edns.udp_size = 100;
  EXPECT_EQ(udp_reply_limit(edns, 1232), 512) << "below 512 counts as 512";
  edns.udp_size = 1000;
  EXPECT_EQ(udp_reply_limit(edns, 1232), 1000);
  edns.udp_size = 4096;
  EXPECT_EQ(udp_reply_limit(edns, 1232), 1232);
}

TEST(ExtendedError, GoesIntoTheReplysOptOnlyWhenThereIsOneAndRoom) {
  const Bytes with_opt =
      Packet().header(0x5555, 0x0100, 1, 0, 0, 1).question("a.com").opt(1232, false).bytes;
  const Bytes without = Packet().header(0x5555, 0x0100, 1, 0, 0, 0).question("a.com").bytes;
  Message qmsg;
  ASSERT_EQ(parse(with_opt, qmsg), ParseError::Ok);
  std::uint8_t out[512];
  const std::size_t length = build_error(client_of(with_opt, qmsg, 512), Rcode::Refused, 1232, out);
  const std::size_t longer = add_extended_error(out, length, 512, {ede::kBlocked, "ads list"});
  ASSERT_EQ(longer, length + 4 + 2 + 8);
  Message msg;
  ASSERT_EQ(parse(Bytes(out, out + longer), msg), ParseError::Ok) << "still one well-formed OPT";
  EXPECT_TRUE(msg.edns.present);
  EXPECT_EQ(load_u16(out + length - 2), 14) << "RDLENGTH: the option";
  EXPECT_EQ(load_u16(out + length), kEdeOptionCode);
  EXPECT_EQ(load_u16(out + length + 2), 10);
  EXPECT_EQ(load_u16(out + length + 4), ede::kBlocked);
  EXPECT_EQ(std::string(out + length + 6, out + longer), "ads list");

  // No room for all of the text: cut; no room for the code: nothing added.
  const std::size_t again = build_error(client_of(with_opt, qmsg, 512), Rcode::Refused, 1232, out);
  EXPECT_EQ(add_extended_error(out, again, again + 9, {ede::kBlocked, "ads list"}), again + 9);
  EXPECT_EQ(std::string(out + again + 6, out + again + 9), "ads");
  const std::size_t third = build_error(client_of(with_opt, qmsg, 512), Rcode::Refused, 1232, out);
  EXPECT_EQ(add_extended_error(out, third, third + 5, {ede::kBlocked, {}}), third);
  EXPECT_EQ(add_extended_error(out, third, 512, {ede::kNone, "x"}), third);

  ASSERT_EQ(parse(without, qmsg), ParseError::Ok);
  const std::size_t bare = build_error(client_of(without, qmsg, 512), Rcode::Refused, 1232, out);
  EXPECT_EQ(add_extended_error(out, bare, 512, {ede::kProhibited, {}}), bare)
      << "a client that sent no OPT gets none (RFC 8914 §3)";
}

}  // namespace
}  // namespace heimdall::dns
