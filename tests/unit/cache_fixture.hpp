// What the cache's unit tests share: answers to offer, and a fixture holding a
// cache with an injected clock, lookups and the replies built from hits.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "heimdall/cache/cache.hpp"
#include "heimdall/cache/stored_answer.hpp"
#include "heimdall/dns/build.hpp"
#include "wire_builder.hpp"

namespace heimdall::cache {

using heimdall::testing::a_rdata;
using heimdall::testing::Bytes;
using heimdall::testing::Packet;
using heimdall::testing::soa_rdata;

inline constexpr std::uint64_t kSecond = 1'000'000'000;
inline constexpr std::uint64_t kStart = 1000 * kSecond;  // the injected clock's origin

inline Bytes query_for(const char* name, std::uint16_t id = 0x1234) {
  return Packet().header(id, dns::flag::RD, 1, 0, 0, 0).question(name).bytes;
}

// A positive answer with `records` A records of the given TTL.
inline Bytes answer_for(const char* name, std::uint32_t ttl, int records = 1,
                        std::uint8_t first = 1) {
  Packet p;
  p.header(0x9999, dns::flag::QR | dns::flag::RD | dns::flag::RA, 1,
           static_cast<std::uint16_t>(records), 0, 0)
      .question(name);
  for (int i = 0; i < records; ++i) {
    p.pointer(12).record(dns::rrtype::A, ttl, a_rdata(static_cast<std::uint8_t>(first + i)));
  }
  return p.bytes;
}

inline Bytes negative_for(const char* name, std::uint8_t rcode, std::uint32_t soa_ttl,
                          std::uint32_t minimum) {
  return Packet()
      .header(0x9999,
              static_cast<std::uint16_t>(dns::flag::QR | dns::flag::RD | dns::flag::RA | rcode), 1,
              0, 1, 0)
      .question(name)
      .name("example.com")
      .record(dns::rrtype::SOA, soa_ttl, soa_rdata(minimum))
      .bytes;
}

inline dns::Message parsed(const Bytes& wire) {
  dns::Message msg;
  EXPECT_EQ(dns::parse_message(wire, msg), dns::ParseError::Ok);
  return msg;
}

inline dns::QuestionKey key_of(const char* name) {
  return dns::QuestionKey::of(parsed(query_for(name)));
}

// The first A record's TTL and last octet in a reply.
struct FirstRecord {
  std::uint32_t ttl = 0;
  std::uint8_t last_octet = 0;
};
inline FirstRecord first_record(const Bytes& reply) {
  const dns::Message msg = parsed(reply);
  FirstRecord first;
  dns::for_each_record(reply, msg, [&](const dns::Record& record) {
    first.ttl = dns::load_u32(reply.data() + record.ttl_offset);
    first.last_octet = reply[record.end - 1];
    return false;
  });
  return first;
}

class CacheTest : public ::testing::Test {
 protected:
  void make(unsigned shards = 1, unsigned readers = 1) {
    cache_.reset();
    cache_ = std::make_unique<Cache>(config_, shards, readers, 7);
    for (unsigned reader = 0; reader < readers; ++reader) cache_->register_reader(reader);
    readers_ = readers;
  }
  void TearDown() override {
    if (cache_) {
      for (unsigned reader = 0; reader < readers_; ++reader) cache_->unregister_reader(reader);
    }
  }

  void offer(const char* name, const Bytes& answer, std::uint64_t now, unsigned reader = 0) {
    const dns::QuestionKey key = key_of(name);
    const dns::Message msg = parsed(answer);
    cache_->offer(reader, Probe{cache_->digest(key), &key}, answer, msg, now);
  }
  Hit lookup(const char* name, std::uint64_t now, unsigned reader = 0) {
    const dns::QuestionKey key = key_of(name);
    const Probe probe{cache_->digest(key), &key};
    Hit hit;
    cache_->lookup(reader, {&probe, 1}, now, {&hit, 1});
    return hit;
  }
  // The reply a client asking `client_query` gets from `hit`.
  Bytes reply(const Hit& hit, const Bytes& client_query, std::uint16_t max_udp = 1232) {
    const dns::Message msg = parsed(client_query);
    dns::ClientView view{.id = msg.header.id,
                         .flags = msg.header.flags,
                         .question = msg.question.wire(client_query),
                         .edns = msg.edns.present,
                         .dnssec_ok = msg.edns.dnssec_ok,
                         .reply_limit = dns::udp_reply_limit(msg.edns, max_udp)};
    Bytes out(65535);
    const Ageing ageing{
        .age_s = hit.age_s,
        .stale_ttl = hit.freshness == Freshness::Stale ? config_.serve_stale.ttl_s : 0};
    out.resize(reply_from_stored(hit.stored, view, ageing, max_udp, out));
    return out;
  }
  std::uint64_t entries() const { return cache_->shard_counters(0).entries.load(); }

  CacheConfig config_;
  std::unique_ptr<Cache> cache_;
  unsigned readers_ = 0;
};

}  // namespace heimdall::cache
