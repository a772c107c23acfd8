// A timer wheel over the slots of a fixed-size table (the pending queries): O(1)
// schedule and cancel, expiry walks only the ticks that passed. Deadlines past the
// wheel's horizon wait in their slot for the right lap; nothing allocates after
// construction.
#pragma once

#include <cstdint>
#include <vector>

namespace heimdall::upstream {

class TimerWheel {
 public:
  static constexpr std::uint32_t kNone = UINT32_MAX;

  TimerWheel(std::uint32_t capacity, std::uint64_t tick_ns, std::uint32_t slot_count);

  void schedule(std::uint32_t item, std::uint64_t deadline_ns);
  void cancel(std::uint32_t item);
  bool scheduled(std::uint32_t item) const { return slot_of_[item] != kNone; }
  std::uint32_t size() const { return size_; }

  // Calls on_expired(item) for every item whose deadline is <= now_ns, removing it
  // first, so the callback may schedule it again.
  template <typename F>
  void expire(std::uint64_t now_ns, F&& on_expired);

 private:
  void unlink(std::uint32_t item);

  std::uint64_t tick_ns_;
  std::uint32_t slot_mask_;
  std::uint64_t current_tick_ = 0;  // every tick before this one has been walked
  bool started_ = false;
  std::uint32_t size_ = 0;
  std::vector<std::uint32_t> heads_;
  std::vector<std::uint32_t> next_, prev_, slot_of_;
  std::vector<std::uint64_t> deadline_;
};

template <typename F>
void TimerWheel::expire(std::uint64_t now_ns, F&& on_expired) {
  const std::uint64_t now_tick = now_ns / tick_ns_;
  if (!started_) {
    current_tick_ = now_tick;
    started_ = true;
  }
  if (size_ == 0) {
    current_tick_ = now_tick;
    return;
  }
  // Walk from the oldest unwalked tick up to now, at most one lap: after a lap every
  // slot has been seen once and each item's deadline is checked against now_ns.
  std::uint64_t first = current_tick_;
  const std::uint64_t laps_end = first + slot_mask_ + 1;
  const std::uint64_t last = now_tick < laps_end ? now_tick : laps_end - 1;
  for (std::uint64_t tick = first; tick <= last; ++tick) {
    const std::uint32_t slot = static_cast<std::uint32_t>(tick) & slot_mask_;
    std::uint32_t item = heads_[slot];
    while (item != kNone) {
      const std::uint32_t following = next_[item];
      if (deadline_[item] <= now_ns) {
        unlink(item);
        on_expired(item);
      }
      item = following;
    }
  }
  // The current tick stays walkable: items may still land in it before it ends.
  current_tick_ = now_tick;
}

}  // namespace heimdall::upstream
