// Open TCP connections per client prefix, for one worker's connection table
// (listen.tcp_max_connections_per_client): one source must not take every slot.
//
// A fixed open-addressing table sized at start-up: accept and close cost one hash
// and a short probe, and nothing is allocated while serving. The number of
// distinct prefixes never exceeds the number of open connections, so a table of
// at least twice the connection slots is never more than half full and an insert
// always finds room. Deletion shifts the following entries back (linear probing
// without tombstones), so long-lived churn does not slow the probes down.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <cstring>
#include <memory>

#include "heimdall/net/endpoint.hpp"

namespace heimdall::io {

class ConnectionCounts {
 public:
  // What is counted: an IPv4 address (/32), or an IPv6 /64 (what one subscriber
  // or host is normally given, so a host cannot escape the limit by using
  // another address of its own /64).
  struct Key {
    std::uint64_t prefix = 0;
    std::uint8_t family = 0;
    bool operator==(const Key&) const = default;
  };

  static Key key_of(const net::Endpoint& peer) {
    Key key;
    key.family = peer.family;
    if (peer.family == AF_INET) {
      std::uint32_t v4 = 0;
      std::memcpy(&v4, peer.address, 4);
      key.prefix = v4;
    } else {
      std::memcpy(&key.prefix, peer.address, 8);
    }
    return key;
  }

  // Room for `connections` open connections; `seed` keys the hash so that a
  // client cannot choose addresses that collide.
  ConnectionCounts(std::size_t connections, std::uint64_t seed) : seed_(seed | 1) {
    std::size_t size = 16;
    while (size < 2 * connections) size *= 2;
    mask_ = size - 1;
    entries_ = std::make_unique<Entry[]>(size);
  }

  // Counts one more connection for `key` unless it already has `limit` (0: no
  // limit); returns whether it was counted.
  bool add(const Key& key, unsigned limit) {
    std::size_t i = home(key);
    while (entries_[i].count != 0 && !(entries_[i].key == key)) i = (i + 1) & mask_;
    Entry& entry = entries_[i];
    if (entry.count == 0) {
      entry.key = key;
    } else if (limit != 0 && entry.count >= limit) {
      return false;
    }
    ++entry.count;
    return true;
  }

  // One connection of `key` closed (it must have been counted by add()).
  void remove(const Key& key) {
    std::size_t i = home(key);
    while (entries_[i].count != 0 && !(entries_[i].key == key)) i = (i + 1) & mask_;
    if (entries_[i].count == 0 || --entries_[i].count != 0) return;
    // Backward-shift deletion: move up every later entry of the run that may sit
    // in the hole, so that no probe stops early at it.
    std::size_t hole = i;
    for (std::size_t j = (i + 1) & mask_; entries_[j].count != 0; j = (j + 1) & mask_) {
      const std::size_t want = home(entries_[j].key);
      // j's entry may move to the hole if its home is not in (hole, j], cyclically.
      const bool stays = hole <= j ? (hole < want && want <= j) : (hole < want || want <= j);
      if (stays) continue;
      entries_[hole] = entries_[j];
      entries_[j].count = 0;
      hole = j;
    }
  }

  unsigned count(const Key& key) const {
    std::size_t i = home(key);
    while (entries_[i].count != 0 && !(entries_[i].key == key)) i = (i + 1) & mask_;
    return entries_[i].count;
  }

 private:
  struct Entry {
    Key key;
    std::uint32_t count = 0;  // 0: empty
  };

  std::size_t home(const Key& key) const {
    std::uint64_t h = (key.prefix ^ (std::uint64_t{key.family} << 56)) * seed_;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    return static_cast<std::size_t>(h) & mask_;
  }

  std::uint64_t seed_;
  std::size_t mask_ = 0;
  std::unique_ptr<Entry[]> entries_;
};

}  // namespace heimdall::io
