#include "heimdall/cache/cache.hpp"

#include <rte_common.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>

#include "dump_state.hpp"
#include "heimdall/cache/stored_answer.hpp"
#include "shard.hpp"
#include "sync_annotations.hpp"

namespace heimdall::cache {
namespace {

constexpr std::size_t kBulk = RTE_HASH_LOOKUP_BULK_MAX;
constexpr std::uint64_t kNsPerSecond = 1'000'000'000;
// Per owner loop: handed-over answers inserted from each producer, CLOCK slots
// swept for expired entries, and slots a flush by name covers.
constexpr unsigned kDrainPerProducer = 64;
constexpr std::uint32_t kSweepSlotsPerLoop = 64;
constexpr std::uint32_t kFlushSlotsPerLoop = 4096;
static_assert(kSweepSlotsPerLoop + kFlushSlotsPerLoop < Shard::kMaxRemovalsPerLoop);

// A handed-over answer travels as consecutive 256-byte ring elements, enqueued
// and dequeued in one bulk operation: this header, then the stored answer.
constexpr unsigned kElementBytes = 256;
struct HandoverHeader {
  Digest digest;
  std::uint64_t inserted_ns;
  std::uint8_t name_length;
  std::uint16_t qtype;
  std::uint16_t qclass;
  std::uint8_t qflags;
  AnswerKind kind;
  std::uint32_t ttl_s;
  std::uint32_t stored_length;
};
constexpr std::size_t kLargestStored = EntryPool::kLargestBlock - sizeof(Entry);
constexpr std::size_t kLargestMessage =
    (sizeof(HandoverHeader) + kLargestStored + kElementBytes - 1) / kElementBytes * kElementBytes;

// Positive answers: every TTL within the operator's clamps; negative answers: none
// above the negative TTL the entry lives for (the SOA's, within negative_ttl_max).
void clamp_to_verdict(std::span<std::uint8_t> stored, const Cacheability& verdict,
                      const TtlPolicy& policy) {
  if (verdict.kind == AnswerKind::Positive) {
    clamp_stored_ttls(stored, policy.min_ttl, policy.max_ttl);
  } else {
    clamp_stored_ttls(stored, 0, verdict.ttl);
  }
}

void* aligned_block(std::size_t bytes) {
  void* block =
      std::aligned_alloc(RTE_CACHE_LINE_SIZE, (bytes + RTE_CACHE_LINE_SIZE - 1) /
                                                  RTE_CACHE_LINE_SIZE * RTE_CACHE_LINE_SIZE);
  if (block == nullptr) throw std::bad_alloc();
  return block;
}

struct FreeDeleter {
  void operator()(void* block) const { std::free(block); }
};

}  // namespace

// The owner's progress through a flush by name.
struct FlushProgress {
  std::uint64_t working = 0;
  std::uint32_t cursor = 0;
  std::uint8_t name[dns::kMaxNameWire] = {};
  std::uint8_t name_length = 0;
  std::atomic<std::uint64_t> done{0};
};

struct Cache::Handover {
  // rings[producer * shards + owner]; the diagonal (a shard's own owner) is unused.
  std::vector<std::unique_ptr<void, FreeDeleter>> ring_memory;
  std::vector<rte_ring*> rings;
  std::vector<std::unique_ptr<std::uint8_t, FreeDeleter>> compose;  // per producer
  std::vector<std::unique_ptr<std::uint8_t, FreeDeleter>> receive;  // per owner
  std::unique_ptr<FlushProgress[]> flush;                           // per owner
  std::uint8_t flush_name[dns::kMaxNameWire] = {};
  std::uint8_t flush_name_length = 0;
};

Cache::Cache(const CacheConfig& config, unsigned shards, unsigned readers, std::uint64_t seed)
    : config_(config), readers_count_(readers) {
  if (shards == 0 || readers < shards)
    throw std::invalid_argument("cache: readers must cover shards");
  if (config.max_entries < shards)
    throw std::invalid_argument("cache: max_entries below shard count");
  if ((config.handover_ring_slots & (config.handover_ring_slots - 1)) != 0 ||
      config.handover_ring_slots * std::size_t{kElementBytes} < 2 * kLargestMessage) {
    throw std::invalid_argument("cache: handover_ring_slots must be a power of two of at least " +
                                std::to_string(2 * kLargestMessage / kElementBytes));
  }
  std::uint64_t state = seed;
  auto next = [&state] {  // splitmix64: spreads one seed into independent words
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  seed_ = DigestSeed{next(), next()};

  const std::size_t qsbr_bytes = rte_rcu_qsbr_get_memsize(readers);
  qsbr_ = aligned_block(qsbr_bytes);
  if (rte_rcu_qsbr_init(static_cast<rte_rcu_qsbr*>(qsbr_), readers) != 0) {
    std::free(qsbr_);
    throw std::runtime_error("cache: cannot initialise RCU");
  }
  const std::uint32_t per_shard = (config.max_entries + shards - 1) / shards;
  const std::size_t pool_bytes = config.max_bytes / shards;
  readers_ = std::make_unique<ReaderCounters[]>(readers);
  handover_ = std::make_unique<Handover>();
  handover_->flush = std::make_unique<FlushProgress[]>(shards);
  dump_ = std::make_unique<DumpState[]>(shards);
  try {
    for (unsigned shard = 0; shard < shards; ++shard) {
      shards_.push_back(std::make_unique<Shard>(
          shard, per_shard, pool_bytes, static_cast<rte_rcu_qsbr*>(qsbr_), config_, generation_));
    }
    const ssize_t ring_bytes = rte_ring_get_memsize_elem(kElementBytes, config.handover_ring_slots);
    if (ring_bytes < 0) throw std::runtime_error("cache: bad handover ring size");
    for (unsigned producer = 0; producer < readers; ++producer) {
      for (unsigned owner = 0; owner < shards; ++owner) {
        if (producer == owner) {
          handover_->ring_memory.emplace_back(nullptr);
          handover_->rings.push_back(nullptr);
          continue;
        }
        handover_->ring_memory.emplace_back(aligned_block(static_cast<std::size_t>(ring_bytes)));
        auto* ring = static_cast<rte_ring*>(handover_->ring_memory.back().get());
        const std::string name =
            "cache_handover_" + std::to_string(producer) + "_" + std::to_string(owner);
        if (rte_ring_init(ring, name.c_str(), config.handover_ring_slots,
                          RING_F_SP_ENQ | RING_F_SC_DEQ) != 0) {
          throw std::runtime_error("cache: cannot initialise handover ring");
        }
        handover_->rings.push_back(ring);
      }
      handover_->compose.emplace_back(static_cast<std::uint8_t*>(aligned_block(kLargestMessage)));
    }
    for (unsigned owner = 0; owner < shards; ++owner) {
      handover_->receive.emplace_back(static_cast<std::uint8_t*>(aligned_block(kLargestMessage)));
    }
  } catch (...) {
    shards_.clear();
    std::free(qsbr_);
    throw;
  }
}

Cache::~Cache() {
  shards_.clear();
  std::free(qsbr_);
}

std::size_t Cache::eal_bytes_needed(const CacheConfig& config, unsigned shards) {
  // rte_hash's own allocations for one shard (DPDK 22.11 rte_cuckoo_hash.c): a
  // power-of-two bucket array of 8 entries, a key store of 32-byte slots, the
  // free-slot ring, and the RCU defer queue's ring of 16-byte elements.
  const std::uint32_t per_shard = (config.max_entries + shards - 1) / shards;
  const std::uint64_t entries = Shard::table_entries(per_shard);
  const std::uint64_t slots = rte_align64pow2(entries);
  const std::uint64_t queue =
      rte_align64pow2(std::uint64_t{Shard::defer_queue_size(per_shard)} + 1);
  const std::uint64_t bytes = slots * 8 + (entries + 1) * 32 + slots * 4 + queue * 16 + (1u << 20);
  // docs/architecture.md §5.2: 1.25x headroom.
  return static_cast<std::size_t>(bytes * shards * 5 / 4);
}

const ShardCounters& Cache::shard_counters(unsigned shard) const {
  return shards_[shard]->counters();
}

void Cache::register_reader(unsigned reader) {
  auto* qsbr = static_cast<rte_rcu_qsbr*>(qsbr_);
  rte_rcu_qsbr_thread_register(qsbr, reader);
  rte_rcu_qsbr_thread_online(qsbr, reader);
}

void Cache::unregister_reader(unsigned reader) {
  auto* qsbr = static_cast<rte_rcu_qsbr*>(qsbr_);
  published(qsbr_);
  rte_rcu_qsbr_thread_offline(qsbr, reader);
  rte_rcu_qsbr_thread_unregister(qsbr, reader);
}

void Cache::quiescent(unsigned reader) {
  published(qsbr_);
  rte_rcu_qsbr_quiescent(static_cast<rte_rcu_qsbr*>(qsbr_), reader);
}

void Cache::go_offline(unsigned reader) {
  published(qsbr_);
  rte_rcu_qsbr_thread_offline(static_cast<rte_rcu_qsbr*>(qsbr_), reader);
}

void Cache::go_online(unsigned reader) {
  rte_rcu_qsbr_thread_online(static_cast<rte_rcu_qsbr*>(qsbr_), reader);
}

Digest Cache::digest(const dns::QuestionKey& key) const {
  if (config_.digest_override != nullptr) return config_.digest_override(key);
  return digest_of(key, seed_);
}

void Cache::lookup(unsigned reader, std::span<const Probe> probes, std::uint64_t now_ns,
                   std::span<Hit> hits, Counting counting) {
  ReaderCounters& counters = readers_[reader];
  const auto tally = [counted = counting == Counting::Counted](ReaderCounters::Counter& counter) {
    if (counted) stats::bump(counter);
  };
  const std::uint32_t generation = generation_.load(std::memory_order_acquire);
  const std::uint64_t stale_window_ns = config_.serve_stale.window_ns();

  auto judge_found = [&](const Probe& probe, void* data, Hit& hit) {
    hit = Hit{};
    if (data == nullptr) {
      tally(counters.misses);
      return;
    }
    const auto* entry = static_cast<const Entry*>(data);
    observed(entry);
    if (!entry->answers(*probe.key)) {
      tally(counters.collisions);
      tally(counters.misses);
      return;
    }
    if (entry->generation != generation) {
      tally(counters.misses);
      return;
    }
    const std::uint64_t expires = entry->expires_ns();
    const std::uint64_t age_ns = now_ns > entry->inserted_ns ? now_ns - entry->inserted_ns : 0;
    hit.stored = entry->stored();
    hit.age_s = static_cast<std::uint32_t>(age_ns / kNsPerSecond);
    hit.ttl_s = entry->ttl_s;
    if (now_ns < expires) {
      hit.freshness = Freshness::Fresh;
      const auto& prefetch = config_.prefetch;
      hit.prefetch_due = prefetch.enabled && entry->ttl_s >= prefetch.min_ttl_s &&
                         static_cast<double>(expires - now_ns) <=
                             prefetch.threshold * static_cast<double>(entry->ttl_s) * kNsPerSecond;
      const_cast<Entry*>(entry)->mark_visited();
      tally(counters.hits);
      return;
    }
    tally(counters.misses);
    if (now_ns < expires + stale_window_ns) {
      hit.freshness = Freshness::Stale;
      tally(counters.stale_candidates);
    } else {
      hit = Hit{};
    }
  };

  const void* keys[kBulk];
  void* data[kBulk];
  std::uint32_t order[kBulk];
  for (std::size_t base = 0; base < probes.size(); base += kBulk) {
    const std::size_t count = std::min(kBulk, probes.size() - base);
    for (unsigned shard = 0; shard < shards_.size(); ++shard) {
      std::uint32_t gathered = 0;
      for (std::size_t i = 0; i < count; ++i) {
        if (shards_.size() > 1 && shard_of(probes[base + i].digest) != shard) continue;
        order[gathered] = static_cast<std::uint32_t>(base + i);
        keys[gathered] = &probes[base + i].digest;
        data[gathered] = nullptr;
        ++gathered;
      }
      if (gathered == 0) continue;
      std::uint64_t hit_mask = 0;
      rte_hash_lookup_bulk_data(shards_[shard]->table(), keys, gathered, &hit_mask, data);
      // The entries are the burst's last cache misses: start them all before
      // reading any (header and stored answer share the first two lines).
      for (std::uint32_t i = 0; i < gathered; ++i) {
        if (((hit_mask >> i) & 1) == 0) continue;
        __builtin_prefetch(data[i]);
        __builtin_prefetch(static_cast<const std::uint8_t*>(data[i]) + 64);
      }
      for (std::uint32_t i = 0; i < gathered; ++i) {
        judge_found(probes[order[i]], (hit_mask >> i) & 1 ? data[i] : nullptr, hits[order[i]]);
      }
    }
  }
}

void Cache::offer(unsigned reader, const Probe& probe, std::span<const std::uint8_t> answer,
                  const dns::Message& msg, std::uint64_t now_ns) {
  const Cacheability verdict = judge(answer, msg, config_.ttl);
  if (!verdict.cacheable) {
    stats::bump(readers_[reader].not_cacheable);
    return;
  }
  const unsigned owner = shard_of(probe.digest);
  if (owner == reader) {
    insert_here(owner, probe, answer, msg, verdict, now_ns);
  } else {
    hand_over(reader, owner, probe, answer, msg, verdict, now_ns);
  }
}

void Cache::insert_here(unsigned owner, const Probe& probe, std::span<const std::uint8_t> answer,
                        const dns::Message& msg, const Cacheability& verdict,
                        std::uint64_t now_ns) {
  const std::size_t size = stored_size(answer, msg);
  if (size == 0 || size > kLargestStored) {
    stats::bump(readers_[owner].too_big);
    return;
  }
  Shard& shard = *shards_[owner];
  Entry* entry = shard.prepare(EntryShape{.digest = probe.digest,
                                          .key = probe.key,
                                          .kind = verdict.kind,
                                          .ttl_s = verdict.ttl,
                                          .inserted_ns = now_ns,
                                          .stored_length = size});
  if (entry == nullptr) return;
  store_answer(answer, msg, {entry->stored(), size});
  clamp_to_verdict({entry->stored(), size}, verdict, config_.ttl);
  shard.publish(entry, now_ns);
}

void Cache::hand_over(unsigned reader, unsigned owner, const Probe& probe,
                      std::span<const std::uint8_t> answer, const dns::Message& msg,
                      const Cacheability& verdict, std::uint64_t now_ns) {
  ReaderCounters& counters = readers_[reader];
  const std::size_t size = stored_size(answer, msg);
  if (size == 0 || size > kLargestStored) {
    stats::bump(counters.too_big);
    return;
  }
  std::uint8_t* message = handover_->compose[reader].get();
  const HandoverHeader header{.digest = probe.digest,
                              .inserted_ns = now_ns,
                              .name_length = probe.key->name.length,
                              .qtype = probe.key->qtype,
                              .qclass = probe.key->qclass,
                              .qflags = probe.key->flags,
                              .kind = verdict.kind,
                              .ttl_s = verdict.ttl,
                              .stored_length = static_cast<std::uint32_t>(size)};
  std::memcpy(message, &header, sizeof(header));
  store_answer(answer, msg, {message + sizeof(header), size});
  clamp_to_verdict({message + sizeof(header), size}, verdict, config_.ttl);
  const unsigned elements =
      static_cast<unsigned>((sizeof(header) + size + kElementBytes - 1) / kElementBytes);
  rte_ring* ring = handover_->rings[reader * shards_.size() + owner];
  if (rte_ring_sp_enqueue_bulk_elem(ring, message, kElementBytes, elements, nullptr) == 0) {
    stats::bump(counters.ring_drops);  // never wait: the owner catches up or not
    return;
  }
  stats::bump(counters.handed_over);
}

void Cache::drain_handovers(unsigned owner) {
  Shard& shard = *shards_[owner];
  std::uint8_t* message = handover_->receive[owner].get();
  for (unsigned producer = 0; producer < readers_count_; ++producer) {
    if (producer == owner) continue;
    rte_ring* ring = handover_->rings[producer * shards_.size() + owner];
    for (unsigned taken = 0; taken < kDrainPerProducer; ++taken) {
      if (rte_ring_sc_dequeue_bulk_elem(ring, message, kElementBytes, 1, nullptr) == 0) break;
      HandoverHeader header;
      std::memcpy(&header, message, sizeof(header));
      const unsigned elements = static_cast<unsigned>(
          (sizeof(header) + header.stored_length + kElementBytes - 1) / kElementBytes);
      // The producer enqueued every element at once: the rest is there.
      if (elements > 1) {
        rte_ring_sc_dequeue_bulk_elem(ring, message + kElementBytes, kElementBytes, elements - 1,
                                      nullptr);
      }
      stats::bump(shard.counters().handovers_received);
      dns::QuestionKey key;
      key.name.length = header.name_length;
      key.qtype = header.qtype;
      key.qclass = header.qclass;
      key.flags = header.qflags;
      Entry* entry = shard.prepare(EntryShape{.digest = header.digest,
                                              .key = &key,
                                              .kind = header.kind,
                                              .ttl_s = header.ttl_s,
                                              .inserted_ns = header.inserted_ns,
                                              .stored_length = header.stored_length});
      if (entry == nullptr) continue;
      std::memcpy(entry->stored(), message + sizeof(header), header.stored_length);
      shard.publish(entry, header.inserted_ns);
    }
  }
}

void Cache::maintain(unsigned owner, std::uint64_t now_ns) {
  drain_handovers(owner);
  Shard& shard = *shards_[owner];
  shard.sweep(now_ns, kSweepSlotsPerLoop);

  step_dump(owner, now_ns);
  FlushProgress& flush = handover_->flush[owner];
  const std::uint64_t ticket = flush_ticket_.load(std::memory_order_acquire);
  if (ticket == flush.done.load(std::memory_order_relaxed)) return;
  if (flush.working != ticket) {
    flush.working = ticket;
    flush.cursor = 0;
    flush.name_length = handover_->flush_name_length;
    std::memcpy(flush.name, handover_->flush_name, flush.name_length);
  }
  if (shard.flush_step({flush.name, flush.name_length}, flush.cursor, kFlushSlotsPerLoop)) {
    flush.done.store(ticket, std::memory_order_release);
  }
}

bool Cache::has_requests(unsigned owner) const {
  const DumpState& dump = dump_[owner];
  if ((dump.request.load(std::memory_order_relaxed) >> DumpState::kSequenceShift) !=
      dump.done.load(std::memory_order_relaxed)) {
    return true;
  }
  return flush_ticket_.load(std::memory_order_relaxed) !=
         handover_->flush[owner].done.load(std::memory_order_relaxed);
}

bool Cache::restore(const dns::QuestionKey& key, AnswerKind kind, std::uint32_t ttl_s,
                    std::span<const std::uint8_t> stored, std::uint64_t now_ns) {
  const Digest digest = this->digest(key);
  Shard& shard = *shards_[shard_of(digest)];
  Entry* entry = shard.prepare(EntryShape{.digest = digest,
                                          .key = &key,
                                          .kind = kind,
                                          .ttl_s = ttl_s,
                                          .inserted_ns = now_ns,
                                          .stored_length = stored.size()});
  if (entry == nullptr) return false;
  std::memcpy(entry->stored(), stored.data(), stored.size());
  shard.publish(entry, now_ns);
  return true;
}

void Cache::flush_all() { generation_.fetch_add(1, std::memory_order_acq_rel); }

std::uint64_t Cache::flush_name(std::span<const std::uint8_t> name_wire) {
  if (name_wire.empty() || name_wire.size() > dns::kMaxNameWire) {
    throw std::invalid_argument("cache: flush needs a wire-form name");
  }
  const std::uint64_t previous = flush_ticket_.load(std::memory_order_relaxed);
  // The owners read the name until they finish; the next one waits for them.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!flush_done(previous)) {
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("cache: the previous flush has not finished (workers stalled?)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  for (std::size_t i = 0; i < name_wire.size(); ++i)
    handover_->flush_name[i] = dns::fold(name_wire[i]);
  handover_->flush_name_length = static_cast<std::uint8_t>(name_wire.size());
  flush_ticket_.store(previous + 1, std::memory_order_release);
  return previous + 1;
}

bool Cache::flush_done(std::uint64_t ticket) const {
  for (unsigned shard = 0; shard < shards_.size(); ++shard) {
    if (handover_->flush[shard].done.load(std::memory_order_acquire) < ticket) return false;
  }
  return true;
}

}  // namespace heimdall::cache
