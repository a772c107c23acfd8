#include "heimdall/upstream/random_source.hpp"

#include <sys/random.h>

namespace heimdall::upstream {

RandomSource::RandomSource(std::uint64_t seed)
    : block_(new std::uint32_t[kBlockBytes / 4]), fallback_(seed) {}

void RandomSource::refill() {
  const ssize_t got = getrandom(block_.get(), kBlockBytes, GRND_NONBLOCK);
  if (got != static_cast<ssize_t>(kBlockBytes)) {
    // Only before the kernel's pool is initialised at boot; still unpredictable
    // enough for a node that has just started, and counted nowhere else.
    for (std::size_t i = 0; i < kBlockBytes / 4; ++i) {
      block_[i] = static_cast<std::uint32_t>(fallback_());
    }
  }
  used_ = 0;
}

}  // namespace heimdall::upstream
