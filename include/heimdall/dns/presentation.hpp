// Names, types and classes as people read them: RFC 1035 §5.1 presentation format
// ("www.example.com.", "A", "IN"), with RFC 3597 §5's generic TYPEnnn / CLASSnnn
// for the numbers that have no mnemonic. For the operator's outputs (cache dump,
// query log, explain), never for the packet path's comparisons, which stay on wire
// form. The writers into a caller's buffer do not allocate.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "heimdall/dns/wire.hpp"

namespace heimdall::dns {

// Buffer sizes, terminating NUL included: a name whose every octet needs \DDD (254
// label octets at 4 characters, and the dots), and "CLASS65535".
inline constexpr std::size_t kMaxNameText = 4 * kMaxNameWire + 8;
inline constexpr std::size_t kMaxTypeText = 16;

// Writes the uncompressed wire name `name_wire` in presentation form into `out`,
// NUL-terminated: labels joined by dots, a final dot, "." for the root. Within a
// label "." and the master-file specials `"();@$\` are escaped as \X, and octets
// outside printable ASCII (space included) as \DDD in decimal (RFC 1035 §5.1,
// as BIND and Knot print them). Letter case is kept. A name that runs past its
// buffer ends where the buffer does. Returns the length written, truncated to fit.
[[nodiscard]] std::size_t name_to_presentation(std::span<const std::uint8_t> name_wire,
                                               std::span<char> out);
std::string name_to_presentation(std::span<const std::uint8_t> name_wire);

// "A", "AAAA", "HTTPS"… for the IANA-registered types; empty when there is none.
std::string_view type_mnemonic(std::uint16_t type);
// "IN", "CH", "HS", "NONE", "ANY"; empty for the others.
std::string_view class_mnemonic(std::uint16_t rrclass);

// The mnemonic, or "TYPE12345" / "CLASS42". `out` should hold kMaxTypeText; the
// length written (truncated to fit) is returned.
[[nodiscard]] std::size_t type_to_presentation(std::uint16_t type, std::span<char> out);
[[nodiscard]] std::size_t class_to_presentation(std::uint16_t rrclass, std::span<char> out);
std::string type_to_presentation(std::uint16_t type);
std::string class_to_presentation(std::uint16_t rrclass);

// The reverse, case-insensitive: a mnemonic or the generic form (decimal, at most
// 65535); nothing for anything else.
[[nodiscard]] std::optional<std::uint16_t> type_from_presentation(std::string_view text);
[[nodiscard]] std::optional<std::uint16_t> class_from_presentation(std::string_view text);

}  // namespace heimdall::dns
