#include "heimdall/upstream/timer_wheel.hpp"

#include <bit>
#include <stdexcept>

namespace heimdall::upstream {

TimerWheel::TimerWheel(std::uint32_t capacity, std::uint64_t tick_ns, std::uint32_t slot_count)
    : tick_ns_(tick_ns),
      slot_mask_(std::bit_ceil(slot_count) - 1),
      heads_(std::bit_ceil(slot_count), kNone),
      next_(capacity, kNone),
      prev_(capacity, kNone),
      slot_of_(capacity, kNone),
      deadline_(capacity, 0) {
  if (tick_ns == 0 || slot_count == 0)
    throw std::invalid_argument("timer wheel needs ticks and slots");
}

void TimerWheel::schedule(std::uint32_t item, std::uint64_t deadline_ns) {
  if (slot_of_[item] != kNone) unlink(item);
  // A deadline in a tick already walked goes to the current tick, which is walked next.
  std::uint64_t tick = deadline_ns / tick_ns_;
  if (started_ && tick < current_tick_) tick = current_tick_;
  const std::uint32_t slot = static_cast<std::uint32_t>(tick) & slot_mask_;
  deadline_[item] = deadline_ns;
  slot_of_[item] = slot;
  prev_[item] = kNone;
  next_[item] = heads_[slot];
  if (heads_[slot] != kNone) prev_[heads_[slot]] = item;
  heads_[slot] = item;
  ++size_;
}

void TimerWheel::cancel(std::uint32_t item) {
  if (slot_of_[item] != kNone) unlink(item);
}

void TimerWheel::unlink(std::uint32_t item) {
  const std::uint32_t slot = slot_of_[item];
  if (prev_[item] != kNone) {
    next_[prev_[item]] = next_[item];
  } else {
    heads_[slot] = next_[item];
  }
  if (next_[item] != kNone) prev_[next_[item]] = prev_[item];
  next_[item] = prev_[item] = slot_of_[item] = kNone;
  --size_;
}

}  // namespace heimdall::upstream
