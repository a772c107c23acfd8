// Reading blocklists and allowlists into a TrieBuilder: hosts files, plain domain
// lists, adblock basic syntax, wildcard lists and dnsmasq `address=/name/` files,
// detected or declared per list;
// regex rules (adblock `/…/`, Pi-hole style regex lists) go to a RegexSetBuilder.
// Control-thread code. A malformed line is skipped and counted, with the first
// few line numbers kept for the log; it never stops the rest of the list.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "heimdall/filter/domain_trie.hpp"
#include "heimdall/filter/regex_set.hpp"

namespace heimdall::filter {

// Regex: every line that is not empty or a `#` comment is one regex (Pi-hole style);
// a whitespace-led ` #` ends the line's regex, and Pi-hole's own `;querytype=`,
// `;invert` and `;reply=` extensions are rejected, not half-applied. Detection picks
// Regex only when it cannot be another format: every examined line carries a regex
// mark (a leading `^` or `(`, or a backslash) that no name in the other formats can
// hold, and none looks like a rule of another format. Otherwise declare it.
enum class ListFormat : std::uint8_t { Auto, Hosts, Domains, Adblock, Wildcard, Regex, Dnsmasq };

const char* to_string(ListFormat format);

struct ListOptions {
  ListFormat format = ListFormat::Auto;
  Action action = Action::Block;  // the list's own action; adblock `@@` lines allow regardless
  // Overrides each format's natural scope for plain entries (`match: exact|subtree`):
  // hosts and domain lists are exact, adblock `||name^` is subtree, `*.name` is below.
  std::optional<Scope> match = std::nullopt;
  std::uint16_t list = 0;
  // Where regex rules go (adblock `/…/` and `@@/…/`, Regex lists). Null: regex lines
  // are rejected as unsupported.
  RegexSetBuilder* regexes = nullptr;
};

struct ListReport {
  ListFormat format = ListFormat::Auto;  // the format used: declared, or detected
  std::size_t lines = 0;
  std::size_t rules = 0;            // trie rules (TrieBuilder)
  std::size_t regex_rules = 0;      // regex rules accepted (RegexSetBuilder)
  std::size_t rejected = 0;         // malformed or unsupported lines, bad regexes included
  std::size_t options_ignored = 0;  // adblock rules whose `$options` were dropped
  std::size_t skipped = 0;          // hosts-file entries such as localhost, never rules
  static constexpr std::size_t kExamples = 5;
  std::size_t first_rejected[kExamples] = {};  // 1-based line numbers
  std::string first_regex_error;  // "line N: <Hyperscan's message>" of the first bad regex
};

// A list's text without the UTF-8 byte order mark some editors write first; every
// list format, RPZ zones included, is read from what follows it.
inline std::string_view without_bom(std::string_view text) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  return text;
}

// Guesses the format from the first lines that are not comments.
ListFormat detect_format(std::string_view text);

ListReport parse_list(std::string_view text, const ListOptions& options, TrieBuilder& builder);

}  // namespace heimdall::filter
