// The form in which an answer is kept in the cache, and the reply built from it
// on a hit. Stored: the upstream's message up to its OPT/TSIG (docs/architecture.md §8.5:
// cached wire holds no OPT), preceded by a small header and the offsets of every
// TTL, so a hit is one copy plus a few patches: the client's ID, flags and exact
// question bytes, the aged TTLs, and an OPT built for the client.
//
// Layout of a stored answer in its buffer:
//   StoredHeader | std::uint16_t ttl_offsets[ttl_count] | message bytes
// The offsets are relative to the message. Both functions work on caller buffers
// and never allocate.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "heimdall/dns/build.hpp"
#include "heimdall/dns/message.hpp"

namespace heimdall::cache {

struct StoredHeader {
  std::uint16_t message_length = 0;
  std::uint16_t ttl_count = 0;
  std::uint16_t question_end = 0;  // one past QCLASS in the message
};

// Bytes a stored form of `answer` needs, or 0 when it cannot be stored (no
// question, or over 65535 bytes).
std::size_t stored_size(std::span<const std::uint8_t> answer, const dns::Message& msg);

// Writes the stored form of `answer` (parsed into `msg`) into `out`; returns the
// bytes written, or 0 when `out` is too small or the answer cannot be stored.
std::size_t store_answer(std::span<const std::uint8_t> answer, const dns::Message& msg,
                         std::span<std::uint8_t> out);

// Bounds every record TTL of a stored answer to [floor, ceiling], so that what a
// client is told never outlives the entry (min_ttl/max_ttl, negative_ttl_max); a
// TTL with its top bit set counts as 0 first (RFC 2181 §8, dns::clamp_ttl).
void clamp_stored_ttls(std::span<std::uint8_t> stored, std::uint32_t floor, std::uint32_t ceiling);

// Lowers every record TTL of a stored answer by `seconds`, never below 0: the
// time an entry spent in a cache snapshot (cache/snapshot.hpp).
void age_stored_ttls(std::span<std::uint8_t> stored, std::uint32_t seconds);

// The message part of a stored answer (after its header and TTL offsets).
std::span<const std::uint8_t> stored_message(std::span<const std::uint8_t> stored);

// Whether `stored` is a stored answer as store_answer writes them, for one read
// from outside the process: its header, TTL offsets and question lie within its
// bytes, the question name is a well-formed uncompressed name `name_length` long,
// and its type and class are `qtype` and `qclass`.
bool stored_form_is_sound(std::span<const std::uint8_t> stored, std::size_t name_length,
                          std::uint16_t qtype, std::uint16_t qclass);

// How the TTLs of a reply are set.
struct Ageing {
  std::uint32_t age_s = 0;      // seconds since the answer was stored: subtracted, never below 0
  std::uint32_t stale_ttl = 0;  // non-zero: serve-stale (RFC 8767 §4), every TTL set to this
};

// Builds the reply to `client` from a stored answer: the client's ID, RD and CD,
// RA set, AA cleared, AD only when stored and asked for (RFC 6840 §5.8), the
// client's question bytes (same length as the stored question, which the cache
// key guarantees), TTLs aged, and an OPT for the client when it sent one. When it
// does not fit client.reply_limit, it is cut at RRset boundaries with TC, as
// dns::build_reply does. Returns the bytes written, or 0 when `out` is too small.
std::size_t reply_from_stored(std::span<const std::uint8_t> stored, const dns::ClientView& client,
                              const Ageing& ageing, std::uint16_t our_udp_size,
                              std::span<std::uint8_t> out);

}  // namespace heimdall::cache
