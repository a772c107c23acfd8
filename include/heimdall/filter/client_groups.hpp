// Client groups (filter.groups): which lists apply to a query depends on the
// network its client is in, so one node can serve a filtered and an unfiltered
// subscriber class. IPv4 and IPv6 prefixes map to a group by longest prefix,
// looked up with DPDK's rte_lpm / rte_lpm6 (docs/architecture.md §5.2: their tables live in
// EAL memory, one pair per snapshot). Built by the control thread; read-only after.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "heimdall/filter/domain_trie.hpp"
#include "heimdall/net/endpoint.hpp"

struct rte_lpm;
struct rte_lpm6;

namespace heimdall::filter {

struct Prefix {
  net::Endpoint address;  // family and bytes; the port is unused
  std::uint8_t length = 0;
  // "10.1.0.0/16", "2001:db8::/32", or a bare address (a host prefix).
  static bool parse(const std::string& text, Prefix& out);
};

class ClientGroups {
 public:
  static constexpr unsigned kMaxGroups = 1u << 16;

  // No groups: every client gets `everyone`.
  explicit ClientGroups(ListMask everyone = kAllLists) : everyone_(everyone) {}
  ~ClientGroups();
  ClientGroups(ClientGroups&& other) noexcept;
  ClientGroups& operator=(ClientGroups&& other) noexcept;
  ClientGroups(const ClientGroups&) = delete;
  ClientGroups& operator=(const ClientGroups&) = delete;

  // A client in none of the groups' networks gets the lists of `everyone`.
  ListMask lists_for(const net::Endpoint& client) const;
  std::size_t memory_bytes() const;  // the LPM tables in EAL memory
  // What tables for that many prefixes take, for the EAL budget (docs/architecture.md §5.2).
  static std::size_t table_bytes(std::size_t v4_prefixes, std::size_t v6_prefixes);

 private:
  friend class ClientGroupsBuilder;
  ListMask everyone_;
  std::vector<ListMask> group_lists_;
  rte_lpm* v4_ = nullptr;
  rte_lpm6* v6_ = nullptr;
  std::size_t v4_rules_ = 0, v6_rules_ = 0;
};

class ClientGroupsBuilder {
 public:
  // Returns the group's index.
  unsigned add_group(ListMask lists);
  // A prefix given twice keeps its first group.
  void add_prefix(unsigned group, const Prefix& prefix);
  // Throws std::runtime_error when the EAL cannot hold the tables.
  ClientGroups build(ListMask everyone) const;

 private:
  struct Member {
    unsigned group;
    Prefix prefix;
  };
  std::vector<ListMask> groups_;
  std::vector<Member> members_;
};

}  // namespace heimdall::filter
