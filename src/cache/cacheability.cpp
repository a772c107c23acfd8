#include "heimdall/cache/cacheability.hpp"

#include <algorithm>
#include <limits>

namespace heimdall::cache {
namespace {

constexpr std::uint32_t kServfailTtlCap = 300;  // RFC 2308 §7.1: "MUST NOT" exceed 5 minutes

// The smallest TTL of the records a reply will carry (OPT and TSIG are the
// upstream's own and never reach the client, see dns::build_reply).
std::uint32_t smallest_ttl(std::span<const std::uint8_t> answer, const dns::Message& msg,
                           bool& has_cname) {
  std::uint32_t smallest = std::numeric_limits<std::uint32_t>::max();
  for_each_record(answer, msg, [&](const dns::Record& record) {
    if (record.type == dns::rrtype::OPT || record.type == dns::rrtype::TSIG) return false;
    smallest = std::min(smallest, record.ttl);
    has_cname |= record.section == dns::Section::Answer && record.type == dns::rrtype::CNAME;
    return true;
  });
  return smallest;
}

Cacheability negative(std::span<const std::uint8_t> answer, const dns::Message& msg,
                      const TtlPolicy& policy, AnswerKind kind) {
  const auto ttl = dns::negative_ttl(answer, msg);
  if (!ttl || *ttl == 0) return {};  // RFC 2308 §5: no SOA, no negative caching
  return {true, kind, std::min(*ttl, policy.negative_ttl_max)};
}

}  // namespace

Cacheability judge(std::span<const std::uint8_t> answer, const dns::Message& msg,
                   const TtlPolicy& policy) {
  if (msg.header.has(dns::flag::TC) || msg.edns.extended_rcode != 0 || !msg.has_question) return {};
  switch (static_cast<dns::Rcode>(msg.header.rcode())) {
    case dns::Rcode::NxDomain:
      return negative(answer, msg, policy, AnswerKind::NxDomain);
    case dns::Rcode::ServFail:
      if (policy.servfail_ttl == 0) return {};
      return {true, AnswerKind::ServFail, std::min(policy.servfail_ttl, kServfailTtlCap)};
    case dns::Rcode::NoError:
      break;
    default:
      return {};
  }
  if (msg.header.ancount == 0) return negative(answer, msg, policy, AnswerKind::NoData);

  bool has_cname = false;
  std::uint32_t ttl = smallest_ttl(answer, msg, has_cname);
  // A CNAME whose target has no data of the type asked is partly a negative
  // answer: its lifetime is bounded like one (RFC 2308 §3).
  if (has_cname && msg.header.nscount != 0) {
    if (const auto negative_ttl = dns::negative_ttl(answer, msg)) {
      ttl = std::min({ttl, *negative_ttl, policy.negative_ttl_max});
    }
  }
  ttl = std::min(ttl, policy.max_ttl);
  ttl = std::max(ttl, policy.min_ttl);
  if (ttl == 0) return {};
  return {true, AnswerKind::Positive, ttl};
}

}  // namespace heimdall::cache
