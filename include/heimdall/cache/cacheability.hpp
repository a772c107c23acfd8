// Whether an upstream answer may be cached, as what, and for how long: RFC 2308
// for negative answers and SERVFAIL, docs/architecture.md §8.5 for the operator's clamps.
#pragma once

#include <cstdint>
#include <span>

#include "heimdall/dns/build.hpp"
#include "heimdall/dns/message.hpp"

namespace heimdall::cache {

struct TtlPolicy {
  std::uint32_t min_ttl = 0;              // cache.min_ttl: floor for positive answers
  std::uint32_t max_ttl = 86400;          // cache.max_ttl: ceiling for positive answers
  std::uint32_t negative_ttl_max = 3600;  // cache.negative_ttl_max
  std::uint32_t servfail_ttl = 0;         // RFC 2308 §7: at most 5 minutes; 0 = not cached
};

enum class AnswerKind : std::uint8_t { Positive, NoData, NxDomain, ServFail };

struct Cacheability {
  bool cacheable = false;
  AnswerKind kind = AnswerKind::Positive;
  std::uint32_t ttl = 0;  // seconds the entry may live
};

// `answer` must have passed dns::parse_message into `msg`. Not cacheable: TC set,
// an extended RCODE, RCODEs other than NOERROR/NXDOMAIN (and SERVFAIL when
// servfail_ttl is 0), negative answers without an SOA (RFC 2308 §5), and TTL 0
// unless min_ttl raises it.
Cacheability judge(std::span<const std::uint8_t> answer, const dns::Message& msg,
                   const TtlPolicy& policy);

// The TTLs a client may be told in a reply relayed from `answer` on a miss: what a
// hit on the entry made from it would show (README, "clients see the clamped TTL
// too"). Positive answers: [min_ttl, max_ttl]; NXDOMAIN and NODATA: at most their
// negative TTL (min(SOA TTL, SOA MINIMUM, negative_ttl_max)); anything else: at
// most max_ttl. Top-bit TTLs count as 0 either way (dns::TtlBounds).
dns::TtlBounds reply_ttl_bounds(std::span<const std::uint8_t> answer, const dns::Message& msg,
                                const TtlPolicy& policy);

}  // namespace heimdall::cache
