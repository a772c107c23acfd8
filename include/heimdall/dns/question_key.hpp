// What makes two queries the same question for coalescing and for the cache:
// the folded name, type, class, and the flags that change the answer
// (docs/architecture.md §8.1: RD, CD and DO).
#pragma once

#include <cstdint>

#include "heimdall/dns/message.hpp"
#include "heimdall/dns/name.hpp"

namespace heimdall::dns {

struct QuestionKey {
  NameKey name;
  std::uint16_t qtype = 0;
  std::uint16_t qclass = 0;
  std::uint8_t flags = 0;  // kRd | kCd | kDo

  static constexpr std::uint8_t kRd = 1, kCd = 2, kDo = 4;

  // The key of a parsed query (which must have its question).
  static QuestionKey of(const Message& query);

  bool operator==(const QuestionKey& other) const {
    return qtype == other.qtype && qclass == other.qclass && flags == other.flags &&
           name == other.name;
  }
  // FNV-1a: for table spread only; every hit is confirmed by operator==.
  std::uint64_t hash() const;
};

}  // namespace heimdall::dns
