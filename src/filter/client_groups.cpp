#include "heimdall/filter/client_groups.hpp"

#include <arpa/inet.h>
#include <rte_errno.h>
#include <rte_lpm.h>
#include <rte_lpm6.h>
#include <rte_memory.h>

#include <atomic>
#include <charconv>
#include <stdexcept>
#include <utility>

#include "heimdall/net/address.hpp"

namespace heimdall::filter {
namespace {

// rte_lpm names must be unique in the process while the tables live; two
// snapshots exist side by side during a reload.
std::string next_table_name(const char* kind) {
  static std::atomic<unsigned> generation{0};
  return std::string(kind) + std::to_string(generation.fetch_add(1, std::memory_order_relaxed));
}

std::uint32_t host_order_v4(const std::uint8_t* bytes) {
  return (std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16) |
         (std::uint32_t{bytes[2]} << 8) | bytes[3];
}

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + rte_strerror(rte_errno));
}

}  // namespace

bool Prefix::parse(const std::string& text, Prefix& out) {
  const std::size_t slash = text.find('/');
  const std::string address = text.substr(0, slash);
  const auto parsed = net::parse_ip(address);
  if (!parsed) return false;
  Prefix prefix;
  prefix.address = *parsed;
  prefix.length = parsed->family == AF_INET ? 32 : 128;
  if (slash != std::string::npos) {
    unsigned length = 0;
    const char* first = text.data() + slash + 1;
    const char* last = text.data() + text.size();
    const auto [end, error] = std::from_chars(first, last, length);
    if (error != std::errc() || end != last || first == last || length > prefix.length) {
      return false;
    }
    prefix.length = static_cast<std::uint8_t>(length);
  }
  out = prefix;
  return true;
}

ClientGroups::~ClientGroups() {
  if (v4_ != nullptr) rte_lpm_free(v4_);
  if (v6_ != nullptr) rte_lpm6_free(v6_);
}

ClientGroups::ClientGroups(ClientGroups&& other) noexcept
    : everyone_(other.everyone_),
      group_lists_(std::move(other.group_lists_)),
      v4_(std::exchange(other.v4_, nullptr)),
      v6_(std::exchange(other.v6_, nullptr)),
      v4_rules_(other.v4_rules_),
      v6_rules_(other.v6_rules_) {}

// What was ours is freed with `other`.
ClientGroups& ClientGroups::operator=(ClientGroups&& other) noexcept {
  std::swap(everyone_, other.everyone_);
  group_lists_.swap(other.group_lists_);
  std::swap(v4_, other.v4_);
  std::swap(v6_, other.v6_);
  std::swap(v4_rules_, other.v4_rules_);
  std::swap(v6_rules_, other.v6_rules_);
  return *this;
}

ListMask ClientGroups::lists_for(const net::Endpoint& client) const {
  std::uint32_t group = 0;
  if (client.family == AF_INET) {
    if (v4_ != nullptr && rte_lpm_lookup(v4_, host_order_v4(client.address), &group) == 0) {
      return group_lists_[group];
    }
  } else if (v6_ != nullptr && rte_lpm6_lookup(v6_, client.address, &group) == 0) {
    return group_lists_[group];
  }
  return everyone_;
}

std::size_t ClientGroups::memory_bytes() const { return table_bytes(v4_rules_, v6_rules_); }

std::size_t ClientGroups::table_bytes(std::size_t v4_prefixes, std::size_t v6_prefixes) {
  // Both tables have a tbl24 of 2^24 four-byte entries, plus the tbl8 groups of
  // 256 four-byte entries we ask for (the rule tables are small beside them).
  constexpr std::size_t kTbl24 = (std::size_t{1} << 24) * 4, kTbl8 = 256 * 4;
  std::size_t bytes = 0;
  if (v4_prefixes != 0) bytes += kTbl24 + (v4_prefixes + 1) * kTbl8;
  if (v6_prefixes != 0) bytes += kTbl24 + (v6_prefixes * 14 + 256) * kTbl8;
  return bytes;
}

unsigned ClientGroupsBuilder::add_group(ListMask lists) {
  if (groups_.size() == ClientGroups::kMaxGroups) throw std::length_error("too many client groups");
  groups_.push_back(lists);
  return static_cast<unsigned>(groups_.size() - 1);
}

void ClientGroupsBuilder::add_prefix(unsigned group, const Prefix& prefix) {
  members_.push_back({group, prefix});
}

ClientGroups ClientGroupsBuilder::build(ListMask everyone) const {
  ClientGroups groups(everyone);
  groups.group_lists_ = groups_;
  for (const Member& member : members_) {
    (member.prefix.address.family == AF_INET ? groups.v4_rules_ : groups.v6_rules_) += 1;
  }
  if (groups.v4_rules_ != 0) {
    // Every prefix longer than /24 may need a tbl8 group of its own.
    const rte_lpm_config config{.max_rules = static_cast<std::uint32_t>(groups.v4_rules_),
                                .number_tbl8s = static_cast<std::uint32_t>(groups.v4_rules_ + 1),
                                .flags = 0};
    groups.v4_ = rte_lpm_create(next_table_name("hgrp4_").c_str(), SOCKET_ID_ANY, &config);
    if (groups.v4_ == nullptr) fail("client groups: cannot create the IPv4 table");
  }
  if (groups.v6_rules_ != 0) {
    // A prefix needs up to one tbl8 group per byte past the first three.
    const rte_lpm6_config config{
        .max_rules = static_cast<std::uint32_t>(groups.v6_rules_),
        .number_tbl8s = static_cast<std::uint32_t>(groups.v6_rules_ * 14 + 256),
        .flags = 0};
    groups.v6_ = rte_lpm6_create(next_table_name("hgrp6_").c_str(), SOCKET_ID_ANY, &config);
    if (groups.v6_ == nullptr) fail("client groups: cannot create the IPv6 table");
  }
  for (const Member& member : members_) {
    const Prefix& prefix = member.prefix;
    int result = 0;
    if (prefix.address.family == AF_INET) {
      // An identical prefix added again would replace the first group's: keep the first.
      std::uint32_t existing = 0;
      const std::uint32_t ip = host_order_v4(prefix.address.address);
      if (rte_lpm_is_rule_present(groups.v4_, ip, prefix.length, &existing) == 1) continue;
      result = rte_lpm_add(groups.v4_, ip, prefix.length, member.group);
    } else {
      std::uint32_t existing = 0;
      if (rte_lpm6_is_rule_present(groups.v6_, prefix.address.address, prefix.length, &existing) ==
          1) {
        continue;
      }
      result = rte_lpm6_add(groups.v6_, prefix.address.address, prefix.length, member.group);
    }
    if (result != 0) {
      rte_errno = -result;
      fail("client groups: cannot add a prefix");
    }
  }
  return groups;
}

}  // namespace heimdall::filter
