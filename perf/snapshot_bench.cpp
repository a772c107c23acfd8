// Warm-restart figures (perf/RESULTS.md, "Cache snapshots"): a cache of 1M
// entries over two shards saved while two owner threads loop as workers do (each
// walks its own shard, the calling thread writes the file), then restored into a
// new cache as the next start does. Prints the times, the file's size and the
// entries restored. Usage: snapshot_bench [FILE] (default /tmp/heimdall-bench.snap).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "heimdall/cache/cache.hpp"
#include "heimdall/cache/dump.hpp"
#include "heimdall/cache/snapshot.hpp"
#include "heimdall/io/eal.hpp"

namespace {

using namespace heimdall;
using Bytes = std::vector<std::uint8_t>;
using Clock = std::chrono::steady_clock;

constexpr std::uint32_t kEntries = 1'000'000;
constexpr unsigned kShards = 2;

void put16(Bytes& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}

// An answer with one A record, as a typical cache entry holds.
Bytes answer_for(std::uint32_t i) {
  Bytes b;
  for (std::uint16_t v : {0x1234, 0x8180, 1, 1, 0, 0}) put16(b, v);
  const std::string name = "host" + std::to_string(i) + ".example.net";
  std::uint8_t wire[256];
  const std::size_t length = dns::name_from_text(name.c_str(), wire);
  b.insert(b.end(), wire, wire + length);
  put16(b, dns::rrtype::A);
  put16(b, dns::rrclass::IN);
  const std::uint8_t record[] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 192, 0, 2, 7};
  b.insert(b.end(), record, record + sizeof(record));
  return b;
}

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

cache::CacheConfig config() {
  cache::CacheConfig c;
  c.max_entries = kEntries + kEntries / 8;
  c.max_bytes = 1ull << 30;
  return c;
}

std::uint64_t total_entries(const cache::Cache& cache) {
  std::uint64_t n = 0;
  for (unsigned s = 0; s < cache.shard_count(); ++s) n += cache.shard_counters(s).entries.load();
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string path = argc > 1 ? argv[1] : "/tmp/heimdall-bench.snap";
  io::EalOptions eal;
  eal.memory_mb = 1024;
  io::start_eal(eal);
  {
    const cache::SnapshotClock start = cache::SnapshotClock::now();
    cache::Cache cache(config(), kShards, kShards, 5);
    for (unsigned r = 0; r < kShards; ++r) cache.register_reader(r);
    for (std::uint32_t i = 0; i < kEntries; ++i) {
      const Bytes answer = answer_for(i);
      dns::Message msg;
      if (dns::parse_message(answer, msg) != dns::ParseError::Ok) std::abort();
      const dns::QuestionKey key = dns::QuestionKey::of(msg);
      const cache::Digest digest = cache.digest(key);
      // Each owner inserts its own shard's entries, as answers land on the worker
      // that asked about half the time and are handed over otherwise.
      cache.offer(cache.shard_of(digest), cache::Probe{digest, &key}, answer, msg,
                  start.monotonic_ns);
    }
    for (unsigned r = 0; r < kShards; ++r) cache.unregister_reader(r);
    std::printf("cache filled: %llu entries\n",
                static_cast<unsigned long long>(total_entries(cache)));

    // Owners loop as busy workers do (maintain, then a short pause for a burst).
    std::atomic<bool> stop{false};
    std::vector<std::thread> owners;
    for (unsigned owner = 0; owner < kShards; ++owner) {
      owners.emplace_back([&, owner] {
        cache.register_reader(owner);
        while (!stop.load(std::memory_order_relaxed)) {
          cache.maintain(owner, cache::SnapshotClock::now().monotonic_ns);
          cache.quiescent(owner);
          std::this_thread::sleep_for(std::chrono::microseconds(50));
        }
        cache.unregister_reader(owner);
      });
    }
    const Clock::time_point save_start = Clock::now();
    {
      cache::DumpWalk walk(cache, cache::DumpContent::WithAnswers);
      cache::SnapshotWriter writer(path, cache::SnapshotClock::now());
      while (!walk.done()) {
        if (const auto chunk = walk.next()) {
          writer.add(*chunk, walk.answers());
        } else {
          std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
      }
      writer.commit();
      std::printf("save: %llu entries, %.1f MiB (%.1f B/entry), %.0f ms\n",
                  static_cast<unsigned long long>(writer.entries()),
                  static_cast<double>(writer.bytes()) / (1 << 20),
                  static_cast<double>(writer.bytes()) / static_cast<double>(writer.entries()),
                  ms_since(save_start));
    }
    stop = true;
    for (std::thread& owner : owners) owner.join();
  }
  {
    cache::Cache cache(config(), kShards, kShards, 99);  // a new process: another seed
    const Clock::time_point load_start = Clock::now();
    const cache::SnapshotLoad load = cache::load_snapshot(cache, path, cache::SnapshotClock::now());
    std::printf("load: %llu restored, %llu expired, %llu no room, %.0f ms (in the cache: %llu)\n",
                static_cast<unsigned long long>(load.restored),
                static_cast<unsigned long long>(load.expired),
                static_cast<unsigned long long>(load.no_room), ms_since(load_start),
                static_cast<unsigned long long>(total_entries(cache)));
  }
  std::filesystem::remove(path);
  io::stop_eal();
  return 0;
}
