#include <gtest/gtest.h>

#include <vector>

#include "heimdall/dns/case_randomisation.hpp"
#include "heimdall/dns/name.hpp"

namespace heimdall::dns {
namespace {

std::vector<std::uint8_t> wire_of(const char* text) {
  std::uint8_t wire[256];
  const std::size_t length = name_from_text(text, wire);
  return {wire, wire + length};
}

std::vector<std::uint8_t> folded(std::vector<std::uint8_t> name) {
  for (auto& byte : name) byte = fold(byte);
  return name;
}

TEST(CaseRandomisation, ChangesOnlyTheCaseOfLetters) {
  const auto original = wire_of("www.x-1.Example.COM");
  auto name = original;
  randomise_case(name, 0x1234567890abcdefULL);
  ASSERT_EQ(name.size(), original.size());
  EXPECT_EQ(folded(name), folded(original));
  for (std::size_t i = 0; i < name.size(); ++i) {
    const bool letter = fold(original[i]) >= 'a' && fold(original[i]) <= 'z';
    if (!letter) {
      EXPECT_EQ(name[i], original[i]) << "byte " << i << ": lengths, digits, hyphens";
    }
  }
}

TEST(CaseRandomisation, EveryLetterIsAFairCoin) {
  // 64 letters x 2000 seeds: each position upper case about half the time, and
  // seeds that differ give different patterns (one bit of guessing per letter).
  const auto name = wire_of((std::string(60, 'a') + ".bcd").c_str());
  std::vector<unsigned> upper(name.size(), 0);
  std::vector<std::vector<std::uint8_t>> seen;
  for (std::uint64_t seed = 1; seed <= 2000; ++seed) {
    auto copy = name;
    randomise_case(copy, seed * 0x9e3779b97f4a7c15ULL);
    for (std::size_t i = 0; i < copy.size(); ++i) upper[i] += (copy[i] >= 'A' && copy[i] <= 'Z');
    if (seed <= 50) seen.push_back(copy);
  }
  EXPECT_EQ(letter_count(name), 63u);
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (letter_count({&name[i], 1}) == 0) continue;
    EXPECT_GT(upper[i], 850u) << "position " << i;
    EXPECT_LT(upper[i], 1150u) << "position " << i;
  }
  for (std::size_t a = 0; a < seen.size(); ++a) {
    for (std::size_t b = a + 1; b < seen.size(); ++b) EXPECT_NE(seen[a], seen[b]);
  }
}

TEST(CaseRandomisation, EchoAcceptsOnlyTheExactCase) {
  const auto name = wire_of("a-long-name.with-many-letters.example");
  const std::uint64_t seed = 42;
  auto sent = name;
  randomise_case(sent, seed);
  const auto lower = folded(name);
  EXPECT_TRUE(echoes_case(sent, lower, seed));
  for (std::size_t i = 0; i < sent.size(); ++i) {
    if (letter_count({&sent[i], 1}) == 0) continue;
    auto flipped = sent;
    flipped[i] ^= 0x20;
    EXPECT_FALSE(echoes_case(flipped, lower, seed)) << "letter " << i << " in the other case";
  }
  EXPECT_FALSE(echoes_case(lower, lower, seed)) << "a server that lowers the question";
  EXPECT_FALSE(echoes_case(sent, lower, seed + 1)) << "another query's pattern";
  EXPECT_FALSE(echoes_case(std::span(sent).first(sent.size() - 1), lower, seed)) << "short";
}

TEST(CaseRandomisation, LongestNameUsesEveryPosition) {
  const std::string text = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                           std::string(63, 'c') + "." + std::string(61, 'd');
  auto name = wire_of(text.c_str());
  ASSERT_EQ(name.size(), 255u);
  const auto lower = folded(name);
  randomise_case(name, 7);
  EXPECT_TRUE(echoes_case(name, lower, 7));
  unsigned upper_in_last_label = 0;
  for (std::size_t i = 194; i < 254; ++i) upper_in_last_label += name[i] == 'D';
  EXPECT_GT(upper_in_last_label, 10u) << "bits past the third 64-bit word are used";
}

}  // namespace
}  // namespace heimdall::dns
