// The engine's abuse limits: the access list, the per-prefix query rate, RRL with
// slip, RFC 8482's answer to ANY; and what it never forwards: CHAOS questions, and
// opcodes other than QUERY.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "engine_harness.hpp"
#include "heimdall/engine/client_guard.hpp"

namespace heimdall::engine::testing {
namespace {

class GuardTest : public EngineTest {
 protected:
  void with_guard(const GuardConfig& guard) {
    config_.guard = guard;
    make_engine(1, upstream::Strategy::Failover);
  }
  // 127.0.0.0/30: clients .1 to .3 are inside, .9 is not.
  static filter::ClientGroups allow_loopback_slash30() {
    filter::ClientGroupsBuilder builder;
    const unsigned allowed = builder.add_group(1);
    filter::Prefix prefix;
    EXPECT_TRUE(filter::Prefix::parse("127.0.0.0/30", prefix));
    builder.add_prefix(allowed, prefix);
    return builder.build(0);
  }
  std::uint8_t rcode_of(const Bytes& wire) { return wire[3] & 0x0f; }
};

TEST_F(GuardTest, AclRefusesClientsOutsideItsNetworks) {
  const filter::ClientGroups acl = allow_loopback_slash30();
  with_guard(GuardConfig{.acl = &acl});
  ask(query(1, "inside.example", dns::rrtype::A), client(2, 5000));
  EXPECT_EQ(sink_.sent.size(), 1u);
  ask(query(2, "outside.example", dns::rrtype::A), client(9, 5000));
  EXPECT_EQ(sink_.sent.size(), 1u);
  ASSERT_EQ(sink_.replies.size(), 1u);
  EXPECT_EQ(rcode_of(sink_.replies[0].wire), static_cast<std::uint8_t>(dns::Rcode::Refused));
  EXPECT_EQ(engine_->counters().acl_refused.load(), 1u);
}

TEST_F(GuardTest, AclCanDropInstead) {
  const filter::ClientGroups acl = allow_loopback_slash30();
  with_guard(GuardConfig{.acl = &acl, .acl_action = AclAction::Drop});
  ask(query(2, "outside.example", dns::rrtype::A), client(9, 5000));
  EXPECT_TRUE(sink_.replies.empty());
  EXPECT_TRUE(sink_.sent.empty());
  EXPECT_EQ(engine_->counters().acl_dropped.load(), 1u);
}

// A burst beyond its budget from one client is limited while another client is
// served; the budget comes back with time.
TEST_F(GuardTest, RateLimitHoldsOneClientAndServesAnother) {
  with_guard(GuardConfig{.client_qps = 10, .client_burst = 5, .ipv4_prefix = 32});
  for (int i = 0; i < 20; ++i) {
    ask(query(static_cast<std::uint16_t>(i), ("n" + std::to_string(i) + ".example").c_str(),
              dns::rrtype::A),
        client(2, 5000), 1000 * kMs);
  }
  EXPECT_EQ(sink_.sent.size(), 5u);
  EXPECT_EQ(engine_->counters().rate_limited.load(), 15u);
  ask(query(100, "other.example", dns::rrtype::A), client(3, 5000), 1000 * kMs);
  EXPECT_EQ(sink_.sent.size(), 6u);
  // 300 ms later: three more tokens at 10/s.
  for (int i = 0; i < 5; ++i) {
    ask(query(static_cast<std::uint16_t>(200 + i), ("m" + std::to_string(i) + ".example").c_str(),
              dns::rrtype::A),
        client(2, 5000), 1300 * kMs);
  }
  EXPECT_EQ(sink_.sent.size(), 9u);
}

TEST_F(GuardTest, ResponseRateLimitDropsAndSlipsIdenticalAnswers) {
  with_guard(GuardConfig{.responses_per_second = 5, .slip = 2});
  for (int i = 0; i < 21; ++i) {
    ask(query(static_cast<std::uint16_t>(i), "amplify.example", dns::rrtype::ANY), client(2, 5000),
        1000 * kMs);
  }
  std::size_t full = 0, truncated = 0;
  for (const Reply& reply : sink_.replies) {
    const dns::Header header = dns::Header::read(reply.wire.data());
    if (header.has(dns::flag::TC)) {
      ++truncated;
      EXPECT_EQ(header.ancount, 0);
      EXPECT_EQ(header.qdcount, 1);
    } else {
      ++full;
    }
  }
  EXPECT_EQ(full, 5u);
  EXPECT_EQ(truncated, 8u);
  EXPECT_EQ(engine_->counters().rrl_slipped.load(), 8u);
  EXPECT_EQ(engine_->counters().rrl_dropped.load(), 8u);
  // Replies that left, by RCODE: the slipped ones too, not the dropped ones
  // (the soak test's metrics check: replies = answers by RCODE + rrl_dropped).
  std::uint64_t by_rcode = 0;
  for (const auto& counter : engine_->counters().answers_by_rcode) by_rcode += counter.load();
  EXPECT_EQ(by_rcode, full + truncated);
  EXPECT_EQ(engine_->counters().replies.load(), by_rcode + engine_->counters().rrl_dropped.load());
  // Another name is another answer: not limited.
  ask(query(99, "other.example", dns::rrtype::ANY), client(2, 5000), 1000 * kMs);
  EXPECT_FALSE(dns::Header::read(sink_.replies.back().wire.data()).has(dns::flag::TC));
  // Over TCP the client has proven its address: never limited.
  ask(query(98, "amplify.example", dns::rrtype::ANY), client(2, 5000, net::Transport::Tcp),
      1000 * kMs);
  EXPECT_FALSE(dns::Header::read(sink_.replies.back().wire.data()).has(dns::flag::TC));
  EXPECT_EQ(sink_.replies.size(), 15u);
}

TEST_F(GuardTest, AnyGetsTheRfc8482MinimalAnswer) {
  with_guard(GuardConfig{});
  ask(query(7, "example.com", dns::rrtype::ANY, {.edns = true}), client(2, 5000));
  EXPECT_TRUE(sink_.sent.empty());
  ASSERT_EQ(sink_.replies.size(), 1u);
  const dns::Message msg = parsed(sink_.replies[0].wire);
  EXPECT_EQ(msg.header.id, 7);
  EXPECT_EQ(msg.header.rcode(), 0);
  EXPECT_EQ(msg.header.ancount, 1);
  EXPECT_TRUE(msg.edns.present);
  const Bytes& wire = sink_.replies[0].wire;
  const std::string text(wire.begin(), wire.end());
  EXPECT_NE(text.find("\x07RFC8482\x00", 0), std::string::npos);
  EXPECT_EQ(engine_->counters().any_minimal.load(), 1u);
}

TEST_F(GuardTest, AnyCanBeRefusedOrForwarded) {
  with_guard(GuardConfig{.any = AnyPolicy::Refuse});
  ask(query(7, "example.com", dns::rrtype::ANY), client(2, 5000));
  ASSERT_EQ(sink_.replies.size(), 1u);
  EXPECT_EQ(rcode_of(sink_.replies[0].wire), static_cast<std::uint8_t>(dns::Rcode::Refused));
  with_guard(GuardConfig{.any = AnyPolicy::Forward});
  ask(query(8, "example.com", dns::rrtype::ANY), client(2, 5000));
  EXPECT_EQ(sink_.sent.size(), 1u);
}

// ------------------------------------------------------------------ CHAOS

// `name` asked in `qclass` with `qtype` (the harness builds class IN).
Bytes in_class(std::uint16_t id, const char* name, std::uint16_t qtype, std::uint16_t qclass,
               QueryOptions options = {}) {
  Bytes wire = query(id, name, qtype, options);
  const std::size_t at = 12 + question(name, qtype).size() - 2;
  wire[at] = static_cast<std::uint8_t>(qclass >> 8);
  wire[at + 1] = static_cast<std::uint8_t>(qclass);
  return wire;
}

// The text of the reply's one TXT record, or "" when it has none.
std::string txt_of(const Bytes& wire) {
  const dns::Message msg = parsed(wire);
  std::string text;
  dns::for_each_record(wire, msg, [&](const dns::Record& record) {
    if (record.type == dns::rrtype::TXT && record.rclass == dns::rrclass::CH) {
      text.assign(wire.begin() + record.rdata_offset + 1, wire.begin() + record.end);
    }
    return true;
  });
  return text;
}

TEST_F(GuardTest, ChaosQuestionsAreRefusedAndNeverForwardedByDefault) {
  for (const char* name : {"version.bind", "hostname.bind", "id.server", "version.server"}) {
    sink_.replies.clear();
    ask(in_class(1, name, dns::rrtype::TXT, dns::rrclass::CH), client(1, 5000));
    ASSERT_EQ(sink_.replies.size(), 1u) << name;
    EXPECT_EQ(rcode_of(sink_.replies[0].wire), static_cast<std::uint8_t>(dns::Rcode::Refused))
        << name;
  }
  EXPECT_TRUE(sink_.sent.empty()) << "the upstream's identity stays with it";
  EXPECT_EQ(engine_->counters().chaos_answers.load(), 0u);
}

TEST_F(GuardTest, ChaosTxtIsAnsweredFromTheConfigurationAndTheRestRefused) {
  config_.chaos_version = "heimdall-test";
  config_.chaos_hostname = "dns1.example";
  make_engine(1, upstream::Strategy::Failover);
  struct Case {
    const char* name;
    std::uint16_t qtype;
    std::uint16_t qclass;
    const char* expected;  // nullptr: REFUSED
  };
  const Case cases[] = {
      {"version.bind", dns::rrtype::TXT, dns::rrclass::CH, "heimdall-test"},
      {"VERSION.Server", dns::rrtype::TXT, dns::rrclass::CH, "heimdall-test"},
      {"hostname.bind", dns::rrtype::TXT, dns::rrclass::CH, "dns1.example"},
      {"id.server", dns::rrtype::ANY, dns::rrclass::CH, "dns1.example"},
      {"version.bind", dns::rrtype::A, dns::rrclass::CH, nullptr},
      {"example.com", dns::rrtype::TXT, dns::rrclass::CH, nullptr},
      {"version.bind", dns::rrtype::TXT, dns::rrclass::HS, nullptr},
      {"hesiod.example", dns::rrtype::A, dns::rrclass::HS, nullptr},
  };
  for (const Case& c : cases) {
    sink_.replies.clear();
    const Bytes asked = in_class(7, c.name, c.qtype, c.qclass, {.edns = true});
    ask(asked, client(1, 5000));
    ASSERT_EQ(sink_.replies.size(), 1u) << c.name;
    const Bytes& reply = sink_.replies[0].wire;
    const dns::Message msg = parsed(reply);
    EXPECT_EQ(msg.header.id, 7) << c.name;
    EXPECT_TRUE(msg.edns.present) << c.name;
    if (c.expected == nullptr) {
      EXPECT_EQ(rcode_of(reply), static_cast<std::uint8_t>(dns::Rcode::Refused)) << c.name;
    } else {
      EXPECT_EQ(rcode_of(reply), 0) << c.name;
      EXPECT_EQ(txt_of(reply), c.expected) << c.name;
      const auto echoed = msg.question.wire(reply);
      const auto sent = parsed(asked).question.wire(asked);
      EXPECT_TRUE(std::equal(echoed.begin(), echoed.end(), sent.begin(), sent.end()))
          << c.name << ": the client's question, its case included";
    }
  }
  EXPECT_TRUE(sink_.sent.empty());
  EXPECT_EQ(engine_->counters().chaos_answers.load(), 4u);
  EXPECT_EQ(engine_->counters().refused.load(), 4u);
}

// ------------------------------------------------------------------ opcodes

TEST_F(GuardTest, NotimpForAnotherOpcodeCarriesNoQueryOnlyFlags) {
  Bytes wire = query(3, "example.com", dns::rrtype::A,
                     {.flags = static_cast<std::uint16_t>(dns::flag::RD | dns::flag::CD |
                                                          dns::flag::AD | (15 << 11))});
  ask(wire, client(1, 5000));
  ASSERT_EQ(sink_.replies.size(), 1u);
  const dns::Message msg = parsed(sink_.replies[0].wire);
  EXPECT_EQ(msg.header.rcode(), static_cast<std::uint8_t>(dns::Rcode::NotImp));
  EXPECT_EQ(msg.header.flags & dns::flag::kOpcodeMask, 15 << 11);
  EXPECT_FALSE(msg.header.has(dns::flag::RA));
  EXPECT_FALSE(msg.header.has(dns::flag::CD));
  EXPECT_FALSE(msg.header.has(dns::flag::AD));
  EXPECT_TRUE(sink_.sent.empty());
}

}  // namespace
}  // namespace heimdall::engine::testing
