#include "heimdall/dns/question_key.hpp"

namespace heimdall::dns {

QuestionKey QuestionKey::of(const Message& query) {
  QuestionKey key;
  key.name = query.question.name;
  key.qtype = query.question.qtype;
  key.qclass = query.question.qclass;
  if (query.header.has(flag::RD)) key.flags |= kRd;
  if (query.header.has(flag::CD)) key.flags |= kCd;
  if (query.edns.present && query.edns.dnssec_ok) key.flags |= kDo;
  return key;
}

std::uint64_t QuestionKey::hash() const {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  auto mix = [&h](std::uint8_t byte) {
    h ^= byte;
    h *= 0x100000001b3ULL;
  };
  for (std::uint8_t i = 0; i < name.length; ++i) mix(name.wire[i]);
  mix(static_cast<std::uint8_t>(qtype >> 8));
  mix(static_cast<std::uint8_t>(qtype));
  mix(static_cast<std::uint8_t>(qclass));
  mix(flags);
  return h;
}

}  // namespace heimdall::dns
