// One shard's side of a dump walk (heimdall/cache/dump.hpp). Private to the cache
// module. The control thread asks for a chunk by storing `request`; the owner
// fills `chunk` in its next loops and publishes `done`. Everything else belongs to
// the owner until `done` hands the chunk (`count`, `finished`) to the control
// thread, and to the control thread until it stores the next `request`.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "heimdall/cache/dump.hpp"

namespace heimdall::cache {

struct alignas(64) DumpState {
  // (sequence << 1) | restart: the control thread's release store, the owner's
  // acquire load. Restart starts the walk over at the shard's first slot.
  std::atomic<std::uint64_t> request{0};
  // The sequence of the last chunk filled: the owner's release store.
  std::atomic<std::uint64_t> done{0};
  // DumpWalk::kChunkEntries records, set out by the control thread before its
  // first request and kept for the cache's life (an abandoned walk's owner may
  // still be writing into it).
  std::unique_ptr<DumpRecord[]> chunk;
  std::size_t count = 0;  // records filled
  bool finished = false;  // the walk reached the shard's end with this chunk
  // The owner's alone.
  std::uint64_t working = 0;  // the sequence being filled
  std::uint32_t cursor = 0;   // the next CLOCK slot
};

}  // namespace heimdall::cache
