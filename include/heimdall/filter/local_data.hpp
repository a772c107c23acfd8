// Records the filter answers by itself: the operator's `local_records` and the
// local data of RPZ zones. Parsed from zone-file lines and collected by the control
// thread (which allocates), then immutable and read by every worker, which only
// writes replies into its own buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "heimdall/dns/build.hpp"
#include "heimdall/dns/record_parser.hpp"
#include "heimdall/filter/domain_trie.hpp"

namespace heimdall::filter {

class LocalData {
 public:
  LocalData() = default;

  // The reply to `client` for its question of type `qtype`, from the records of
  // the owner `data` (an index LocalDataBuilder::add returned):
  // - an owner holding a CNAME answers the CNAME whatever the type, followed by
  //   its target's answer when the target is local data too (up to 8 CNAMEs, as an
  //   authority does for its own names, RFC 1034 §4.3.2: stub resolvers do not
  //   ask again); a target elsewhere is left to the client's resolver;
  // - ANY gets every record of the owner (the operator's own data: nothing to hide,
  //   and RFC 8482's cost argument does not apply to a handful of local records);
  // - otherwise the records of type `qtype`, or NODATA with a synthesized SOA whose
  //   TTL and MINIMUM are the owner's smallest TTL, as block answers do.
  // The first owner name is a pointer to the question, so data reached through an
  // RPZ wildcard answers the query's own name; a chased target's records point to
  // the CNAME's target name. Class IN is assumed: the caller filters
  // only IN queries. Header: RA set, AA not (we are not the zone's authority), RD
  // and CD copied. An OPT only when the query had one (docs/architecture.md §6.6). The reply
  // fits min(out.size(), client.reply_limit): whole RRsets are dropped from the end
  // and TC set, down to header + question + OPT. Returns the bytes written, 0 when
  // not even that fits or `data` is not an owner of this set. No allocation.
  std::size_t answer(const dns::ClientView& client, std::uint16_t qtype, std::uint16_t data,
                     std::uint16_t our_udp_size, std::span<std::uint8_t> out) const;

  // The owner of `data`'s wildcard records (`*.name`), or kNoIndex.
  std::uint16_t wildcard_of(std::uint16_t data) const {
    return data < owners_.size() ? owners_[data].wildcard : kNoIndex;
  }

  std::size_t owners() const { return owners_.size(); }
  std::size_t records() const { return records_.size(); }
  std::size_t memory_bytes() const;

 private:
  friend class LocalDataBuilder;

  struct Owner {
    std::uint32_t first;  // into records_, grouped by type so each RRset is contiguous
    std::uint32_t count;
    std::uint32_t negative_ttl;
    bool cname;
    std::uint16_t cname_target = kNoIndex;  // the owner its CNAME names, if local data
    std::uint16_t wildcard = kNoIndex;      // the owner of `*.` this name, if local data
  };
  struct Segment {  // records [first, last) owned by one name of a CNAME chain
    std::size_t first;
    std::size_t last;
  };
  static constexpr std::size_t kMaxChain = 8;
  struct Record {
    std::uint32_t rdata_offset;  // into rdata_
    std::uint32_t ttl;           // one per RRset (RFC 2181 §5.2): the smallest given
    std::uint16_t type;
    std::uint16_t rdata_length;
  };

  std::size_t write_answer(const dns::ClientView& client, const Segment* segments,
                           std::size_t count, std::uint16_t our_udp_size,
                           std::span<std::uint8_t> out) const;

  std::vector<Owner> owners_;
  std::vector<Record> records_;
  std::vector<std::uint8_t> rdata_;
};

// Whether an owner name (uncompressed wire form) is a wildcard: its first label `*`.
inline bool is_wildcard_owner(std::span<const std::uint8_t> owner) {
  return owner.size() >= 3 && owner[0] == 1 && owner[1] == '*';
}

class LocalDataBuilder {
 public:
  // Adds a record to its owner's set and returns the owner's index: the same for
  // the same owner, whatever its letter case. Refused with kNoIndex and a message
  // in `error`: a CNAME next to any other record of its owner, including a second
  // CNAME (RFC 1034 §3.6.2, RFC 2181 §10.1), and a new owner once 0..0xfffe are
  // taken. A record given twice is kept once.
  std::uint16_t add(const dns::RecordLine& record, std::string* error = nullptr);
  // Adds a record of a wildcard owner `*.parent` (RFC 4592) and returns the index
  // of `parent`'s owner, which the trie keys the wildcard by (created without
  // records of its own if need be); the records themselves go to the owner
  // `*.parent`, refused as add() refuses. kNoIndex with a message for an owner
  // whose first label is not `*`.
  std::uint16_t add_wildcard(const dns::RecordLine& record, std::string* error = nullptr);

  std::size_t owners() const { return owners_.size(); }

  LocalData build() const;

 private:
  struct Pending {
    std::uint16_t type;
    std::uint32_t ttl;
    std::vector<std::uint8_t> rdata;
  };
  std::uint16_t owner_index(const std::string& folded_wire, std::string* error);

  std::vector<std::vector<Pending>> owners_;
  std::unordered_map<std::string, std::uint16_t> index_;        // folded owner wire -> index
  std::unordered_map<std::uint16_t, std::uint16_t> wildcards_;  // parent -> `*.parent`
};

}  // namespace heimdall::filter
