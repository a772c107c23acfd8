#include <gtest/gtest.h>

#include <cstring>
#include <set>

#include "heimdall/upstream/pending_table.hpp"

namespace heimdall::upstream {
namespace {

QuestionKey key_of(const char* label, std::uint16_t qtype, std::uint8_t flags = 0) {
  QuestionKey key;
  const std::size_t length = std::strlen(label);
  key.name.wire[0] = static_cast<std::uint8_t>(length);
  std::memcpy(key.name.wire + 1, label, length);
  key.name.wire[length + 1] = 0;
  key.name.length = static_cast<std::uint8_t>(length + 2);
  key.qtype = qtype;
  key.qclass = 1;
  key.flags = flags;
  return key;
}

TEST(PendingTable, RefusesAllocationWhenFull) {
  PendingTable table(4, 8);
  std::set<std::uint32_t> slots;
  for (int i = 0; i < 4; ++i) slots.insert(table.allocate());
  EXPECT_EQ(slots.size(), 4u);
  EXPECT_EQ(slots.count(kNoSlot), 0u);
  EXPECT_EQ(table.allocate(), kNoSlot);
  table.release(*slots.begin());
  EXPECT_NE(table.allocate(), kNoSlot);
}

TEST(PendingTable, FindsEntriesByPortAndId) {
  PendingTable table(16, 16);
  const std::uint32_t a = table.allocate();
  const std::uint32_t b = table.allocate();
  table[a].local_port = 40000;
  table[a].id = 0x1234;
  table.register_id(a);
  table[b].local_port = 40001;
  table[b].id = 0x1234;
  table.register_id(b);
  EXPECT_EQ(table.find_id(40000, 0x1234), a);
  EXPECT_EQ(table.find_id(40001, 0x1234), b);
  EXPECT_EQ(table.find_id(40000, 0x1235), kNoSlot);
  table.unregister_id(a);
  EXPECT_EQ(table.find_id(40000, 0x1234), kNoSlot);
  EXPECT_EQ(table.find_id(40001, 0x1234), b);
}

TEST(PendingTable, FindsInFlightQuestionsForCoalescing) {
  PendingTable table(16, 16);
  const std::uint32_t slot = table.allocate();
  table[slot].key = key_of("example", 1);
  table.index_question(slot);
  EXPECT_EQ(table.find_question(key_of("example", 1)), slot);
  EXPECT_EQ(table.find_question(key_of("example", 28)), kNoSlot);
  EXPECT_EQ(table.find_question(key_of("example", 1, QuestionKey::kDo)), kNoSlot)
      << "DO changes the answer, so it is part of the key";
  table.release(slot);
  EXPECT_EQ(table.find_question(key_of("example", 1)), kNoSlot);
}

TEST(PendingTable, ReleasingAnEntryReturnsItsWaitersToThePool) {
  PendingTable table(4, 3);
  const std::uint32_t slot = table.allocate();
  ASSERT_NE(table.add_waiter(slot), nullptr);
  ASSERT_NE(table.add_waiter(slot), nullptr);
  ASSERT_NE(table.add_waiter(slot), nullptr);
  EXPECT_EQ(table.add_waiter(slot), nullptr) << "the pool has three waiters";
  EXPECT_EQ(table[slot].waiter_count, 3);
  table.release(slot);
  const std::uint32_t again = table.allocate();
  for (int i = 0; i < 3; ++i) EXPECT_NE(table.add_waiter(again), nullptr);
}

TEST(PendingTable, HashChainsSurviveRemovalFromTheMiddle) {
  PendingTable table(64, 64);
  std::uint32_t slots[40];
  for (std::uint16_t i = 0; i < 40; ++i) {
    slots[i] = table.allocate();
    table[slots[i]].local_port = 1000;
    table[slots[i]].id = i;
    table.register_id(slots[i]);
  }
  for (std::uint16_t i = 0; i < 40; i += 2) table.release(slots[i]);
  for (std::uint16_t i = 0; i < 40; ++i) {
    EXPECT_EQ(table.find_id(1000, i), i % 2 ? slots[i] : kNoSlot) << i;
  }
  EXPECT_EQ(table.in_use(), 20u);
}

}  // namespace
}  // namespace heimdall::upstream
