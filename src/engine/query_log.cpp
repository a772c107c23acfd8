#include "heimdall/engine/query_log.hpp"

#include <bit>
#include <stdexcept>

#include "heimdall/stats/counter_table.hpp"

namespace heimdall::engine {

QueryLogRing::QueryLogRing(std::size_t capacity)
    : entries_(new QueryLogEntry[capacity]), mask_(capacity - 1) {
  if (!std::has_single_bit(capacity)) {
    throw std::invalid_argument("the query log ring needs a power-of-two capacity");
  }
}

QueryLogEntry* QueryLogRing::reserve() {
  const std::uint64_t head = head_.load(std::memory_order_relaxed);
  if (head - tail_.load(std::memory_order_acquire) > mask_) {
    stats::bump(dropped_);
    return nullptr;
  }
  return &entries_[head & mask_];
}

void QueryLogRing::commit() {
  head_.store(head_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
}

std::size_t QueryLogRing::peek(const QueryLogEntry** first, std::size_t max) const {
  const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
  const std::uint64_t head = head_.load(std::memory_order_acquire);
  if (head <= tail) return 0;
  // Contiguous entries only: the caller comes back for the ones past the wrap.
  const std::size_t to_end = capacity() - (tail & mask_);
  std::size_t count = static_cast<std::size_t>(head - tail);
  if (count > to_end) count = to_end;
  if (count > max) count = max;
  *first = &entries_[tail & mask_];
  return count;
}

void QueryLogRing::release(std::size_t count) {
  tail_.store(tail_.load(std::memory_order_relaxed) + count, std::memory_order_release);
}

QueryLog::QueryLog(unsigned engines, std::size_t capacity, unsigned sample)
    : sample_one_in(sample == 0 ? 1 : sample) {
  for (unsigned i = 0; i < engines; ++i) rings.push_back(std::make_unique<QueryLogRing>(capacity));
}

}  // namespace heimdall::engine
