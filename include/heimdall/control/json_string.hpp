// The inside of a JSON string (RFC 8259 §7): quotes, backslashes and control
// characters escaped as \" \\ \u00XX. Shared by the query log and the process
// log's JSON format. Header-only so that either output buffer serves (a
// std::string, spdlog's memory buffer): anything with push_back(char) and
// append(const char*, const char*).
#pragma once

#include <string_view>

namespace heimdall::control {

// What becomes of bytes from 0x7f up: kept (UTF-8 text, as logged), or escaped
// too, where a byte may be anything (a DNS name) and the output must stay ASCII.
enum class HighBytes : bool { Keep, Escape };

template <typename Out>
void append_json_escaped(Out& out, std::string_view text, HighBytes high) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (byte < 0x20 || (high == HighBytes::Escape && byte >= 0x7f)) {
      const char escaped[] = {'\\', 'u', '0', '0', kHex[byte >> 4], kHex[byte & 15]};
      out.append(escaped, escaped + sizeof(escaped));
    } else {
      out.push_back(c);
    }
  }
}

}  // namespace heimdall::control
