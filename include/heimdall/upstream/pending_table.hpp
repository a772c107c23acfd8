// The per-worker table of queries in flight to upstreams, and the clients waiting
// on each. Two indexes find an entry without scanning: by (local port, query ID)
// for answers, and by question key for coalescing identical in-flight queries.
// All storage is sized at construction; nothing allocates per query.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "heimdall/dns/name.hpp"
#include "heimdall/dns/question_key.hpp"
#include "heimdall/net/client_ref.hpp"

namespace heimdall::upstream {

inline constexpr std::uint32_t kNoSlot = UINT32_MAX;
inline constexpr std::size_t kMaxQuestionWire = dns::kMaxNameWire + 4;

using QuestionKey = dns::QuestionKey;

// One client waiting for an answer, with everything its reply must echo.
struct Waiter {
  net::ClientRef client;
  std::uint16_t id = 0;
  std::uint16_t flags = 0;
  std::uint16_t reply_limit = 0;
  bool edns = false;
  bool dnssec_ok = false;
  std::uint16_t question_length = 0;
  std::uint8_t question[kMaxQuestionWire] = {};
  std::uint32_t next = kNoSlot;  // the next waiter on the same query, or the free list
};

struct PendingQuery {
  QuestionKey key;
  std::uint16_t question_length = 0;
  std::uint8_t question[kMaxQuestionWire] = {};  // as the first client sent it: forwarded as is
  std::uint16_t query_flags = 0;  // the first client's flags: RD, CD, AD for the upstream query
  std::uint32_t servers = UINT32_MAX;  // the upstreams it may go to (a forwarding zone's)

  // The attempt in flight: matched on server address, transport, local port and ID.
  std::uint8_t server = 0;
  net::Transport transport = net::Transport::Udp;
  std::uint16_t local_port = 0;  // 0 for TCP: the connection names the attempt
  std::uint16_t id = 0;
  bool id_registered = false;
  std::uint32_t tried_mask = 0;
  std::uint8_t attempts = 0;  // every attempt sent, TCP included (docs/architecture.md §7.4)
  bool truncated = false;     // an answer came back truncated: only a server with TCP can answer
  // 0x20 (dns/case_randomisation.hpp): the attempt in flight went out in the case
  // `case_seed` gives; `case_plain` once an answer failed to echo it, so that the
  // query is asked again as the client wrote it.
  bool case_randomised = false;
  bool case_plain = false;
  std::uint64_t case_seed = 0;
  // The attempt could not get a socket and was not sent: its timer retries it
  // without blaming the server.
  bool no_socket = false;
  std::uint64_t started_ns = 0;           // the first client's arrival: the budget runs from here
  std::uint64_t sent_ns = 0;              // this attempt's send time, for the RTT sample
  std::uint64_t attempt_deadline_ns = 0;  // when this attempt times out
  // Serve-stale (RFC 8767, docs/architecture.md §7.5): when the waiting clients get the stale
  // answer the cache holds while the refresh goes on; 0 when there is none.
  std::uint64_t stale_deadline_ns = 0;

  std::uint32_t waiters = kNoSlot;
  std::uint16_t waiter_count = 0;

  bool in_use = false;
  std::uint32_t id_chain = kNoSlot;   // next entry in the same (port, ID) bucket
  std::uint32_t key_chain = kNoSlot;  // next entry in the same question-key bucket
};

class PendingTable {
 public:
  PendingTable(std::uint32_t max_queries, std::uint32_t max_waiters);

  // A free entry, or kNoSlot when the table is full. The entry is in the question
  // index once `key` is set through `index_question`.
  std::uint32_t allocate();
  // Removes the entry from both indexes and frees it and its waiters.
  void release(std::uint32_t slot);

  PendingQuery& operator[](std::uint32_t slot) { return queries_[slot]; }
  const PendingQuery& operator[](std::uint32_t slot) const { return queries_[slot]; }

  void index_question(std::uint32_t slot);
  std::uint32_t find_question(const QuestionKey& key) const;

  // Registers the entry's current (local_port, id); unregister before changing them.
  void register_id(std::uint32_t slot);
  void unregister_id(std::uint32_t slot);
  bool id_in_use(std::uint16_t local_port, std::uint16_t id) const;
  std::uint32_t find_id(std::uint16_t local_port, std::uint16_t id) const;

  // Adds a waiter to the entry; returns it, or nullptr when the waiter pool is empty.
  Waiter* add_waiter(std::uint32_t slot);
  Waiter& waiter(std::uint32_t index) { return waiters_[index]; }
  // Frees the entry's waiters (they have been answered); the query stays in flight.
  void drop_waiters(std::uint32_t slot);

  std::uint32_t in_use() const { return in_use_; }
  std::uint32_t capacity() const { return static_cast<std::uint32_t>(queries_.size()); }

 private:
  std::uint32_t id_bucket(std::uint16_t local_port, std::uint16_t id) const;
  std::uint32_t key_bucket(const QuestionKey& key) const;
  void unindex_question(std::uint32_t slot);

  std::vector<PendingQuery> queries_;
  std::vector<Waiter> waiters_;
  std::vector<std::uint32_t> free_queries_;
  std::uint32_t free_waiters_ = kNoSlot;
  std::uint32_t in_use_ = 0;
  std::vector<std::uint32_t> id_buckets_;
  std::vector<std::uint32_t> key_buckets_;
  std::uint32_t bucket_mask_;
};

}  // namespace heimdall::upstream
