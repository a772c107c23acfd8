// The response cache (docs/architecture.md §8, §9.1): one shard per worker, each an
// rte_hash (lock-free readers, RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF) written by
// exactly one thread, its owner, and read by every worker without locks.
//
// - Readers look up a burst at once (rte_hash_lookup_bulk_data) and write nothing
//   shared but an entry's one-byte visited flag, set only when clear.
// - A worker that gets an answer for another worker's shard hands it to the owner
//   over a single-producer/single-consumer rte_ring; a full ring drops the insert.
// - Removed and replaced entries go on the hash's RCU defer queue (rte_rcu_qsbr,
//   rte_hash_rcu_qsbr_add) and return to the owner's pool once every reader has
//   passed a quiescent state: workers call quiescent() once per loop, and go
//   offline around anything that blocks.
// - Capacity: max_entries and max_bytes across the shards; a full shard evicts by
//   CLOCK (the visited flag), expired entries are removed by their owner a few
//   slots per loop, and flush-all bumps a generation readers compare.
//
// Every process must have started the EAL (io::start_eal) before building one.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "heimdall/cache/cacheability.hpp"
#include "heimdall/cache/digest.hpp"
#include "heimdall/dns/message.hpp"
#include "heimdall/dns/question_key.hpp"
#include "heimdall/stats/counter_table.hpp"

namespace heimdall::cache {

struct ServeStaleConfig {
  bool enabled = false;
  std::uint32_t ttl_s = 30;                // RFC 8767 §4: the TTL of a stale answer
  std::uint32_t max_stale_s = 86400;       // how long past expiry an entry may still be served
  std::uint32_t client_timeout_ms = 1800;  // a waiting client gets the stale answer after this

  // How long past expiry an entry is kept and may be served: 0 when disabled.
  std::uint64_t window_ns() const {
    return enabled ? std::uint64_t{max_stale_s} * 1'000'000'000 : 0;
  }
};

struct PrefetchConfig {
  bool enabled = false;
  double threshold = 0.1;        // a hit with this fraction of the TTL left refreshes the entry
  std::uint32_t min_ttl_s = 10;  // shorter-lived entries are not worth refreshing early
};

struct CacheConfig {
  std::uint32_t max_entries = 1'000'000;   // across all shards
  std::uint64_t max_bytes = 512ull << 20;  // entry memory across all shards
  TtlPolicy ttl;
  ServeStaleConfig serve_stale;
  PrefetchConfig prefetch;
  std::uint32_t handover_ring_slots = 2048;  // per (producer, owner) pair, 256 bytes each
  // Tests only: replaces digest_of, e.g. to force every key onto one digest.
  Digest (*digest_override)(const dns::QuestionKey&) = nullptr;
};

enum class Freshness : std::uint8_t { Miss, Fresh, Stale };

// What a lookup found. `stored` (a cache::store_answer form) stays readable until
// the reader's next quiescent state.
struct Hit {
  Freshness freshness = Freshness::Miss;
  std::span<const std::uint8_t> stored;
  std::uint32_t age_s = 0;
  std::uint32_t ttl_s = 0;
  bool prefetch_due = false;  // fresh, but in the last `threshold` of its TTL
};

// One question to look up: its digest (Cache::digest) and the full key to confirm.
struct Probe {
  Digest digest;
  const dns::QuestionKey* key = nullptr;
};

// Written by the reader (worker) they belong to with stats::bump
// (docs/architecture.md §4.2); each has its row in kReaderCounterTable.
struct alignas(64) ReaderCounters {
  using Counter = stats::Counter;
  Counter hits{0};
  Counter misses{0};            // including stale-window entries: those are refreshed
  Counter stale_candidates{0};  // misses that found an entry servable as stale
  Counter collisions{0};        // same digest, different question: a miss, never an answer
  Counter not_cacheable{0};     // answers judge() refused
  Counter too_big{0};           // answers larger than an entry may be
  Counter handed_over{0};       // answers passed to another shard's owner
  Counter ring_drops{0};        // handover ring full: the insert was dropped
};

inline constexpr std::array kReaderCounterTable = {
    stats::counter(&ReaderCounters::hits, "heimdall_cache_hits_total",
                   "Cache lookups that found a fresh entry.", stats::Split::Total),
    stats::counter(&ReaderCounters::misses, "heimdall_cache_misses_total",
                   "Cache lookups that did not.", stats::Split::Total),
    stats::counter(&ReaderCounters::stale_candidates, "heimdall_cache_stale_candidates_total",
                   "Misses that found an entry servable as stale.", stats::Split::Total),
    stats::counter(&ReaderCounters::collisions, "heimdall_cache_collisions_total",
                   "Lookups that found another question with the same digest: a miss.",
                   stats::Split::Total),
    stats::counter(&ReaderCounters::not_cacheable, "heimdall_cache_not_cacheable_total",
                   "Upstream answers the cache does not keep (by its rules).", stats::Split::Total),
    stats::counter(&ReaderCounters::too_big, "heimdall_cache_too_big_total",
                   "Upstream answers larger than an entry may be: not cached.",
                   stats::Split::Total),
    stats::counter(&ReaderCounters::handed_over, "heimdall_cache_handed_over_total",
                   "Answers passed to the worker owning their shard.", stats::Split::Total),
    stats::counter(&ReaderCounters::ring_drops, "heimdall_cache_ring_drops_total",
                   "Inserts dropped: the shard owner's handover ring was full.",
                   stats::Split::Total),
};
static_assert(stats::covers_every_member(kReaderCounterTable));

// Written by the shard's owner; each has its row in kShardCounterTable.
struct alignas(64) ShardCounters {
  using Counter = stats::Counter;
  Counter entries{0};  // gauge
  Counter bytes{0};    // gauge: pool blocks in use, including entries awaiting reclamation
  Counter inserts{0};
  Counter replaced{0};
  Counter evictions{0};           // removed by CLOCK to make room
  Counter expired{0};             // removed by the owner's sweep after expiry (+ max_stale)
  Counter flushed{0};             // removed by flush-all (generation) or flush by name
  Counter no_memory{0};           // insert dropped: no block free even after evicting
  Counter kept_over_servfail{0};  // a SERVFAIL did not replace a servable answer
  Counter handovers_received{0};
};

inline constexpr std::array kShardCounterTable = {
    stats::gauge(&ShardCounters::entries, "heimdall_cache_entries", "Entries in the cache.",
                 stats::Split::Total),
    stats::gauge(&ShardCounters::bytes, "heimdall_cache_bytes", "Bytes of entry memory in use.",
                 stats::Split::Total),
    stats::counter(&ShardCounters::inserts, "heimdall_cache_inserts_total", "Entries inserted.",
                   stats::Split::Total),
    stats::counter(&ShardCounters::replaced, "heimdall_cache_replaced_total",
                   "Inserts that replaced an entry of the same question.", stats::Split::Total),
    stats::counter(&ShardCounters::evictions, "heimdall_cache_evictions_total",
                   "Entries evicted to make room.", stats::Split::Total),
    stats::counter(&ShardCounters::expired, "heimdall_cache_expired_total",
                   "Entries removed after expiry.", stats::Split::Total),
    stats::counter(&ShardCounters::flushed, "heimdall_cache_flushed_total",
                   "Entries removed by a flush (all, or by name).", stats::Split::Total),
    stats::counter(&ShardCounters::no_memory, "heimdall_cache_no_memory_total",
                   "Inserts dropped: no entry memory free even after evicting.",
                   stats::Split::Total),
    stats::counter(&ShardCounters::kept_over_servfail, "heimdall_cache_kept_over_servfail_total",
                   "SERVFAIL answers that did not replace a servable entry.", stats::Split::Total),
    stats::counter(&ShardCounters::handovers_received, "heimdall_cache_handovers_received_total",
                   "Answers another worker handed to this shard's owner.", stats::Split::Total),
};
static_assert(stats::covers_every_member(kShardCounterTable));

class Shard;

struct DumpState;

class Cache {
 public:
  // `shards`: one per owning worker (worker i owns shard i); `readers`: thread ids
  // that will look up (>= shards; ids [0, readers)). Throws std::runtime_error
  // when DPDK cannot create a table or ring (EAL not started, -m too small).
  Cache(const CacheConfig& config, unsigned shards, unsigned readers, std::uint64_t seed);
  ~Cache();
  Cache(const Cache&) = delete;
  Cache& operator=(const Cache&) = delete;

  // EAL heap bytes the hash tables of such a cache need (docs/architecture.md §5.2: the app
  // sizes -m from it); entry memory is mmap'ed and not part of it.
  static std::size_t eal_bytes_needed(const CacheConfig& config, unsigned shards);

  // --- every reader thread ---
  // Registers `reader` with the cache's RCU and marks it online. Call once in the
  // thread before its first lookup; unregister before the thread ends.
  void register_reader(unsigned reader);
  void unregister_reader(unsigned reader);
  void quiescent(unsigned reader);   // once per loop: nothing from earlier lookups is held
  void go_offline(unsigned reader);  // before blocking (epoll_wait); implies quiescent
  void go_online(unsigned reader);

  Digest digest(const dns::QuestionKey& key) const;
  // Whether a lookup counts in the hit and miss counters: a second look at an
  // entry for a query already counted (serve-stale when the refresh fails) does not.
  enum class Counting : std::uint8_t { Counted, Uncounted };
  // Looks up a burst (any size; bulk per shard, 64 at a time). `hits[i]` answers
  // `probes[i]`.
  void lookup(unsigned reader, std::span<const Probe> probes, std::uint64_t now_ns,
              std::span<Hit> hits, Counting counting = Counting::Counted);
  // Offers an upstream answer (parsed into `msg`) received at `now_ns`: judged,
  // then inserted if `reader` owns the key's shard, else handed to the owner.
  void offer(unsigned reader, const Probe& probe, std::span<const std::uint8_t> answer,
             const dns::Message& msg, std::uint64_t now_ns);

  // --- each owner, once per loop ---
  // Inserts what other workers handed over, removes a few expired entries, and
  // advances any flush by name and any dump walk.
  void maintain(unsigned owner, std::uint64_t now_ns);
  // Whether the control thread has asked `owner` for something (a dump step, a
  // flush by name) that its next maintain() serves: an idle worker then loops
  // sooner than its idle timeout.
  bool has_requests(unsigned owner) const;

  // --- start-up only, before any owner runs ---
  // Puts an entry read back from a snapshot (cache/snapshot.hpp) into its owner's
  // shard as if received at `now_ns`: `stored` is a sound stored answer whose TTLs
  // already count the time the entry spent in the file, `ttl_s` what is left of
  // its life. False when it found no room (counted as for any insert).
  bool restore(const dns::QuestionKey& key, AnswerKind kind, std::uint32_t ttl_s,
               std::span<const std::uint8_t> stored, std::uint64_t now_ns);

  // --- the control thread ---
  void flush_all();
  // Removes `name` and every name below it (folded uncompressed wire form) from
  // every shard; each owner does it in its next loops. Returns a ticket for
  // flush_done(). One flush by name at a time: a second waits for the first.
  std::uint64_t flush_name(std::span<const std::uint8_t> name_wire);
  bool flush_done(std::uint64_t ticket) const;
  // Listing the entries: a cache::DumpWalk (heimdall/cache/dump.hpp).

  const CacheConfig& config() const { return config_; }
  unsigned shard_count() const { return static_cast<unsigned>(shards_.size()); }
  unsigned shard_of(const Digest& digest) const {
    return static_cast<unsigned>((digest.hi >> 32) % shards_.size());
  }
  // Readers are numbered [0, reader_count()): the workers, then any reader that owns
  // no shard (the DPDK exception path's TCP worker).
  unsigned reader_count() const { return readers_count_; }
  const ReaderCounters& reader_counters(unsigned reader) const { return readers_[reader]; }
  const ShardCounters& shard_counters(unsigned shard) const;

 private:
  struct Handover;
  void insert_here(unsigned owner, const Probe& probe, std::span<const std::uint8_t> answer,
                   const dns::Message& msg, const Cacheability& verdict, std::uint64_t now_ns);
  void hand_over(unsigned reader, unsigned owner, const Probe& probe,
                 std::span<const std::uint8_t> answer, const dns::Message& msg,
                 const Cacheability& verdict, std::uint64_t now_ns);
  void drain_handovers(unsigned owner);
  void step_dump(unsigned owner, std::uint64_t now_ns);  // in dump.cpp
  friend class DumpWalk;

  CacheConfig config_;
  DigestSeed seed_;
  unsigned readers_count_;
  void* qsbr_ = nullptr;  // struct rte_rcu_qsbr, in its own cache-aligned block
  std::vector<std::unique_ptr<Shard>> shards_;
  std::unique_ptr<ReaderCounters[]> readers_;
  std::unique_ptr<Handover> handover_;
  std::atomic<std::uint32_t> generation_{0};
  std::atomic<std::uint64_t> flush_ticket_{0};
  std::unique_ptr<DumpState[]> dump_;  // per owner
  std::atomic<bool> dump_running_{false};
};

}  // namespace heimdall::cache
