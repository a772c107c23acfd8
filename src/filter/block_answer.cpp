#include "heimdall/filter/block_answer.hpp"

#include <algorithm>
#include <cstring>

namespace heimdall::filter {
namespace {

constexpr std::uint16_t kPointerToQuestion = 0xc00c;

// The synthesized zone's servers: under .invalid (RFC 2606), so they can never
// collide with a real name.
constexpr std::uint8_t kSoaNames[] = {
    2,   'n', 's', 8,   'h', 'e', 'i', 'm', 'd', 'a', 'l', 'l', 7,   'i', 'n', 'v', 'a',
    'l', 'i', 'd', 0,   10,  'h', 'o', 's', 't', 'm', 'a', 's', 't', 'e', 'r', 8,   'h',
    'e', 'i', 'm', 'd', 'a', 'l', 'l', 7,   'i', 'n', 'v', 'a', 'l', 'i', 'd', 0};

class Writer {
 public:
  explicit Writer(std::span<std::uint8_t> out) : out_(out) {}

  bool put(const void* bytes, std::size_t size) {
    if (size > out_.size() - length_) return false;
    std::memcpy(out_.data() + length_, bytes, size);
    length_ += size;
    return true;
  }
  bool put16(std::uint16_t value) {
    const std::uint8_t bytes[2] = {static_cast<std::uint8_t>(value >> 8),
                                   static_cast<std::uint8_t>(value)};
    return put(bytes, 2);
  }
  bool put32(std::uint32_t value) {
    return put16(static_cast<std::uint16_t>(value >> 16)) &&
           put16(static_cast<std::uint16_t>(value));
  }
  // A record owned by the query name (a pointer to the question).
  bool record(std::uint16_t type, std::uint32_t ttl, const void* rdata, std::uint16_t rdlength) {
    return put16(kPointerToQuestion) && put16(type) && put16(dns::rrclass::IN) && put32(ttl) &&
           put16(rdlength) && put(rdata, rdlength);
  }
  bool soa(std::uint32_t ttl) {
    return put16(kPointerToQuestion) && put16(dns::rrtype::SOA) && put16(dns::rrclass::IN) &&
           put32(ttl) && put16(sizeof(kSoaNames) + 20) && put(kSoaNames, sizeof(kSoaNames)) &&
           put32(1) && put32(3600) && put32(600) && put32(86400) && put32(ttl);
  }
  std::size_t length() const { return length_; }

 private:
  std::span<std::uint8_t> out_;
  std::size_t length_ = 0;
};

}  // namespace

std::size_t build_block_answer(const dns::ClientView& client, std::uint16_t qtype,
                               const BlockResponse& response, std::uint16_t our_udp_size,
                               std::span<std::uint8_t> out) {
  const std::size_t limit = std::min<std::size_t>(out.size(), client.reply_limit);
  if (response.mode == BlockMode::Refused) {
    if (limit < out.size()) out = out.first(limit);
    return dns::build_error(client, dns::Rcode::Refused, our_udp_size, out);
  }

  // The answer section: for Null one zero address, for Addresses the configured
  // ones of the asked family; none at all means NODATA, with the SOA.
  static constexpr std::uint8_t kZeros[16] = {};
  const bool ipv4 = qtype == dns::rrtype::A;
  std::size_t count = 0;
  if (ipv4 || qtype == dns::rrtype::AAAA) {
    if (response.mode == BlockMode::Null) count = 1;
    if (response.mode == BlockMode::Addresses)
      count = ipv4 ? response.ipv4_count : response.ipv6_count;
  }
  auto address = [&](std::size_t i) -> const std::uint8_t* {
    if (response.mode == BlockMode::Null) return kZeros;
    return ipv4 ? response.ipv4[i].data() : response.ipv6[i].data();
  };
  const bool nxdomain = response.mode == BlockMode::NxDomain;

  Writer writer(out.first(limit));
  dns::Header header;
  header.id = client.id;
  header.flags = dns::reply_flags(client.flags, false, nxdomain ? 3 : 0, false);
  header.qdcount = 1;
  header.ancount = static_cast<std::uint16_t>(count);
  header.nscount = count == 0 ? 1 : 0;
  header.arcount = client.edns ? 1 : 0;
  std::uint8_t header_bytes[dns::kHeaderSize];
  header.write(header_bytes);
  bool ok = writer.put(header_bytes, sizeof(header_bytes)) &&
            writer.put(client.question.data(), client.question.size());
  for (std::size_t i = 0; ok && i < count; ++i) {
    ok = writer.record(qtype, response.ttl, address(i), ipv4 ? 4 : 16);
  }
  if (count == 0) ok = ok && writer.soa(response.ttl);
  if (ok && client.edns) {
    std::uint8_t opt[dns::kOptRecordSize];
    dns::write_opt(
        opt,
        dns::OptSpec{.udp_size = our_udp_size, .extended_rcode = 0, .dnssec_ok = client.dnssec_ok});
    ok = writer.put(opt, sizeof(opt));
  }
  return ok ? writer.length() : 0;
}

}  // namespace heimdall::filter
