// Listing the cache's entries for the operator (heimdallctl cache dump), walked in
// chunks. A shard's table is read only by the thread that writes it, so each owner
// walks its own shard, a step per loop (Cache::maintain: a bounded number of slots,
// at most kChunkEntries entries), into a chunk the control thread set out, and is
// asked for the next step only once the control thread has taken the previous
// chunk: whatever the cache holds, a walk costs one chunk of memory per shard.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "heimdall/cache/cache.hpp"

namespace heimdall::cache {

// One entry as a walk reports it.
struct DumpRecord {
  std::uint8_t name[dns::kMaxNameWire];  // folded wire form
  std::uint8_t name_length = 0;
  std::uint16_t qtype = 0;
  std::uint16_t qclass = 0;
  std::uint8_t flags = 0;  // the key's dns::QuestionKey::kRd | kCd | kDo bits
  AnswerKind kind = AnswerKind::Positive;
  // Seconds of TTL left when the owner read it; negative: expired, kept and served
  // stale (RFC 8767). Entries past the stale window or flushed are not listed.
  std::int64_t ttl_left_s = 0;
  std::uint16_t bytes = 0;  // of the stored answer
  unsigned shard = 0;
  // Filled by walks WithAnswers only (a cache snapshot, cache/snapshot.hpp):
  std::uint64_t inserted_ns = 0;    // on the workers' monotonic clock
  std::uint32_t ttl_s = 0;          // the entry's lifetime from inserted_ns
  std::uint32_t answer_offset = 0;  // of its stored answer (`bytes` long) in DumpWalk::answers()
};

// What a walk copies of each entry: its description, or that and its stored
// answer, which a snapshot needs to rebuild the entry.
enum class DumpContent : std::uint8_t { Listing, WithAnswers };

// A walk over every shard, for the control thread. One walk at a time per cache.
// An entry present from the walk's start to its end is listed exactly once;
// entries inserted or removed meanwhile may or may not be.
class DumpWalk {
 public:
  // Entries per chunk at most: what one owner copies in one step, and the memory
  // a walk holds per shard (sizeof(DumpRecord) each, about 300 bytes).
  static constexpr std::size_t kChunkEntries = 4096;
  // Stored-answer bytes per chunk of a walk WithAnswers: 4096 entries of 512
  // bytes, and always room for one of the largest an entry may hold.
  static constexpr std::size_t kChunkAnswerBytes = 2u << 20;

  // Starts the walk: every owner is asked for its first chunk. Throws
  // std::runtime_error when another walk of this cache is running.
  explicit DumpWalk(Cache& cache, DumpContent content = DumpContent::Listing);
  ~DumpWalk();  // an owner still filling a chunk finishes it into the cache's buffer
  DumpWalk(const DumpWalk&) = delete;
  DumpWalk& operator=(const DumpWalk&) = delete;

  // A chunk an owner has filled, without waiting; nothing while no owner has one
  // ready (ask again later). A chunk may be empty (the end of a shard). It stays
  // valid until the next call, which gives it back to its owner for the next one.
  std::optional<std::span<const DumpRecord>> next();
  // The stored answers of the chunk next() last returned (WithAnswers; else empty),
  // valid as long as that chunk.
  std::span<const std::uint8_t> answers() const;
  // Every shard walked to its end, and its last chunk returned by next().
  bool done() const;

 private:
  enum class Progress : std::uint8_t { Asked, Taken, Finished };
  void ask(unsigned shard, bool restart);

  Cache& cache_;
  DumpContent content_;
  std::vector<Progress> shards_;
  std::vector<std::uint64_t> sequences_;  // of the chunk asked for, per shard
  unsigned taken_;                        // the shard whose chunk the caller holds, or none
  unsigned rotation_ = 0;                 // where the next search for a ready chunk starts
};

}  // namespace heimdall::cache
