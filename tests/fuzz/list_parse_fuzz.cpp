// libFuzzer target over the blocklist parser and the trie built from its output:
// lists come from URLs the operator does not control.
#include <cstdlib>
#include <string_view>

#include "heimdall/filter/list_parser.hpp"

using namespace heimdall;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  filter::TrieBuilder builder;
  const filter::ListReport report = filter::parse_list(text, {}, builder);
  if (report.rules != builder.size()) std::abort();
  const filter::DomainTrie trie = builder.build(size);
  dns::NameKey name;
  name.length = static_cast<std::uint8_t>(dns::name_from_text("www.example.com", name.wire));
  (void)trie.lookup(name);
  return 0;
}
