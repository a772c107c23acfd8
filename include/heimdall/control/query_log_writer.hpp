// The query log's writer (docs/architecture.md §13.4):
// a thread of the control side that drains every worker's ring and writes JSON
// lines, rotating the file by size. Workers never wait for it: a ring it does not
// drain in time drops entries, and the drops are counted.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>

#include "heimdall/engine/query_log.hpp"

namespace heimdall::control {

struct QueryLogFile {
  std::string path;                     // JSON lines; rotated to path.1 ... path.<keep>
  std::uint64_t max_bytes = 100 << 20;  // rotate when the file would grow past this
  unsigned keep = 5;                    // rotated files kept
};

class QueryLogWriter {
 public:
  // Opens (appends to) the file; throws std::runtime_error naming it when it
  // cannot. The thread starts at once and drains every 10 ms.
  QueryLogWriter(engine::QueryLog& log, QueryLogFile file);
  ~QueryLogWriter();  // drains what is left, then closes
  QueryLogWriter(const QueryLogWriter&) = delete;
  QueryLogWriter& operator=(const QueryLogWriter&) = delete;

  // Writes everything the rings hold now (the thread does this on its own; a
  // call from another thread waits for it).
  std::size_t drain();

  std::uint64_t written() const { return written_.load(std::memory_order_relaxed); }
  std::uint64_t write_errors() const { return write_errors_.load(std::memory_order_relaxed); }
  std::uint64_t dropped() const;  // by the workers: their rings were full

 private:
  void run();
  void write(const engine::QueryLogEntry& entry);
  void rotate();

  engine::QueryLog& log_;
  QueryLogFile file_;
  std::FILE* out_ = nullptr;
  std::uint64_t bytes_ = 0;
  std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> write_errors_{0};
  std::atomic<bool> stop_{false};
  std::mutex drain_mutex_;  // control side only; workers never see it
  std::thread thread_;
};

// One entry as the JSON line written (no newline), e.g.
// {"time":"2026-11-25T17:20:00.123456Z","client":"192.0.2.1:5353","transport":"udp",
//  "name":"www.example.com.","type":1,"rcode":0,"tc":false,"size":61}
std::string query_log_line(const engine::QueryLogEntry& entry);

}  // namespace heimdall::control
