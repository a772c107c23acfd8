// The query log's per-worker rings (docs/architecture.md §13.4): each worker writes
// entries into its own single-producer/single-consumer ring and never waits; a
// full ring drops the entry and counts it. The control side's writer drains the
// rings (control/query_log_writer).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "heimdall/dns/wire.hpp"
#include "heimdall/net/client_ref.hpp"

namespace heimdall::engine {

struct QueryLogEntry {
  std::uint64_t unix_ns = 0;  // wall-clock time of the reply
  net::Endpoint client;
  net::Transport transport = net::Transport::Udp;
  std::uint16_t qtype = 0;
  std::uint8_t rcode = 0;
  bool truncated = false;
  std::uint16_t size = 0;        // reply bytes
  std::uint8_t name_length = 0;  // of `name`, uncompressed wire form as the client sent it
  std::uint8_t name[dns::kMaxNameWire];
};

// One worker's ring: `capacity` entries, a power of two. The producer publishes
// with a release store of its head, the consumer with a release store of its
// tail; neither does a read-modify-write.
class QueryLogRing {
 public:
  explicit QueryLogRing(std::size_t capacity);

  // The worker: the slot to fill, or null when the ring is full (counted).
  QueryLogEntry* reserve();
  void commit();
  // The writer: up to `max` entries in order, then release().
  std::size_t peek(const QueryLogEntry** first, std::size_t max) const;
  void release(std::size_t count);

  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  std::uint64_t written() const { return head_.load(std::memory_order_relaxed); }
  std::size_t capacity() const { return mask_ + 1; }

 private:
  std::unique_ptr<QueryLogEntry[]> entries_;
  std::size_t mask_;
  alignas(64) std::atomic<std::uint64_t> head_{0};  // written by the worker
  std::atomic<std::uint64_t> dropped_{0};           // written by the worker
  alignas(64) std::atomic<std::uint64_t> tail_{0};  // written by the writer
};

// The rings of every engine (index = the engine's reader index) and the sampling.
struct QueryLog {
  QueryLog(unsigned engines, std::size_t capacity, unsigned sample_one_in);
  std::vector<std::unique_ptr<QueryLogRing>> rings;
  unsigned sample_one_in = 1;  // 1: every reply
};

}  // namespace heimdall::engine
