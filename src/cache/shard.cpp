#include "shard.hpp"

#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_rcu_qsbr.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "heimdall/cache/stored_answer.hpp"
#include "sync_annotations.hpp"

namespace heimdall::cache {
namespace {

// CLOCK gives up looking for an unvisited entry after this many slots and takes
// the one under the hand: each insert stays O(1) even when everything is hot.
constexpr std::uint32_t kMaxClockSteps = 64;
// Room to find memory when the pool is full: each eviction may return blocks
// whose grace period has passed (the defer queue reclaims on every delete).
constexpr int kMaxEvictionsForMemory = 8;

// The digest is already a strong hash: its low bits are the bucket signature.
std::uint32_t digest_signature(const void* key, std::uint32_t /*length*/, std::uint32_t /*init*/) {
  std::uint32_t signature;
  std::memcpy(&signature, key, sizeof(signature));
  return signature;
}

std::atomic<unsigned> table_serial{0};

// Whether `name` is `suffix` or a name below it, both folded uncompressed wire.
bool at_or_below(std::span<const std::uint8_t> name, std::span<const std::uint8_t> suffix) {
  if (name.size() < suffix.size()) return false;
  std::size_t offset = 0;
  while (name.size() - offset > suffix.size()) offset += 1 + name[offset];
  return offset == name.size() - suffix.size() &&
         std::memcmp(name.data() + offset, suffix.data(), suffix.size()) == 0;
}

}  // namespace

Shard::Shard(unsigned index, std::uint32_t capacity, std::size_t pool_bytes, rte_rcu_qsbr* qsbr,
             const CacheConfig& config, const std::atomic<std::uint32_t>& generation)
    : capacity_(capacity),
      config_(config),
      generation_(generation),
      qsbr_(qsbr),
      pool_(pool_bytes),
      clock_(capacity, nullptr) {
  char name[RTE_HASH_NAMESIZE];
  std::snprintf(name, sizeof(name), "cache%u_%u", table_serial.fetch_add(1), index);
  rte_hash_parameters params{};
  params.name = name;
  params.entries = table_entries(capacity);
  params.key_len = sizeof(Digest);
  params.hash_func = digest_signature;
  params.hash_func_init_val = 0;
  params.socket_id = SOCKET_ID_ANY;
  params.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF;
  table_ = rte_hash_create(&params);
  if (table_ == nullptr) {
    throw std::runtime_error(std::string("cache: cannot create hash table: ") +
                             rte_strerror(rte_errno));
  }
  rte_hash_rcu_config rcu{};
  rcu.v = qsbr;
  rcu.mode = RTE_HASH_QSBR_MODE_DQ;
  rcu.dq_size = defer_queue_size(capacity);
  rcu.trigger_reclaim_limit = 0;  // every delete also reclaims what is past its grace period
  rcu.key_data_ptr = this;
  rcu.free_key_data_func = free_entry;
  if (rte_hash_rcu_qsbr_add(table_, &rcu) != 0) {
    rte_hash_free(table_);
    throw std::runtime_error(std::string("cache: cannot attach RCU to hash table: ") +
                             rte_strerror(rte_errno));
  }
  free_slots_.reserve(capacity);
  for (std::uint32_t slot = capacity; slot > 0; --slot) free_slots_.push_back(slot - 1);
}

Shard::~Shard() {
  // Every reader is offline by now: the defer queue is drained into the pool
  // before the pool's memory goes.
  rte_hash_free(table_);
}

void Shard::free_entry(void* shard_pointer, void* entry_pointer) {
  auto* shard = static_cast<Shard*>(shard_pointer);
  auto* entry = static_cast<Entry*>(entry_pointer);
  // The grace period is over: every reader's quiescent state comes before this.
  observed(shard->qsbr_);
  shard->discard(entry);
}

bool Shard::dead(const Entry& entry, std::uint64_t now_ns) const {
  if (entry.generation != generation_.load(std::memory_order_relaxed)) return true;
  return now_ns >= entry.expires_ns() + config_.serve_stale.window_ns();
}

void Shard::remove(Entry* entry) {
  // The entry's memory comes back through free_entry after the grace period.
  rte_hash_del_key(table_, &entry->digest);
  clock_[entry->clock_slot] = nullptr;
  free_slots_.push_back(entry->clock_slot);
  --entries_;
}

void Shard::discard(Entry* entry) {
  const std::size_t size_class = entry->size_class;
  entry->~Entry();
  pool_.release(entry, size_class);
}

void Shard::evict_one(std::uint64_t now_ns) {
  if (entries_ == 0) return;
  for (std::uint32_t step = 0;; ++step) {
    Entry* entry = clock_[hand_];
    hand_ = hand_ + 1 == capacity_ ? 0 : hand_ + 1;
    if (entry == nullptr) continue;
    if (dead(*entry, now_ns)) {
      remove(entry);
      stats::bump(counters_.expired);
      return;
    }
    if (step < kMaxClockSteps && entry->visited.load(std::memory_order_relaxed) != 0) {
      entry->visited.store(0, std::memory_order_relaxed);
      continue;
    }
    remove(entry);
    stats::bump(counters_.evictions);
    return;
  }
}

Entry* Shard::prepare(const EntryShape& shape) {
  const std::size_t size_class = EntryPool::class_for(sizeof(Entry) + shape.stored_length);
  if (size_class == EntryPool::kNoClass) return nullptr;
  if (entries_ >= capacity_) evict_one(shape.inserted_ns);
  void* block = pool_.allocate(size_class);
  for (int evicted = 0; block == nullptr && evicted < kMaxEvictionsForMemory && entries_ > 0;
       ++evicted) {
    evict_one(shape.inserted_ns);
    block = pool_.allocate(size_class);
  }
  if (block == nullptr) {
    stats::bump(counters_.no_memory);
    update_gauges();
    return nullptr;
  }
  auto* entry = new (block) Entry;
  entry->digest = shape.digest;
  entry->inserted_ns = shape.inserted_ns;
  entry->ttl_s = shape.ttl_s;
  entry->generation = generation_.load(std::memory_order_relaxed);
  entry->stored_length = static_cast<std::uint16_t>(shape.stored_length);
  entry->qtype = shape.key->qtype;
  entry->qclass = shape.key->qclass;
  entry->qflags = shape.key->flags;
  entry->name_length = shape.key->name.length;
  entry->size_class = static_cast<std::uint8_t>(size_class);
  entry->kind = shape.kind;
  return entry;
}

void Shard::publish(Entry* entry, std::uint64_t now_ns) {
  StoredHeader header;
  if (entry->stored_length < sizeof(header)) {
    discard(entry);
    return;
  }
  std::memcpy(&header, entry->stored(), sizeof(header));
  const std::size_t name_offset =
      sizeof(header) + 2 * std::size_t{header.ttl_count} + dns::kHeaderSize;
  if (name_offset + entry->name_length + 4 > entry->stored_length) {
    discard(entry);
    return;
  }
  entry->name_offset = static_cast<std::uint16_t>(name_offset);
  std::uint8_t* name = entry->stored() + name_offset;
  for (std::size_t i = 0; i < entry->name_length; ++i) name[i] = dns::fold(name[i]);

  void* found = nullptr;
  if (rte_hash_lookup_data(table_, &entry->digest, &found) >= 0) {
    auto* existing = static_cast<Entry*>(found);
    if (entry->kind == AnswerKind::ServFail && existing->kind != AnswerKind::ServFail &&
        !dead(*existing, now_ns)) {
      // RFC 8767: an answer that can still be served stale beats a failure.
      discard(entry);
      stats::bump(counters_.kept_over_servfail);
      return;
    }
    remove(existing);
    stats::bump(counters_.replaced);
  }
  if (free_slots_.empty()) evict_one(now_ns);
  entry->clock_slot = free_slots_.back();
  free_slots_.pop_back();
  published(entry);
  int added = rte_hash_add_key_data(table_, &entry->digest, entry);
  if (added == -ENOSPC) {
    // Cuckoo displacement found no room near this key's buckets: make some.
    evict_one(now_ns);
    added = rte_hash_add_key_data(table_, &entry->digest, entry);
  }
  if (added != 0) {
    free_slots_.push_back(entry->clock_slot);
    discard(entry);
    stats::bump(counters_.no_memory);
    update_gauges();
    return;
  }
  clock_[entry->clock_slot] = entry;
  ++entries_;
  stats::bump(counters_.inserts);
  update_gauges();
}

void Shard::sweep(std::uint64_t now_ns, std::uint32_t slots) {
  for (std::uint32_t i = 0; i < slots && entries_ > 0; ++i) {
    Entry* entry = clock_[sweep_cursor_];
    sweep_cursor_ = sweep_cursor_ + 1 == capacity_ ? 0 : sweep_cursor_ + 1;
    if (entry == nullptr || !dead(*entry, now_ns)) continue;
    const bool flushed = entry->generation != generation_.load(std::memory_order_relaxed);
    remove(entry);
    stats::bump(flushed ? counters_.flushed : counters_.expired);
  }
  update_gauges();
}

bool Shard::flush_step(std::span<const std::uint8_t> name, std::uint32_t& cursor,
                       std::uint32_t slots) {
  const std::uint32_t end = std::min<std::uint64_t>(std::uint64_t{cursor} + slots, capacity_);
  for (; cursor < end; ++cursor) {
    Entry* entry = clock_[cursor];
    if (entry == nullptr || !at_or_below(entry->name(), name)) continue;
    remove(entry);
    stats::bump(counters_.flushed);
  }
  update_gauges();
  return cursor == capacity_;
}

void Shard::update_gauges() {
  stats::set(counters_.entries, entries_);
  stats::set(counters_.bytes, pool_.block_bytes_in_use());
}

}  // namespace heimdall::cache
