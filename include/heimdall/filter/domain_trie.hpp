// The domain trie of the filter: block and allow rules over names, built once off
// the packet path, then immutable and shared read-only by every worker.
//
// Shape: a hashed suffix trie. Each rule is a node keyed by its name's labels in
// reverse order (com -> example -> ads), stored in one open-addressing table under
// a 64-bit hash of that label path together with the name's bytes, which every
// hit compares, so a hash collision can never block or allow the wrong name.
// Only nodes that carry a rule exist. A lookup walks the query name's label
// boundaries from the top-level label down and probes once per label: its cost
// is O(labels in the name) and does not grow with the number of rules.
//
// Semantics (docs/architecture.md §10.1): an exact rule matches its name only; a subtree
// rule matches its name and every name below it; a below rule only the names
// below it. An allow rule that matches wins
// over every block rule that matches, at any depth (adblock `@@||name^`).
// Every rule belongs to a list (a policy, 0..63). A lookup names the lists that
// apply to the client (its group's), and only their rules match. The deepest
// matching block rule decides; among several lists with a rule at that name, the
// lowest-numbered. A node stores which lists have which rules at it as a 32-bit
// index into a table of the distinct combinations, so they cost nothing per rule.
// The same nodes carry what else the filter decides by name: the operator's local
// records (exact name; they win over every rule), block rules with an answer of
// their own (RPZ local data), and conditional-forwarding zones (name and below;
// the deepest wins).
//
// Memory: 16 bytes per table slot (load factor 0.5) plus each rule's wire name
// and a 5-byte header, the builder's buffer taken over as it is, all in anonymous
// mmap'ed memory (docs/architecture.md §5.2).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "heimdall/dns/name.hpp"

namespace heimdall::filter {

enum class Action : std::uint8_t { Block, Allow };
// Exact: the name only. Subtree: the name and everything below it (adblock
// `||name^`). Below: everything below the name but not the name (`*.name`).
enum class Scope : std::uint8_t { Exact, Subtree, Below };

inline constexpr std::uint16_t kNoIndex = 0xffff;
inline constexpr unsigned kMaxLists = 64;
using ListMask = std::uint64_t;  // bit i: list i applies
inline constexpr ListMask kAllLists = ~ListMask{0};

struct Decision {
  // Local: the operator's records for this name (or a wildcard above it) answer it.
  enum class Verdict : std::uint8_t { None, Block, Allow, Local };
  Verdict verdict = Verdict::None;
  std::uint16_t list = 0;  // the list of the rule that decided (the deepest of its kind)
  // Local: the records. Block: the rule's own answer (RPZ local data), or kNoIndex
  // for the list's response.
  std::uint16_t data = kNoIndex;
  std::uint16_t zone = kNoIndex;  // the deepest forwarding zone holding the name, any verdict
  // Local: `data`'s wildcard records (`*.owner`) answer, not its own.
  bool wildcard = false;
};

// Anonymous mmap'ed memory, released on destruction.
class MappedBytes {
 public:
  MappedBytes() = default;
  explicit MappedBytes(std::size_t size);
  ~MappedBytes();
  MappedBytes(MappedBytes&& other) noexcept;
  MappedBytes& operator=(MappedBytes&& other) noexcept;
  MappedBytes(const MappedBytes&) = delete;
  MappedBytes& operator=(const MappedBytes&) = delete;

  std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }
  // Grows or shrinks the mapping, keeping its bytes (mremap: nothing is copied,
  // and pages never written take no memory).
  void resize(std::size_t size);

 private:
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

class DomainTrie {
 public:
  DomainTrie() = default;

  // The decision for a folded name (dns::NameKey from the query) by the rules of
  // `lists`. No allocation.
  Decision lookup(const dns::NameKey& name, ListMask lists = kAllLists) const;

  // The same lookup in three steps, so that a burst's cache misses overlap
  // (docs/architecture.md §2.2 rule 3): start() every name (labels hashed, their slots
  // prefetched), then advance() every one (candidate nodes found, their names
  // prefetched), then finish() each. In a table of millions every step is a
  // cache miss; taken name by name they add up, over a burst they are paid about
  // once.
  struct Walk {
    static constexpr std::size_t kLabels = 8;  // deeper names take the plain path
    std::uint8_t count = 0;                    // labels; kLong: more than kLabels
    std::uint8_t starts[kLabels];
    std::uint64_t hashes[kLabels];
    const void* candidates[kLabels];  // the trie's slots, whose type is its own
    static constexpr std::uint8_t kLong = 0xff;
  };
  void start(const dns::NameKey& name, Walk& walk) const;
  void advance(const dns::NameKey& name, Walk& walk) const;
  Decision finish(const dns::NameKey& name, const Walk& walk, ListMask lists) const;

  std::size_t rules() const { return rules_; }
  std::size_t nodes() const { return nodes_; }
  std::size_t memory_bytes() const {
    return slots_.size() + names_.size() + sets_.size() * sizeof(ListSet);
  }

 private:
  friend class TrieBuilder;

  struct Slot;  // 16 bytes: name offset and length, fingerprint, rule flags, sets, data, zone
  // The lists with block and allow rules at a node, for the name itself (exact)
  // and for the names below it; `answer` is the list whose block rule answers
  // with the node's data (0xff: none).
  struct ListSet {
    ListMask block_exact = 0;
    ListMask block_below = 0;
    ListMask allow_exact = 0;
    ListMask allow_below = 0;
    std::uint8_t answer = 0xff;
    bool operator==(const ListSet&) const = default;
  };
  const Slot* find(std::uint64_t hash, const std::uint8_t* name, std::size_t length) const;
  // The first slot on `hash`'s probe chain with its fingerprint and length: the
  // node, unless another name shares both (finish() then asks find()).
  const Slot* first_candidate(std::uint64_t hash, std::size_t length) const;
  // The verdicts of the nodes found for each label, top-level label last.
  Decision decide(const Slot* const* nodes, std::size_t count, ListMask lists) const;

  std::vector<ListSet> sets_;  // set 0 is empty
  MappedBytes slots_;
  MappedBytes names_;
  std::uint64_t capacity_ = 0;  // slots
  std::uint64_t seed_ = 0;
  std::size_t rules_ = 0;
  std::size_t nodes_ = 0;
};

// Collects rules and builds the trie. Control-thread code: it allocates.
class TrieBuilder {
 public:
  // `name` is in uncompressed wire form; letters are folded here. A name given
  // twice merges its rules; for one action and scope the first list (and answer) is kept.
  // Returns false (and adds nothing) for a malformed or root name, or a list
  // of kMaxLists or more.
  bool add(std::span<const std::uint8_t> name, Action action, Scope scope, std::uint16_t list);
  // Dotted text ("ads.example.com", trailing dot optional).
  bool add_text(const char* name, Action action, Scope scope, std::uint16_t list);
  // A block rule that answers with `data` (an index the caller keeps) instead of
  // its list's response. A node's data is shared with local records: where both
  // are given, the local records keep it and the rule blocks with the list's response.
  bool add_answer(std::span<const std::uint8_t> name, Scope scope, std::uint16_t list,
                  std::uint16_t data);
  // The operator's records for exactly `name`.
  bool add_local(std::span<const std::uint8_t> name, std::uint16_t data);
  // The operator's wildcard records `*.name` (`data` is `name`'s owner, whose
  // wildcard they are): they answer the names below `name` that have no records
  // of their own and that no list's rule decides, the deepest wildcard first.
  bool add_local_below(std::span<const std::uint8_t> name, std::uint16_t data);
  // `name` and everything below it are forwarded to `zone`'s upstreams.
  bool add_zone(std::span<const std::uint8_t> name, std::uint16_t zone);

  std::size_t size() const { return rules_; }
  // Room for about `bytes` more of rules (a list's text is more than its rules
  // take), reserved as address space: nothing is copied as the buffer grows.
  void reserve(std::size_t bytes);

  // Builds an immutable trie; `seed` keys the hash (random per snapshot, so
  // nobody can aim names at one probe chain). The rvalue form hands the rules'
  // buffer to the trie, which keeps its names in it: a reload holds the names
  // once, not in a builder and a trie at the same time. The builder is empty
  // afterwards. The const form copies the buffer.
  DomainTrie build(std::uint64_t seed) &&;
  DomainTrie build(std::uint64_t seed) const&;

 private:
  // A rule in the buffer: its name's length, flags, list, data (or zone, two
  // bytes), then the folded name.
  static constexpr std::size_t kRecordHeader = 5;

  bool add_rule(std::span<const std::uint8_t> name, std::uint8_t flags, std::uint16_t list,
                std::uint16_t data);
  static DomainTrie build_from(MappedBytes records, std::size_t used, std::size_t rules,
                               std::uint64_t seed);
  class SetTable;
  struct Rule;
  static void merge(DomainTrie::Slot& slot, const Rule& rule, SetTable& sets);

  MappedBytes records_;
  std::size_t used_ = 0;  // bytes of records_ written
  std::size_t rules_ = 0;
};

}  // namespace heimdall::filter
