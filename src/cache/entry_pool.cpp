#include "entry_pool.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <new>
#include <stdexcept>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define HEIMDALL_POISON(address, size) ASAN_POISON_MEMORY_REGION(address, size)
#define HEIMDALL_UNPOISON(address, size) ASAN_UNPOISON_MEMORY_REGION(address, size)
#else
#define HEIMDALL_POISON(address, size) ((void)(address), (void)(size))
#define HEIMDALL_UNPOISON(address, size) ((void)(address), (void)(size))
#endif

namespace heimdall::cache {

// Fine steps where typical answers fall (most are under 512 bytes), coarser above:
// the space lost to rounding stays a small part of each block.
const std::array<std::uint32_t, EntryPool::kClassCount> EntryPool::kClassBytes = {
    64,   96,   128,  160,  192,  224,  256,  320,  384,  448,  512,   640,   768,   896,   1024,
    1280, 1536, 1792, 2048, 2560, 3072, 4096, 5120, 6144, 8192, 10880, 13056, 16384, 21824, 65536,
};

EntryPool::EntryPool(std::size_t bytes) {
  chunk_count_ = std::max<std::size_t>(1, (bytes + kChunkBytes - 1) / kChunkBytes);
  reserved_ = chunk_count_ * kChunkBytes;
  void* memory = mmap(nullptr, reserved_, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (memory == MAP_FAILED) throw std::bad_alloc();
  // Transparent huge pages where the kernel allows them: a lookup over a large
  // cache then misses the TLB far less, and filling it (a snapshot restored at
  // start) takes one fault per 2 MiB instead of per 4 KiB. Chunks are carved in
  // address order, so resident memory still follows what is cached.
  madvise(memory, reserved_, MADV_HUGEPAGE);
  base_ = static_cast<std::uint8_t*>(memory);
  HEIMDALL_POISON(base_, reserved_);
}

EntryPool::~EntryPool() {
  HEIMDALL_UNPOISON(base_, reserved_);
  munmap(base_, reserved_);
}

std::size_t EntryPool::class_for(std::size_t size) {
  const auto* found = std::lower_bound(kClassBytes.begin(), kClassBytes.end(), size);
  return found == kClassBytes.end() ? kNoClass
                                    : static_cast<std::size_t>(found - kClassBytes.begin());
}

bool EntryPool::carve_chunk(std::size_t size_class) {
  if (next_chunk_ == chunk_count_) return false;
  std::uint8_t* chunk = base_ + next_chunk_++ * kChunkBytes;
  const std::size_t block = kClassBytes[size_class];
  for (std::size_t offset = 0; offset + block <= kChunkBytes; offset += block) {
    release(chunk + offset, size_class);
    in_use_ += block;  // release() counted it out; it was never counted in
  }
  return true;
}

void* EntryPool::allocate(std::size_t size_class) {
  if (free_[size_class] == nullptr && !carve_chunk(size_class)) return nullptr;
  FreeBlock* block = free_[size_class];
  HEIMDALL_UNPOISON(block, kClassBytes[size_class]);
  free_[size_class] = block->next;
  in_use_ += kClassBytes[size_class];
  return block;
}

void EntryPool::release(void* memory, std::size_t size_class) {
  // The link lives in the block's first bytes; the rest is poisoned so that a
  // reader still holding the entry after its grace period trips ASan.
  auto* block = static_cast<FreeBlock*>(memory);
  HEIMDALL_UNPOISON(block, sizeof(FreeBlock));
  block->next = free_[size_class];
  free_[size_class] = block;
  HEIMDALL_POISON(reinterpret_cast<std::uint8_t*>(block) + sizeof(FreeBlock),
                  kClassBytes[size_class] - sizeof(FreeBlock));
  in_use_ -= kClassBytes[size_class];
}

}  // namespace heimdall::cache
