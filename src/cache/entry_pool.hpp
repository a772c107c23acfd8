// Memory for one shard's cache entries: a fixed reservation of address space
// (mmap, not the EAL heap: docs/architecture.md §5.2), carved on demand into 64 KiB chunks,
// each chunk cut into blocks of one size class. Allocation and release are O(1)
// free-list operations on the owner's thread; pages are touched only as chunks
// are taken, so the resident size follows what is cached, up to the reservation.
// Freed blocks are poisoned for AddressSanitizer (docs/architecture.md §9.3).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace heimdall::cache {

class EntryPool {
 public:
  static constexpr std::size_t kChunkBytes = 64 * 1024;
  static constexpr std::size_t kLargestBlock = kChunkBytes;
  static constexpr std::size_t kNoClass = 0xff;

  // Reserves `bytes` (rounded up to whole chunks; at least one).
  explicit EntryPool(std::size_t bytes);
  ~EntryPool();
  EntryPool(const EntryPool&) = delete;
  EntryPool& operator=(const EntryPool&) = delete;

  // The smallest class whose blocks hold `size` bytes, or kNoClass over kLargestBlock.
  static std::size_t class_for(std::size_t size);

  // A block of class `size_class`, or nullptr when that class has no free block
  // and the reservation has no untouched chunk left.
  void* allocate(std::size_t size_class);
  void release(void* block, std::size_t size_class);

  std::size_t block_bytes_in_use() const { return in_use_; }

 private:
  static constexpr std::size_t kClassCount = 30;
  static const std::array<std::uint32_t, kClassCount> kClassBytes;

  struct FreeBlock {
    FreeBlock* next;
  };

  bool carve_chunk(std::size_t size_class);

  std::uint8_t* base_ = nullptr;
  std::size_t reserved_ = 0;
  std::size_t chunk_count_ = 0;
  std::size_t next_chunk_ = 0;
  std::size_t in_use_ = 0;
  std::array<FreeBlock*, kClassCount> free_{};
};

}  // namespace heimdall::cache
