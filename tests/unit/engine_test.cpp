// The engine driven through its burst interface with a recording sink: what goes
// upstream, what goes back to each client, and when.
#include "heimdall/engine/engine.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "engine_harness.hpp"
#include "heimdall/dns/name.hpp"

namespace heimdall::engine {
namespace {

using namespace heimdall::engine::testing;

TEST_F(EngineTest, ForwardsAQueryAndRelaysTheAnswerAsItsOwn) {
  ask(query(0xabcd, "www.example.com", dns::rrtype::A), client(1, 5555));
  ASSERT_EQ(sink_.sent.size(), 1u);
  const Sent& sent = sink_.sent[0];
  EXPECT_EQ(sent.server, 0u);
  EXPECT_EQ(sent.transport, net::Transport::Udp);
  EXPECT_TRUE(sent.local_port == 40001 || sent.local_port == 40002 || sent.local_port == 40003);
  const dns::Message upstream_query = parsed(sent.wire);
  EXPECT_TRUE(upstream_query.header.has(dns::flag::RD));
  EXPECT_TRUE(upstream_query.edns.present) << "upstream queries advertise our EDNS size";
  EXPECT_EQ(upstream_query.edns.udp_size, 1232);

  answer(answer_to(sent.wire), sent, 3 * kMs);
  ASSERT_EQ(sink_.replies.size(), 1u);
  const Reply& reply = sink_.replies[0];
  EXPECT_EQ(reply.to.peer, endpoint(1, 5555));
  const dns::Message msg = parsed(reply.wire);
  EXPECT_EQ(msg.header.id, 0xabcd);
  EXPECT_TRUE(msg.header.has(dns::flag::QR));
  EXPECT_TRUE(msg.header.has(dns::flag::RA));
  EXPECT_TRUE(msg.header.has(dns::flag::RD));
  EXPECT_FALSE(msg.header.has(dns::flag::AA)) << "the appliance is not authoritative";
  EXPECT_EQ(msg.header.ancount, 1);
  EXPECT_FALSE(msg.edns.present) << "no OPT in the reply to a query without one";
  EXPECT_EQ(engine_->pending(), 0u);
  EXPECT_EQ(engine_->counters().replies.load(), 1u);
}

TEST_F(EngineTest, ForwardsTheLongestLegalName) {
  // 63 + 63 + 63 + 61 octets of labels: 255 octets on the wire with length bytes and root.
  const std::string name = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                           std::string(63, 'c') + "." + std::string(61, 'D');
  ask(query(3, name.c_str(), dns::rrtype::A), client(1, 1000));
  ASSERT_EQ(sink_.sent.size(), 1u);
  EXPECT_EQ(parsed(sink_.sent[0].wire).question.name.length, 255);
  answer(answer_to(sink_.sent[0].wire), sink_.sent[0]);
  ASSERT_EQ(sink_.replies.size(), 1u);
  const dns::Message msg = parsed(sink_.replies[0].wire);
  const Bytes expected = question(name.c_str(), dns::rrtype::A);
  const auto echoed = msg.question.wire(sink_.replies[0].wire);
  EXPECT_EQ(Bytes(echoed.begin(), echoed.end()), expected);
}

TEST_F(EngineTest, EachUdpAttemptOpensItsPortAndClosesItWhenItEnds) {
  ask(query(1, "first.example", dns::rrtype::A), client(1, 1000));
  ASSERT_EQ(sink_.sent.size(), 1u);
  ASSERT_EQ(sink_.opened.size(), 1u);
  EXPECT_EQ(sink_.opened[0], sink_.sent[0].local_port);
  EXPECT_TRUE(sink_.closed.empty());
  // Timed out: the first attempt's port is closed before the retry opens its own.
  engine_->on_timer(750 * kMs, sink_);
  ASSERT_EQ(sink_.sent.size(), 2u);
  ASSERT_EQ(sink_.closed.size(), 1u);
  EXPECT_EQ(sink_.closed[0], sink_.sent[0].local_port);
  answer(answer_to(sink_.sent[0].wire), sink_.sent[0], 760 * kMs);
  EXPECT_TRUE(sink_.replies.empty()) << "an answer on an ended attempt's port is not taken";
  answer(answer_to(sink_.sent[1].wire), sink_.sent[1], 770 * kMs);
  ASSERT_EQ(sink_.replies.size(), 1u);
  ASSERT_EQ(sink_.closed.size(), 2u);
  EXPECT_EQ(sink_.closed[1], sink_.sent[1].local_port);
}

TEST_F(EngineTest, APortInUseIsDrawnAgain) {
  sink_.next_opens = {Sink::PortOpen::InUse, Sink::PortOpen::InUse};
  ask(query(1, "busy.example", dns::rrtype::A), client(1, 1000));
  ASSERT_EQ(sink_.opened.size(), 3u);
  ASSERT_EQ(sink_.sent.size(), 1u);
  EXPECT_EQ(sink_.sent[0].local_port, sink_.opened[2]);
  EXPECT_EQ(engine_->counters().upstream_no_socket.load(), 0u);
}

TEST_F(EngineTest, AnAttemptWithoutASocketIsRetriedShortlyAndEndsInServfail) {
  config_.max_attempts = 3;
  make_engine(2, upstream::Strategy::Failover);
  sink_.next_opens.assign(64, Sink::PortOpen::Unavailable);
  ask(query(7, "nosocket.example", dns::rrtype::A), client(1, 1000));
  EXPECT_TRUE(sink_.sent.empty());
  EXPECT_EQ(sink_.opened.size(), 1u) << "Unavailable is not drawn again";
  for (std::uint64_t t = 1; t <= 200; ++t) engine_->on_timer(t * kMs, sink_);
  EXPECT_TRUE(sink_.sent.empty());
  ASSERT_EQ(sink_.replies.size(), 1u) << "SERVFAIL after max_attempts tries 50 ms apart";
  EXPECT_EQ(dns::Header::read(sink_.replies[0].wire.data()).rcode(),
            static_cast<std::uint8_t>(dns::Rcode::ServFail));
  EXPECT_EQ(engine_->counters().upstream_no_socket.load(), 3u);
  EXPECT_EQ(engine_->counters().upstream_timeouts.load(), 0u) << "not the server's failure";
  EXPECT_FALSE(engine_->selector().server(0).down);
  EXPECT_EQ(engine_->pending(), 0u);
}

TEST_F(EngineTest, UsesRandomIdsRatherThanTheClients) {
  std::set<std::uint16_t> ids;
  for (std::uint16_t i = 0; i < 32; ++i) {
    const std::string name = "n" + std::to_string(i) + ".example";
    ask(query(7, name.c_str(), dns::rrtype::A), client(1, 5555));
  }
  ASSERT_EQ(sink_.sent.size(), 32u);
  for (const Sent& sent : sink_.sent) ids.insert(parsed(sent.wire).header.id);
  EXPECT_GT(ids.size(), 28u) << "IDs should not repeat the client's or each other";
}

TEST_F(EngineTest, EchoesEachClientsOwnLetterCase) {
  ask(query(1, "WwW.ExAmPlE.CoM", dns::rrtype::A), client(1, 1000));
  ask(query(2, "www.example.com", dns::rrtype::A), client(2, 2000));
  ASSERT_EQ(sink_.sent.size(), 1u) << "the same question in flight is coalesced";
  Bytes upstream_answer = answer_to(sink_.sent[0].wire);
  // The upstream answers in lower case whatever it was asked.
  for (std::size_t i = 12; i < 12 + 17; ++i) {
    if (upstream_answer[i] >= 'A' && upstream_answer[i] <= 'Z') upstream_answer[i] += 32;
  }
  answer(upstream_answer, sink_.sent[0]);
  ASSERT_EQ(sink_.replies.size(), 2u);
  for (const Reply& reply : sink_.replies) {
    const dns::Message msg = parsed(reply.wire);
    const Bytes expected =
        question(msg.header.id == 1 ? "WwW.ExAmPlE.CoM" : "www.example.com", dns::rrtype::A);
    const auto echoed = msg.question.wire(reply.wire);
    EXPECT_EQ(Bytes(echoed.begin(), echoed.end()), expected) << "id " << msg.header.id;
  }
  EXPECT_EQ(engine_->counters().coalesced.load(), 1u);
}

TEST_F(EngineTest, DoesNotCoalesceQueriesThatDifferInDo) {
  ask(query(1, "example.com", dns::rrtype::A, {.edns = true, .dnssec_ok = true}), client(1, 1000));
  ask(query(2, "example.com", dns::rrtype::A, {.edns = true}), client(2, 2000));
  EXPECT_EQ(sink_.sent.size(), 2u);
  EXPECT_TRUE(parsed(sink_.sent[0].wire).edns.dnssec_ok);
  EXPECT_FALSE(parsed(sink_.sent[1].wire).edns.dnssec_ok);
}

TEST_F(EngineTest, IgnoresAnswersThatDoNotMatchTheQueryInFlight) {
  ask(query(1, "example.com", dns::rrtype::A), client(1, 1000));
  const Sent sent = sink_.sent[0];
  const Bytes good = answer_to(sent.wire);

  answer_from(good, endpoint(99, 53), sent.transport, sent.local_port);  // wrong server
  answer_from(good, config_.servers[0], sent.transport,
              static_cast<std::uint16_t>(sent.local_port + 1000));  // wrong local port
  Bytes wrong_id = good;
  wrong_id[1] ^= 0x55;
  answer(wrong_id, sent);
  const Bytes other_question =
      answer_to(query(parsed(sent.wire).header.id, "example.org", dns::rrtype::A));
  answer(other_question, sent);
  Bytes not_a_response = good;
  not_a_response[2] &= 0x7f;
  answer(not_a_response, sent);
  EXPECT_TRUE(sink_.replies.empty());
  EXPECT_EQ(engine_->counters().upstream_unmatched.load(), 5u);

  answer(good, sent);
  EXPECT_EQ(sink_.replies.size(), 1u);
}

TEST_F(EngineTest, RetriesTheNextUpstreamAfterAnAttemptTimesOut) {
  ask(query(1, "example.com", dns::rrtype::A), client(1, 1000), 0);
  ASSERT_EQ(sink_.sent.size(), 1u);
  EXPECT_EQ(sink_.sent[0].server, 0u);
  engine_->on_timer(749 * kMs, sink_);
  EXPECT_EQ(sink_.sent.size(), 1u) << "half the 1500 ms budget per attempt";
  engine_->on_timer(750 * kMs, sink_);
  ASSERT_EQ(sink_.sent.size(), 2u);
  EXPECT_EQ(sink_.sent[1].server, 1u);
  EXPECT_NE(parsed(sink_.sent[1].wire).header.id, parsed(sink_.sent[0].wire).header.id);

  // A late answer to the first attempt no longer matches; the second one does.
  answer(answer_to(sink_.sent[0].wire), sink_.sent[0], 800 * kMs);
  EXPECT_TRUE(sink_.replies.empty());
  answer(answer_to(sink_.sent[1].wire), sink_.sent[1], 810 * kMs);
  ASSERT_EQ(sink_.replies.size(), 1u);
  EXPECT_EQ(parsed(sink_.replies[0].wire).header.rcode(), 0);
}

TEST_F(EngineTest, AnswersServfailWhenTheBudgetIsSpent) {
  make_engine(1, upstream::Strategy::Fastest);
  ask(query(9, "example.com", dns::rrtype::A, {.edns = true}), client(1, 1000), 0);
  for (std::uint64_t t = 0; t < 1500; t += 10) engine_->on_timer(t * kMs, sink_);
  EXPECT_TRUE(sink_.replies.empty());
  engine_->on_timer(1500 * kMs, sink_);
  ASSERT_EQ(sink_.replies.size(), 1u);
  const dns::Message msg = parsed(sink_.replies[0].wire);
  EXPECT_EQ(msg.header.id, 9);
  EXPECT_EQ(msg.header.rcode(), static_cast<std::uint8_t>(dns::Rcode::ServFail));
  EXPECT_TRUE(msg.edns.present);
  EXPECT_EQ(sink_.sent.size(), 2u) << "the single server is tried again within the budget";
  EXPECT_EQ(engine_->pending(), 0u);
}

TEST_F(EngineTest, RetriesOverTcpWhenTheUpstreamAnswerIsTruncated) {
  ask(query(5, "big.example", dns::rrtype::TXT), client(1, 1000));
  answer(answer_to(sink_.sent[0].wire, dns::flag::TC), sink_.sent[0]);
  EXPECT_TRUE(sink_.replies.empty());
  ASSERT_EQ(sink_.sent.size(), 2u);
  const Sent& tcp = sink_.sent[1];
  EXPECT_EQ(tcp.transport, net::Transport::Tcp);
  EXPECT_EQ(tcp.server, sink_.sent[0].server) << "the same server, over TCP";
  EXPECT_EQ(tcp.local_port, 0);
  answer(answer_to(tcp.wire), tcp);
  ASSERT_EQ(sink_.replies.size(), 1u);
  EXPECT_FALSE(parsed(sink_.replies[0].wire).header.has(dns::flag::TC));
  EXPECT_EQ(engine_->counters().tcp_retries.load(), 1u);
}

TEST_F(EngineTest, AFailedTcpAttemptMovesOnAtOnce) {
  ask(query(5, "big.example", dns::rrtype::TXT), client(1, 1000), 0);
  answer(answer_to(sink_.sent[0].wire, dns::flag::TC), sink_.sent[0], kMs);
  ASSERT_EQ(sink_.sent.size(), 2u);
  const Sent tcp = sink_.sent[1];
  const std::uint16_t id = parsed(tcp.wire).header.id;
  engine_->on_upstream_failure(tcp.server, net::Transport::Tcp, 0,
                               static_cast<std::uint16_t>(id + 1), 2 * kMs, sink_);
  EXPECT_EQ(sink_.sent.size(), 2u) << "a report about another query is ignored";
  engine_->on_upstream_failure(tcp.server, net::Transport::Tcp, 0, id, 2 * kMs, sink_);
  ASSERT_EQ(sink_.sent.size(), 3u) << "retried without waiting for the timer";
  EXPECT_EQ(sink_.sent[2].server, 1u);
  EXPECT_EQ(sink_.sent[2].transport, net::Transport::Udp);
  EXPECT_EQ(engine_->counters().upstream_failures.load(), 1u);
}

TEST_F(EngineTest, TriesAnotherUpstreamWhenOneRefuses) {
  ask(query(5, "example.com", dns::rrtype::A), client(1, 1000));
  answer(answer_to(sink_.sent[0].wire, 0, static_cast<std::uint8_t>(dns::Rcode::Refused)),
         sink_.sent[0]);
  ASSERT_EQ(sink_.sent.size(), 2u);
  EXPECT_EQ(sink_.sent[1].server, 1u);
  answer(answer_to(sink_.sent[1].wire, 0, static_cast<std::uint8_t>(dns::Rcode::Refused)),
         sink_.sent[1]);
  ASSERT_EQ(sink_.replies.size(), 1u) << "every server refused: the refusal is the answer";
  EXPECT_EQ(parsed(sink_.replies[0].wire).header.rcode(),
            static_cast<std::uint8_t>(dns::Rcode::Refused));
}

TEST_F(EngineTest, NeverAnswersAResponse) {
  ask(query(5, "example.com", dns::rrtype::A, {.flags = dns::flag::QR}), client(1, 1000));
  ask(Bytes{1, 2, 3}, client(1, 1000));
  EXPECT_TRUE(sink_.replies.empty());
  EXPECT_TRUE(sink_.sent.empty());
  EXPECT_EQ(engine_->counters().drop_qr_set.load(), 1u);
  EXPECT_EQ(engine_->counters().drop_short.load(), 1u);
}

struct ErrorCase {
  const char* name;
  Bytes wire;
  dns::Rcode expected;
};

TEST_F(EngineTest, AnswersMalformedAndUnsupportedQueriesWithTheRightError) {
  Bytes trailing = query(1, "example.com", dns::rrtype::A);
  trailing.push_back(0);
  Bytes notify = query(2, "example.com", dns::rrtype::SOA);
  notify[2] |= 4 << 3;  // opcode NOTIFY
  const ErrorCase cases[] = {
      {"two questions", query(3, "example.com", dns::rrtype::A, {.qdcount = 2}),
       dns::Rcode::FormErr},
      {"no question", query(4, "example.com", dns::rrtype::A, {.qdcount = 0}), dns::Rcode::FormErr},
      {"trailing garbage", trailing, dns::Rcode::FormErr},
      {"NOTIFY", notify, dns::Rcode::NotImp},
      {"AXFR", query(5, "example.com", dns::rrtype::AXFR), dns::Rcode::Refused},
  };
  for (const ErrorCase& c : cases) {
    sink_.replies.clear();
    ask(c.wire, client(1, 1000));
    ASSERT_EQ(sink_.replies.size(), 1u) << c.name;
    const dns::Message msg = parsed(sink_.replies[0].wire);
    EXPECT_EQ(msg.header.rcode(), static_cast<std::uint8_t>(c.expected)) << c.name;
    EXPECT_EQ(msg.header.id, dns::load_u16(c.wire.data())) << c.name;
  }
  EXPECT_TRUE(sink_.sent.empty());
}

TEST_F(EngineTest, AnswersBadversToEdnsVersionOne) {
  ask(query(6, "example.com", dns::rrtype::A, {.edns = true, .edns_version = 1}), client(1, 1000));
  ASSERT_EQ(sink_.replies.size(), 1u);
  const dns::Message msg = parsed(sink_.replies[0].wire);
  ASSERT_TRUE(msg.edns.present);
  EXPECT_EQ(msg.header.rcode(), 0);
  EXPECT_EQ(msg.edns.extended_rcode, 1) << "BADVERS = 16 = extended 1, header 0";
  EXPECT_TRUE(sink_.sent.empty());
}

TEST_F(EngineTest, AnswersServfailWhenThePendingTableIsFull) {
  for (int i = 0; i < 64; ++i) {
    const std::string name = "n" + std::to_string(i) + ".example";
    ask(query(1, name.c_str(), dns::rrtype::A), client(1, 1000));
  }
  EXPECT_TRUE(sink_.replies.empty());
  ask(query(2, "one-too-many.example", dns::rrtype::A), client(1, 1000));
  ASSERT_EQ(sink_.replies.size(), 1u);
  EXPECT_EQ(parsed(sink_.replies[0].wire).header.rcode(),
            static_cast<std::uint8_t>(dns::Rcode::ServFail));
  EXPECT_EQ(engine_->counters().drop_pending_full.load(), 1u);
}

TEST_F(EngineTest, TcpClientsGetTheWholeAnswerUdpClientsATruncatedOne) {
  ask(query(1, "big.example", dns::rrtype::A), client(1, 1000));
  ask(query(2, "big.example", dns::rrtype::A), client(2, 2000, net::Transport::Tcp));
  ASSERT_EQ(sink_.sent.size(), 1u);
  // An answer of 40 A records: 40 * 16 bytes does not fit in 512.
  dns::Message q = parsed(sink_.sent[0].wire);
  Bytes big;
  put16(big, q.header.id);
  put16(big, dns::flag::QR | dns::flag::RD | dns::flag::RA);
  put16(big, 1);
  put16(big, 40);
  put16(big, 0);
  put16(big, 0);
  big.insert(big.end(), sink_.sent[0].wire.begin() + 12,
             sink_.sent[0].wire.begin() + q.question.end);
  for (std::uint8_t i = 0; i < 40; ++i) {
    put16(big, 0xc00c);
    put16(big, dns::rrtype::A);
    put16(big, dns::rrclass::IN);
    put32(big, 60);
    put16(big, 4);
    for (std::uint8_t octet : {std::uint8_t{10}, std::uint8_t{0}, std::uint8_t{0}, i}) {
      big.push_back(octet);
    }
  }
  answer(big, sink_.sent[0]);
  ASSERT_EQ(sink_.replies.size(), 2u);
  for (const Reply& reply : sink_.replies) {
    const dns::Message msg = parsed(reply.wire);
    if (reply.to.transport == net::Transport::Tcp) {
      EXPECT_EQ(msg.header.ancount, 40);
      EXPECT_FALSE(msg.header.has(dns::flag::TC));
    } else {
      EXPECT_LE(reply.wire.size(), 512u);
      EXPECT_TRUE(msg.header.has(dns::flag::TC));
    }
  }
}

// ------------------------------------------------------- misbehaving upstreams
// docs/architecture.md §7.4: every attempt, TCP ones included, counts against one per-query
// limit (max_attempts, 4 by default), so that no upstream can turn one client
// query into more than 4 upstream packets.

class HostileUpstreamTest : public EngineTest {
 protected:
  // Plays an upstream that answers every UDP attempt with TC and refuses or resets
  // every TCP connection at once (the socket backend reports that as a failure),
  // from sink_.sent[from] on, 0.1 ms per exchange. Returns how many attempts the
  // query made; gives up at 100 (before the limit existed it never stopped).
  std::size_t tc_then_failing_tcp(std::size_t from, std::uint64_t& now) {
    std::size_t handled = from;
    while (handled < sink_.sent.size() && handled < from + 100) {
      const Sent sent = sink_.sent[handled++];
      now += kMs / 10;
      if (sent.transport == net::Transport::Udp) {
        answer(answer_to(sent.wire, dns::flag::TC), sent, now);
      } else {
        engine_->on_upstream_failure(sent.server, net::Transport::Tcp, 0,
                                     parsed(sent.wire).header.id, now, sink_);
      }
    }
    return handled - from;
  }
  std::size_t tcp_attempts(std::size_t from = 0) const {
    std::size_t count = 0;
    for (std::size_t i = from; i < sink_.sent.size(); ++i) {
      count += sink_.sent[i].transport == net::Transport::Tcp ? 1 : 0;
    }
    return count;
  }
  std::uint8_t last_rcode() const { return parsed(sink_.replies.back().wire).header.rcode(); }
  // Answers one query at `now` in 1 ms, so that the server's SRTT is 1 ms and
  // each attempt gets the 50 ms minimum.
  void make_fast(std::uint64_t now) {
    const std::size_t from = sink_.sent.size();
    ask(query(99, "warm.example", dns::rrtype::A), client(9, 9000), now);
    ASSERT_EQ(sink_.sent.size(), from + 1);
    answer(answer_to(sink_.sent[from].wire), sink_.sent[from], now + kMs);
  }
};

static constexpr auto kServfail = static_cast<std::uint8_t>(dns::Rcode::ServFail);

TEST_F(HostileUpstreamTest, TcAndAFailingTcpCostAtMostFourPacketsWithOneOrTwoServers) {
  for (int servers = 1; servers <= 2; ++servers) {
    SCOPED_TRACE(servers);
    make_engine(servers, upstream::Strategy::Failover);
    sink_.sent.clear();
    sink_.replies.clear();
    std::uint64_t now = 0;
    ask(query(5, "big.example", dns::rrtype::TXT), client(1, 1000), now);
    const std::size_t attempts = tc_then_failing_tcp(0, now);
    EXPECT_LE(attempts, 4u);
    EXPECT_EQ(tcp_attempts(), static_cast<std::size_t>(servers)) << "each server's TCP once";
    ASSERT_EQ(sink_.replies.size(), 1u);
    EXPECT_EQ(last_rcode(), kServfail);
    EXPECT_LT(now, 10 * kMs) << "answered at once, not at the end of the budget";
    EXPECT_EQ(engine_->pending(), 0u);
  }
  EXPECT_EQ(engine_->counters().attempts_exhausted.load(), 1u) << "two servers: 4 attempts";
}

TEST_F(HostileUpstreamTest, ServersWhoseTcpFailedAreNotAskedOverTcpUntilTheirBackOffEnds) {
  std::uint64_t now = 0;
  ask(query(5, "one.example", dns::rrtype::TXT), client(1, 1000), now);
  tc_then_failing_tcp(0, now);
  ASSERT_EQ(tcp_attempts(), 2u);

  // Both servers' TCP is backing off: a truncated answer is SERVFAIL at once.
  std::size_t from = sink_.sent.size();
  ask(query(6, "two.example", dns::rrtype::TXT), client(1, 1000), now);
  tc_then_failing_tcp(from, now);
  EXPECT_EQ(sink_.sent.size() - from, 1u) << "one UDP packet, no connection";
  EXPECT_EQ(tcp_attempts(from), 0u);
  ASSERT_EQ(sink_.replies.size(), 2u);
  EXPECT_EQ(last_rcode(), kServfail);
  EXPECT_EQ(engine_->counters().tcp_backoff.load(), 1u);

  // probe_interval (1 s) later TCP is tried again, and a failure doubles the wait.
  now = 1100 * kMs;
  from = sink_.sent.size();
  ask(query(7, "three.example", dns::rrtype::TXT), client(1, 1000), now);
  tc_then_failing_tcp(from, now);
  EXPECT_GE(tcp_attempts(from), 1u);
  EXPECT_FALSE(engine_->selector().tcp_usable(0, now + 1500 * kMs));
  EXPECT_TRUE(engine_->selector().tcp_usable(0, now + 2001 * kMs));
}

TEST_F(HostileUpstreamTest, AnAnswerOverTcpEndsTheBackOff) {
  make_engine(1, upstream::Strategy::Failover);
  std::uint64_t now = 0;
  ask(query(5, "one.example", dns::rrtype::TXT), client(1, 1000), now);
  tc_then_failing_tcp(0, now);
  now = 1100 * kMs;
  ask(query(6, "two.example", dns::rrtype::TXT), client(1, 1000), now);
  ASSERT_EQ(sink_.sent.size(), 3u);
  answer(answer_to(sink_.sent[2].wire, dns::flag::TC), sink_.sent[2], now + kMs);
  ASSERT_EQ(sink_.sent.size(), 4u);
  ASSERT_EQ(sink_.sent[3].transport, net::Transport::Tcp);
  answer(answer_to(sink_.sent[3].wire), sink_.sent[3], now + 2 * kMs);
  EXPECT_EQ(last_rcode(), 0);
  EXPECT_TRUE(engine_->selector().tcp_usable(0, now + 3 * kMs));
}

TEST_F(HostileUpstreamTest, TruncatedAnswersWithAFailingTcpMarkTheServerDown) {
  make_engine(1, upstream::Strategy::Failover);
  std::uint64_t now = 0;
  for (std::uint16_t i = 0; i < 3; ++i) {
    const std::string name = "q" + std::to_string(i) + ".example";
    const std::size_t from = sink_.sent.size();
    ask(query(i, name.c_str(), dns::rrtype::TXT), client(1, 1000), now);
    tc_then_failing_tcp(from, now);
  }
  EXPECT_TRUE(engine_->selector().server(0).down)
      << "a TC answer is not an answer: it must not clear the failures";
}

TEST_F(HostileUpstreamTest, ASilentServerGetsAtMostFourAttemptsAndTheLastWaitsOutTheBudget) {
  make_engine(1, upstream::Strategy::Fastest);
  make_fast(0);
  const std::size_t from = sink_.sent.size();
  const std::size_t replies = sink_.replies.size();
  const std::uint64_t start = 10 * kMs;
  ask(query(5, "silent.example", dns::rrtype::A), client(1, 1000), start);
  for (std::uint64_t t = start; t < start + 1500 * kMs; t += kMs) engine_->on_timer(t, sink_);
  EXPECT_EQ(sink_.replies.size(), replies) << "no SERVFAIL before the budget is spent";
  EXPECT_EQ(sink_.sent.size() - from, 4u) << "50 ms attempts would have made 30";
  engine_->on_timer(start + 1500 * kMs, sink_);
  ASSERT_EQ(sink_.replies.size(), replies + 1);
  EXPECT_EQ(last_rcode(), kServfail);
  EXPECT_EQ(engine_->counters().attempts_exhausted.load(), 1u);
}

TEST_F(HostileUpstreamTest, ASlowServerStillAnswersTheLastAttempt) {
  config_.max_attempts = 2;
  make_engine(1, upstream::Strategy::Fastest);
  make_fast(0);
  const std::size_t from = sink_.sent.size();
  const std::uint64_t start = 10 * kMs;
  ask(query(5, "slow.example", dns::rrtype::A), client(1, 1000), start);
  for (std::uint64_t t = start; t <= start + 900 * kMs; t += kMs) engine_->on_timer(t, sink_);
  ASSERT_EQ(sink_.sent.size() - from, 2u);
  // 900 ms after the query, long past a 50 ms attempt: the last one is still open.
  answer(answer_to(sink_.sent.back().wire), sink_.sent.back(), start + 900 * kMs);
  EXPECT_EQ(last_rcode(), 0);
  EXPECT_EQ(engine_->counters().relayed.load(), 2u);
}

TEST_F(HostileUpstreamTest, RefusalsStopAtTheAttemptLimit) {
  make_engine(6, upstream::Strategy::Failover);
  ask(query(5, "example.com", dns::rrtype::A), client(1, 1000));
  for (std::size_t i = 0; i < sink_.sent.size() && i < 10; ++i) {
    answer(answer_to(sink_.sent[i].wire, 0, static_cast<std::uint8_t>(dns::Rcode::Refused)),
           sink_.sent[i]);
  }
  EXPECT_EQ(sink_.sent.size(), 4u) << "six servers, four attempts";
  ASSERT_EQ(sink_.replies.size(), 1u);
  EXPECT_EQ(last_rcode(), static_cast<std::uint8_t>(dns::Rcode::Refused));
}

TEST_F(HostileUpstreamTest, ServfailIsRelayedAfterOneAttempt) {
  ask(query(5, "example.com", dns::rrtype::A), client(1, 1000));
  answer(answer_to(sink_.sent[0].wire, 0, kServfail), sink_.sent[0]);
  EXPECT_EQ(sink_.sent.size(), 1u);
  ASSERT_EQ(sink_.replies.size(), 1u);
  EXPECT_EQ(last_rcode(), kServfail);
}

// 0x20 (dns/case_randomisation.hpp).
class CaseRandomisationTest : public EngineTest {
 protected:
  CaseRandomisationTest() {
    config_.case_randomisation = true;
    make_engine(1, upstream::Strategy::Failover);
  }
  static Bytes question_of(const Bytes& wire) {
    const dns::Message msg = parsed(wire);
    return Bytes(wire.begin() + 12, wire.begin() + msg.question.end);
  }
  static Bytes lowered(Bytes wire) {
    const dns::Message msg = parsed(wire);
    for (std::size_t i = 12; i < msg.question.end; ++i) wire[i] = dns::fold(wire[i]);
    return wire;
  }
};

TEST_F(CaseRandomisationTest, SendsRandomCaseAndRelaysTheClientsCase) {
  const char* name = "www.Some-Long-Example-Name.example.com";
  ask(query(1, name, dns::rrtype::A), client(1, 1000));
  ASSERT_EQ(sink_.sent.size(), 1u);
  const Bytes sent_question = question_of(sink_.sent[0].wire);
  EXPECT_NE(sent_question, question(name, dns::rrtype::A))
      << "32 letters, all as the client had them";
  const Bytes folded = lowered(sink_.sent[0].wire);
  EXPECT_EQ(question_of(folded), question_of(lowered(query(1, name, dns::rrtype::A))));

  answer(answer_to(sink_.sent[0].wire), sink_.sent[0]);
  ASSERT_EQ(sink_.replies.size(), 1u);
  EXPECT_EQ(question_of(sink_.replies[0].wire), question(name, dns::rrtype::A))
      << "the client sees its own case";
  EXPECT_EQ(engine_->counters().case_mismatches.load(), 0u);
}

TEST_F(CaseRandomisationTest, AnAnswerInAnotherCaseIsNotTakenAndTheQueryIsAskedPlain) {
  const char* name = "mixed.example.com";
  ask(query(1, name, dns::rrtype::A), client(1, 1000));
  ASSERT_EQ(sink_.sent.size(), 1u);
  Bytes wrong_case = answer_to(sink_.sent[0].wire);
  for (std::size_t i = 13; i < 13 + 5; ++i) wrong_case[i] ^= 0x20;  // "mixed" flipped
  answer(wrong_case, sink_.sent[0]);
  EXPECT_TRUE(sink_.replies.empty());
  EXPECT_EQ(engine_->counters().case_mismatches.load(), 1u);
  ASSERT_EQ(sink_.sent.size(), 2u) << "asked again at once";
  EXPECT_EQ(question_of(sink_.sent[1].wire), question(name, dns::rrtype::A))
      << "as the client wrote it";
  answer(lowered(answer_to(sink_.sent[1].wire)), sink_.sent[1]);
  ASSERT_EQ(sink_.replies.size(), 1u);
  EXPECT_EQ(dns::Header::read(sink_.replies[0].wire.data()).rcode(), 0);
}

TEST_F(CaseRandomisationTest, AServerThatLowersTheQuestionFallsBackAfterThreeMismatches) {
  for (int i = 0; i < 3; ++i) {
    const std::string name = "name" + std::to_string(i) + ".example.com";
    const std::size_t before = sink_.sent.size();
    ask(query(1, name.c_str(), dns::rrtype::A), client(1, 1000));
    answer(lowered(answer_to(sink_.sent[before].wire)), sink_.sent[before]);
    ASSERT_EQ(sink_.sent.size(), before + 2);
    answer(lowered(answer_to(sink_.sent[before + 1].wire)), sink_.sent[before + 1]);
  }
  EXPECT_EQ(sink_.replies.size(), 3u);
  EXPECT_EQ(engine_->counters().case_mismatches.load(), 3u);
  EXPECT_EQ(engine_->counters().case_fallbacks.load(), 1u);
  EXPECT_FALSE(engine_->selector().randomises_case(0));
  EXPECT_EQ(engine_->selector().exported(0).case_fallback.load(), 1u);

  const std::size_t before = sink_.sent.size();
  ask(query(1, "AFTER.example.com", dns::rrtype::A), client(1, 1000));
  ASSERT_EQ(sink_.sent.size(), before + 1);
  EXPECT_EQ(question_of(sink_.sent[before].wire), question("AFTER.example.com", dns::rrtype::A));
  answer(lowered(answer_to(sink_.sent[before].wire)), sink_.sent[before]);
  EXPECT_EQ(sink_.replies.size(), 4u) << "one attempt, no mismatch";
}

TEST_F(CaseRandomisationTest, TcpAttemptsKeepTheClientsCase) {
  const char* name = "tcp.Example.com";
  ask(query(1, name, dns::rrtype::A), client(1, 1000));
  answer(answer_to(sink_.sent[0].wire, dns::flag::TC), sink_.sent[0]);
  ASSERT_EQ(sink_.sent.size(), 2u);
  EXPECT_EQ(sink_.sent[1].transport, net::Transport::Tcp);
  EXPECT_EQ(question_of(sink_.sent[1].wire), question(name, dns::rrtype::A));
}

}  // namespace
}  // namespace heimdall::engine
