#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "heimdall/dns/message.hpp"
#include "heimdall/filter/local_data.hpp"
#include "wire_builder.hpp"

namespace heimdall::filter {
namespace {

using dns::parse_record;
using dns::RecordLine;
using testing::Bytes;
using testing::Packet;

Bytes name_wire(const char* text) {
  Packet p;
  p.name(text);
  return p.bytes;
}

Bytes rdata(const RecordLine& record) { return {record.rdata, record.rdata + record.rdata_length}; }

RecordLine parsed(std::string_view line, std::string_view origin = {}) {
  RecordLine record;
  std::string error;
  EXPECT_TRUE(parse_record(line, origin, 3600, record, error)) << line << ": " << error;
  return record;
}

std::string parse_error(std::string_view line) {
  RecordLine record;
  std::string error;
  EXPECT_FALSE(parse_record(line, {}, 3600, record, error)) << line;
  return error;
}

TEST(ParseRecord, ReadsAnAddressRecord) {
  const RecordLine r = parsed("router.lan. 300 IN A 192.168.1.1");
  EXPECT_EQ(Bytes(r.owner, r.owner + r.owner_length), name_wire("router.lan"));
  EXPECT_EQ(r.type, dns::rrtype::A);
  EXPECT_EQ(r.rrclass, dns::rrclass::IN);
  EXPECT_EQ(r.ttl, 300u);
  EXPECT_EQ(rdata(r), (Bytes{192, 168, 1, 1}));
}

TEST(ParseRecord, TtlAndClassAreOptionalAndInEitherOrder) {
  EXPECT_EQ(parsed("a.lan. IN 1h A 10.0.0.1").ttl, 3600u);
  EXPECT_EQ(parsed("a.lan. 1h30m A 10.0.0.1").ttl, 5400u);
  EXPECT_EQ(parsed("a.lan. in a 10.0.0.1").ttl, 3600u) << "the default TTL; case-insensitive";
  EXPECT_EQ(parsed("a.lan. 2d IN A 10.0.0.1").ttl, 172800u);
  EXPECT_EQ(parse_error("a.lan. 2147483648 A 10.0.0.1"), "bad TTL '2147483648'")
      << "RFC 2181 §8: at most 2^31-1";
}

TEST(ParseRecord, ReadsAaaaCnamePtrMxAndSrv) {
  EXPECT_EQ(rdata(parsed("nas.lan. AAAA 2001:db8::1")),
            (Bytes{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}));
  const RecordLine cname = parsed("www.lan. CNAME Router.lan.");
  EXPECT_EQ(cname.type, dns::rrtype::CNAME);
  EXPECT_EQ(rdata(cname), name_wire("Router.lan")) << "rdata names keep their case";
  EXPECT_EQ(rdata(parsed("1.1.168.192.in-addr.arpa. PTR router.lan.")), name_wire("router.lan"));
  Bytes mx = {0, 10};
  const Bytes exchange = name_wire("mail.lan");
  mx.insert(mx.end(), exchange.begin(), exchange.end());
  EXPECT_EQ(rdata(parsed("lan. MX 10 mail.lan.")), mx);
  Bytes srv = {0, 1, 0, 5, 0x01, 0xbb};
  const Bytes target = name_wire("web.lan");
  srv.insert(srv.end(), target.begin(), target.end());
  EXPECT_EQ(rdata(parsed("_https._tcp.lan. SRV 1 5 443 web.lan.")), srv);
}

TEST(ParseRecord, ReadsTxtStringsWithEscapes) {
  const RecordLine txt = parsed(R"(t.lan. TXT "v=spf1 -all" "a \"quoted\" \059 word" bare)");
  Bytes expected = {11};
  for (const char c : std::string("v=spf1 -all")) expected.push_back(static_cast<std::uint8_t>(c));
  expected.push_back(17);
  for (const char c : std::string("a \"quoted\" ; word")) {
    expected.push_back(static_cast<std::uint8_t>(c));
  }
  expected.insert(expected.end(), {4, 'b', 'a', 'r', 'e'});
  EXPECT_EQ(rdata(txt), expected);
  EXPECT_EQ(parse_error("t.lan. TXT \"open"), "unterminated quoted string");
  EXPECT_EQ(parse_error("t.lan. TXT " + std::string(256, 'x')), "TXT string longer than 255 bytes");
}

TEST(ParseRecord, CompletesRelativeNamesWithTheOrigin) {
  const RecordLine r = parsed("www CNAME @", "example.com.");
  EXPECT_EQ(Bytes(r.owner, r.owner + r.owner_length), name_wire("www.example.com"));
  EXPECT_EQ(rdata(r), name_wire("example.com"));
  EXPECT_EQ(rdata(parsed("mail MX 5 mx1", "example.com")).size(),
            2 + name_wire("mx1.example.com").size());
  const RecordLine absolute = parsed("www.other. A 192.0.2.1", "example.com.");
  EXPECT_EQ(Bytes(absolute.owner, absolute.owner + absolute.owner_length), name_wire("www.other"));
  const RecordLine no_origin = parsed("router.lan A 192.0.2.1");
  EXPECT_EQ(Bytes(no_origin.owner, no_origin.owner + no_origin.owner_length),
            name_wire("router.lan"))
      << "without an origin every name is absolute";
}

TEST(ParseRecord, ParenthesesAndCommentsSpanASoa) {
  const RecordLine soa = parsed(
      "@ 3600 SOA ns.example. hostmaster.example. ( 7 1h 15m 1w 300 ) ; the zone", "rpz.local.");
  EXPECT_EQ(soa.type, dns::rrtype::SOA);
  EXPECT_EQ(Bytes(soa.owner, soa.owner + soa.owner_length), name_wire("rpz.local"));
  const Bytes tail(soa.rdata + soa.rdata_length - 20, soa.rdata + soa.rdata_length);
  EXPECT_EQ(tail, (Bytes{0,    0,    0, 7,    0,    0,    0x0e, 0x10, 0,    0,
                         0x03, 0x84, 0, 0x09, 0x3a, 0x80, 0,    0,    0x01, 0x2c}));
}

TEST(ParseRecord, ExplainsWhatIsWrong) {
  EXPECT_EQ(parse_error("a.lan. 300 IN FOO 1"), "unknown type 'FOO'");
  EXPECT_EQ(parse_error("a.lan. A 1.2.3"), "bad IPv4 address '1.2.3'");
  EXPECT_EQ(parse_error("a.lan. AAAA 1.2.3.4"), "bad IPv6 address '1.2.3.4'");
  EXPECT_EQ(parse_error("a.lan. CH A 1.2.3.4"), "class 'CH' not supported (IN only)");
  EXPECT_EQ(parse_error("a.lan. A"), "missing address");
  EXPECT_EQ(parse_error("a.lan. 300"), "missing type");
  EXPECT_EQ(parse_error("a.lan. A 1.2.3.4 5.6.7.8"), "unexpected '5.6.7.8' after the A data");
  EXPECT_EQ(parse_error("a.lan. MX 70000 mx.lan."), "bad preference '70000'");
  EXPECT_EQ(parse_error("a..lan. A 1.2.3.4"), "bad owner name 'a..lan.'");
  EXPECT_EQ(parse_error("a.lan. CNAME " + std::string(64, 'x') + "."),
            "bad name '" + std::string(64, 'x') + ".'");
  EXPECT_EQ(parse_error(""), "empty record");
}

TEST(LocalDataBuilder, OneIndexPerOwnerWhateverItsCase) {
  LocalDataBuilder builder;
  const std::uint16_t a = builder.add(parsed("Router.LAN. A 192.0.2.1"));
  EXPECT_EQ(builder.add(parsed("router.lan. A 192.0.2.2")), a);
  EXPECT_EQ(builder.add(parsed("router.lan. A 192.0.2.2")), a) << "a duplicate is kept once";
  EXPECT_NE(builder.add(parsed("nas.lan. A 192.0.2.3")), a);
  const LocalData data = builder.build();
  EXPECT_EQ(data.owners(), 2u);
  EXPECT_EQ(data.records(), 3u);
  EXPECT_GT(data.memory_bytes(), 0u);
}

TEST(LocalDataBuilder, RefusesACnameNextToOtherData) {
  LocalDataBuilder builder;
  std::string error;
  ASSERT_NE(builder.add(parsed("www.lan. A 192.0.2.1")), kNoIndex);
  EXPECT_EQ(builder.add(parsed("www.lan. CNAME router.lan."), &error), kNoIndex);
  EXPECT_NE(error.find("CNAME"), std::string::npos) << error;
  ASSERT_NE(builder.add(parsed("alias.lan. CNAME router.lan.")), kNoIndex);
  EXPECT_EQ(builder.add(parsed("alias.lan. TXT hello")), kNoIndex);
  EXPECT_EQ(builder.add(parsed("alias.lan. CNAME nas.lan.")), kNoIndex) << "RFC 2181 §10.1";
}

struct Reply {
  Bytes wire;
  dns::Message msg;
  std::vector<dns::Record> records;  // OPT left out

  Bytes rdata(std::size_t i) const {
    return {wire.begin() + records.at(i).rdata_offset, wire.begin() + records.at(i).end};
  }
  std::string owner(std::size_t i) const {
    std::size_t offset = records.at(i).offset;
    dns::NameKey key;
    EXPECT_EQ(dns::read_name(wire, offset, &key), dns::ParseError::Ok);
    char text[300];
    dns::name_to_text(key.bytes(), text);
    return text;
  }
};

struct Client {
  const char* qname = "router.lan";
  std::uint16_t qtype = dns::rrtype::A;
  bool edns = true;
  std::uint16_t limit = 1232;
};

Reply ask(const LocalData& data, std::uint16_t index, const Client& c) {
  Packet p;
  p.header(0x4242, dns::flag::RD | dns::flag::CD, 1, 0, 0, c.edns ? 1 : 0)
      .question(c.qname, c.qtype);
  if (c.edns) p.opt(4096, true);
  dns::Message query;
  EXPECT_EQ(dns::parse_message(p.bytes, query), dns::ParseError::Ok);
  const dns::ClientView view{.id = query.header.id,
                             .flags = query.header.flags,
                             .question = query.question.wire(p.bytes),
                             .edns = c.edns,
                             .dnssec_ok = c.edns,
                             .reply_limit = c.limit};
  std::uint8_t out[4096];
  const std::size_t length = data.answer(view, c.qtype, index, 1232, out);
  Reply reply{Bytes(out, out + length), {}, {}};
  if (length == 0) return reply;
  EXPECT_EQ(dns::parse_message(reply.wire, reply.msg), dns::ParseError::Ok);
  dns::for_each_record(reply.wire, reply.msg, [&](const dns::Record& r) {
    if (r.type != dns::rrtype::OPT) reply.records.push_back(r);
    return true;
  });
  const dns::Header& h = reply.msg.header;
  EXPECT_EQ(h.id, 0x4242);
  EXPECT_TRUE(h.has(dns::flag::QR) && h.has(dns::flag::RA) && h.has(dns::flag::RD) &&
              h.has(dns::flag::CD));
  EXPECT_FALSE(h.has(dns::flag::AA)) << "not the zone's authority";
  EXPECT_EQ(h.rcode(), 0);
  EXPECT_EQ(reply.msg.edns.present, c.edns);
  return reply;
}

class LocalDataAnswer : public ::testing::Test {
 protected:
  void SetUp() override {
    router_ = builder_.add(parsed("router.lan. 300 A 192.168.1.1"));
    builder_.add(parsed("router.lan. 600 A 192.168.1.2"));
    builder_.add(parsed("router.lan. 120 TXT \"the router\""));
    alias_ = builder_.add(parsed("www.lan. 60 CNAME router.lan."));
    data_ = builder_.build();
  }
  LocalDataBuilder builder_;
  LocalData data_;
  std::uint16_t router_ = kNoIndex, alias_ = kNoIndex;
};

TEST_F(LocalDataAnswer, AnswersTheRecordsOfTheAskedType) {
  const Reply r = ask(data_, router_, {});
  ASSERT_EQ(r.msg.header.ancount, 2);
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_EQ(r.records[0].type, dns::rrtype::A);
  EXPECT_EQ(r.rdata(0), (Bytes{192, 168, 1, 1}));
  EXPECT_EQ(r.rdata(1), (Bytes{192, 168, 1, 2}));
  EXPECT_EQ(r.records[0].ttl, 300u);
  EXPECT_EQ(r.records[1].ttl, 300u) << "one TTL per RRset: the smallest (RFC 2181 §5.2)";
  EXPECT_EQ(r.owner(0), "router.lan.");
  const Reply txt = ask(data_, router_, {.qtype = dns::rrtype::TXT});
  ASSERT_EQ(txt.records.size(), 1u);
  EXPECT_EQ(txt.records[0].ttl, 120u);
}

TEST_F(LocalDataAnswer, AnotherTypeGetsNodataWithAnSoa) {
  const Reply r = ask(data_, router_, {.qtype = dns::rrtype::AAAA});
  EXPECT_EQ(r.msg.header.ancount, 0);
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_EQ(r.records[0].section, dns::Section::Authority);
  EXPECT_EQ(r.records[0].type, dns::rrtype::SOA);
  EXPECT_EQ(dns::negative_ttl(r.wire, r.msg), 120u) << "the owner's smallest TTL";
}

TEST_F(LocalDataAnswer, ACnameIsFollowedToItsLocalTarget) {
  const Reply a = ask(data_, alias_, {.qname = "WWW.lan", .qtype = dns::rrtype::A});
  ASSERT_EQ(a.records.size(), 3u);
  EXPECT_EQ(a.records[0].type, dns::rrtype::CNAME);
  EXPECT_EQ(a.owner(0), "www.lan.");
  EXPECT_EQ(a.rdata(0), name_wire("router.lan"));
  EXPECT_EQ(a.records[1].type, dns::rrtype::A);
  EXPECT_EQ(a.owner(1), "router.lan.") << "owned by the CNAME's target";
  EXPECT_EQ(a.rdata(2), (Bytes{192, 168, 1, 2}));
  // A type the target lacks: the CNAME alone (NOERROR), as an authority answers.
  const Reply aaaa = ask(data_, alias_, {.qname = "www.lan", .qtype = dns::rrtype::AAAA});
  ASSERT_EQ(aaaa.records.size(), 1u);
  EXPECT_EQ(aaaa.records[0].type, dns::rrtype::CNAME);
  const Reply cname = ask(data_, alias_, {.qname = "www.lan", .qtype = dns::rrtype::CNAME});
  ASSERT_EQ(cname.records.size(), 1u) << "asked for the CNAME itself";
}

TEST(LocalDataChains, ExternalTargetsAndLoopsEndTheChain) {
  LocalDataBuilder builder;
  const std::uint16_t outside = builder.add(parsed("out.lan. CNAME www.example.com."));
  const std::uint16_t loop = builder.add(parsed("a.lan. CNAME b.lan."));
  builder.add(parsed("b.lan. CNAME a.lan."));
  const LocalData data = builder.build();
  const Reply external = ask(data, outside, {.qname = "out.lan"});
  ASSERT_EQ(external.records.size(), 1u) << "left to the client's resolver";
  const Reply looped = ask(data, loop, {.qname = "a.lan"});
  EXPECT_EQ(looped.records.size(), 8u) << "at most 8 CNAMEs";
  EXPECT_EQ(looped.msg.header.rcode(), 0);
}

TEST_F(LocalDataAnswer, AnyGetsEveryRecord) {
  const Reply r = ask(data_, router_, {.qtype = dns::rrtype::ANY});
  ASSERT_EQ(r.records.size(), 3u);
  EXPECT_EQ(r.records[2].type, dns::rrtype::TXT);
}

TEST_F(LocalDataAnswer, OwnersArePointersToTheQuestion) {
  // What an RPZ wildcard does: the data of "*.ads.example" answers any name below.
  const Reply r = ask(data_, router_, {.qname = "Tracker.Ads.Example"});
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_EQ(r.owner(0), "tracker.ads.example.");
  EXPECT_EQ(r.wire[r.records[0].offset], 0xc0);
  EXPECT_EQ(r.wire[r.records[0].offset + 1], 0x0c);
}

TEST_F(LocalDataAnswer, NoOptForAClientWithoutEdns) {
  const Reply r = ask(data_, router_, {.edns = false, .limit = 512});
  EXPECT_FALSE(r.msg.edns.present);
  EXPECT_EQ(r.msg.header.arcount, 0);
  EXPECT_EQ(r.records.size(), 2u);
}

TEST(LocalDataTruncation, DropsWholeRrsetsAndSetsTc) {
  LocalDataBuilder builder;
  std::uint16_t index = kNoIndex;
  for (int i = 0; i < 15; ++i) {
    index = builder.add(
        parsed("big.lan. TXT \"" + std::string(200, 'a' + i % 26) + "\" " + std::to_string(i)));
  }
  builder.add(parsed("big.lan. A 192.0.2.1"));
  const LocalData data = builder.build();
  const Reply whole_a = ask(data, index, {.qname = "big.lan", .limit = 512});
  EXPECT_FALSE(whole_a.msg.header.has(dns::flag::TC)) << "the A RRset alone fits";
  const Reply txt = ask(data, index, {.qname = "big.lan", .qtype = dns::rrtype::TXT, .limit = 512});
  EXPECT_TRUE(txt.msg.header.has(dns::flag::TC));
  EXPECT_EQ(txt.msg.header.ancount, 0) << "the one TXT RRset does not fit: none of it";
  EXPECT_TRUE(txt.msg.edns.present) << "the OPT stays";
  const Reply any = ask(data, index, {.qname = "big.lan", .qtype = dns::rrtype::ANY, .limit = 512});
  EXPECT_TRUE(any.msg.header.has(dns::flag::TC));
  ASSERT_EQ(any.records.size(), 1u) << "RRsets that fit are kept";
  EXPECT_EQ(any.records[0].type, dns::rrtype::A);
  const Reply tcp =
      ask(data, index, {.qname = "big.lan", .qtype = dns::rrtype::TXT, .limit = 65535});
  EXPECT_FALSE(tcp.msg.header.has(dns::flag::TC));
  EXPECT_EQ(tcp.records.size(), 15u);
}

TEST(LocalDataTruncation, NodataThatDoesNotFitIsTruncated) {
  LocalDataBuilder builder;
  const std::uint16_t index = builder.add(parsed("a.lan. A 192.0.2.1"));
  const LocalData data = builder.build();
  Packet p;
  p.header(1, 0, 1, 0, 0, 0).question("a.lan", dns::rrtype::MX);
  dns::Message query;
  ASSERT_EQ(dns::parse_message(p.bytes, query), dns::ParseError::Ok);
  const dns::ClientView view{.id = 1, .flags = 0, .question = query.question.wire(p.bytes)};
  std::uint8_t out[40];
  const std::size_t length = data.answer(view, dns::rrtype::MX, index, 1232, out);
  ASSERT_EQ(length, dns::kHeaderSize + view.question.size());
  EXPECT_TRUE(dns::Header::read(out).has(dns::flag::TC));
  std::uint8_t tiny[20];
  EXPECT_EQ(data.answer(view, dns::rrtype::MX, index, 1232, tiny), 0u);
  EXPECT_EQ(data.answer(view, dns::rrtype::A, 7, 1232, out), 0u) << "no such owner";
}

}  // namespace
}  // namespace heimdall::filter
