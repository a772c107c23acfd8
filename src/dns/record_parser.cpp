// Records in zone-file (presentation) syntax, RFC 1035 §5.1, into wire form
// (record_parser.hpp). Used for the operator's `local_records` and the local data
// of RPZ zones; a line at a time, so a zone reader joins continued lines first.
#include "heimdall/dns/record_parser.hpp"

#include <arpa/inet.h>
#include <strings.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <vector>

namespace heimdall::dns {
namespace {

constexpr std::uint32_t kMaxTtl = 0x7fffffff;  // RFC 2181 §8

struct Token {
  std::string_view text;  // without the quotes of a quoted string, escapes still in
  bool quoted = false;
};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool equals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string quote(std::string_view text) { return "'" + std::string(text) + "'"; }

// Whitespace separates tokens; `(` and `)` only let a record run over lines, and
// `;` starts a comment, both outside quoted strings.
bool tokenize(std::string_view line, std::vector<Token>& tokens, std::string& error) {
  std::size_t i = 0;
  while (i < line.size()) {
    const char c = line[i];
    if (is_space(c) || c == '(' || c == ')') {
      ++i;
    } else if (c == ';') {
      break;
    } else if (c == '"') {
      const std::size_t start = ++i;
      while (i < line.size() && line[i] != '"') i += line[i] == '\\' ? 2 : 1;
      if (i >= line.size()) {
        error = "unterminated quoted string";
        return false;
      }
      tokens.push_back({line.substr(start, i - start), true});
      ++i;
    } else {
      const std::size_t start = i;
      while (i < line.size() && !is_space(line[i]) && line[i] != '(' && line[i] != ')' &&
             line[i] != ';' && line[i] != '"') {
        i += line[i] == '\\' ? 2 : 1;
      }
      i = std::min(i, line.size());
      tokens.push_back({line.substr(start, i - start), false});
    }
  }
  return true;
}

std::uint64_t unit_seconds(char unit) {
  switch (unit | 0x20) {
    case 's':
      return 1;
    case 'm':
      return 60;
    case 'h':
      return 3600;
    case 'd':
      return 86400;
    case 'w':
      return 604800;
    default:
      return 0;
  }
}

template <typename Number>
bool parse_number(std::string_view text, Number& out) {
  const auto [end, code] = std::from_chars(text.data(), text.data() + text.size(), out);
  return code == std::errc() && end == text.data() + text.size();
}

bool is_class(std::string_view token) {
  for (const char* name : {"IN", "CH", "CS", "HS", "ANY", "NONE"}) {
    if (equals(token, name)) return true;
  }
  return token.size() > 5 && equals(token.substr(0, 5), "CLASS");
}

struct TypeName {
  const char* name;
  std::uint16_t type;
};
constexpr TypeName kTypes[] = {
    {"A", dns::rrtype::A},     {"AAAA", dns::rrtype::AAAA}, {"CNAME", dns::rrtype::CNAME},
    {"PTR", dns::rrtype::PTR}, {"MX", dns::rrtype::MX},     {"SRV", kTypeSrv},
    {"TXT", dns::rrtype::TXT}, {"NS", dns::rrtype::NS},     {"SOA", dns::rrtype::SOA}};

// Appends rdata to a RecordLine, refusing to grow past kMaxRdata.
class Rdata {
 public:
  explicit Rdata(RecordLine& record) : record_(record) { record_.rdata_length = 0; }

  bool put(const void* bytes, std::size_t size) {
    if (size > kMaxRdata - record_.rdata_length) return false;
    std::memcpy(record_.rdata + record_.rdata_length, bytes, size);
    record_.rdata_length = static_cast<std::uint16_t>(record_.rdata_length + size);
    return true;
  }
  bool put16(std::uint16_t value) {
    std::uint8_t bytes[2];
    dns::store_u16(bytes, value);
    return put(bytes, 2);
  }
  bool put32(std::uint32_t value) {
    std::uint8_t bytes[4];
    dns::store_u32(bytes, value);
    return put(bytes, 4);
  }

 private:
  RecordLine& record_;
};

// Reads the rdata fields of one type from the tokens after the type.
class RdataParser {
 public:
  RdataParser(std::span<const Token> tokens, std::string_view origin, RecordLine& out,
              std::string& error)
      : tokens_(tokens), origin_(origin), rdata_(out), error_(error) {}

  bool parse(std::uint16_t type, std::string_view type_name) {
    bool ok = false;
    switch (type) {
      case dns::rrtype::A:
        ok = address(AF_INET, 4, "IPv4");
        break;
      case dns::rrtype::AAAA:
        ok = address(AF_INET6, 16, "IPv6");
        break;
      case dns::rrtype::CNAME:
      case dns::rrtype::PTR:
      case dns::rrtype::NS:
        ok = name();
        break;
      case dns::rrtype::MX:
        ok = number16("preference") && name();
        break;
      case kTypeSrv:
        ok = number16("priority") && number16("weight") && number16("port") && name();
        break;
      case dns::rrtype::SOA:
        ok = soa();
        break;
      case dns::rrtype::TXT:
        ok = txt();
        break;
    }
    if (!ok) return false;
    if (next_ < tokens_.size())
      return fail("unexpected " + quote(tokens_[next_].text) + " after the " +
                  std::string(type_name) + " data");
    return true;
  }

 private:
  bool fail(std::string message) {
    error_ = std::move(message);
    return false;
  }
  bool too_long() { return fail("rdata longer than " + std::to_string(kMaxRdata) + " bytes"); }

  // The next unquoted token, or an error naming what is missing.
  bool field(const char* what, std::string_view& text) {
    if (next_ >= tokens_.size()) return fail(std::string("missing ") + what);
    if (tokens_[next_].quoted) return fail(std::string("quoted ") + what);
    text = tokens_[next_++].text;
    return true;
  }

  bool address(int family, std::size_t size, const char* label) {
    std::string_view text;
    if (!field("address", text)) return false;
    const std::string copy(text);
    std::uint8_t bytes[16];
    if (inet_pton(family, copy.c_str(), bytes) != 1) {
      return fail(std::string("bad ") + label + " address " + quote(text));
    }
    return rdata_.put(bytes, size) || too_long();
  }

  bool name() {
    std::string_view text;
    if (!field("name", text)) return false;
    std::uint8_t wire[dns::kMaxNameWire];
    const std::size_t length = zone_name(text, origin_, wire);
    if (length == 0) return fail("bad name " + quote(text));
    return rdata_.put(wire, length) || too_long();
  }

  bool number16(const char* what) {
    std::string_view text;
    std::uint16_t value = 0;
    if (!field(what, text)) return false;
    if (!parse_number(text, value)) return fail(std::string("bad ") + what + " " + quote(text));
    return rdata_.put16(value);
  }

  bool number32(const char* what, bool units) {
    std::string_view text;
    std::uint32_t value = 0;
    if (!field(what, text)) return false;
    if (!(units ? parse_ttl(text, value) : parse_number(text, value))) {
      return fail(std::string("bad ") + what + " " + quote(text));
    }
    return rdata_.put32(value);
  }

  bool soa() {
    return name() && name() && number32("serial", false) && number32("refresh", true) &&
           number32("retry", true) && number32("expire", true) && number32("minimum", true);
  }

  bool txt() {
    if (next_ >= tokens_.size()) return fail("missing TXT string");
    for (; next_ < tokens_.size(); ++next_) {
      if (!character_string(tokens_[next_].text)) return false;
    }
    return true;
  }

  // RFC 1035 §5.1: \X is X, \DDD the byte of decimal value DDD.
  bool character_string(std::string_view text) {
    std::uint8_t bytes[256];
    std::size_t length = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
      unsigned value = static_cast<unsigned char>(text[i]);
      if (value == '\\') {
        if (i + 1 >= text.size()) return fail("dangling escape in " + quote(text));
        if (i + 3 < text.size() && std::isdigit(static_cast<unsigned char>(text[i + 1])) &&
            std::isdigit(static_cast<unsigned char>(text[i + 2])) &&
            std::isdigit(static_cast<unsigned char>(text[i + 3]))) {
          value = static_cast<unsigned>((text[i + 1] - '0') * 100 + (text[i + 2] - '0') * 10 +
                                        (text[i + 3] - '0'));
          if (value > 255) return fail("bad escape in " + quote(text));
          i += 3;
        } else {
          value = static_cast<unsigned char>(text[++i]);
        }
      }
      if (length == 255) return fail("TXT string longer than 255 bytes");
      bytes[++length] = static_cast<std::uint8_t>(value);
    }
    bytes[0] = static_cast<std::uint8_t>(length);
    return rdata_.put(bytes, length + 1) || too_long();
  }

  std::span<const Token> tokens_;
  std::string_view origin_;
  Rdata rdata_;
  std::string& error_;
  std::size_t next_ = 0;
};

// The optional TTL and class after the owner, in either order; `next` moves past them.
bool ttl_and_class(std::span<const Token> tokens, std::size_t& next, std::uint32_t& ttl,
                   std::string& error) {
  bool have_ttl = false, have_class = false;
  for (; next < tokens.size() && !tokens[next].quoted; ++next) {
    const std::string_view token = tokens[next].text;
    if (!token.empty() && token[0] >= '0' && token[0] <= '9') {
      if (have_ttl || !parse_ttl(token, ttl)) {
        error = "bad TTL " + quote(token);
        return false;
      }
      have_ttl = true;
    } else if (is_class(token)) {
      if (have_class || !equals(token, "IN")) {
        error = "class " + quote(token) + " not supported (IN only)";
        return false;
      }
      have_class = true;
    } else {
      break;
    }
  }
  return true;
}

}  // namespace

// A bare trailing number counts seconds ("1h30" is 5430), as in BIND.
bool parse_ttl(std::string_view text, std::uint32_t& out) {
  std::uint64_t total = 0, number = 0;
  bool digits = false;
  for (const char c : text) {
    if (c >= '0' && c <= '9') {
      number = number * 10 + static_cast<std::uint64_t>(c - '0');
      digits = true;
      if (number > kMaxTtl) return false;
      continue;
    }
    const std::uint64_t unit = unit_seconds(c);
    if (unit == 0) return false;
    if (!digits) return false;
    total += number * unit;
    number = 0;
    digits = false;
    if (total > kMaxTtl) return false;
  }
  total += number;
  if (text.empty() || total > kMaxTtl) return false;
  out = static_cast<std::uint32_t>(total);
  return true;
}

std::size_t zone_name(std::string_view text, std::string_view origin, std::span<std::uint8_t> out) {
  if (text.empty() || text.find('\\') != std::string_view::npos) return 0;
  if (origin.ends_with('.')) origin.remove_suffix(1);
  std::string full;
  if (text == "@") {
    full = origin.empty() ? "." : std::string(origin);
  } else if (text.ends_with('.') || origin.empty()) {
    full = text;
  } else {
    full = std::string(text) + "." + std::string(origin);
  }
  return dns::name_from_text(full.c_str(), out);
}

bool parse_record(std::string_view line, std::string_view origin, std::uint32_t default_ttl,
                  RecordLine& out, std::string& error) {
  std::vector<Token> tokens;
  if (!tokenize(line, tokens, error)) return false;
  if (tokens.empty()) {
    error = "empty record";
    return false;
  }
  const std::size_t owner_length =
      tokens[0].quoted ? 0 : zone_name(tokens[0].text, origin, out.owner);
  if (owner_length == 0) {
    error = "bad owner name " + quote(tokens[0].text);
    return false;
  }
  out.owner_length = static_cast<std::uint8_t>(owner_length);
  out.rrclass = dns::rrclass::IN;
  out.ttl = default_ttl;
  std::size_t next = 1;
  if (!ttl_and_class(tokens, next, out.ttl, error)) return false;
  if (next >= tokens.size()) {
    error = "missing type";
    return false;
  }
  const std::string_view type_name = tokens[next].text;
  const auto* type = std::find_if(std::begin(kTypes), std::end(kTypes),
                                  [&](const TypeName& t) { return equals(type_name, t.name); });
  if (type == std::end(kTypes) || tokens[next].quoted) {
    error = "unknown type " + quote(type_name);
    return false;
  }
  out.type = type->type;
  return RdataParser(std::span(tokens).subspan(next + 1), origin, out, error)
      .parse(type->type, type->name);
}

}  // namespace heimdall::dns
