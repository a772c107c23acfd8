// The fixed-size key the cache's hash tables are indexed by: a keyed 128-bit
// digest of the question (folded name, type, class and the flags that change the
// answer, docs/architecture.md §8.1). 128 bits make an accidental collision practically
// impossible, but the entry still holds the full question and every hit is
// confirmed against it, so a collision costs a miss, never a wrong answer. The
// seed is drawn at start-up so that names cannot be chosen to pile into one bucket.
#pragma once

#include <cstdint>
#include <cstring>

#include "heimdall/dns/question_key.hpp"

namespace heimdall::cache {

struct Digest {
  std::uint64_t lo = 0;  // the low 32 bits pick the hash bucket
  std::uint64_t hi = 0;  // the high 32 bits pick the shard
  bool operator==(const Digest&) const = default;
};

struct DigestSeed {
  std::uint64_t a = 0;
  std::uint64_t b = 0;
};

namespace detail {

// 64x64 -> 128-bit multiply folded to 64 bits: the mixing step of wyhash.
inline std::uint64_t fold_multiply(std::uint64_t a, std::uint64_t b) {
  __extension__ using Wide = unsigned __int128;  // GCC and Clang on 64-bit targets
  const Wide product = static_cast<Wide>(a) * b;
  return static_cast<std::uint64_t>(product) ^ static_cast<std::uint64_t>(product >> 64);
}

inline constexpr std::uint64_t kOdd0 = 0xa0761d6478bd642full;
inline constexpr std::uint64_t kOdd1 = 0xe7037ed1a0b428dbull;
inline constexpr std::uint64_t kOdd2 = 0x8ebc6af09c88c6e3ull;
inline constexpr std::uint64_t kOdd3 = 0x589965cc75374cc3ull;

}  // namespace detail

// Two independent lanes over the name's 8-byte words, then the type, class,
// flags and length. A name is at most 255 bytes: at most 32 rounds.
inline Digest digest_of(const dns::QuestionKey& key, const DigestSeed& seed) {
  using detail::fold_multiply;
  std::uint64_t lane0 = seed.a;
  std::uint64_t lane1 = seed.b;
  const std::uint8_t* bytes = key.name.wire;
  std::size_t left = key.name.length;
  for (; left >= 8; left -= 8, bytes += 8) {
    std::uint64_t word;
    std::memcpy(&word, bytes, 8);
    lane0 = fold_multiply(word ^ detail::kOdd0, lane0 ^ detail::kOdd1);
    lane1 = fold_multiply(word ^ detail::kOdd2, lane1 ^ detail::kOdd3);
  }
  std::uint64_t tail = 0;
  std::memcpy(&tail, bytes, left);
  const std::uint64_t shape = std::uint64_t{key.qtype} | std::uint64_t{key.qclass} << 16 |
                              std::uint64_t{key.flags} << 32 | std::uint64_t{key.name.length} << 40;
  lane0 = fold_multiply(tail ^ detail::kOdd0, lane0 ^ shape ^ detail::kOdd1);
  lane1 = fold_multiply(tail ^ detail::kOdd2, lane1 ^ shape ^ detail::kOdd3);
  return Digest{.lo = fold_multiply(lane0, detail::kOdd2 ^ lane1),
                .hi = fold_multiply(lane1 ^ detail::kOdd0, lane0 ^ detail::kOdd3)};
}

}  // namespace heimdall::cache
