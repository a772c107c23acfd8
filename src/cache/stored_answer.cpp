#include "heimdall/cache/stored_answer.hpp"

#include <algorithm>
#include <cstring>

namespace heimdall::cache {
namespace {

constexpr std::size_t kHeaderBytes = sizeof(StoredHeader);

// What of an upstream answer is kept: every record before the first OPT or TSIG.
struct Kept {
  std::size_t message_end = 0;
  std::uint16_t ttl_count = 0;
  std::uint16_t additional = 0;
};

Kept kept_part(std::span<const std::uint8_t> answer, const dns::Message& msg) {
  Kept kept;
  kept.message_end = msg.records_offset;
  dns::for_each_record(answer, msg, [&](const dns::Record& record) {
    if (record.section == dns::Section::Additional &&
        (record.type == dns::rrtype::OPT || record.type == dns::rrtype::TSIG)) {
      return false;
    }
    kept.message_end = record.end;
    ++kept.ttl_count;
    if (record.section == dns::Section::Additional) ++kept.additional;
    return true;
  });
  return kept;
}

StoredHeader header_of(std::span<const std::uint8_t> stored) {
  StoredHeader header;
  std::memcpy(&header, stored.data(), kHeaderBytes);
  return header;
}

std::uint16_t ttl_offset(std::span<const std::uint8_t> stored, std::size_t index) {
  std::uint16_t offset = 0;
  std::memcpy(&offset, stored.data() + kHeaderBytes + 2 * index, 2);
  return offset;
}

}  // namespace

std::size_t stored_size(std::span<const std::uint8_t> answer, const dns::Message& msg) {
  if (!msg.has_question) return 0;
  const Kept kept = kept_part(answer, msg);
  return kHeaderBytes + 2 * std::size_t{kept.ttl_count} + kept.message_end;
}

std::size_t store_answer(std::span<const std::uint8_t> answer, const dns::Message& msg,
                         std::span<std::uint8_t> out) {
  if (!msg.has_question) return 0;
  const Kept kept = kept_part(answer, msg);
  const std::size_t size = kHeaderBytes + 2 * std::size_t{kept.ttl_count} + kept.message_end;
  if (out.size() < size) return 0;

  const StoredHeader header{static_cast<std::uint16_t>(kept.message_end), kept.ttl_count,
                            msg.question.end};
  std::memcpy(out.data(), &header, kHeaderBytes);
  std::size_t index = 0;
  dns::for_each_record(answer, msg, [&](const dns::Record& record) {
    if (index == kept.ttl_count) return false;
    std::memcpy(out.data() + kHeaderBytes + 2 * index++, &record.ttl_offset, 2);
    return true;
  });
  std::uint8_t* message = out.data() + kHeaderBytes + 2 * std::size_t{kept.ttl_count};
  std::memcpy(message, answer.data(), kept.message_end);
  dns::store_u16(message + dns::offset::kArcount, kept.additional);
  return size;
}

void clamp_stored_ttls(std::span<std::uint8_t> stored, std::uint32_t floor, std::uint32_t ceiling) {
  const StoredHeader header = header_of(stored);
  std::uint8_t* message = stored.data() + kHeaderBytes + 2 * std::size_t{header.ttl_count};
  for (std::size_t i = 0; i < header.ttl_count; ++i) {
    std::uint8_t* field = message + ttl_offset(stored, i);
    dns::store_u32(field, dns::clamp_ttl(dns::load_u32(field), floor, ceiling));
  }
}

std::span<const std::uint8_t> stored_message(std::span<const std::uint8_t> stored) {
  const StoredHeader header = header_of(stored);
  return stored.subspan(kHeaderBytes + 2 * std::size_t{header.ttl_count}, header.message_length);
}

void age_stored_ttls(std::span<std::uint8_t> stored, std::uint32_t seconds) {
  const StoredHeader header = header_of(stored);
  std::uint8_t* message = stored.data() + kHeaderBytes + 2 * std::size_t{header.ttl_count};
  for (std::size_t i = 0; i < header.ttl_count; ++i) {
    std::uint8_t* field = message + ttl_offset(stored, i);
    const std::uint32_t ttl = dns::load_u32(field);
    dns::store_u32(field, ttl > seconds ? ttl - seconds : 0);
  }
}

bool stored_form_is_sound(std::span<const std::uint8_t> stored, std::size_t name_length,
                          std::uint16_t qtype, std::uint16_t qclass) {
  if (stored.size() < kHeaderBytes) return false;
  const StoredHeader header = header_of(stored);
  const std::size_t message_start = kHeaderBytes + 2 * std::size_t{header.ttl_count};
  if (message_start + header.message_length != stored.size()) return false;
  const auto message = stored.subspan(message_start);
  const std::size_t name_end = dns::kHeaderSize + name_length;
  if (name_length == 0 || name_length > dns::kMaxNameWire || header.question_end != name_end + 4 ||
      header.question_end > message.size()) {
    return false;
  }
  // Labels, uncompressed, ending exactly at name_end with the root.
  std::size_t at = dns::kHeaderSize;
  while (message[at] != 0) {
    if (message[at] > 63) return false;
    at += std::size_t{message[at]} + 1;
    if (at >= name_end) return false;
  }
  if (at + 1 != name_end) return false;
  if (dns::load_u16(&message[name_end]) != qtype ||
      dns::load_u16(&message[name_end + 2]) != qclass) {
    return false;
  }
  for (std::size_t i = 0; i < header.ttl_count; ++i) {
    const std::size_t offset = ttl_offset(stored, i);
    if (offset < header.question_end || offset + 4 > message.size()) return false;
  }
  return true;
}

std::size_t reply_from_stored(std::span<const std::uint8_t> stored, const dns::ClientView& client,
                              const Ageing& ageing, std::uint16_t our_udp_size,
                              std::span<std::uint8_t> out) {
  const StoredHeader header = header_of(stored);
  const auto message =
      stored.subspan(kHeaderBytes + 2 * std::size_t{header.ttl_count}, header.message_length);
  if (client.question.size() != std::size_t{header.question_end} - dns::kHeaderSize) return 0;

  const std::size_t opt_size = client.edns ? dns::kOptRecordSize : 0;
  const std::size_t limit = std::min<std::size_t>(client.reply_limit, out.size());
  std::size_t records_end = 0;  // where the copied records stop in `out`
  std::size_t length = 0;
  if (message.size() + opt_size <= limit) {
    // The common case: the whole answer fits. One copy, then patches.
    std::memcpy(out.data(), message.data(), message.size());
    const dns::Header stored_header = dns::Header::read(message.data());
    dns::store_u16(out.data() + dns::offset::kId, client.id);
    dns::store_u16(out.data() + dns::offset::kFlags,
                   dns::reply_flags(client.flags, client.dnssec_ok, stored_header.flags, false));
    std::memcpy(out.data() + dns::kHeaderSize, client.question.data(), client.question.size());
    records_end = message.size();
    length = records_end;
    if (client.edns) {
      length += dns::write_opt(out.subspan(length), dns::OptSpec{.udp_size = our_udp_size,
                                                                 .extended_rcode = 0,
                                                                 .dnssec_ok = client.dnssec_ok});
      dns::store_u16(out.data() + dns::offset::kArcount,
                     static_cast<std::uint16_t>(stored_header.arcount + 1));
    }
  } else {
    // Too big for this client: cut at RRset boundaries like any reply.
    dns::Message msg;
    if (dns::parse_message(message, msg) != dns::ParseError::Ok) return 0;
    length = dns::build_reply(message, msg, client, our_udp_size, out);
    if (length == 0) return 0;
    records_end = length - opt_size;
  }

  // Age the TTLs of the records that made it into the reply (they keep their
  // stored offsets: the question has the same length).
  for (std::size_t i = 0; i < header.ttl_count; ++i) {
    const std::uint16_t offset = ttl_offset(stored, i);
    if (std::size_t{offset} + 4 > records_end) break;
    const std::uint32_t ttl = dns::load_u32(out.data() + offset);
    const std::uint32_t aged = ageing.stale_ttl != 0 ? ageing.stale_ttl
                               : ttl > ageing.age_s  ? ttl - ageing.age_s
                                                     : 0;
    dns::store_u32(out.data() + offset, aged);
  }
  return length;
}

}  // namespace heimdall::cache
