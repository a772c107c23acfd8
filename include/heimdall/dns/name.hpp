// Domain names on the wire: reading through compression pointers safely, and the
// case-folded fixed-size key every lookup (coalescing, cache, filter) compares.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "heimdall/dns/wire.hpp"

namespace heimdall::dns {

enum class ParseError : std::uint8_t {
  Ok = 0,
  Truncated,           // the message ends inside a field
  LabelTooLong,        // a label over 63 octets
  NameTooLong,         // a name over 255 octets uncompressed
  BadPointer,          // a compression pointer that points at or past itself, or out of the message
  PointerLoop,         // more pointer hops than a legal name can need
  BadLabelType,        // label types 0x40/0x80 (RFC 6891 §5: reserved / extended)
  BadQuestionCount,    // QDCOUNT other than 1 where one question is required
  OptNotInAdditional,  // an OPT record in the answer or authority section
  DuplicateOpt,        // more than one OPT (RFC 6891 §6.1.1)
  BadOpt,              // OPT with a non-root owner or malformed options
  TrailingData,        // bytes after the last record the counts announce
};

const char* to_string(ParseError error);

// RFC 4343 case folding of one byte of a wire name. Label lengths are at most 63,
// below 'A', so folding every byte of a name (lengths included) is safe.
inline std::uint8_t fold(std::uint8_t byte) {
  return (byte >= 'A' && byte <= 'Z') ? static_cast<std::uint8_t>(byte | 0x20) : byte;
}

// A name in uncompressed wire form, every ASCII letter lowered (RFC 4343), in a
// fixed buffer: comparing two keys is a length check and a memcmp.
struct NameKey {
  std::uint8_t length = 0;  // bytes used in `wire`, including the root label's zero
  std::uint8_t label_count = 0;
  std::uint8_t wire[kMaxNameWire] = {};

  std::span<const std::uint8_t> bytes() const { return {wire, length}; }
  bool operator==(const NameKey& other) const {
    return length == other.length && std::memcmp(wire, other.wire, length) == 0;
  }
};

// Reads the name starting at `offset` in `message`, following compression pointers.
// On success, `offset` is moved past the name as it sits in place (a pointer counts
// two bytes) and, when `key` is not null, the folded uncompressed name is written
// there. Pointers must point strictly backwards (RFC 1035 §4.1.4: to a prior
// occurrence), which also rules out loops; the hop count is bounded regardless.
[[nodiscard]] ParseError read_name(std::span<const std::uint8_t> message, std::size_t& offset,
                                   NameKey* key);

// Same walk without building the key.
inline ParseError skip_name(std::span<const std::uint8_t> message, std::size_t& offset) {
  return read_name(message, offset, nullptr);
}

// Writes `name` (a folded or case-preserving uncompressed wire name) as dotted text
// into `out` for logs and tests; returns the length written, truncated to fit.
std::size_t name_to_text(std::span<const std::uint8_t> name_wire, std::span<char> out);

// Encodes dotted text ("www.example.com" or "www.example.com.") into uncompressed
// wire form without folding; returns bytes written, or 0 when the text is not a
// valid name or does not fit. Control-thread helper, not for the packet path.
[[nodiscard]] std::size_t name_from_text(const char* text, std::span<std::uint8_t> out);

}  // namespace heimdall::dns
