// One resource record in zone-file (presentation) syntax, RFC 1035 §5.1, into
// wire form: what the operator writes in `local_records` and what RPZ zones carry
// as local data. Control-thread code (it allocates); the filter keeps the result.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "heimdall/dns/build.hpp"

namespace heimdall::dns {

// SRV is answered from local data only; it has no use elsewhere in Heimdall.
inline constexpr std::uint16_t kTypeSrv = 33;
// Rdata longer than this is refused: larger records than a 4096-bit DKIM key have
// no place in a forwarder's own answers.
inline constexpr std::size_t kMaxRdata = 2048;

// One record in wire form, parsed from presentation format.
struct RecordLine {
  std::uint8_t owner[kMaxNameWire] = {};  // uncompressed, letter case as written
  std::uint8_t owner_length = 0;
  std::uint16_t type = 0;
  std::uint16_t rrclass = rrclass::IN;
  std::uint32_t ttl = 0;
  std::uint8_t rdata[kMaxRdata] = {};  // names in it uncompressed, as written
  std::uint16_t rdata_length = 0;

  std::span<const std::uint8_t> owner_wire() const { return {owner, owner_length}; }
  std::span<const std::uint8_t> rdata_wire() const { return {rdata, rdata_length}; }
};

// A zone-file name into uncompressed wire form: with a trailing dot it is absolute,
// `@` is the origin, anything else is relative to `origin` (dotted text, trailing
// dot optional; empty means the root, so every name is absolute). Escapes (`\.`)
// are not supported. Returns the wire length, 0 when the name is invalid.
[[nodiscard]] std::size_t zone_name(std::string_view text, std::string_view origin,
                                    std::span<std::uint8_t> out);

// A zone-file TTL: seconds, or BIND's units ("1h30m", "2d", "1w"); at most
// 2^31-1 (RFC 2181 §8).
[[nodiscard]] bool parse_ttl(std::string_view text, std::uint32_t& out);

// Parses one record in zone-file syntax, "router.lan. 300 IN A 192.168.1.1":
// - the owner is the first token (a line with a blank owner is the zone reader's
//   business); TTL and class are optional, in either order; class IN only;
//   TTLs as parse_ttl() reads them; a missing TTL is `default_ttl`;
// - names (owner and rdata) are completed with `origin` as zone_name() does;
// - types: A, AAAA, CNAME, PTR, MX, SRV, TXT (one or more strings, quoted or not,
//   with \X and \DDD escapes), and NS and SOA for the apex of RPZ zones;
// - `(` `)` are ignored and `;` starts a comment, so a record a zone reader joined
//   from several lines parses as one.
// Returns false with a message such as "unknown type 'FOO'" or "bad IPv4 address
// '1.2.3'" in `error`.
[[nodiscard]] bool parse_record(std::string_view line, std::string_view origin,
                                std::uint32_t default_ttl, RecordLine& out, std::string& error);

}  // namespace heimdall::dns
