// Micro-benchmarks of the per-query work on one core: parsing a query, building
// the reply from an upstream answer, and a whole forwarded round trip through the
// engine (query -> upstream query -> answer -> reply) with a sink that only counts.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "heimdall/cache/stored_answer.hpp"
#include "heimdall/dns/build.hpp"
#include "heimdall/dns/message.hpp"
#include "heimdall/dns/name.hpp"
#include "heimdall/engine/engine.hpp"

namespace {

using namespace heimdall;
using Bytes = std::vector<std::uint8_t>;

void put16(Bytes& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}

Bytes make_query(std::uint16_t id, const char* name) {
  Bytes b;
  for (std::uint16_t v : {id, std::uint16_t{0x0100}, std::uint16_t{1}, std::uint16_t{0},
                          std::uint16_t{0}, std::uint16_t{1}}) {
    put16(b, v);
  }
  std::uint8_t wire[256];
  const std::size_t length = dns::name_from_text(name, wire);
  b.insert(b.end(), wire, wire + length);
  put16(b, dns::rrtype::A);
  put16(b, dns::rrclass::IN);
  const std::uint8_t opt[] = {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0};
  b.insert(b.end(), opt, opt + sizeof(opt));
  return b;
}

// An answer to `query` with two A records, as an upstream would send it.
// The benchmarks parse messages this file built: a failure is a bug here.
void parse_or_die(const Bytes& wire, dns::Message& msg) {
  if (dns::parse_message(wire, msg) != dns::ParseError::Ok) std::abort();
}

Bytes make_answer(const Bytes& query) {
  dns::Message msg;
  parse_or_die(query, msg);
  Bytes b(query.begin(), query.begin() + msg.question.end);
  b[2] = 0x81;
  b[3] = 0x80;
  b[7] = 2;   // ANCOUNT
  b[11] = 0;  // ARCOUNT
  for (std::uint8_t i = 1; i <= 2; ++i) {
    const std::uint8_t rr[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 192, 0, 2, i};
    b.insert(b.end(), rr, rr + sizeof(rr));
  }
  return b;
}

void BM_ParseQuery(benchmark::State& state) {
  const Bytes query = make_query(1, "www.example.com");
  for (auto _ : state) {
    dns::Message msg;
    benchmark::DoNotOptimize(dns::parse_message(query, msg));
    benchmark::DoNotOptimize(msg);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseQuery);

void BM_BuildReply(benchmark::State& state) {
  const Bytes query = make_query(1, "www.example.com");
  const Bytes answer = make_answer(query);
  dns::Message query_msg, answer_msg;
  parse_or_die(query, query_msg);
  parse_or_die(answer, answer_msg);
  const dns::ClientView client{.id = 0x1234,
                               .flags = 0x0100,
                               .question = query_msg.question.wire(query),
                               .edns = true,
                               .dnssec_ok = false,
                               .reply_limit = 1232};
  std::uint8_t out[1232];
  for (auto _ : state) {
    benchmark::DoNotOptimize(dns::build_reply(answer, answer_msg, client, 1232, out));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BuildReply);

// The cache's hit path on its own: the reply built from a stored answer, with
// TTLs aged and the client's OPT (the lookup itself is not in this figure).
void BM_ReplyFromStored(benchmark::State& state) {
  const Bytes query = make_query(1, "www.example.com");
  const Bytes answer = make_answer(query);
  dns::Message query_msg, answer_msg;
  parse_or_die(query, query_msg);
  parse_or_die(answer, answer_msg);
  std::uint8_t stored[512];
  const std::size_t stored_length = cache::store_answer(answer, answer_msg, stored);
  const dns::ClientView client{.id = 0x1234,
                               .flags = 0x0100,
                               .question = query_msg.question.wire(query),
                               .edns = true,
                               .dnssec_ok = false,
                               .reply_limit = 1232};
  std::uint8_t out[1232];
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        cache::reply_from_stored({stored, stored_length}, client, {.age_s = 7}, 1232, out));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ReplyFromStored);

class CountingSink : public engine::Sink {
 public:
  void send_to_client(const net::ClientRef&, std::span<const std::uint8_t>) override { ++replies; }
  void send_to_upstream(unsigned, net::Transport, std::uint16_t port,
                        std::span<const std::uint8_t> wire) override {
    last_port = port;
    last_query.assign(wire.begin(), wire.end());
  }
  std::uint64_t replies = 0;
  std::uint16_t last_port = 0;
  Bytes last_query;
};

// One forwarded query per iteration: the cost the engine adds per cache miss,
// without any socket.
void BM_EngineForwardRoundTrip(benchmark::State& state) {
  engine::EngineConfig config;
  net::Endpoint server;
  server.family = AF_INET;
  server.port = 53;
  server.address[0] = 127;
  server.address[3] = 1;
  config.servers = {server};
  const std::uint16_t ports[] = {40000, 40001};
  engine::Engine engine(config, ports, 1);
  CountingSink sink;
  const Bytes query = make_query(7, "www.example.com");
  net::ClientRef client;
  client.peer = server;
  std::uint64_t now = 1;
  Bytes answer = make_answer(query);
  for (auto _ : state) {
    const engine::ClientQuery in{.wire = query, .from = client};
    engine.on_queries({&in, 1}, now, sink);
    // The upstream query differs from the client's only in its ID.
    std::memcpy(answer.data(), sink.last_query.data(), 2);
    const engine::UpstreamAnswer up{.wire = answer,
                                    .from = server,
                                    .transport = net::Transport::Udp,
                                    .local_port = sink.last_port};
    engine.on_upstream_answers({&up, 1}, now + 1000, sink);
    now += 2000;
  }
  if (sink.replies != static_cast<std::uint64_t>(state.iterations()))
    state.SkipWithError("a query went unanswered");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EngineForwardRoundTrip);

}  // namespace

BENCHMARK_MAIN();
