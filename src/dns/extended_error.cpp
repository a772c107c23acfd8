#include "heimdall/dns/extended_error.hpp"

#include <algorithm>
#include <cstring>

#include "heimdall/dns/build.hpp"
#include "heimdall/dns/wire.hpp"

namespace heimdall::dns {
namespace {

constexpr std::size_t kOptionHeader = 4;  // OPTION-CODE, OPTION-LENGTH
constexpr std::size_t kInfoCode = 2;

}  // namespace

std::size_t add_extended_error(std::span<std::uint8_t> message, std::size_t length,
                               std::size_t limit, const ExtendedError& error) {
  limit = std::min(limit, message.size());
  if (error.code == ede::kNone || length < kHeaderSize + kOptRecordSize || length > limit) {
    return length;
  }
  std::uint8_t* opt = message.data() + length - kOptRecordSize;
  const bool ends_in_bare_opt =
      opt[0] == 0 && load_u16(opt + 1) == rrtype::OPT && load_u16(opt + 9) == 0;
  const std::size_t room = limit - length;
  if (!ends_in_bare_opt || room < kOptionHeader + kInfoCode) return length;
  const std::size_t text = std::min(error.text.size(), room - kOptionHeader - kInfoCode);
  const std::size_t option_length = kInfoCode + text;
  std::uint8_t* option = message.data() + length;
  store_u16(option, kEdeOptionCode);
  store_u16(option + 2, static_cast<std::uint16_t>(option_length));
  store_u16(option + 4, error.code);
  if (text != 0) std::memcpy(option + kOptionHeader + kInfoCode, error.text.data(), text);
  store_u16(opt + 9, static_cast<std::uint16_t>(kOptionHeader + option_length));
  return length + kOptionHeader + option_length;
}

}  // namespace heimdall::dns
