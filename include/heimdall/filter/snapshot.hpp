// One immutable filter: everything a worker consults to decide a query by its
// name and its client — the trie of block/allow rules, local records and
// forwarding zones, the regex rules, the client groups, and how each list's block
// rules answer. The control thread builds it off the packet path and publishes it
// by RCU (docs/architecture.md §10.2); workers only read it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "heimdall/dns/build.hpp"
#include "heimdall/dns/extended_error.hpp"
#include "heimdall/filter/block_answer.hpp"
#include "heimdall/filter/client_groups.hpp"
#include "heimdall/filter/domain_trie.hpp"
#include "heimdall/filter/local_data.hpp"
#include "heimdall/filter/regex_set.hpp"
#include "heimdall/net/endpoint.hpp"

namespace heimdall::filter {

// What a trie list id stands for. A plain list is one policy; an RPZ list is
// several (its NXDOMAIN, NODATA, PASSTHRU and local-data rules), all counted under
// the list's name.
struct Policy {
  std::uint16_t list = 0;  // index into Snapshot::list_names, for stats and logs
  BlockResponse response;  // how its block rules answer (rules with data answer with it)
};

struct SnapshotParts {
  DomainTrie trie;
  RegexSet regexes;
  LocalData local;
  ClientGroups groups;
  std::vector<Policy> policies;  // by trie list id; at most kMaxLists
  std::vector<std::string> list_names;
  std::vector<std::uint32_t> zone_servers;  // by zone: the mask of its upstream servers
  // The Extended DNS Error of a block answer (filter.extended_error: dns::ede::
  // kBlocked, kFiltered, kCensored or kNone), with the list's name as its text
  // when `extended_error_names_list`.
  std::uint16_t extended_error = dns::ede::kBlocked;
  bool extended_error_names_list = true;
};

class Snapshot {
 public:
  explicit Snapshot(SnapshotParts parts) : parts_(std::move(parts)) {}

  // The trie decides with the lists of the client's group; the regex rules (of
  // those lists too) are consulted when it has no verdict (docs/architecture.md §10.1), and
  // an allow regex also overrides a block in the trie. The zone always comes
  // from the trie.
  // No allocation; `worker` names the caller's regex scratch.
  Decision decide(const net::Endpoint& client, const dns::NameKey& name, unsigned worker) const;
  // The same decision over a burst: start() and advance() every name first (see
  // DomainTrie::Walk), then decide each with its walk.
  void start(const dns::NameKey& name, DomainTrie::Walk& walk) const {
    parts_.trie.start(name, walk);
  }
  void advance(const dns::NameKey& name, DomainTrie::Walk& walk) const {
    parts_.trie.advance(name, walk);
  }
  Decision decide(const net::Endpoint& client, const dns::NameKey& name, unsigned worker,
                  const DomainTrie::Walk& walk) const;

  // The reply for a Block or Local decision to the query `client` of type `qtype`.
  // Returns the bytes written, 0 when `out` or the client's limit is too small.
  std::size_t answer(const Decision& decision, const dns::ClientView& client, std::uint16_t qtype,
                     std::uint16_t our_udp_size, std::span<std::uint8_t> out) const;

  // The servers of a forwarding zone (a mask of upstream indexes).
  std::uint32_t zone_servers(std::uint16_t zone) const { return parts_.zone_servers[zone]; }
  // The list a decision counts under.
  std::uint16_t list_of(const Decision& decision) const {
    return parts_.policies[decision.list].list;
  }
  const std::vector<std::string>& list_names() const { return parts_.list_names; }
  // The Extended DNS Error (RFC 8914) a block answer carries.
  dns::ExtendedError extended_error(const Decision& decision) const {
    if (!parts_.extended_error_names_list) return {parts_.extended_error, {}};
    return {parts_.extended_error, parts_.list_names[list_of(decision)]};
  }
  const DomainTrie& trie() const { return parts_.trie; }
  const RegexSet& regexes() const { return parts_.regexes; }
  std::size_t memory_bytes() const;

 private:
  SnapshotParts parts_;
};

}  // namespace heimdall::filter
