#include "heimdall/dns/case_randomisation.hpp"

#include "heimdall/dns/name.hpp"

namespace heimdall::dns {
namespace {

bool is_letter(std::uint8_t byte) {
  const std::uint8_t lower = fold(byte);
  return lower >= 'a' && lower <= 'z';
}

// SplitMix64: expands the seed into one bit per byte of the name (up to 255).
std::uint64_t mix(std::uint64_t x) {
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::uint64_t case_word(std::uint64_t seed, std::size_t index) {
  return mix(seed + 0x9e3779b97f4a7c15ULL * (index + 1));
}

std::uint8_t with_case(std::uint8_t lower, std::uint64_t word, std::size_t position) {
  const bool upper = ((word >> (position % 64)) & 1) != 0;
  return upper ? static_cast<std::uint8_t>(lower & ~0x20) : lower;
}

}  // namespace

void randomise_case(std::span<std::uint8_t> name, std::uint64_t seed) {
  std::uint64_t word = 0;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (i % 64 == 0) word = case_word(seed, i / 64);
    if (is_letter(name[i])) name[i] = with_case(fold(name[i]), word, i);
  }
}

bool echoes_case(std::span<const std::uint8_t> echoed, std::span<const std::uint8_t> folded,
                 std::uint64_t seed) {
  if (echoed.size() < folded.size()) return false;
  std::uint64_t word = 0;
  for (std::size_t i = 0; i < folded.size(); ++i) {
    if (i % 64 == 0) word = case_word(seed, i / 64);
    const std::uint8_t expected = is_letter(folded[i]) ? with_case(folded[i], word, i) : folded[i];
    if (echoed[i] != expected) return false;
  }
  return true;
}

unsigned letter_count(std::span<const std::uint8_t> name) {
  unsigned letters = 0;
  for (const std::uint8_t byte : name) letters += is_letter(byte) ? 1 : 0;
  return letters;
}

}  // namespace heimdall::dns
