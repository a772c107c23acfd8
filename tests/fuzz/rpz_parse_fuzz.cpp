// libFuzzer target over the RPZ zone reader, the record parser under it, and the
// answers built from the local data it yields: RPZ feeds come from URLs the
// operator does not control.
#include <cstdlib>
#include <string_view>

#include "heimdall/filter/rpz.hpp"

using namespace heimdall;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  filter::TrieBuilder trie;
  filter::LocalDataBuilder local;
  const filter::RpzReport report = filter::parse_rpz(text, {0, 1, 2, 3}, trie, local);
  if (report.rules > trie.size()) std::abort();
  const filter::DomainTrie built = trie.build(size);
  const filter::LocalData answers = local.build();

  // Every owner answered for a few types, into a buffer that fits and one that does not.
  const std::uint8_t question[] = {3, 'w', 'w', 'w', 0, 0, 1, 0, 1};
  const dns::ClientView client{.id = 1,
                               .flags = dns::flag::RD,
                               .question = {question, sizeof(question)},
                               .edns = true,
                               .dnssec_ok = false,
                               .reply_limit = 512};
  std::uint8_t out[600];
  for (std::size_t owner = 0; owner < answers.owners(); ++owner) {
    for (const std::uint16_t qtype : {dns::rrtype::A, dns::rrtype::TXT, dns::rrtype::ANY}) {
      const std::size_t length =
          answers.answer(client, qtype, static_cast<std::uint16_t>(owner), 1232, out);
      if (length > 512) std::abort();
      (void)answers.answer(client, qtype, static_cast<std::uint16_t>(owner), 1232, {out, 20});
    }
  }
  dns::NameKey name;
  name.length = static_cast<std::uint8_t>(dns::name_from_text("www.example.com", name.wire));
  (void)built.lookup(name);
  return 0;
}
