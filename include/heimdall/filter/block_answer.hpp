// The answer a blocked query gets (filter.response): NXDOMAIN or NODATA with a
// synthesized SOA so resolvers and stubs cache the refusal for `ttl` seconds
// (RFC 2308 §3), null addresses, the operator's own addresses, or REFUSED.
// Written into a caller's buffer like every reply; no allocation.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "heimdall/dns/build.hpp"

namespace heimdall::filter {

enum class BlockMode : std::uint8_t { NxDomain, NoData, Null, Addresses, Refused };

struct BlockResponse {
  static constexpr std::size_t kMaxAddresses = 4;

  BlockMode mode = BlockMode::NxDomain;
  std::uint32_t ttl = 300;  // of the answers, and the SOA's TTL and MINIMUM
  // BlockMode::Addresses: answers for A and AAAA; a type with no address gets NODATA.
  std::array<std::array<std::uint8_t, 4>, kMaxAddresses> ipv4{};
  std::uint8_t ipv4_count = 0;
  std::array<std::array<std::uint8_t, 16>, kMaxAddresses> ipv6{};
  std::uint8_t ipv6_count = 0;
};

// Builds the reply to a blocked query of type `qtype`. Null and Addresses answer
// A and AAAA and give NODATA to every other type. Returns the bytes written, or 0
// when `out` (or the client's limit) is too small.
std::size_t build_block_answer(const dns::ClientView& client, std::uint16_t qtype,
                               const BlockResponse& response, std::uint16_t our_udp_size,
                               std::span<std::uint8_t> out);

}  // namespace heimdall::filter
