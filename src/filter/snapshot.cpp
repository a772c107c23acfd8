#include "heimdall/filter/snapshot.hpp"

namespace heimdall::filter {

Decision Snapshot::decide(const net::Endpoint& client, const dns::NameKey& name,
                          unsigned worker) const {
  DomainTrie::Walk walk;
  start(name, walk);
  advance(name, walk);
  return decide(client, name, worker, walk);
}

Decision Snapshot::decide(const net::Endpoint& client, const dns::NameKey& name, unsigned worker,
                          const DomainTrie::Walk& walk) const {
  const ListMask lists = parts_.groups.lists_for(client);
  Decision decision = parts_.trie.finish(name, walk, lists);
  const RegexSet& regexes = parts_.regexes;
  // The regexes decide a name the trie has no verdict on; an allow regex also
  // beats a block in the trie (docs/architecture.md §10.1), so blocked names are scanned
  // when the set has allow rules.
  // A wildcard local record answers only what no rule decides, regexes included.
  const bool undecided = decision.verdict == Decision::Verdict::None || decision.wildcard;
  const bool consult =
      undecided ? regexes.size() != 0
                : decision.verdict == Decision::Verdict::Block && regexes.has_allow_rules();
  if (!consult) return decision;
  Decision by_regex = regexes.match(name, worker, lists);
  if (by_regex.verdict == Decision::Verdict::None ||
      (decision.verdict == Decision::Verdict::Block &&
       by_regex.verdict != Decision::Verdict::Allow)) {
    return decision;
  }
  by_regex.zone = decision.zone;
  return by_regex;
}

std::size_t Snapshot::answer(const Decision& decision, const dns::ClientView& client,
                             std::uint16_t qtype, std::uint16_t our_udp_size,
                             std::span<std::uint8_t> out) const {
  if (decision.data != kNoIndex) {
    const std::uint16_t owner =
        decision.wildcard ? parts_.local.wildcard_of(decision.data) : decision.data;
    return parts_.local.answer(client, qtype, owner, our_udp_size, out);
  }
  return build_block_answer(client, qtype, parts_.policies[decision.list].response, our_udp_size,
                            out);
}

std::size_t Snapshot::memory_bytes() const {
  return parts_.trie.memory_bytes() + parts_.regexes.memory_bytes() + parts_.local.memory_bytes() +
         parts_.groups.memory_bytes();
}

}  // namespace heimdall::filter
