// Small pieces every backend loop uses: the clock its timers run on, and the
// owner-only counter increment (docs/architecture.md §4.2: relaxed load + store, never a
// read-modify-write).
#pragma once

#include <time.h>

#include <atomic>
#include <cstdint>

namespace heimdall::io {

inline std::uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

inline void bump(std::atomic<std::uint64_t>& counter, std::uint64_t by = 1) {
  counter.store(counter.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

}  // namespace heimdall::io
