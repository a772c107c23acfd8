// The engine with a published filter snapshot: blocked names and local records
// answered without an upstream, client groups, forwarding zones (and their
// retries) and a new snapshot taking effect at the next burst.
#include <gtest/gtest.h>

#include "engine_harness.hpp"
#include "heimdall/filter/snapshot.hpp"

namespace heimdall::engine {
namespace {

using namespace heimdall::engine::testing;

std::span<const std::uint8_t> wire_of(const char* name, std::uint8_t (&buffer)[dns::kMaxNameWire]) {
  return {buffer, dns::name_from_text(name, buffer)};
}

struct SnapshotSpec {
  const char* blocked = "ads.example.com";  // list 0, subtree
  bool local_router = true;                 // router.lan. A 192.168.1.1
  const char* zone = nullptr;               // forwarded to servers 2 and 3
  bool group_without_lists = false;         // 127.0.0.2/32 gets no list
};

std::unique_ptr<filter::Snapshot> make_snapshot(const SnapshotSpec& spec) {
  filter::TrieBuilder trie;
  filter::LocalDataBuilder local;
  filter::SnapshotParts parts;
  std::uint8_t wire[dns::kMaxNameWire];
  EXPECT_TRUE(
      trie.add(wire_of(spec.blocked, wire), filter::Action::Block, filter::Scope::Subtree, 0));
  trie.add(wire_of("good.ads.example.com", wire), filter::Action::Allow, filter::Scope::Exact, 1);
  if (spec.local_router) {
    dns::RecordLine record;
    std::string error;
    EXPECT_TRUE(dns::parse_record("router.lan. 300 IN A 192.168.1.1", "", 3600, record, error))
        << error;
    trie.add_local(record.owner_wire(), local.add(record));
  }
  if (spec.zone != nullptr) {
    trie.add_zone(wire_of(spec.zone, wire), 0);
    parts.zone_servers.push_back(0b1100);
  }
  parts.trie = trie.build(99);
  parts.local = local.build();
  parts.policies = {{0, filter::BlockResponse{}}, {1, filter::BlockResponse{}}};
  parts.list_names = {"ads", "exceptions"};
  if (spec.group_without_lists) {
    filter::ClientGroupsBuilder groups;
    filter::Prefix prefix;
    EXPECT_TRUE(filter::Prefix::parse("127.0.0.2/32", prefix));
    groups.add_prefix(groups.add_group(0), prefix);
    parts.groups = groups.build(filter::kAllLists);
  }
  return std::make_unique<filter::Snapshot>(std::move(parts));
}

class EngineFilterTest : public EngineTest {
 protected:
  void with_filter(const SnapshotSpec& spec, int servers = 2) {
    published_.publish(make_snapshot(spec));
    filter_ = &published_;
    make_engine(servers, upstream::Strategy::Failover);
  }

  rcu::Published<filter::Snapshot> published_;
};

TEST_F(EngineFilterTest, ABlockedNameIsAnsweredWithoutAnUpstream) {
  with_filter({});
  ask(query(0x1234, "x.ADS.example.com", dns::rrtype::A), client(1, 5000));
  EXPECT_TRUE(sink_.sent.empty());
  ASSERT_EQ(sink_.replies.size(), 1u);
  const dns::Message reply = parsed(sink_.replies[0].wire);
  EXPECT_EQ(reply.header.id, 0x1234);
  EXPECT_EQ(reply.header.rcode(), static_cast<std::uint8_t>(dns::Rcode::NxDomain));
  EXPECT_EQ(reply.header.nscount, 1) << "the synthesized SOA";
  EXPECT_EQ(engine_->counters().blocked.load(), 1u);
  EXPECT_EQ(engine_->counters().blocked_by_list[0].load(), 1u);
  EXPECT_EQ(engine_->counters().forwarded.load(), 0u);
}

TEST_F(EngineFilterTest, AllowedAndUnlistedNamesAreForwarded) {
  with_filter({});
  ask(query(1, "good.ads.example.com", dns::rrtype::A), client(1, 5000));
  ask(query(2, "www.example.com", dns::rrtype::A), client(1, 5000));
  EXPECT_EQ(sink_.sent.size(), 2u);
  EXPECT_TRUE(sink_.replies.empty());
  EXPECT_EQ(engine_->counters().blocked.load(), 0u);
}

TEST_F(EngineFilterTest, LocalRecordsAreAnswered) {
  with_filter({});
  ask(query(7, "router.lan", dns::rrtype::A), client(1, 5000));
  EXPECT_TRUE(sink_.sent.empty());
  ASSERT_EQ(sink_.replies.size(), 1u);
  const Bytes& wire = sink_.replies[0].wire;
  const dns::Message reply = parsed(wire);
  EXPECT_EQ(reply.header.ancount, 1);
  EXPECT_EQ(Bytes(wire.end() - 4, wire.end()), (Bytes{192, 168, 1, 1}));
  EXPECT_EQ(engine_->counters().local_answers.load(), 1u);
}

TEST_F(EngineFilterTest, ClassAnyIsFilteredOtherClassesAreNot) {
  with_filter({});
  Bytes other = query(9, "ads.example.com", dns::rrtype::TXT);
  other[other.size() - 1] = 42;  // an unassigned class (CH and HS are answered locally)
  ask(other, client(1, 5000));
  EXPECT_EQ(sink_.sent.size(), 1u);
  EXPECT_TRUE(sink_.replies.empty());
  Bytes any = query(10, "ads.example.com", dns::rrtype::A);
  any[any.size() - 1] = 255;  // class ANY
  ask(any, client(1, 5000));
  EXPECT_EQ(sink_.sent.size(), 1u) << "not forwarded";
  EXPECT_EQ(sink_.replies.size(), 1u);
}

TEST_F(EngineFilterTest, AClientGroupWithoutListsIsNotFiltered) {
  with_filter({.group_without_lists = true});
  ask(query(1, "ads.example.com", dns::rrtype::A), client(2, 5000));
  EXPECT_EQ(sink_.sent.size(), 1u) << "127.0.0.2 is in the unfiltered group";
  ask(query(2, "ads.example.com", dns::rrtype::A), client(1, 5000));
  EXPECT_EQ(sink_.sent.size(), 1u);
  EXPECT_EQ(sink_.replies.size(), 1u) << "127.0.0.1 is in no group: every list";
}

TEST_F(EngineFilterTest, AZoneGoesToItsServersOnlyAndRetriesAmongThem) {
  config_.default_servers = 0b0011;
  with_filter({.zone = "corp.example"}, 4);
  ask(query(1, "host.corp.example", dns::rrtype::A), client(1, 5000), 0);
  ASSERT_EQ(sink_.sent.size(), 1u);
  EXPECT_EQ(sink_.sent[0].server, 2u) << "failover: the zone's first server";
  for (std::uint64_t now = 0; now <= 1600 * kMs && sink_.replies.empty(); now += 10 * kMs) {
    engine_->on_timer(now, sink_);
  }
  ASSERT_GE(sink_.sent.size(), 2u);
  for (const Sent& sent : sink_.sent) EXPECT_TRUE(sent.server == 2 || sent.server == 3);
  sink_.sent.clear();
  ask(query(2, "www.example.com", dns::rrtype::A), client(1, 5000), 2000 * kMs);
  ASSERT_EQ(sink_.sent.size(), 1u);
  EXPECT_LT(sink_.sent[0].server, 2u) << "the default route";
}

TEST_F(EngineFilterTest, ANewSnapshotTakesEffectAtTheNextBurst) {
  with_filter({});
  ask(query(1, "ads.example.com", dns::rrtype::A), client(1, 5000));
  EXPECT_EQ(sink_.replies.size(), 1u);
  published_.publish(make_snapshot({.blocked = "tracker.example.net"}));
  ask(query(2, "ads.example.com", dns::rrtype::A), client(1, 5000));
  EXPECT_EQ(sink_.sent.size(), 1u) << "no longer blocked";
  ask(query(3, "tracker.example.net", dns::rrtype::A), client(1, 5000));
  EXPECT_EQ(sink_.replies.size(), 2u);
}

}  // namespace
}  // namespace heimdall::engine
