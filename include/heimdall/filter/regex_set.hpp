// Regex rules of the filter (`/…/` lines of adblock lists, or whole regex lists as
// Pi-hole keeps them), all compiled into one Hyperscan database per filter snapshot
// and consulted only when the trie has no answer (docs/architecture.md §10.1).
//
// A pattern matches the query name as dotted lower-case text without the trailing
// dot ("ads.example.com"), like Pi-hole and AdGuard: `^` anchors at the first label,
// `$` after the last. Matching is caseless (names arrive folded anyway) and `.` also
// matches a newline byte, as POSIX regexes (Pi-hole) do, so a name with odd bytes in a
// label cannot slip past a `.*` block rule.
//
// Threads: the database is immutable once built and shared by every worker; each
// worker scans with its own scratch (cloned with hs_clone_scratch), so no two threads
// ever use one scratch and the packet path takes no lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "heimdall/dns/name.hpp"
#include "heimdall/filter/domain_trie.hpp"

// Hyperscan's handles (hs_database_t, hs_scratch_t), kept out of this header.
struct hs_database;
struct hs_scratch;

namespace heimdall::filter {

class RegexSet {
 public:
  RegexSet();  // empty: matches nothing, match() cheap
  ~RegexSet();
  RegexSet(RegexSet&& other) noexcept;
  RegexSet& operator=(RegexSet&& other) noexcept;
  RegexSet(const RegexSet&) = delete;
  RegexSet& operator=(const RegexSet&) = delete;

  // An allow rule that matches wins over a block rule that matches (like the trie).
  // Decision::list is the deciding rule's list: for block, the lowest list among the
  // block rules that match; for allow, the first allow rule Hyperscan reports (the
  // scan stops there). Only rules of `lists` (the client's) count. `worker`
  // (< workers()) selects that worker's scratch. No allocation; a Hyperscan error
  // or a worker out of range gives no decision.
  Decision match(const dns::NameKey& name, unsigned worker, ListMask lists = kAllLists) const;

  std::size_t size() const { return rules_.size(); }  // rules
  bool has_allow_rules() const { return has_allow_; }
  unsigned workers() const { return static_cast<unsigned>(scratch_.size()); }
  std::size_t memory_bytes() const { return memory_bytes_; }  // database + every scratch

 private:
  friend class RegexSetBuilder;

  struct Rule {
    Action action;
    std::uint16_t list;
  };

  void release() noexcept;

  hs_database* database_ = nullptr;
  std::vector<hs_scratch*> scratch_;  // one per worker; index = worker
  std::vector<Rule> rules_;           // index = Hyperscan expression id
  std::size_t memory_bytes_ = 0;
  bool has_allow_ = false;
};

// Collects regex rules and builds a RegexSet. Control-thread code: it allocates.
class RegexSetBuilder {
 public:
  // Each pattern is compiled alone first, with the flags the set uses, so one bad
  // rule is rejected by itself with Hyperscan's message in `error`. Rejected here:
  // syntax errors, what Hyperscan does not support (backreferences, lookaround,
  // ...), and patterns that match the empty string (`.*`, `a?`): such a rule would
  // match every name, which is surely a mistake in a blocklist.
  bool add(std::string_view pattern, Action action, std::uint16_t list,
           std::string* error = nullptr);

  std::size_t size() const { return patterns_.size(); }

  // One database for every added rule (HS_MODE_BLOCK; caseless, dot-all, single-match)
  // and scratch for `workers` (>= 1) workers. No rules: an empty set, no database.
  // Throws std::runtime_error when the set fails to compile as a whole or Hyperscan
  // cannot run on this CPU, std::invalid_argument for zero workers.
  RegexSet build(unsigned workers) const;

 private:
  std::vector<std::string> patterns_;
  std::vector<RegexSet::Rule> rules_;
};

}  // namespace heimdall::filter
