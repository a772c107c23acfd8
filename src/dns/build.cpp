#include "heimdall/dns/build.hpp"

#include <algorithm>
#include <cstring>

namespace heimdall::dns {
namespace {

// One RRset is consecutive records of one section with the same owner, type and
// class; truncation keeps or drops it whole (RFC 2181 §5, §9).
struct RrsetId {
  NameKey owner;
  std::uint16_t type = 0;
  std::uint16_t rclass = 0;
  Section section = Section::Answer;

  bool same(const RrsetId& other) const {
    return type == other.type && rclass == other.rclass && section == other.section &&
           owner == other.owner;
  }
};

// The records of an upstream answer that a reply may carry: everything before the
// first OPT or TSIG (whose options or signature belong to the upstream's exchange
// with us), cut to `budget` bytes at an RRset boundary.
struct RecordPrefix {
  std::size_t bytes = 0;
  std::uint16_t counts[3] = {0, 0, 0};
  bool dropped_answer_or_authority = false;
};

// Everything before the first OPT or TSIG, when it fits in `budget`: the common
// case, which needs no RRset boundaries and so no name folding.
bool fit_all_records(std::span<const std::uint8_t> wire, const Message& msg, std::size_t budget,
                     RecordPrefix& kept) {
  for_each_record(wire, msg, [&](const Record& record) {
    if (record.section == Section::Additional &&
        (record.type == rrtype::OPT || record.type == rrtype::TSIG)) {
      return false;
    }
    kept.bytes = record.end - msg.records_offset;
    ++kept.counts[static_cast<int>(record.section)];
    return kept.bytes <= budget;
  });
  return kept.bytes <= budget;
}

RecordPrefix fit_records(std::span<const std::uint8_t> wire, const Message& msg,
                         std::size_t budget) {
  if (RecordPrefix all; fit_all_records(wire, msg, budget, all)) return all;
  RecordPrefix kept;
  RecordPrefix candidate;  // complete RRsets seen so far, and the current one growing
  RrsetId current;
  bool have_current = false;
  bool stopped = false;
  std::uint16_t copyable[3] = {0, 0, 0};

  auto commit_if_fits = [&]() {
    if (candidate.bytes <= budget) {
      kept.bytes = candidate.bytes;
      std::copy(candidate.counts, candidate.counts + 3, kept.counts);
    } else {
      stopped = true;  // a later RRset cannot be kept without this one
    }
  };

  for_each_record(wire, msg, [&](const Record& record) {
    if (record.section == Section::Additional &&
        (record.type == rrtype::OPT || record.type == rrtype::TSIG)) {
      return false;
    }
    RrsetId id;
    std::size_t name_offset = record.offset;
    // The record was read whole above, so its owner name reads again.
    static_cast<void>(read_name(wire, name_offset, &id.owner));
    id.type = record.type;
    id.rclass = record.rclass;
    id.section = record.section;
    if (have_current && !id.same(current) && !stopped) commit_if_fits();
    current = id;
    have_current = true;
    ++copyable[static_cast<int>(record.section)];
    if (!stopped) {
      candidate.bytes = record.end - msg.records_offset;
      ++candidate.counts[static_cast<int>(record.section)];
    }
    return true;
  });
  if (have_current && !stopped) commit_if_fits();

  kept.dropped_answer_or_authority = kept.counts[0] < copyable[0] || kept.counts[1] < copyable[1];
  return kept;
}

// QR, the client's opcode and RD, and `extra`; for opcode QUERY also RA and the
// client's CD. RA, AD and CD are defined for opcode QUERY only: replies to other
// opcodes (NOTIFY, UPDATE, unassigned ones) carry none of them.
std::uint16_t own_flags(std::uint16_t client_flags, std::uint16_t extra) {
  if ((client_flags & flag::kOpcodeMask) != 0) {
    return static_cast<std::uint16_t>(flag::QR | (client_flags & (flag::kOpcodeMask | flag::RD)) |
                                      (extra & ~(flag::AD | flag::RA | flag::CD)));
  }
  return static_cast<std::uint16_t>(
      flag::QR | flag::RA | (client_flags & (flag::kOpcodeMask | flag::RD | flag::CD)) | extra);
}

// Bounds the TTL of every record copied into a reply (they sit at the offsets they
// had upstream, shifted by where the records start in each).
void clamp_copied_ttls(std::span<const std::uint8_t> upstream, const Message& msg,
                       std::size_t copied_bytes, std::uint8_t* records_out,
                       const TtlBounds& bounds) {
  for_each_record(upstream, msg, [&](const Record& record) {
    if (std::size_t{record.end} - msg.records_offset > copied_bytes) return false;
    std::uint8_t* field = records_out + (record.ttl_offset - msg.records_offset);
    store_u32(field, clamp_ttl(load_u32(field), bounds.floor, bounds.ceiling));
    return true;
  });
}

}  // namespace

std::uint16_t reply_flags(std::uint16_t client_flags, bool client_dnssec_ok,
                          std::uint16_t upstream_flags, bool truncated) {
  const bool authentic =
      (upstream_flags & flag::AD) && ((client_flags & flag::AD) || client_dnssec_ok);
  return own_flags(client_flags, static_cast<std::uint16_t>((truncated ? flag::TC : 0) |
                                                            (authentic ? flag::AD : 0) |
                                                            (upstream_flags & flag::kRcodeMask)));
}

std::size_t write_opt(std::span<std::uint8_t> out, const OptSpec& spec) {
  if (out.size() < kOptRecordSize) return 0;
  std::uint8_t* p = out.data();
  p[0] = 0;  // root owner
  store_u16(p + 1, rrtype::OPT);
  store_u16(p + 3, spec.udp_size);
  store_u32(p + 5, (std::uint32_t{spec.extended_rcode} << 24) | (spec.dnssec_ok ? 0x8000u : 0u));
  store_u16(p + 9, 0);
  return kOptRecordSize;
}

std::uint16_t udp_reply_limit(const Edns& client_edns, std::uint16_t max_udp) {
  if (!client_edns.present) return static_cast<std::uint16_t>(kMinUdpPayload);
  const std::uint16_t asked = std::max<std::uint16_t>(client_edns.udp_size, kMinUdpPayload);
  return std::min(asked, std::max<std::uint16_t>(max_udp, kMinUdpPayload));
}

std::size_t build_upstream_query(const ClientView& client, std::uint16_t id,
                                 std::uint16_t upstream_udp_size, std::span<std::uint8_t> out) {
  const std::size_t size = kHeaderSize + client.question.size() + kOptRecordSize;
  if (out.size() < size || client.question.empty()) return 0;
  Header header;
  header.id = id;
  header.flags = client.flags & (flag::RD | flag::CD);
  // RFC 6840 §5.7-5.8: ask for AD when the client did, or when it is DNSSEC-aware.
  if ((client.flags & flag::AD) || client.dnssec_ok) header.flags |= flag::AD;
  header.qdcount = 1;
  header.arcount = 1;
  header.write(out.data());
  std::memcpy(out.data() + kHeaderSize, client.question.data(), client.question.size());
  write_opt(
      out.subspan(kHeaderSize + client.question.size()),
      OptSpec{.udp_size = upstream_udp_size, .extended_rcode = 0, .dnssec_ok = client.dnssec_ok});
  return size;
}

std::size_t build_reply(std::span<const std::uint8_t> upstream, const Message& upstream_msg,
                        const ClientView& client, std::uint16_t our_udp_size,
                        std::span<std::uint8_t> out, const TtlBounds& ttl) {
  const std::size_t question_size = client.question.size();
  // The records keep their compression pointers, which stay valid only if the
  // question before them has the same length.
  if (!upstream_msg.has_question ||
      static_cast<std::size_t>(upstream_msg.question.end - upstream_msg.question.offset) !=
          question_size) {
    return 0;
  }
  const std::size_t opt_size = client.edns ? kOptRecordSize : 0;
  const std::size_t fixed = kHeaderSize + question_size + opt_size;
  const std::size_t limit = std::min<std::size_t>(client.reply_limit, out.size());
  if (limit < fixed) return 0;

  const RecordPrefix records = fit_records(upstream, upstream_msg, limit - fixed);
  const bool truncated = upstream_msg.header.has(flag::TC) || records.dropped_answer_or_authority;

  Header header;
  header.id = client.id;
  header.flags = reply_flags(client.flags, client.dnssec_ok, upstream_msg.header.flags, truncated);
  header.qdcount = 1;
  header.ancount = records.counts[0];
  header.nscount = records.counts[1];
  header.arcount = static_cast<std::uint16_t>(records.counts[2] + (client.edns ? 1 : 0));
  header.write(out.data());

  std::size_t position = kHeaderSize;
  std::memcpy(out.data() + position, client.question.data(), question_size);
  position += question_size;
  if (records.bytes != 0) {
    std::memcpy(out.data() + position, upstream.data() + upstream_msg.records_offset,
                records.bytes);
    clamp_copied_ttls(upstream, upstream_msg, records.bytes, out.data() + position, ttl);
  }
  position += records.bytes;
  if (client.edns) {
    position += write_opt(
        out.subspan(position),
        OptSpec{.udp_size = our_udp_size, .extended_rcode = 0, .dnssec_ok = client.dnssec_ok});
  }
  return position;
}

std::size_t build_error(const ClientView& client, Rcode rcode, std::uint16_t our_udp_size,
                        std::span<std::uint8_t> out) {
  const bool with_opt = client.edns || rcode == Rcode::BadVers;
  const std::size_t size = kHeaderSize + client.question.size() + (with_opt ? kOptRecordSize : 0);
  if (out.size() < size) return 0;
  const auto value = static_cast<std::uint16_t>(rcode);
  Header header;
  header.id = client.id;
  header.flags = own_flags(client.flags, value & flag::kRcodeMask);
  header.qdcount = client.question.empty() ? 0 : 1;
  header.arcount = with_opt ? 1 : 0;
  header.write(out.data());
  if (!client.question.empty()) {
    std::memcpy(out.data() + kHeaderSize, client.question.data(), client.question.size());
  }
  if (with_opt) {
    write_opt(out.subspan(kHeaderSize + client.question.size()),
              OptSpec{.udp_size = our_udp_size,
                      .extended_rcode = static_cast<std::uint8_t>(value >> 4),
                      .dnssec_ok = client.dnssec_ok});
  }
  return size;
}

std::size_t build_any_minimal(const ClientView& client, std::uint32_t ttl,
                              std::uint16_t our_udp_size, std::span<std::uint8_t> out) {
  static constexpr std::uint8_t kHinfo[] = {7, 'R', 'F', 'C', '8', '4', '8', '2', 0};
  constexpr std::size_t kRecord = 2 + 10 + sizeof(kHinfo);  // pointer to the question name
  const std::size_t size =
      kHeaderSize + client.question.size() + kRecord + (client.edns ? kOptRecordSize : 0);
  if (client.question.empty() || out.size() < size) return 0;
  Header header;
  header.id = client.id;
  header.flags = own_flags(client.flags, 0);
  header.qdcount = 1;
  header.ancount = 1;
  header.arcount = client.edns ? 1 : 0;
  header.write(out.data());
  std::uint8_t* at = out.data() + kHeaderSize;
  std::memcpy(at, client.question.data(), client.question.size());
  at += client.question.size();
  store_u16(at, 0xc000 | kHeaderSize);
  store_u16(at + 2, rrtype::HINFO);
  store_u16(at + 4, rrclass::IN);
  store_u32(at + 6, ttl);
  store_u16(at + 10, sizeof(kHinfo));
  std::memcpy(at + 12, kHinfo, sizeof(kHinfo));
  at += kRecord;
  if (client.edns) {
    write_opt(
        {at, kOptRecordSize},
        OptSpec{.udp_size = our_udp_size, .extended_rcode = 0, .dnssec_ok = client.dnssec_ok});
  }
  return size;
}

std::size_t build_chaos_txt(const ClientView& client, std::span<const std::uint8_t> text,
                            std::uint16_t our_udp_size, std::span<std::uint8_t> out) {
  const std::size_t rdata = 1 + text.size();
  const std::size_t record = 2 + 10 + rdata;  // pointer to the question name
  const std::size_t size =
      kHeaderSize + client.question.size() + record + (client.edns ? kOptRecordSize : 0);
  if (client.question.empty() || text.size() > 255 || out.size() < size) return 0;
  Header header;
  header.id = client.id;
  header.flags = own_flags(client.flags, flag::AA);
  header.qdcount = 1;
  header.ancount = 1;
  header.arcount = client.edns ? 1 : 0;
  header.write(out.data());
  std::uint8_t* at = out.data() + kHeaderSize;
  std::memcpy(at, client.question.data(), client.question.size());
  at += client.question.size();
  store_u16(at, 0xc000 | kHeaderSize);
  store_u16(at + 2, rrtype::TXT);
  store_u16(at + 4, rrclass::CH);
  store_u32(at + 6, 0);
  store_u16(at + 10, static_cast<std::uint16_t>(rdata));
  at[12] = static_cast<std::uint8_t>(text.size());
  if (!text.empty()) std::memcpy(at + 13, text.data(), text.size());
  at += record;
  if (client.edns) {
    write_opt(
        {at, kOptRecordSize},
        OptSpec{.udp_size = our_udp_size, .extended_rcode = 0, .dnssec_ok = client.dnssec_ok});
  }
  return size;
}

}  // namespace heimdall::dns
