// The query log: per-worker rings that never block their worker and count what
// they drop, the engine filling them, and the writer's JSON lines and rotation.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "engine_harness.hpp"
#include "heimdall/control/query_log_writer.hpp"
#include "heimdall/engine/query_log.hpp"

namespace heimdall::control {
namespace {

using engine::QueryLog;
using engine::QueryLogEntry;
using engine::QueryLogRing;

std::size_t count_lines(const std::string& path) {
  std::ifstream file(path);
  std::size_t lines = 0;
  for (std::string line; std::getline(file, line);) ++lines;
  return lines;
}

class TempDir {
 public:
  TempDir() {
    char name[] = "/tmp/heimdall-qlog-XXXXXX";
    path_ = mkdtemp(name);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void fill(QueryLogRing& ring, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) {
    QueryLogEntry* entry = ring.reserve();
    if (entry == nullptr) continue;
    entry->qtype = static_cast<std::uint16_t>(i);
    entry->name_length = 0;
    ring.commit();
  }
}

TEST(QueryLogRing, KeepsWhatFitsAndCountsTheRest) {
  QueryLogRing ring(8);
  fill(ring, 8);
  EXPECT_EQ(ring.dropped(), 0u);
  fill(ring, 3);
  EXPECT_EQ(ring.dropped(), 3u);
  const QueryLogEntry* first = nullptr;
  ASSERT_EQ(ring.peek(&first, 100), 8u);
  EXPECT_EQ(first[0].qtype, 0);
  EXPECT_EQ(first[7].qtype, 7);
  ring.release(8);
  fill(ring, 5);  // room again, and the order continues across the wrap
  ASSERT_EQ(ring.peek(&first, 100), 5u);
  EXPECT_EQ(first[0].qtype, 0);
}

TEST(QueryLog, TheEngineLogsEveryReplyOrOneInN) {
  using namespace engine::testing;
  QueryLog log(1, 64, 1);
  engine::EngineConfig config;
  config.servers = {endpoint(10, 53)};
  config.query_log = &log;
  const std::uint16_t ports[] = {40001};
  engine::Engine engine(config, ports, 1);
  RecordingSink sink;
  const Bytes any = query(5, "Logged.Example", dns::rrtype::ANY);
  const engine::ClientQuery q{.wire = any, .from = client(7, 5353)};
  engine.on_queries({&q, 1}, 1'000'000'000, sink);
  const QueryLogEntry* entry = nullptr;
  ASSERT_EQ(log.rings[0]->peek(&entry, 10), 1u);
  EXPECT_EQ(entry->qtype, dns::rrtype::ANY);
  EXPECT_EQ(entry->rcode, 0);
  EXPECT_EQ(entry->client, client(7, 5353).peer);
  const std::string line = query_log_line(*entry);
  EXPECT_NE(line.find("\"name\":\"Logged.Example.\""), std::string::npos) << line;
  EXPECT_NE(line.find("\"type\":255"), std::string::npos) << line;
  EXPECT_NE(line.find("\"client\":\"127.0.0.7:5353\""), std::string::npos) << line;

  QueryLog sampled(1, 64, 4);
  config.query_log = &sampled;
  engine::Engine sampling(config, ports, 1);
  for (int i = 0; i < 12; ++i) sampling.on_queries({&q, 1}, 1'000'000'000, sink);
  EXPECT_EQ(sampled.rings[0]->peek(&entry, 100), 3u);
}

// Under load: a worker producing as fast as it can while the writer drains. With
// a ring larger than the load nothing is lost; with a small one every entry is
// either written or counted as dropped.
TEST(QueryLogWriter, LosesNothingBelowCapacityAndCountsDropsAbove) {
  TempDir dir;
  for (const auto& [capacity, total] :
       {std::pair<std::size_t, std::size_t>{1 << 18, 200000}, {256, 200000}}) {
    QueryLog log(1, capacity, 1);
    const std::string path = dir.file("queries-" + std::to_string(capacity) + ".jsonl");
    {
      QueryLogWriter writer(log, QueryLogFile{.path = path, .max_bytes = 1ull << 40, .keep = 1});
      std::thread worker([&] { fill(*log.rings[0], total); });
      worker.join();
      writer.drain();
      EXPECT_EQ(writer.written() + writer.dropped(), total);
      if (capacity >= total) {
        EXPECT_EQ(writer.dropped(), 0u);
      }
    }
    EXPECT_EQ(count_lines(path) + log.rings[0]->dropped(), total);
  }
}

TEST(QueryLogWriter, RotatesBySizeAndKeepsTheNewestFiles) {
  TempDir dir;
  QueryLog log(2, 1024, 1);
  const std::string path = dir.file("q.jsonl");
  {
    QueryLogWriter writer(log, QueryLogFile{.path = path, .max_bytes = 4096, .keep = 2});
    fill(*log.rings[0], 300);
    fill(*log.rings[1], 300);
    writer.drain();
    EXPECT_EQ(writer.written(), 600u);
  }
  EXPECT_TRUE(std::filesystem::exists(path + ".1"));
  EXPECT_TRUE(std::filesystem::exists(path + ".2"));
  EXPECT_FALSE(std::filesystem::exists(path + ".3"));
  EXPECT_LE(std::filesystem::file_size(path + ".1"), 4096u);
}

TEST(QueryLogWriter, AnUnwritablePathIsAClearError) {
  QueryLog log(1, 8, 1);
  try {
    QueryLogWriter writer(log, QueryLogFile{.path = "/nonexistent/dir/q.jsonl"});
    FAIL() << "opened a file in a missing directory";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("/nonexistent/dir/q.jsonl"), std::string::npos);
  }
}

}  // namespace
}  // namespace heimdall::control
