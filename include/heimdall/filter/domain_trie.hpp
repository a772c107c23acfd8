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
// Semantics (DESIGN.md §8.13): an exact rule matches its name only; a subtree
// rule matches its name and every name below it; a below rule only the names
// below it. An allow rule that matches wins
// over every block rule that matches, at any depth (adblock `@@||name^`).
//
// Memory: 16 bytes per table slot (load factor 0.5) plus each distinct
// name's wire bytes once, all in anonymous mmap'ed memory (DESIGN.md §8.6).
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

struct Decision {
  enum class Verdict : std::uint8_t { None, Block, Allow };
  Verdict verdict = Verdict::None;
  std::uint16_t list = 0;  // the list of the rule that decided (the deepest of its kind)
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

 private:
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

class DomainTrie {
 public:
  DomainTrie() = default;

  // The decision for a folded name (dns::NameKey from the query). No allocation.
  Decision lookup(const dns::NameKey& name) const;

  std::size_t rules() const { return rules_; }
  std::size_t nodes() const { return nodes_; }
  std::size_t memory_bytes() const { return slots_.size() + names_.size(); }

 private:
  friend class TrieBuilder;

  struct Slot;  // 16 bytes: hash, name offset and length, rule flags, list
  const Slot* find(std::uint64_t hash, const std::uint8_t* name, std::size_t length) const;

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
  // twice merges its rules; for one action and scope the first list is kept.
  // Returns false (and adds nothing) for a malformed or root name.
  bool add(std::span<const std::uint8_t> name, Action action, Scope scope, std::uint16_t list);
  // Dotted text ("ads.example.com", trailing dot optional).
  bool add_text(const char* name, Action action, Scope scope, std::uint16_t list);

  std::size_t size() const { return rules_.size(); }

  // Builds an immutable trie; `seed` keys the hash (random per snapshot, so
  // nobody can aim names at one probe chain).
  DomainTrie build(std::uint64_t seed) const;

 private:
  struct PendingRule {
    std::uint32_t name_offset;
    std::uint8_t name_length;
    std::uint8_t flags;
    std::uint16_t list;
  };
  std::vector<std::uint8_t> names_;
  std::vector<PendingRule> rules_;
};

}  // namespace heimdall::filter
