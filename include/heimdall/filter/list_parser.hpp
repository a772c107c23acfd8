// Reading blocklists and allowlists into a TrieBuilder: hosts files, plain domain
// lists, adblock basic syntax and wildcard lists, detected or declared per list.
// Control-thread code. A malformed line is skipped and counted, with the first
// few line numbers kept for the log; it never stops the rest of the list.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "heimdall/filter/domain_trie.hpp"

namespace heimdall::filter {

enum class ListFormat : std::uint8_t { Auto, Hosts, Domains, Adblock, Wildcard };

const char* to_string(ListFormat format);

struct ListOptions {
  ListFormat format = ListFormat::Auto;
  Action action = Action::Block;  // the list's own action; adblock `@@` lines allow regardless
  // Overrides each format's natural scope for plain entries (`match: exact|subtree`):
  // hosts and domain lists are exact, adblock `||name^` is subtree, `*.name` is below.
  std::optional<Scope> match;
  std::uint16_t list = 0;
};

struct ListReport {
  ListFormat format = ListFormat::Auto;  // the format used: declared, or detected
  std::size_t lines = 0;
  std::size_t rules = 0;
  std::size_t rejected = 0;         // malformed or unsupported lines
  std::size_t options_ignored = 0;  // adblock rules whose `$options` were dropped
  std::size_t skipped = 0;          // hosts-file entries such as localhost, never rules
  static constexpr std::size_t kExamples = 5;
  std::size_t first_rejected[kExamples] = {};  // 1-based line numbers
};

// Guesses the format from the first lines that are not comments.
ListFormat detect_format(std::string_view text);

ListReport parse_list(std::string_view text, const ListOptions& options, TrieBuilder& builder);

}  // namespace heimdall::filter
