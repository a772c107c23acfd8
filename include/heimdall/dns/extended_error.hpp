// Extended DNS Errors (RFC 8914): an option in the OPT of a reply Heimdall builds
// itself (a block, a refusal, a stale answer, a SERVFAIL of its own), saying why.
// Only a client that sent an OPT gets one (RFC 8914 §3: EDNS is required).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace heimdall::dns {

// INFO-CODEs (RFC 8914 §4) Heimdall gives.
namespace ede {
inline constexpr std::uint16_t kNone = 0xffff;  // no option (0 is "Other")
inline constexpr std::uint16_t kStaleAnswer = 3;
inline constexpr std::uint16_t kBlocked = 15;
inline constexpr std::uint16_t kCensored = 16;
inline constexpr std::uint16_t kFiltered = 17;
inline constexpr std::uint16_t kProhibited = 18;
inline constexpr std::uint16_t kNoReachableAuthority = 22;
inline constexpr std::uint16_t kNetworkError = 23;
}  // namespace ede

inline constexpr std::uint16_t kEdeOptionCode = 15;  // the EDNS option (RFC 8914 §2)

struct ExtendedError {
  std::uint16_t code = ede::kNone;
  std::string_view text;  // EXTRA-TEXT, UTF-8, not NUL-terminated; may be empty
};

// Appends `error` to the OPT that ends the `length` bytes of `message` (as every
// builder here writes it: last, with no options), keeping the whole message
// within `limit` bytes. Returns the new length; the old one, unchanged, when the
// message ends in no such OPT (the client sent none), the error is kNone, or it
// would not fit (the option is advice: never worth dropping records for). The
// text is cut to what fits in the limit.
std::size_t add_extended_error(std::span<std::uint8_t> message, std::size_t length,
                               std::size_t limit, const ExtendedError& error);

}  // namespace heimdall::dns
