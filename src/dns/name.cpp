#include "heimdall/dns/name.hpp"

#include <algorithm>
#include <string_view>

namespace heimdall::dns {
namespace {

constexpr std::uint8_t kPointerMask = 0xc0;
// A legal name has at most 127 labels, so a walk that follows more pointers than
// that is looping, whatever the pointers' direction.
constexpr int kMaxPointerHops = 127;

}  // namespace

const char* to_string(ParseError error) {
  switch (error) {
    case ParseError::Ok:
      return "ok";
    case ParseError::Truncated:
      return "message truncated";
    case ParseError::LabelTooLong:
      return "label longer than 63 octets";
    case ParseError::NameTooLong:
      return "name longer than 255 octets";
    case ParseError::BadPointer:
      return "compression pointer not pointing backwards";
    case ParseError::PointerLoop:
      return "compression pointer loop";
    case ParseError::BadLabelType:
      return "reserved label type";
    case ParseError::BadQuestionCount:
      return "question count other than one";
    case ParseError::OptNotInAdditional:
      return "OPT record outside the additional section";
    case ParseError::DuplicateOpt:
      return "more than one OPT record";
    case ParseError::BadOpt:
      return "malformed OPT record";
    case ParseError::TrailingData:
      return "data after the last record";
  }
  return "unknown error";
}

ParseError read_name(std::span<const std::uint8_t> message, std::size_t& offset, NameKey* key) {
  std::size_t position = offset;
  std::size_t end_in_place = 0;        // where the name ends in place: set at the first pointer
  std::size_t lowest_target = offset;  // every pointer must go below the previous one
  // After a jump, everything read must lie before the pointer that jumped: a
  // pointer refers to a complete earlier name, never to one that runs on over the
  // pointer into later records (which a reply may drop, see dns::build_reply).
  std::size_t limit = message.size();
  std::size_t wire_length = 0;
  std::uint8_t labels = 0;
  int hops = 0;

  for (;;) {
    if (position >= limit)
      return limit == message.size() ? ParseError::Truncated : ParseError::BadPointer;
    const std::uint8_t length = message[position];
    const std::uint8_t type = length & kPointerMask;
    if (type == kPointerMask) {
      if (position + 1 >= message.size()) return ParseError::Truncated;
      const std::size_t target = ((length & 0x3fu) << 8) | message[position + 1];
      if (end_in_place == 0) end_in_place = position + 2;
      // RFC 1035 §4.1.4: a pointer refers to a prior occurrence, which is never
      // inside the header. Strictly decreasing targets also make a loop impossible.
      if (target >= lowest_target || target < kHeaderSize) return ParseError::BadPointer;
      if (++hops > kMaxPointerHops) return ParseError::PointerLoop;
      lowest_target = target;
      limit = position;
      position = target;
      continue;
    }
    if (type != 0) return ParseError::BadLabelType;
    if (length > kMaxLabel) return ParseError::LabelTooLong;
    if (position + 1 + length > limit) {
      return limit == message.size() ? ParseError::Truncated : ParseError::BadPointer;
    }
    wire_length += 1u + length;
    if (wire_length > kMaxNameWire) return ParseError::NameTooLong;
    if (key != nullptr) {
      key->wire[wire_length - 1 - length] = length;
      for (std::uint8_t i = 0; i < length; ++i) {
        key->wire[wire_length - length + i] = fold(message[position + 1 + i]);
      }
    }
    if (length == 0) break;
    ++labels;
    position += 1u + length;
  }
  if (key != nullptr) {
    key->length = static_cast<std::uint8_t>(wire_length);
    key->label_count = labels;
  }
  offset = end_in_place != 0 ? end_in_place : position + 1;
  return ParseError::Ok;
}

std::size_t name_to_text(std::span<const std::uint8_t> name_wire, std::span<char> out) {
  if (out.empty()) return 0;
  std::size_t written = 0;
  auto put = [&](char c) {
    if (written + 1 < out.size()) out[written++] = c;
  };
  std::size_t position = 0;
  while (position < name_wire.size() && name_wire[position] != 0) {
    const std::uint8_t length = name_wire[position];
    for (std::uint8_t i = 0; i < length && position + 1 + i < name_wire.size(); ++i) {
      put(static_cast<char>(name_wire[position + 1 + i]));
    }
    put('.');
    position += 1u + length;
  }
  if (written == 0) put('.');
  out[written] = '\0';
  return written;
}

std::size_t name_from_text(const char* text, std::span<std::uint8_t> out) {
  std::string_view rest(text);
  if (rest == ".") {
    if (out.empty()) return 0;
    out[0] = 0;
    return 1;
  }
  if (!rest.empty() && rest.back() == '.') rest.remove_suffix(1);
  if (rest.empty()) return 0;
  const std::size_t limit = std::min(out.size(), kMaxNameWire);
  std::size_t written = 0;
  for (;;) {
    const std::size_t dot = rest.find('.');
    const std::string_view label = rest.substr(0, dot);
    if (label.empty() || label.size() > kMaxLabel) return 0;
    if (written + 1 + label.size() + 1 > limit) return 0;  // keep room for the root byte
    out[written++] = static_cast<std::uint8_t>(label.size());
    std::memcpy(out.data() + written, label.data(), label.size());
    written += label.size();
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
  }
  out[written++] = 0;
  return written;
}

}  // namespace heimdall::dns
