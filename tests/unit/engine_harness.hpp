// The engine driven through its burst interface with a recording sink: what goes
// upstream, what goes back to each client, and when. Shared by the engine tests.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "heimdall/dns/name.hpp"
#include "heimdall/engine/engine.hpp"

namespace heimdall::engine::testing {

constexpr std::uint64_t kMs = 1'000'000;
using Bytes = std::vector<std::uint8_t>;

inline net::Endpoint endpoint(std::uint8_t last_octet, std::uint16_t port) {
  net::Endpoint e;
  e.family = AF_INET;
  e.port = port;
  e.address[0] = 127;
  e.address[3] = last_octet;
  return e;
}

inline net::ClientRef client(std::uint8_t last_octet, std::uint16_t port,
                             net::Transport transport = net::Transport::Udp) {
  return net::ClientRef{.peer = endpoint(last_octet, port),
                        .transport = transport,
                        .socket = 0,
                        .connection = 0,
                        .link = {}};
}

inline void put16(Bytes& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}
inline void put32(Bytes& b, std::uint32_t v) {
  put16(b, static_cast<std::uint16_t>(v >> 16));
  put16(b, static_cast<std::uint16_t>(v));
}

inline Bytes question(const char* name, std::uint16_t qtype) {
  std::uint8_t wire[256];
  const std::size_t length = dns::name_from_text(name, wire);
  Bytes b(wire, wire + length);
  put16(b, qtype);
  put16(b, dns::rrclass::IN);
  return b;
}

struct QueryOptions {
  std::uint16_t flags = dns::flag::RD;
  bool edns = false;
  bool dnssec_ok = false;
  std::uint8_t edns_version = 0;
  std::uint16_t qdcount = 1;
};

inline Bytes query(std::uint16_t id, const char* name, std::uint16_t qtype,
                   QueryOptions options = {}) {
  Bytes b;
  put16(b, id);
  put16(b, options.flags);
  put16(b, options.qdcount);
  put16(b, 0);
  put16(b, 0);
  put16(b, options.edns ? 1 : 0);
  const Bytes q = question(name, qtype);
  b.insert(b.end(), q.begin(), q.end());
  if (options.edns) {
    b.push_back(0);
    put16(b, dns::rrtype::OPT);
    put16(b, 1232);
    put32(b, (std::uint32_t{options.edns_version} << 16) | (options.dnssec_ok ? 0x8000u : 0u));
    put16(b, 0);
  }
  return b;
}

// An upstream answer to `sent` (the engine's upstream query) with one A record.
inline Bytes answer_to(const Bytes& sent, std::uint16_t extra_flags = 0, std::uint8_t rcode = 0) {
  dns::Message msg;
  EXPECT_EQ(dns::parse_message(sent, msg), dns::ParseError::Ok);
  Bytes b;
  put16(b, msg.header.id);
  put16(b, static_cast<std::uint16_t>(dns::flag::QR | dns::flag::RA | dns::flag::AA |
                                      (msg.header.flags & dns::flag::RD) | extra_flags | rcode));
  put16(b, 1);
  put16(b, rcode == 0 ? 1 : 0);
  put16(b, 0);
  put16(b, 0);
  b.insert(b.end(), sent.begin() + 12, sent.begin() + msg.question.end);
  if (rcode == 0) {
    put16(b, 0xc00c);
    put16(b, msg.question.qtype);
    put16(b, dns::rrclass::IN);
    put32(b, 300);
    put16(b, 4);
    for (std::uint8_t octet : {192, 0, 2, 1}) b.push_back(octet);
  }
  return b;
}

struct Sent {
  unsigned server;
  net::Transport transport;
  std::uint16_t local_port;
  Bytes wire;
};
struct Reply {
  net::ClientRef to;
  Bytes wire;
};

class RecordingSink : public Sink {
 public:
  void send_to_client(const net::ClientRef& to, std::span<const std::uint8_t> wire) override {
    replies.push_back(Reply{to, Bytes(wire.begin(), wire.end())});
  }
  void send_to_upstream(unsigned server, net::Transport transport, std::uint16_t local_port,
                        std::span<const std::uint8_t> wire) override {
    sent.push_back(Sent{server, transport, local_port, Bytes(wire.begin(), wire.end())});
  }
  UdpAttempt open_udp_attempt(unsigned, std::uint16_t drawn) override {
    opened.push_back(drawn);
    if (next_opens.empty()) return UdpAttempt{PortOpen::Opened, drawn};
    const PortOpen result = next_opens.front();
    next_opens.erase(next_opens.begin());
    return UdpAttempt{result, drawn};
  }
  void close_udp_attempt(std::uint16_t local_port) override { closed.push_back(local_port); }
  std::vector<Sent> sent;
  std::vector<std::uint16_t> opened;  // every port the engine asked for, taken or not
  std::vector<std::uint16_t> closed;
  std::vector<PortOpen> next_opens;  // what the next open calls answer (then Opened)
  std::vector<Reply> replies;
};

inline dns::Message parsed(const Bytes& wire) {
  dns::Message msg;
  EXPECT_EQ(dns::parse_message(wire, msg), dns::ParseError::Ok);
  return msg;
}

class EngineTest : public ::testing::Test {
 protected:
  EngineTest() { make_engine(2, upstream::Strategy::Failover); }

  void make_engine(int servers, upstream::Strategy strategy) {
    config_.servers.clear();
    for (int i = 0; i < servers; ++i) {
      config_.servers.push_back(endpoint(static_cast<std::uint8_t>(10 + i), 53));
    }
    config_.selector = upstream::SelectorConfig{.strategy = strategy,
                                                .max_failures = 3,
                                                .probe_interval_ns = 1000 * kMs,
                                                .budget_ns = 1500 * kMs};
    config_.max_pending = 64;
    config_.max_waiters = 128;
    engine_ = std::make_unique<Engine>(config_, ports_, 42, cache_, 0, filter_);
  }

  void ask(const Bytes& wire, const net::ClientRef& from, std::uint64_t now = 0) {
    const ClientQuery q{.wire = wire, .from = from};
    engine_->on_queries({&q, 1}, now, sink_);
  }
  void answer(const Bytes& wire, const Sent& to, std::uint64_t now = 0) {
    answer_from(wire, config_.servers[to.server], to.transport, to.local_port, now);
  }
  void answer_from(const Bytes& wire, const net::Endpoint& from, net::Transport transport,
                   std::uint16_t port, std::uint64_t now = 0) {
    const UpstreamAnswer a{.wire = wire, .from = from, .transport = transport, .local_port = port};
    engine_->on_upstream_answers({&a, 1}, now, sink_);
  }

  EngineConfig config_;
  cache::Cache* cache_ = nullptr;  // set before make_engine to test with a cache
  const rcu::Published<filter::Snapshot>* filter_ = nullptr;  // likewise for a filter
  std::vector<std::uint16_t> ports_ = {40001, 40002, 40003};
  std::unique_ptr<Engine> engine_;
  RecordingSink sink_;
};

}  // namespace heimdall::engine::testing
