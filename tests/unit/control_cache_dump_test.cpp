// `cache dump` as the control socket streams it: lines in presentation format,
// the limit and its cap, and the walk's chunks taken as the owners fill them.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "heimdall/cache/cache.hpp"
#include "heimdall/control/cache_dump.hpp"
#include "heimdall/dns/question_key.hpp"
#include "wire_builder.hpp"

namespace heimdall::control {
namespace {

using heimdall::testing::a_rdata;
using heimdall::testing::Bytes;
using heimdall::testing::Packet;
using Step = ResponseStream::Step;

constexpr std::uint64_t kSecond = 1'000'000'000;
constexpr std::uint64_t kStart = 1000 * kSecond;

cache::DumpRecord record_of(std::initializer_list<std::string> labels, std::uint16_t qtype,
                            std::uint16_t qclass) {
  cache::DumpRecord record;
  std::size_t length = 0;
  for (const std::string& label : labels) {
    record.name[length++] = static_cast<std::uint8_t>(label.size());
    std::memcpy(record.name + length, label.data(), label.size());
    length += label.size();
  }
  record.name[length++] = 0;
  record.name_length = static_cast<std::uint8_t>(length);
  record.qtype = qtype;
  record.qclass = qclass;
  return record;
}

std::string line_of(const cache::DumpRecord& record) {
  std::string out;
  append_dump_line(record, out);
  return out;
}

TEST(CacheDumpLine, PresentationFormatWithTheKeysFlagsAndState) {
  cache::DumpRecord record = record_of({"www", "example", "com"}, 1, 1);
  record.flags = dns::QuestionKey::kRd;
  record.ttl_left_s = 287;
  record.bytes = 64;
  record.shard = 1;
  EXPECT_EQ(line_of(record), "www.example.com. IN A positive ttl=287 flags=rd bytes=64 shard=1\n");
  record = record_of({"old", "example"}, 28, 1);
  record.kind = cache::AnswerKind::NxDomain;
  record.flags = dns::QuestionKey::kRd | dns::QuestionKey::kCd | dns::QuestionKey::kDo;
  record.ttl_left_s = -12;
  record.bytes = 80;
  EXPECT_EQ(line_of(record),
            "old.example. IN AAAA nxdomain stale=12 flags=rd,cd,do bytes=80 shard=0\n");
  record = record_of({"a b", "x.y"}, 12345, 42);
  record.kind = cache::AnswerKind::NoData;
  EXPECT_EQ(line_of(record),
            "a\\032b.x\\.y. CLASS42 TYPE12345 nodata ttl=0 flags=none bytes=0 shard=0\n");
  record = record_of({"version", "bind"}, 16, 3);
  record.kind = cache::AnswerKind::ServFail;
  EXPECT_EQ(line_of(record), "version.bind. CH TXT servfail ttl=0 flags=none bytes=0 shard=0\n");
  EXPECT_EQ(line_of(record_of({}, 2, 1)), ". IN NS positive ttl=0 flags=none bytes=0 shard=0\n");
}

class CacheDumpTest : public ::testing::Test {
 protected:
  void make(unsigned shards) {
    cache::CacheConfig config;
    config.max_entries = 64 * 1024;
    cache_ = std::make_unique<cache::Cache>(config, shards, shards, 7);
    for (unsigned reader = 0; reader < shards; ++reader) cache_->register_reader(reader);
    shards_ = shards;
  }
  void TearDown() override {
    for (unsigned reader = 0; reader < shards_; ++reader) cache_->unregister_reader(reader);
  }
  // `count` names, each inserted by its shard's owner.
  void fill(int count) {
    for (int i = 0; i < count; ++i) {
      const std::string name = "host" + std::to_string(i) + ".example.com";
      const Bytes query =
          Packet().header(1, dns::flag::RD, 1, 0, 0, 0).question(name.c_str()).bytes;
      const Bytes answer = Packet()
                               .header(1, dns::flag::QR | dns::flag::RD | dns::flag::RA, 1, 1, 0, 0)
                               .question(name.c_str())
                               .pointer(12)
                               .record(dns::rrtype::A, 300, a_rdata(1))
                               .bytes;
      dns::Message parsed_query, parsed_answer;
      ASSERT_EQ(dns::parse_message(query, parsed_query), dns::ParseError::Ok);
      ASSERT_EQ(dns::parse_message(answer, parsed_answer), dns::ParseError::Ok);
      const dns::QuestionKey key = dns::QuestionKey::of(parsed_query);
      const cache::Probe probe{cache_->digest(key), &key};
      cache_->offer(cache_->shard_of(probe.digest), probe, answer, parsed_answer, kStart);
    }
  }
  // Pulls `stream` to its end, running the owners' loops between pulls; the text.
  std::string run(ResponseStream& stream, Step& last, int* waits = nullptr) {
    std::string all;
    for (int pull = 0; pull < 100000; ++pull) {
      std::string text;
      last = stream.next(text);
      all += text;
      if (last == Step::Done || last == Step::Failed) return all;
      if (last == Step::Wait && waits != nullptr) ++*waits;
      for (unsigned shard = 0; shard < shards_; ++shard) cache_->maintain(shard, kStart);
    }
    ADD_FAILURE() << "the stream did not end";
    return all;
  }
  static std::size_t lines(const std::string& text, const std::string& pattern) {
    const std::regex line(pattern);
    std::size_t count = 0;
    for (std::size_t start = 0; start < text.size();) {
      const std::size_t end = text.find('\n', start);
      if (std::regex_match(text.substr(start, end - start), line)) ++count;
      start = end + 1;
    }
    return count;
  }

  std::unique_ptr<cache::Cache> cache_;
  unsigned shards_ = 0;
};

TEST_F(CacheDumpTest, ListsEveryEntryAcrossChunksAndCountsThem) {
  make(2);
  fill(10000);
  CacheDumpStream stream(*cache_, kCacheDumpMaxEntries);
  Step last = Step::More;
  const std::string text = run(stream, last);
  EXPECT_EQ(last, Step::Done);
  EXPECT_EQ(
      lines(text, R"(host\d+\.example\.com\. IN A positive ttl=300 flags=rd bytes=\d+ shard=[01])"),
      10000u);
  EXPECT_TRUE(text.ends_with("; 10000 entries\n")) << text.substr(text.size() - 100);
  EXPECT_NE(text.find("host0.example.com. IN A"), std::string::npos);
  EXPECT_NE(text.find("host9999.example.com. IN A"), std::string::npos);
}

TEST_F(CacheDumpTest, StopsAtTheLimitAndSaysSo) {
  make(2);
  fill(50);
  CacheDumpStream stream(*cache_, 7);
  Step last = Step::More;
  const std::string text = run(stream, last);
  EXPECT_EQ(last, Step::Done);
  EXPECT_EQ(lines(text, R"(host\d+\.example\.com\. IN A .*)"), 7u);
  EXPECT_TRUE(text.ends_with("; 7 entries: the limit of this dump; the cache may hold more\n"))
      << text;
}

TEST_F(CacheDumpTest, EmptyCache) {
  make(2);
  CacheDumpStream stream(*cache_, 10);
  Step last = Step::More;
  EXPECT_EQ(run(stream, last), "; 0 entries\n");
  EXPECT_EQ(last, Step::Done);
}

TEST_F(CacheDumpTest, OwnersThatDoNotLoopMakeItFailInsteadOfWaitingForEver) {
  make(2);
  fill(10);
  auto now = CacheDumpStream::Clock::now();
  CacheDumpStream stream(*cache_, 10, std::chrono::milliseconds(5000), [&] { return now; });
  std::string text;
  EXPECT_EQ(stream.next(text), Step::Wait);
  now += std::chrono::milliseconds(4999);
  EXPECT_EQ(stream.next(text), Step::Wait);
  now += std::chrono::milliseconds(2);
  EXPECT_EQ(stream.next(text), Step::Failed);
  EXPECT_EQ(text,
            "cache dump stopped after 0 entries: the workers walked no part of their shards for "
            "5000 ms");
}

TEST_F(CacheDumpTest, OneDumpAtATime) {
  make(1);
  const CommandResult first = cache_dump_command(*cache_, {});
  ASSERT_TRUE(first.ok);
  EXPECT_THROW(cache_dump_command(*cache_, {}), std::runtime_error);
}

TEST_F(CacheDumpTest, CommandArgumentsAndTheCap) {
  make(1);
  fill(3);
  for (const std::vector<std::string>& bad :
       {std::vector<std::string>{"0"}, {"-1"}, {"ten"}, {"1e6"}, {"5", "6"}, {""}}) {
    const CommandResult result = cache_dump_command(*cache_, bad);
    EXPECT_FALSE(result.ok) << bad[0];
    EXPECT_EQ(result.text, "usage: cache dump [N] (N from 1 to 1000000)");
  }
  const std::vector<std::string> huge{"10000000"};
  CommandResult result = cache_dump_command(*cache_, huge);
  ASSERT_TRUE(result.ok);
  ASSERT_TRUE(result.stream);
  EXPECT_EQ(result.text,
            "; 10000000 entries asked for: listing at most 1000000, the most one dump lists\n");
  Step last = Step::More;
  EXPECT_TRUE(run(*result.stream, last).ends_with("; 3 entries\n"));
  result.stream.reset();
  const std::vector<std::string> enormous{"99999999999999999999999999"};
  result = cache_dump_command(*cache_, enormous);
  ASSERT_TRUE(result.ok);
  EXPECT_NE(result.text.find("listing at most 1000000"), std::string::npos);
  result.stream.reset();
  const std::vector<std::string> two{"2"};
  result = cache_dump_command(*cache_, two);
  ASSERT_TRUE(result.ok);
  EXPECT_EQ(result.text, "");
  EXPECT_NE(run(*result.stream, last).find("; 2 entries: the limit"), std::string::npos);
}

}  // namespace
}  // namespace heimdall::control
