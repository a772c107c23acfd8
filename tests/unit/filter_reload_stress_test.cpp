// Snapshots replaced while workers read them (docs/architecture.md §9.2): a writer
// publishes new snapshots as fast as it builds them; reader threads, registered
// with RCU and quiescent once per loop like workers, decide names against whatever
// snapshot they hold and check each decision is the one that snapshot must give.
// A snapshot freed too early is a use-after-free (this test runs under ASan) or a
// race (under TSan, through the grace-period annotations).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "heimdall/filter/snapshot.hpp"
#include "heimdall/rcu/qsbr.hpp"
#include "wire_builder.hpp"

namespace heimdall::filter {
namespace {

// Version v blocks "v<v % 8>.test" with list v % 2 and names itself in list_names.
std::unique_ptr<Snapshot> version(unsigned v) {
  TrieBuilder trie;
  const std::string blocked = "v" + std::to_string(v % 8) + ".test";
  EXPECT_TRUE(trie.add_text(blocked.c_str(), Action::Block, Scope::Exact, v % 2));
  for (unsigned i = 0; i < 200; ++i) {
    trie.add_text(("filler" + std::to_string(i) + ".test").c_str(), Action::Block, Scope::Exact, 0);
  }
  SnapshotParts parts;
  parts.trie = trie.build(v);
  parts.policies = {{0, BlockResponse{}}, {1, BlockResponse{}}};
  parts.list_names = {std::to_string(v), "odd"};
  return std::make_unique<Snapshot>(std::move(parts));
}

TEST(FilterReload, ReadersAlwaysSeeAWholeSnapshot) {
  rcu::Published<Snapshot> published;
  published.publish(version(0));
  std::vector<dns::NameKey> names;
  for (unsigned i = 0; i < 8; ++i)
    names.push_back(testing::folded_key("v" + std::to_string(i) + ".test"));
  net::Endpoint client;
  client.family = AF_INET;

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> checked{0}, wrong{0};
  auto reader = [&] {
    const rcu::ReaderThread registration;
    std::uint64_t mine = 0, bad = 0, loops = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      const Snapshot* snapshot = published.read();
      const unsigned v = static_cast<unsigned>(std::stoul(snapshot->list_names()[0]));
      for (unsigned i = 0; i < names.size(); ++i) {
        const Decision decision = snapshot->decide(client, names[i], 0);
        const bool should_block = i == v % 8;
        if ((decision.verdict == Decision::Verdict::Block) != should_block ||
            (should_block && decision.list != v % 2)) {
          ++bad;
        }
        ++mine;
      }
      // Both ways a worker lets grace periods pass: a quiescent state, or going
      // offline around a blocking call (the socket worker's epoll_wait).
      if (++loops % 2 == 0) {
        rcu::ReaderThread::quiescent();
      } else {
        rcu::ReaderThread::offline();
        std::this_thread::yield();
        rcu::ReaderThread::online();
      }
    }
    checked.fetch_add(mine);
    wrong.fetch_add(bad);
  };
  std::vector<std::thread> readers;
  for (int i = 0; i < 3; ++i) readers.emplace_back(reader);

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
  unsigned published_versions = 1;
  while (std::chrono::steady_clock::now() < deadline)
    published.publish(version(published_versions++));
  stop.store(true);
  for (auto& thread : readers) thread.join();

  EXPECT_GT(published_versions, 20u);
  EXPECT_GT(checked.load(), 0u);
  EXPECT_EQ(wrong.load(), 0u);
}

}  // namespace
}  // namespace heimdall::filter
