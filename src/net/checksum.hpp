// The Internet checksum (RFC 1071) and the UDP/ICMPv6 pseudo-header sum, over
// spans of a frame. Private to src/net; inline because every DNS reply the DPDK
// backend sends and every query it takes pays for them.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <span>

#include "layout.hpp"

namespace heimdall::net {

inline std::uint16_t fold(std::uint64_t sum) {
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(sum);
}

// Adds `bytes` as big-endian 16-bit words to `sum`; an odd last byte is the high half
// of a zero-padded word. 64 bits cannot overflow for any frame. Every reply and
// query pays for this, so it adds 32-bit words in the machine's byte order and
// swaps once: the one's-complement sum is byte-order independent (RFC 1071 §2(B)).
inline std::uint64_t add_words(Bytes bytes, std::uint64_t sum) {
  std::uint64_t native = 0;
  std::size_t at = 0;
  for (; at + 4 <= bytes.size(); at += 4) {
    std::uint32_t word;
    std::memcpy(&word, bytes.data() + at, 4);
    native += word;
  }
  if (at + 2 <= bytes.size()) {
    std::uint16_t half;
    std::memcpy(&half, bytes.data() + at, 2);
    native += half;
    at += 2;
  }
  std::uint16_t folded = fold(native);
  if constexpr (std::endian::native == std::endian::little) {
    folded = static_cast<std::uint16_t>(folded << 8 | folded >> 8);
  }
  sum += folded;
  if (at < bytes.size()) sum += static_cast<std::uint64_t>(bytes[at]) << 8;
  return sum;
}

// A message whose checksum field is right sums to 0xffff (RFC 1071 §1, step 3).
inline bool checksum_valid(Bytes bytes, std::uint64_t initial) {
  return fold(add_words(bytes, initial)) == 0xffff;
}

inline std::uint16_t checksum_of(Bytes bytes, std::uint64_t initial) {
  return static_cast<std::uint16_t>(~fold(add_words(bytes, initial)));
}

// The pseudo-header's addresses and protocol, read from the IP header in place
// (RFC 768; RFC 8200 §8.1). The upper-layer length is added by the caller, since
// for UDP it is the UDP length rather than what the IP header says.
inline std::uint64_t pseudo_header_sum(Bytes ip, bool ipv6, std::uint8_t protocol) {
  const Bytes addresses = ipv6 ? ip.subspan(8, 32) : ip.subspan(12, 8);
  return add_words(addresses, protocol);
}

}  // namespace heimdall::net
