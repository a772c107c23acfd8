// The random bits of upstream attempts: query IDs, source ports and 0x20 seeds come
// from the kernel's CSPRNG (getrandom), drawn in blocks so the syscall is paid once
// per kBlockBytes / 4 draws: an off-path attacker must not be able to predict them
// (RFC 5452 §4, docs/architecture.md §7.6). One per worker; nothing allocates after
// construction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>

namespace heimdall::upstream {

class RandomSource {
 public:
  // `seed` feeds the fallback used only while the kernel's pool is not initialised.
  explicit RandomSource(std::uint64_t seed);

  std::uint32_t next() {
    if (used_ == kBlockBytes / 4) refill();
    return block_[used_++];
  }

 private:
  static constexpr std::size_t kBlockBytes = 4096;

  void refill();

  std::unique_ptr<std::uint32_t[]> block_;
  std::size_t used_ = kBlockBytes / 4;
  std::mt19937_64 fallback_;
};

}  // namespace heimdall::upstream
