// DNS 0x20 (draft-vixie-dnsext-dns0x20): the letters of an upstream query's name
// are sent in a random mix of cases, and an answer counts only if its question
// echoes that mix exactly. Each letter adds one bit an off-path forger must guess
// on top of RFC 5452's query ID and source port. The case pattern comes from a
// 64-bit seed the engine draws from the kernel's CSPRNG, so a pending query
// stores 8 bytes rather than the name it sent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace heimdall::dns {

// Sets the case of every ASCII letter of the uncompressed wire name `name` from
// `seed` (one bit per byte position). Length bytes are at most 63, below 'A', so
// they are never touched.
void randomise_case(std::span<std::uint8_t> name, std::uint64_t seed);

// Whether `echoed` (the first name.size() bytes of an answer's question) is
// `folded` (the query's name, lower case) with exactly the case `seed` gave it.
bool echoes_case(std::span<const std::uint8_t> echoed, std::span<const std::uint8_t> folded,
                 std::uint64_t seed);

// The letters of a wire name: the bits 0x20 adds for it.
unsigned letter_count(std::span<const std::uint8_t> name);

}  // namespace heimdall::dns
