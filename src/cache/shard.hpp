// One cache shard: an rte_hash from digest to entry, the entries' pool, and the
// CLOCK ring the owner evicts and sweeps with. Private to the cache module.
// Everything here runs on the owner's thread except Entry reads and
// Entry::mark_visited, which any reader may do between two quiescent states.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "entry_pool.hpp"
#include "heimdall/cache/cache.hpp"

struct rte_hash;
struct rte_rcu_qsbr;

namespace heimdall::cache {

// An entry in its pool block: this header, then the stored answer
// (cache::store_answer's form) whose question name is folded in place, so that it
// doubles as the entry's full key; a reply overwrites it with the client's own
// question bytes anyway. Immutable once published, but for `visited`.
struct Entry {
  Digest digest;
  std::uint64_t inserted_ns = 0;
  std::uint32_t ttl_s = 0;
  std::uint32_t generation = 0;
  std::uint32_t clock_slot = 0;
  std::uint16_t stored_length = 0;
  std::uint16_t name_offset = 0;  // of the folded question name within the stored form
  std::uint16_t qtype = 0;
  std::uint16_t qclass = 0;
  std::uint8_t qflags = 0;
  std::uint8_t name_length = 0;
  std::uint8_t size_class = 0;
  AnswerKind kind = AnswerKind::Positive;
  std::atomic<std::uint8_t> visited{0};

  std::uint8_t* stored() { return reinterpret_cast<std::uint8_t*>(this + 1); }
  std::span<const std::uint8_t> stored() const {
    return {reinterpret_cast<const std::uint8_t*>(this + 1), stored_length};
  }
  std::span<const std::uint8_t> name() const { return stored().subspan(name_offset, name_length); }

  std::uint64_t expires_ns() const { return inserted_ns + std::uint64_t{ttl_s} * 1'000'000'000; }
  bool answers(const dns::QuestionKey& key) const {
    return qtype == key.qtype && qclass == key.qclass && qflags == key.flags &&
           name_length == key.name.length &&
           std::memcmp(stored().data() + name_offset, key.name.wire, name_length) == 0;
  }
  // Readers write nothing shared but this, and only when it is clear (docs/architecture.md §8.4).
  void mark_visited() {
    if (visited.load(std::memory_order_relaxed) == 0) visited.store(1, std::memory_order_relaxed);
  }
};

// What a new entry will hold, before its stored answer is written.
struct EntryShape {
  Digest digest;
  const dns::QuestionKey* key = nullptr;
  AnswerKind kind = AnswerKind::Positive;
  std::uint32_t ttl_s = 0;
  std::uint64_t inserted_ns = 0;
  std::size_t stored_length = 0;
};

class Shard {
 public:
  // The owner removes at most about this many entries per loop (sweep and flush
  // steps are sized under it): the RCU defer queue is sized from it.
  static constexpr std::uint32_t kMaxRemovalsPerLoop = 16384;

  // Key slots of the hash table for `capacity` entries: removed entries keep
  // theirs until their grace period ends, so a quarter more keeps inserts from
  // waiting on readers.
  static std::uint32_t table_entries(std::uint32_t capacity) {
    return capacity + capacity / 4 + 64;
  }
  // The RCU defer queue holds what the owner removes in one grace period (a loop
  // of every worker), bounded by kMaxRemovalsPerLoop.
  static std::uint32_t defer_queue_size(std::uint32_t capacity) {
    return std::min(table_entries(capacity), capacity / 4 + kMaxRemovalsPerLoop);
  }

  // `capacity` entries; `pool_bytes` of entry memory. `generation` is the cache's
  // flush-all counter.
  Shard(unsigned index, std::uint32_t capacity, std::size_t pool_bytes, rte_rcu_qsbr* qsbr,
        const CacheConfig& config, const std::atomic<std::uint32_t>& generation);
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  rte_hash* table() const { return table_; }

  // An unpublished entry with its header filled in, for the caller to write
  // `shape.stored_length` bytes of stored answer into; nullptr when it is too big
  // or no memory can be found (counted). Makes room first when the shard is full.
  Entry* prepare(const EntryShape& shape);
  // Folds the entry's question name and publishes it, replacing any entry with the
  // same digest, except that a SERVFAIL never replaces an answer that can still
  // be served. An entry whose stored answer is too short to carry its question is
  // freed instead.
  void publish(Entry* entry, std::uint64_t now_ns);

  // Removes up to `slots` slots' worth of dead entries (past expiry and the stale
  // window, or of an older generation).
  void sweep(std::uint64_t now_ns, std::uint32_t slots);
  // Removes entries at or below `name` from the next `slots` slots of the pass
  // that began at slot 0; true once the pass has covered every slot.
  bool flush_step(std::span<const std::uint8_t> name, std::uint32_t& cursor, std::uint32_t slots);
  // Calls `visit(entry)` for the entries in the next `slots` CLOCK slots from
  // `cursor`, and stops early, with `cursor` on the entry, when `visit` returns
  // false (it has taken nothing from it). True when the walk has reached the end.
  // An entry keeps its slot for its life, so a walk from 0 to the end meets every
  // entry present all along once, however many loops apart its steps are.
  template <typename Visit>
  bool walk_step(std::uint32_t& cursor, std::uint32_t slots, Visit&& visit) const {
    const std::uint32_t end = static_cast<std::uint32_t>(
        std::min<std::uint64_t>(std::uint64_t{cursor} + slots, capacity_));
    for (; cursor < end; ++cursor) {
      const Entry* entry = clock_[cursor];
      if (entry != nullptr && !visit(*entry)) return false;
    }
    return cursor == capacity_;
  }

  ShardCounters& counters() { return counters_; }
  const ShardCounters& counters() const { return counters_; }
  std::uint32_t capacity() const { return capacity_; }

 private:
  static void free_entry(void* shard, void* entry);
  bool dead(const Entry& entry, std::uint64_t now_ns) const;
  void remove(Entry* entry);
  void evict_one(std::uint64_t now_ns);
  void discard(Entry* entry);  // unpublished, or past its grace period: back to the pool
  void update_gauges();

  std::uint32_t capacity_;
  const CacheConfig& config_;
  const std::atomic<std::uint32_t>& generation_;
  rte_rcu_qsbr* qsbr_;
  rte_hash* table_ = nullptr;
  EntryPool pool_;
  std::vector<Entry*> clock_;  // slot -> entry, nullptr when free
  std::vector<std::uint32_t> free_slots_;
  std::uint32_t hand_ = 0;
  std::uint32_t sweep_cursor_ = 0;
  std::uint32_t entries_ = 0;
  ShardCounters counters_;
};

}  // namespace heimdall::cache
