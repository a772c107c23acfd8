// The cache's hit path with 1,000,000 entries: digest + bulk lookup + reply build
// over bursts of 32 (issue 3's figure), with 1 and 2 reader threads, and the same
// through the whole engine (parse, key, lookup, reply, sink). Prints the memory
// each entry costs beyond its answer once, before the benchmarks run.
//
//   build/perf/cache_bench --benchmark_min_time=1 --benchmark_repetitions=5
#include <benchmark/benchmark.h>
#include <rte_malloc.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "heimdall/cache/cache.hpp"
#include "heimdall/cache/stored_answer.hpp"
#include "heimdall/dns/build.hpp"
#include "heimdall/dns/name.hpp"
#include "heimdall/engine/engine.hpp"
#include "heimdall/io/eal.hpp"

namespace {

using namespace heimdall;
using Bytes = std::vector<std::uint8_t>;

constexpr std::uint32_t kEntries = 1'000'000;
constexpr unsigned kReaders = 4;
constexpr std::size_t kBurst = 32;
constexpr std::uint64_t kNow = 1'000'000'000'000;

void put16(Bytes& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}

std::string name_of(std::uint32_t i) { return "host" + std::to_string(i) + ".example.net"; }

Bytes message(std::uint16_t flags, const std::string& name, bool with_answer) {
  Bytes b;
  for (std::uint16_t v :
       {std::uint16_t{0x1234}, flags, std::uint16_t{1},
        static_cast<std::uint16_t>(with_answer ? 1 : 0), std::uint16_t{0}, std::uint16_t{0}}) {
    put16(b, v);
  }
  std::uint8_t wire[256];
  const std::size_t length = dns::name_from_text(name.c_str(), wire);
  b.insert(b.end(), wire, wire + length);
  put16(b, dns::rrtype::A);
  put16(b, dns::rrclass::IN);
  if (with_answer) {
    const std::uint8_t record[] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 192, 0, 2, 7};
    b.insert(b.end(), record, record + sizeof(record));
  }
  return b;
}

struct Question {
  Bytes query;
  dns::QuestionKey key;
  cache::Digest digest;
};

// Built once: the cache, filled, and a question per entry.
struct World {
  std::unique_ptr<cache::Cache> cache;
  std::vector<Question> questions;
  std::size_t answer_bytes = 0;

  World() {
    io::EalOptions eal;
    eal.memory_mb = 1024;
    io::start_eal(eal);
    cache::CacheConfig config;
    config.max_entries = kEntries;
    config.max_bytes = 1ull << 30;
    rte_malloc_socket_stats before{};
    rte_malloc_get_socket_stats(0, &before);
    cache = std::make_unique<cache::Cache>(config, 1, kReaders, 5);
    rte_malloc_socket_stats after{};
    rte_malloc_get_socket_stats(0, &after);
    cache->register_reader(0);

    questions.resize(kEntries);
    for (std::uint32_t i = 0; i < kEntries; ++i) {
      Question& q = questions[i];
      q.query = message(0x0100, name_of(i), false);
      dns::Message msg;
      if (dns::parse_message(q.query, msg) != dns::ParseError::Ok) std::abort();  // built above
      q.key = dns::QuestionKey::of(msg);
      q.digest = cache->digest(q.key);
      const Bytes answer = message(0x8180, name_of(i), true);
      answer_bytes += answer.size();
      dns::Message parsed;
      if (dns::parse_message(answer, parsed) != dns::ParseError::Ok) std::abort();
      cache->offer(0, cache::Probe{q.digest, &q.key}, answer, parsed, kNow);
    }
    cache->unregister_reader(0);

    const cache::ShardCounters& shard = cache->shard_counters(0);
    const double entries = static_cast<double>(shard.entries.load());
    const double hash_bytes =
        static_cast<double>(after.heap_allocsz_bytes - before.heap_allocsz_bytes);
    const double pool_bytes = static_cast<double>(shard.bytes.load());
    const double clock_bytes = static_cast<double>(kEntries) * (sizeof(void*) + 4);
    const double answer = static_cast<double>(answer_bytes) / kEntries;
    const double total = (hash_bytes + pool_bytes + clock_bytes) / entries;
    std::printf(
        "entries %.0f | answer %.1f B | per entry: rte_hash %.1f B, pool block %.1f B, CLOCK %.1f B"
        " = %.1f B, overhead beyond the answer %.1f B\n",
        entries, answer, hash_bytes / entries, pool_bytes / entries, clock_bytes / entries, total,
        total - answer);
  }
};

World& world() {
  static World instance;
  return instance;
}

// A stream of bursts laid out in order, as packets sit in an RX ring: the keys a
// worker would have just built from each query (in cache), 32 per burst, picked
// at random over the first `range(0)` of the million entries: all of them (every
// hit a DRAM miss), or a hot set of 10,000 as real traffic's popular names are.
constexpr std::size_t kStreamBursts = 4096;

void BM_CacheHitBurst(benchmark::State& state) {
  World& w = world();
  const unsigned reader = static_cast<unsigned>(state.thread_index());
  w.cache->register_reader(reader);
  std::mt19937 random(29 + reader);
  std::uniform_int_distribution<std::uint32_t> pick(0,
                                                    static_cast<std::uint32_t>(state.range(0)) - 1);
  std::vector<dns::QuestionKey> keys(kStreamBursts * kBurst);
  std::vector<std::uint8_t> questions(kStreamBursts * kBurst * 32);
  std::vector<dns::ClientView> views(kStreamBursts * kBurst);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const Question& q = w.questions[pick(random)];
    keys[i] = q.key;
    const std::size_t length = q.query.size() - dns::kHeaderSize;
    std::memcpy(&questions[i * 32], q.query.data() + dns::kHeaderSize, length);
    views[i] = dns::ClientView{.id = 7,
                               .flags = 0x0100,
                               .question = {&questions[i * 32], length},
                               .edns = false,
                               .dnssec_ok = false,
                               .reply_limit = 512};
  }
  cache::Probe probes[kBurst];
  cache::Hit hits[kBurst];
  Bytes out(1232);
  std::size_t burst = 0;
  std::uint64_t replied = 0;
  for (auto _ : state) {
    const std::size_t base = (burst++ % kStreamBursts) * kBurst;
    for (std::size_t i = 0; i < kBurst; ++i) {
      probes[i] = cache::Probe{w.cache->digest(keys[base + i]), &keys[base + i]};
    }
    w.cache->lookup(reader, probes, kNow, hits);
    for (std::size_t i = 0; i < kBurst; ++i) {
      replied += cache::reply_from_stored(hits[i].stored, views[base + i],
                                          cache::Ageing{.age_s = 1}, 1232, out) > 0;
    }
    w.cache->quiescent(reader);
  }
  w.cache->unregister_reader(reader);
  if (replied != state.iterations() * kBurst) state.SkipWithError("a lookup missed");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBurst));
}
BENCHMARK(BM_CacheHitBurst)->Arg(kEntries)->Arg(10'000)->Threads(1)->Threads(2)->UseRealTime();

class CountingSink : public engine::Sink {
 public:
  void send_to_client(const net::ClientRef&, std::span<const std::uint8_t> wire) override {
    bytes += wire.size();
    ++replies;
  }
  void send_to_upstream(unsigned, net::Transport, std::uint16_t,
                        std::span<const std::uint8_t>) override {
    ++upstream;
  }
  std::uint64_t bytes = 0, replies = 0, upstream = 0;
};

// Whole engine: a burst of 32 client queries in, 32 cached replies out.
void BM_EngineCacheHitBurst(benchmark::State& state) {
  World& w = world();
  w.cache->register_reader(0);
  engine::EngineConfig config;
  net::Endpoint upstream;
  upstream.family = AF_INET;
  upstream.port = 53;
  config.servers.push_back(upstream);
  const std::uint16_t ports[] = {40000};
  engine::Engine engine(config, ports, 1, w.cache.get(), 0);
  // Query packets back to back, as in an RX ring.
  std::mt19937 random(41);
  std::uniform_int_distribution<std::uint32_t> pick(0, kEntries - 1);
  std::vector<std::uint8_t> packets(kStreamBursts * kBurst * 64);
  std::vector<engine::ClientQuery> queries(kStreamBursts * kBurst);
  for (std::size_t i = 0; i < queries.size(); ++i) {
    const Bytes& wire = w.questions[pick(random)].query;
    std::memcpy(&packets[i * 64], wire.data(), wire.size());
    queries[i].wire = {&packets[i * 64], wire.size()};
    queries[i].from.peer = upstream;
  }
  CountingSink sink;
  std::size_t burst = 0;
  for (auto _ : state) {
    engine.on_queries({&queries[(burst++ % kStreamBursts) * kBurst], kBurst}, kNow, sink);
    w.cache->quiescent(0);
  }
  w.cache->unregister_reader(0);
  if (sink.upstream != 0) state.SkipWithError("a query went upstream");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBurst));
}
BENCHMARK(BM_EngineCacheHitBurst);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  world();  // fill before timing; prints the memory figures
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  world().cache.reset();
  io::stop_eal();
  return 0;
}
