#include "heimdall/dns/message.hpp"

#include <algorithm>

namespace heimdall::dns {
namespace {

constexpr std::size_t kRecordFixed = 10;  // type, class, ttl, rdlength
constexpr std::size_t kQuestionFixed = 4;

// RFC 6891 §6.1.2: OPT RDATA is a sequence of {code, length, data}; unknown
// options are skipped (§6.1.2), but the sequence itself must be well formed.
bool opt_options_well_formed(std::span<const std::uint8_t> rdata) {
  std::size_t position = 0;
  while (position < rdata.size()) {
    if (rdata.size() - position < 4) return false;
    const std::size_t length = load_u16(rdata.data() + position + 2);
    position += 4;
    if (rdata.size() - position < length) return false;
    position += length;
  }
  return true;
}

ParseError read_opt(std::span<const std::uint8_t> wire, const Record& record, Edns& edns) {
  if (edns.present) return ParseError::DuplicateOpt;
  if (wire[record.offset] != 0) return ParseError::BadOpt;  // owner must be the root
  if (!opt_options_well_formed(wire.subspan(record.rdata_offset, record.rdlength))) {
    return ParseError::BadOpt;
  }
  edns.present = true;
  edns.udp_size = record.rclass;
  edns.extended_rcode = static_cast<std::uint8_t>(record.ttl >> 24);
  edns.version = static_cast<std::uint8_t>(record.ttl >> 16);
  edns.dnssec_ok = (record.ttl & 0x8000u) != 0;
  edns.record_offset = record.offset;
  edns.record_length = static_cast<std::uint16_t>(record.end - record.offset);
  return ParseError::Ok;
}

}  // namespace

ParseError read_record(std::span<const std::uint8_t> wire, std::size_t& offset, Record& out) {
  const std::size_t start = offset;
  std::size_t position = offset;
  if (const ParseError error = skip_name(wire, position); error != ParseError::Ok) return error;
  if (wire.size() - position < kRecordFixed) return ParseError::Truncated;
  const std::uint8_t* fixed = wire.data() + position;
  const std::size_t rdlength = load_u16(fixed + 8);
  if (wire.size() - position - kRecordFixed < rdlength) return ParseError::Truncated;
  out.offset = static_cast<std::uint16_t>(start);
  out.type = load_u16(fixed);
  out.rclass = load_u16(fixed + 2);
  out.ttl = load_u32(fixed + 4);
  out.ttl_offset = static_cast<std::uint16_t>(position + 4);
  out.rdata_offset = static_cast<std::uint16_t>(position + kRecordFixed);
  out.rdlength = static_cast<std::uint16_t>(rdlength);
  out.end = static_cast<std::uint16_t>(position + kRecordFixed + rdlength);
  offset = out.end;
  return ParseError::Ok;
}

ParseError parse_message(std::span<const std::uint8_t> wire, Message& out) {
  out = Message{};
  if (wire.size() < kHeaderSize) return ParseError::Truncated;
  // Offsets are 16-bit: a DNS message never exceeds 65535 bytes (RFC 1035 §4.2.2).
  if (wire.size() > kMaxMessage) return ParseError::TrailingData;
  out.header = Header::read(wire.data());
  if (out.header.qdcount > 1) return ParseError::BadQuestionCount;

  std::size_t offset = kHeaderSize;
  if (out.header.qdcount == 1) {
    Question& question = out.question;
    question.offset = static_cast<std::uint16_t>(offset);
    if (const ParseError error = read_name(wire, offset, &question.name); error != ParseError::Ok) {
      return error;
    }
    if (wire.size() - offset < kQuestionFixed) return ParseError::Truncated;
    question.qtype = load_u16(wire.data() + offset);
    question.qclass = load_u16(wire.data() + offset + 2);
    offset += kQuestionFixed;
    question.end = static_cast<std::uint16_t>(offset);
    out.has_question = true;
  }

  out.records_offset = static_cast<std::uint16_t>(offset);
  const std::uint16_t counts[3] = {out.header.ancount, out.header.nscount, out.header.arcount};
  for (int section = 0; section < 3; ++section) {
    out.section_start[section] = static_cast<std::uint16_t>(offset);
    for (std::uint16_t i = 0; i < counts[section]; ++i) {
      Record record;
      if (const ParseError error = read_record(wire, offset, record); error != ParseError::Ok) {
        return error;
      }
      if (record.type != rrtype::OPT) continue;
      if (section != static_cast<int>(Section::Additional)) return ParseError::OptNotInAdditional;
      if (const ParseError error = read_opt(wire, record, out.edns); error != ParseError::Ok) {
        return error;
      }
    }
  }
  out.end = static_cast<std::uint16_t>(offset);
  if (offset != wire.size()) return ParseError::TrailingData;
  return ParseError::Ok;
}

std::optional<std::uint32_t> negative_ttl(std::span<const std::uint8_t> wire, const Message& msg) {
  std::optional<std::uint32_t> result;
  for_each_record(wire, msg, [&](const Record& record) {
    if (record.section == Section::Additional) return false;
    if (record.section != Section::Authority || record.type != rrtype::SOA) return true;
    std::size_t position = record.rdata_offset;
    if (skip_name(wire, position) != ParseError::Ok) return false;  // MNAME
    if (skip_name(wire, position) != ParseError::Ok) return false;  // RNAME
    // SERIAL REFRESH RETRY EXPIRE MINIMUM, all inside this record's RDATA.
    if (position + 20 > record.end) return false;
    const std::uint32_t minimum = ttl_value(load_u32(wire.data() + position + 16));
    result = std::min(ttl_value(record.ttl), minimum);
    return false;
  });
  return result;
}

}  // namespace heimdall::dns
