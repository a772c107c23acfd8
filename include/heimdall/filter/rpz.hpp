// Response Policy Zones (draft-vixie-dnsop-dns-rpz) read from a zone file into a
// TrieBuilder and a LocalDataBuilder. Control-thread code. A malformed line is
// skipped and counted with the first few line numbers, like the other lists.
//
// Zone file: $ORIGIN and $TTL (without $TTL a record's TTL defaults to 3600),
// `;` comments, a blank owner repeating the previous one, records spread over
// lines by parentheses, CRLF and a UTF-8 BOM. $INCLUDE and $GENERATE are rejected.
// The zone is the first $ORIGIN, or else the owner of the first SOA (records before
// either are rejected); a later $ORIGIN only completes the relative names after it. The apex's own
// records (SOA, NS) are not rules.
//
// Supported: QNAME triggers only. An owner `name.<origin>` triggers on exactly
// `name`, `*.name.<origin>` on every name below `name` (Scope::Below). Actions:
//   CNAME .              NXDOMAIN      -> block rule of list `nxdomain`
//   CNAME *.             NODATA        -> block rule of list `nodata`
//   CNAME rpz-passthru.  PASSTHRU      -> allow rule of list `passthru` (also the
//                                         older form, a CNAME to the trigger itself)
//   any other records    local data    -> one LocalDataBuilder owner and one block
//                                         rule of list `local_data` answering with it
// Counted as `unsupported` and skipped: CNAME rpz-drop. and rpz-tcp-only. (and any
// other rpz-* target), CNAME *.target (the target would need the query name
// prepended), and the triggers that are not QNAMEs (owners under rpz-ip,
// rpz-client-ip, rpz-nsdname, rpz-nsip).
//
// Where the trie differs from RPZ (docs/architecture.md §10.1): a passthru wins over any
// block rule it matches, at any depth, where RPZ prefers the more specific trigger;
// and `name` and `*.name` share one trie node, which keeps one block response
// (list and data): the first given. A block rule whose other form already holds
// a different response still blocks, with that one's response, and is counted in
// `shared_response` so the log can say so.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "heimdall/filter/domain_trie.hpp"
#include "heimdall/filter/local_data.hpp"

namespace heimdall::filter {

// The trie list ids the caller assigned to this zone's actions; the caller maps
// each to its response (nxdomain -> BlockMode::NxDomain, local_data -> LocalData).
struct RpzPolicies {
  std::uint16_t nxdomain = 0;
  std::uint16_t nodata = 0;
  std::uint16_t passthru = 0;
  std::uint16_t local_data = 0;
};

struct RpzReport {
  std::size_t lines = 0;
  std::size_t rules = 0;        // trie rules added: the sum of the four actions
  std::size_t rejected = 0;     // malformed lines and records the zone contradicts itself on
  std::size_t unsupported = 0;  // records of actions or triggers listed above
  std::size_t nxdomain = 0;
  std::size_t nodata = 0;
  std::size_t passthru = 0;
  std::size_t local_data = 0;  // owners, however many records each has
  std::size_t shared_response = 0;
  static constexpr std::size_t kExamples = 5;
  std::size_t first_rejected[kExamples] = {};  // 1-based line numbers
};

RpzReport parse_rpz(std::string_view text, const RpzPolicies& policies, TrieBuilder& trie,
                    LocalDataBuilder& data);

}  // namespace heimdall::filter
