#include "heimdall/cache/cacheability.hpp"

#include <algorithm>
#include <array>
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
    smallest = std::min(smallest, dns::ttl_value(record.ttl));
    has_cname |= record.section == dns::Section::Answer && record.type == dns::rrtype::CNAME;
    return true;
  });
  return smallest;
}

// The TTL fields of a message, which a stored entry rewrites as it ages.
struct TtlFields {
  static constexpr std::size_t kMax = 1024;
  std::array<std::uint16_t, kMax> offsets{};
  std::size_t count = 0;
  bool overflow = false;
  bool covers(std::size_t at) const {
    for (std::size_t i = 0; i < count; ++i) {
      if (at >= offsets[i] && at < offsets[i] + 4u) return true;
    }
    return false;
  }
};

// Whether reading the name at `offset` reads a byte of a TTL field (through a
// compression pointer), or cannot be read at all.
bool name_reads_ttl(std::span<const std::uint8_t> wire, std::size_t offset, const TtlFields& ttls) {
  for (int hops = 0; hops < 128 && offset < wire.size(); ++hops) {
    const std::uint8_t length = wire[offset];
    if (ttls.covers(offset)) return true;
    if ((length & 0xc0) == 0xc0) {
      if (offset + 1 >= wire.size() || ttls.covers(offset + 1)) return true;
      offset = static_cast<std::size_t>(length & 0x3f) << 8 | wire[offset + 1];
      continue;
    }
    if (length == 0) return false;
    for (std::size_t at = offset + 1; at <= offset + length; ++at) {
      if (ttls.covers(at)) return true;
    }
    offset += 1u + length;
  }
  return true;
}

// An entry's TTLs are aged in place, so a name compressed into a TTL field (no
// real server writes one, but anyone can) would change as the entry ages: such
// answers are not stored. Owner names and the names inside the RDATA of the
// common types are checked.
bool names_read_ttls(std::span<const std::uint8_t> answer, const dns::Message& msg) {
  TtlFields ttls;
  for_each_record(answer, msg, [&](const dns::Record& record) {
    if (ttls.count == TtlFields::kMax) {
      ttls.overflow = true;
      return false;
    }
    ttls.offsets[ttls.count++] = record.ttl_offset;
    return true;
  });
  if (ttls.overflow) return true;
  bool reads = false;
  for_each_record(answer, msg, [&](const dns::Record& record) {
    reads = name_reads_ttl(answer, record.offset, ttls);
    const std::size_t rdata = record.rdata_offset;
    switch (record.type) {
      case dns::rrtype::CNAME:
      case dns::rrtype::NS:
      case dns::rrtype::PTR:
      case dns::rrtype::SOA:  // its second name follows the first: the first is checked
        reads = reads || (record.rdlength > 0 && name_reads_ttl(answer, rdata, ttls));
        break;
      case dns::rrtype::MX:
        reads = reads || (record.rdlength > 2 && name_reads_ttl(answer, rdata + 2, ttls));
        break;
      default:
        break;
    }
    return !reads;
  });
  return reads;
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
  if (names_read_ttls(answer, msg)) return {};
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

dns::TtlBounds reply_ttl_bounds(std::span<const std::uint8_t> answer, const dns::Message& msg,
                                const TtlPolicy& policy) {
  const auto rcode = static_cast<dns::Rcode>(msg.header.rcode());
  if (rcode == dns::Rcode::NoError && msg.header.ancount != 0) {
    return {.floor = policy.min_ttl, .ceiling = policy.max_ttl};
  }
  if (rcode == dns::Rcode::NoError || rcode == dns::Rcode::NxDomain) {
    const auto ttl = dns::negative_ttl(answer, msg);
    return {.floor = 0,
            .ceiling = std::min(ttl.value_or(policy.negative_ttl_max), policy.negative_ttl_max)};
  }
  return {.floor = 0, .ceiling = policy.max_ttl};
}

}  // namespace heimdall::cache
