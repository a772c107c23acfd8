// Parsing a whole DNS message in place: header, the question, every resource
// record's bounds, and the EDNS(0) OPT record. A Message holds offsets into the
// caller's buffer (as Knot's knot_pkt_t does), never copies of it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "heimdall/dns/name.hpp"
#include "heimdall/dns/wire.hpp"

namespace heimdall::dns {

enum class Section : std::uint8_t { Answer = 0, Authority = 1, Additional = 2 };

// EDNS(0) as carried by the OPT pseudo-record (RFC 6891 §6.1.2-6.1.4).
struct Edns {
  bool present = false;
  std::uint16_t udp_size = 0;       // the requester's payload size, as sent (may be < 512)
  std::uint8_t extended_rcode = 0;  // upper 8 bits of the 12-bit RCODE
  std::uint8_t version = 0;
  bool dnssec_ok = false;           // DO bit
  std::uint16_t record_offset = 0;  // start of the OPT record (its root owner byte)
  std::uint16_t record_length = 0;  // whole record, owner to end of RDATA
};

struct Question {
  NameKey name;  // folded
  std::uint16_t qtype = 0;
  std::uint16_t qclass = 0;
  std::uint16_t offset = 0;  // start of the QNAME on the wire (12 for a normal message)
  std::uint16_t end = 0;     // one past QCLASS

  // The question exactly as sent, including the sender's letter case (0x20).
  std::span<const std::uint8_t> wire(std::span<const std::uint8_t> message) const {
    return message.subspan(offset, end - offset);
  }
};

// One resource record located in the message.
struct Record {
  Section section = Section::Answer;
  std::uint16_t offset = 0;  // start of the owner name
  std::uint16_t type = 0;
  std::uint16_t rclass = 0;
  std::uint32_t ttl = 0;         // as on the wire: ttl_value() reads it (RFC 2181 §8)
  std::uint16_t ttl_offset = 0;  // where the 32-bit TTL sits, for ageing in place
  std::uint16_t rdata_offset = 0;
  std::uint16_t rdlength = 0;
  std::uint16_t end = 0;  // one past the RDATA
};

struct Message {
  Header header;
  bool has_question = false;  // QDCOUNT == 1 and the question parsed
  Question question;
  Edns edns;
  std::uint16_t records_offset = 0;            // where the answer section begins
  std::uint16_t section_start[3] = {0, 0, 0};  // offset of each section's first record
  std::uint16_t end = 0;                       // one past the last record
};

// Parses `wire` into `out`. Requires QDCOUNT <= 1 (0 is legal in responses such as
// FORMERR; a query needs exactly 1, which the caller checks), walks every record
// to check its bounds, records the OPT, and rejects: OPT outside the additional
// section, two OPTs, an OPT owner other than root, and bytes after the last
// record. On error `out` holds what was read before the failure (the header is
// always valid when the message has 12 bytes), so an error response can echo the
// question when it parsed.
[[nodiscard]] ParseError parse_message(std::span<const std::uint8_t> wire, Message& out);

// Calls `visit(const Record&)` for every record in order, from the answer section
// to the additional section (OPT included). The message must have passed
// parse_message. `visit` returns false to stop early.
template <typename Visitor>
void for_each_record(std::span<const std::uint8_t> wire, const Message& msg, Visitor&& visit);

// Reads the record at `offset` (owner name, fixed fields, bounds); on success moves
// `offset` past the record. The walk behind parse_message and for_each_record.
[[nodiscard]] ParseError read_record(std::span<const std::uint8_t> wire, std::size_t& offset,
                                     Record& out);

// RFC 2308 §5: the TTL of a negative answer is min(SOA TTL, SOA MINIMUM) of the
// SOA in the authority section (each read by ttl_value, RFC 2181 §8). Empty when
// there is no SOA there.
[[nodiscard]] std::optional<std::uint32_t> negative_ttl(std::span<const std::uint8_t> wire,
                                                        const Message& msg);

template <typename Visitor>
void for_each_record(std::span<const std::uint8_t> wire, const Message& msg, Visitor&& visit) {
  const std::uint16_t counts[3] = {msg.header.ancount, msg.header.nscount, msg.header.arcount};
  std::size_t offset = msg.records_offset;
  for (int section = 0; section < 3; ++section) {
    for (std::uint16_t i = 0; i < counts[section]; ++i) {
      Record record;
      if (read_record(wire, offset, record) != ParseError::Ok) return;
      record.section = static_cast<Section>(section);
      if (!visit(static_cast<const Record&>(record))) return;
    }
  }
}

}  // namespace heimdall::dns
