#include "heimdall/dns/presentation.hpp"

#include <algorithm>
#include <charconv>

namespace heimdall::dns {
namespace {

struct Mnemonic {
  std::uint16_t value;
  std::string_view text;
};

// The IANA "Resource Record (RR) TYPEs" registry, in numeric order (looked up by
// binary search). Obsolete and experimental types keep their names: a cache may
// hold anything a client asked for.
constexpr Mnemonic kTypes[] = {
    {1, "A"},           {2, "NS"},         {3, "MD"},        {4, "MF"},       {5, "CNAME"},
    {6, "SOA"},         {7, "MB"},         {8, "MG"},        {9, "MR"},       {10, "NULL"},
    {11, "WKS"},        {12, "PTR"},       {13, "HINFO"},    {14, "MINFO"},   {15, "MX"},
    {16, "TXT"},        {17, "RP"},        {18, "AFSDB"},    {19, "X25"},     {20, "ISDN"},
    {21, "RT"},         {22, "NSAP"},      {23, "NSAP-PTR"}, {24, "SIG"},     {25, "KEY"},
    {26, "PX"},         {27, "GPOS"},      {28, "AAAA"},     {29, "LOC"},     {30, "NXT"},
    {31, "EID"},        {32, "NIMLOC"},    {33, "SRV"},      {34, "ATMA"},    {35, "NAPTR"},
    {36, "KX"},         {37, "CERT"},      {38, "A6"},       {39, "DNAME"},   {40, "SINK"},
    {41, "OPT"},        {42, "APL"},       {43, "DS"},       {44, "SSHFP"},   {45, "IPSECKEY"},
    {46, "RRSIG"},      {47, "NSEC"},      {48, "DNSKEY"},   {49, "DHCID"},   {50, "NSEC3"},
    {51, "NSEC3PARAM"}, {52, "TLSA"},      {53, "SMIMEA"},   {55, "HIP"},     {56, "NINFO"},
    {57, "RKEY"},       {58, "TALINK"},    {59, "CDS"},      {60, "CDNSKEY"}, {61, "OPENPGPKEY"},
    {62, "CSYNC"},      {63, "ZONEMD"},    {64, "SVCB"},     {65, "HTTPS"},   {99, "SPF"},
    {100, "UINFO"},     {101, "UID"},      {102, "GID"},     {103, "UNSPEC"}, {104, "NID"},
    {105, "L32"},       {106, "L64"},      {107, "LP"},      {108, "EUI48"},  {109, "EUI64"},
    {249, "TKEY"},      {250, "TSIG"},     {251, "IXFR"},    {252, "AXFR"},   {253, "MAILB"},
    {254, "MAILA"},     {255, "ANY"},      {256, "URI"},     {257, "CAA"},    {258, "AVC"},
    {259, "DOA"},       {260, "AMTRELAY"}, {32768, "TA"},    {32769, "DLV"},
};

// RFC 1035 §3.2.4 and RFC 2136 §1.3 (NONE); QCLASS * is written ANY.
constexpr Mnemonic kClasses[] = {
    {1, "IN"}, {3, "CH"}, {4, "HS"}, {254, "NONE"}, {255, "ANY"},
};

constexpr bool sorted(std::span<const Mnemonic> table) {
  for (std::size_t i = 1; i < table.size(); ++i) {
    if (table[i - 1].value >= table[i].value) return false;
  }
  return true;
}
static_assert(sorted(kTypes) && sorted(kClasses));

std::string_view find(std::span<const Mnemonic> table, std::uint16_t value) {
  const auto found = std::lower_bound(
      table.begin(), table.end(), value,
      [](const Mnemonic& mnemonic, std::uint16_t wanted) { return mnemonic.value < wanted; });
  return found != table.end() && found->value == value ? found->text : std::string_view();
}

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c | 0x20) : c; };
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [&](char x, char y) { return lower(x) == lower(y); });
}

// The mnemonic or `generic` followed by the number, NUL-terminated.
std::size_t write(std::span<const Mnemonic> table, std::string_view generic, std::uint16_t value,
                  std::span<char> out) {
  if (out.empty()) return 0;
  char text[kMaxTypeText];
  std::string_view result = find(table, value);
  if (result.empty()) {
    generic.copy(text, generic.size());
    const auto end = std::to_chars(text + generic.size(), text + sizeof text, value).ptr;
    result = std::string_view(text, static_cast<std::size_t>(end - text));
  }
  const std::size_t length = std::min(result.size(), out.size() - 1);
  result.copy(out.data(), length);
  out[length] = '\0';
  return length;
}

std::optional<std::uint16_t> read(std::span<const Mnemonic> table, std::string_view generic,
                                  std::string_view text) {
  for (const Mnemonic& mnemonic : table) {
    if (equal_ignoring_case(mnemonic.text, text)) return mnemonic.value;
  }
  if (text.size() <= generic.size() ||
      !equal_ignoring_case(text.substr(0, generic.size()), generic)) {
    return std::nullopt;
  }
  const std::string_view digits = text.substr(generic.size());
  // Digits only: from_chars would also take a sign, and "TYPE" with nothing after.
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  std::uint16_t value = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (error != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return value;
}

// Characters a master file gives a meaning to (RFC 1035 §5.1: "." between labels,
// "\" escapes, ";" comments, "()" groups lines, '"' quotes, "@" the origin, "$" a
// directive): inside a label they are written \X.
bool special(std::uint8_t octet) {
  switch (octet) {
    case '.':
    case '\\':
    case ';':
    case '(':
    case ')':
    case '"':
    case '@':
    case '$':
      return true;
    default:
      return false;
  }
}

}  // namespace

std::size_t name_to_presentation(std::span<const std::uint8_t> name_wire, std::span<char> out) {
  if (out.empty()) return 0;
  std::size_t written = 0;
  bool full = false;  // once something did not fit, nothing more is written
  const auto put = [&](std::string_view text) {
    if (full || written + text.size() >= out.size()) {
      full = true;  // a partial escape would mislead
      return;
    }
    text.copy(out.data() + written, text.size());
    written += text.size();
  };
  std::size_t position = 0;
  bool any_label = false;
  while (position < name_wire.size() && name_wire[position] != 0 && !full) {
    const std::uint8_t length = name_wire[position];
    for (std::uint8_t i = 0; i < length && position + 1 + i < name_wire.size(); ++i) {
      const std::uint8_t octet = name_wire[position + 1 + i];
      if (octet <= 0x20 || octet >= 0x7f) {
        const char escaped[4] = {'\\', static_cast<char>('0' + octet / 100),
                                 static_cast<char>('0' + octet / 10 % 10),
                                 static_cast<char>('0' + octet % 10)};
        put({escaped, sizeof escaped});
      } else if (special(octet)) {
        const char escaped[2] = {'\\', static_cast<char>(octet)};
        put({escaped, sizeof escaped});
      } else {
        const char plain = static_cast<char>(octet);
        put({&plain, 1});
      }
    }
    put(".");
    any_label = true;
    position += 1u + length;
  }
  if (!any_label) put(".");
  out[written] = '\0';
  return written;
}

std::string name_to_presentation(std::span<const std::uint8_t> name_wire) {
  char text[kMaxNameText];
  return std::string(text, name_to_presentation(name_wire, text));
}

std::string_view type_mnemonic(std::uint16_t type) { return find(kTypes, type); }
std::string_view class_mnemonic(std::uint16_t rrclass) { return find(kClasses, rrclass); }

std::size_t type_to_presentation(std::uint16_t type, std::span<char> out) {
  return write(kTypes, "TYPE", type, out);
}
std::size_t class_to_presentation(std::uint16_t rrclass, std::span<char> out) {
  return write(kClasses, "CLASS", rrclass, out);
}

std::string type_to_presentation(std::uint16_t type) {
  char text[kMaxTypeText];
  return std::string(text, type_to_presentation(type, text));
}
std::string class_to_presentation(std::uint16_t rrclass) {
  char text[kMaxTypeText];
  return std::string(text, class_to_presentation(rrclass, text));
}

std::optional<std::uint16_t> type_from_presentation(std::string_view text) {
  return read(kTypes, "TYPE", text);
}
std::optional<std::uint16_t> class_from_presentation(std::string_view text) {
  return read(kClasses, "CLASS", text);
}

}  // namespace heimdall::dns
