// One shard's side of a dump walk (heimdall/cache/dump.hpp). Private to the cache
// module. The control thread asks for a chunk by storing `request`; the owner
// fills `chunk` in its next loop (one step of the walk) and publishes `done`.
// `chunk`, `count` and `finished` belong to the owner from the request it takes
// up until its `done`, and to the control thread from then until its next request.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "heimdall/cache/dump.hpp"

namespace heimdall::cache {

struct alignas(64) DumpState {
  // (sequence << kSequenceShift) | kWithAnswers? | kRestart?: the control
  // thread's release store, the owner's acquire load; everything the owner needs
  // to know of a request travels in it, since an owner may still be taking up an
  // abandoned walk's last request while the next walk is set out. Restart starts
  // the walk over at the shard's first slot; WithAnswers copies stored answers.
  static constexpr std::uint64_t kRestart = 1, kWithAnswers = 2;
  static constexpr unsigned kSequenceShift = 2;
  std::atomic<std::uint64_t> request{0};
  // The sequence of the last chunk filled: the owner's release store.
  std::atomic<std::uint64_t> done{0};
  // DumpWalk::kChunkEntries records, set out by the control thread before its
  // first request and kept for the cache's life (an owner may still take up the
  // last request of a walk abandoned meanwhile).
  std::unique_ptr<DumpRecord[]> chunk;
  // DumpWalk::kChunkAnswerBytes, set out like `chunk` by the first walk WithAnswers.
  std::unique_ptr<std::uint8_t[]> answers;
  std::size_t count = 0;         // records filled
  std::size_t answer_bytes = 0;  // of `answers` filled
  bool finished = false;         // the walk reached the shard's end with this chunk
  std::uint32_t cursor = 0;      // the next CLOCK slot: the owner's alone
};

}  // namespace heimdall::cache
