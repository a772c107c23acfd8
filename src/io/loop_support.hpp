// Small pieces every backend loop uses: the clock its timers run on, and the
// owner-only counter increment (stats::bump: relaxed load + store, never a
// read-modify-write; docs/architecture.md §4.2).
#pragma once

#include <time.h>

#include <cstdint>

#include "heimdall/stats/counter_table.hpp"

namespace heimdall::io {

inline std::uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

using stats::bump;

}  // namespace heimdall::io
