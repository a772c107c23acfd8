// The generator's latency histogram: HdrHistogram's log-linear layout in a fixed
// array, so recording on the packet path is an index computation and an increment,
// never an allocation.
//
// Values below 2^kSubBits are counted exactly; above, each power-of-two range
// [2^k, 2^(k+1)) is split into 2^(kSubBits-1) equal buckets, so a bucket is at most
// 1/128 (0.8 %) of its values wide. Values are nanoseconds; up to 2^kMaxBits ns
// (68.7 s) are kept apart, anything larger lands in the last bucket (the true
// maximum is tracked separately).
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace heimdall::gen {

class LatencyHistogram {
 public:
  static constexpr unsigned kSubBits = 8;
  static constexpr unsigned kMaxBits = 36;
  static constexpr std::uint64_t kHalf = std::uint64_t{1} << (kSubBits - 1);
  static constexpr std::size_t kBuckets = (kMaxBits - kSubBits + 2) * kHalf;
  static constexpr std::uint64_t kLargest = (std::uint64_t{1} << kMaxBits) - 1;

  void record(std::uint64_t value) {
    ++counts_[index_of(std::min(value, kLargest))];
    ++count_;
    sum_ += value;
    max_ = std::max(max_, value);
  }

  std::uint64_t count() const { return count_; }
  std::uint64_t max() const { return max_; }
  double mean() const { return count_ == 0 ? 0.0 : static_cast<double>(sum_) / count_; }

  // The highest value of the bucket holding the q-quantile (0 < q <= 1), as
  // HdrHistogram reports it: "q of the samples were at most this". 0 when empty.
  std::uint64_t quantile(double q) const {
    if (count_ == 0) return 0;
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(count_) + 0.999999);
    rank = std::clamp<std::uint64_t>(rank, 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(highest_in(i), max_);
    }
    return max_;
  }

  static std::size_t index_of(std::uint64_t value) {
    if (value < 2 * kHalf) return static_cast<std::size_t>(value);
    const unsigned shift = static_cast<unsigned>(std::bit_width(value)) - kSubBits;
    return static_cast<std::size_t>(shift * kHalf + (value >> shift));
  }
  static std::uint64_t lowest_in(std::size_t index) {
    if (index < 2 * kHalf) return index;
    const unsigned shift = static_cast<unsigned>(index / kHalf) - 1;
    return (index % kHalf + kHalf) << shift;
  }
  static std::uint64_t highest_in(std::size_t index) {
    if (index < 2 * kHalf) return index;
    const unsigned shift = static_cast<unsigned>(index / kHalf) - 1;
    return lowest_in(index) + (std::uint64_t{1} << shift) - 1;
  }

 private:
  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace heimdall::gen
