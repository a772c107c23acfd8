#include "heimdall/upstream/pending_table.hpp"

#include <bit>
#include <stdexcept>

namespace heimdall::upstream {

PendingTable::PendingTable(std::uint32_t max_queries, std::uint32_t max_waiters)
    : queries_(max_queries), waiters_(max_waiters) {
  if (max_queries == 0 || max_waiters == 0) throw std::invalid_argument("pending table needs room");
  const std::uint32_t buckets = std::bit_ceil(max_queries * 2);
  id_buckets_.assign(buckets, kNoSlot);
  key_buckets_.assign(buckets, kNoSlot);
  bucket_mask_ = buckets - 1;
  free_queries_.reserve(max_queries);
  for (std::uint32_t i = max_queries; i-- > 0;) free_queries_.push_back(i);
  for (std::uint32_t i = max_waiters; i-- > 0;) {
    waiters_[i].next = free_waiters_;
    free_waiters_ = i;
  }
}

std::uint32_t PendingTable::allocate() {
  if (free_queries_.empty()) return kNoSlot;
  const std::uint32_t slot = free_queries_.back();
  free_queries_.pop_back();  // never reallocates: reserved to capacity at construction
  PendingQuery& query = queries_[slot];
  query.in_use = true;
  query.id_registered = false;
  query.waiters = kNoSlot;
  query.waiter_count = 0;
  query.tried_mask = 0;
  query.servers = UINT32_MAX;
  query.attempts = 0;
  query.truncated = false;
  query.case_randomised = false;
  query.case_plain = false;
  query.no_socket = false;
  query.local_port = 0;
  query.stale_deadline_ns = 0;
  query.id_chain = query.key_chain = kNoSlot;
  ++in_use_;
  return slot;
}

void PendingTable::release(std::uint32_t slot) {
  PendingQuery& query = queries_[slot];
  if (!query.in_use) return;
  if (query.id_registered) unregister_id(slot);
  unindex_question(slot);
  drop_waiters(slot);
  query.in_use = false;
  free_queries_.push_back(slot);
  --in_use_;
}

std::uint32_t PendingTable::key_bucket(const QuestionKey& key) const {
  return static_cast<std::uint32_t>(key.hash()) & bucket_mask_;
}

void PendingTable::index_question(std::uint32_t slot) {
  const std::uint32_t bucket = key_bucket(queries_[slot].key);
  queries_[slot].key_chain = key_buckets_[bucket];
  key_buckets_[bucket] = slot;
}

void PendingTable::unindex_question(std::uint32_t slot) {
  std::uint32_t* link = &key_buckets_[key_bucket(queries_[slot].key)];
  while (*link != kNoSlot) {
    if (*link == slot) {
      *link = queries_[slot].key_chain;
      queries_[slot].key_chain = kNoSlot;
      return;
    }
    link = &queries_[*link].key_chain;
  }
}

std::uint32_t PendingTable::find_question(const QuestionKey& key) const {
  for (std::uint32_t slot = key_buckets_[key_bucket(key)]; slot != kNoSlot;
       slot = queries_[slot].key_chain) {
    if (queries_[slot].key == key) return slot;
  }
  return kNoSlot;
}

std::uint32_t PendingTable::id_bucket(std::uint16_t local_port, std::uint16_t id) const {
  const std::uint32_t combined = (std::uint32_t{local_port} << 16) | id;
  return static_cast<std::uint32_t>((combined * 0x9E3779B97F4A7C15ULL) >> 32) & bucket_mask_;
}

void PendingTable::register_id(std::uint32_t slot) {
  PendingQuery& query = queries_[slot];
  const std::uint32_t bucket = id_bucket(query.local_port, query.id);
  query.id_chain = id_buckets_[bucket];
  id_buckets_[bucket] = slot;
  query.id_registered = true;
}

void PendingTable::unregister_id(std::uint32_t slot) {
  PendingQuery& query = queries_[slot];
  std::uint32_t* link = &id_buckets_[id_bucket(query.local_port, query.id)];
  while (*link != kNoSlot) {
    if (*link == slot) {
      *link = query.id_chain;
      break;
    }
    link = &queries_[*link].id_chain;
  }
  query.id_chain = kNoSlot;
  query.id_registered = false;
}

std::uint32_t PendingTable::find_id(std::uint16_t local_port, std::uint16_t id) const {
  for (std::uint32_t slot = id_buckets_[id_bucket(local_port, id)]; slot != kNoSlot;
       slot = queries_[slot].id_chain) {
    if (queries_[slot].local_port == local_port && queries_[slot].id == id) return slot;
  }
  return kNoSlot;
}

bool PendingTable::id_in_use(std::uint16_t local_port, std::uint16_t id) const {
  return find_id(local_port, id) != kNoSlot;
}

void PendingTable::drop_waiters(std::uint32_t slot) {
  PendingQuery& query = queries_[slot];
  std::uint32_t waiter = query.waiters;
  while (waiter != kNoSlot) {
    const std::uint32_t following = waiters_[waiter].next;
    waiters_[waiter].next = free_waiters_;
    free_waiters_ = waiter;
    waiter = following;
  }
  query.waiters = kNoSlot;
  query.waiter_count = 0;
}

Waiter* PendingTable::add_waiter(std::uint32_t slot) {
  if (free_waiters_ == kNoSlot) return nullptr;
  const std::uint32_t index = free_waiters_;
  Waiter& waiter = waiters_[index];
  free_waiters_ = waiter.next;
  waiter.next = queries_[slot].waiters;
  queries_[slot].waiters = index;
  ++queries_[slot].waiter_count;
  return &waiter;
}

}  // namespace heimdall::upstream
