// The counter tables rendered: every row of every table is a family in /metrics
// (with each of its labels), and the text forms add up what the workers counted.
#include <gtest/gtest.h>

#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "heimdall/cache/cache.hpp"
#include "heimdall/control/counter_report.hpp"
#include "heimdall/engine/engine.hpp"
#include "heimdall/io/dpdk_backend.hpp"
#include "heimdall/io/socket_backend.hpp"
#include "heimdall/upstream/selector.hpp"

namespace heimdall::control {
namespace {

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Every row's family is in `text` with its type, and a sample for each label.
template <typename Set, std::size_t N>
void expect_every_row_exported(const std::array<stats::Row<Set>, N>& table, const std::string& text,
                               std::span<const std::string> runtime_labels = {}) {
  for (const stats::Row<Set>& row : table) {
    if (row.kind == stats::Kind::Derived) continue;  // exported by its caller, by hand
    const std::string type = row.kind == stats::Kind::Gauge ? "gauge" : "counter";
    EXPECT_TRUE(has(text, "# TYPE " + std::string(row.metric) + " " + type + "\n")) << row.metric;
    std::vector<std::string> labels;
    if (row.counter != nullptr && !row.label.name.empty()) {
      labels.emplace_back(row.label.value);
    }
    for (std::size_t i = 0; row.array != nullptr && i < row.elements; ++i) {
      if (row.label_of != nullptr && !row.label_of(i).empty()) labels.emplace_back(row.label_of(i));
      if (row.label_of == nullptr && i < runtime_labels.size()) labels.push_back(runtime_labels[i]);
    }
    for (const std::string& label : labels) {
      EXPECT_TRUE(has(text, std::string(row.label.name) + "=\"" + label + "\"} "))
          << row.metric << " " << label;
    }
  }
}

// The guard beside every table: a member without its row, or with two, or a family
// split by another, does not compile.
struct alignas(64) Toy {
  stats::Counter first{0};
  stats::Counter second{0};
  std::array<stats::Counter, 3> by_reason{};
};
constexpr std::string_view toy_reason(std::size_t i) { return i == 0 ? "" : "why"; }
constexpr std::array kToyTable = {
    stats::counter(&Toy::first, "toy_first_total", "First."),
    stats::labelled(&Toy::second, "toy_total", "Second.", {"kind", "b"}),
    stats::per_label<Toy, &Toy::by_reason>("toy_reason_total", "By reason.", "reason", &toy_reason),
};
static_assert(stats::covers_every_member(kToyTable));
constexpr std::array kToyMissingAMember = {kToyTable[0], kToyTable[2]};
static_assert(!stats::covers_every_member(kToyMissingAMember));
constexpr std::array kToyTwiceOneMember = {kToyTable[0], kToyTable[0], kToyTable[2]};
static_assert(!stats::covers_every_member(kToyTwiceOneMember));
constexpr std::array kToySplitFamily = {
    stats::labelled(&Toy::first, "toy_total", "Second.", {"kind", "a"}), kToyTable[2],
    kToyTable[1]};
static_assert(!stats::covers_every_member(kToySplitFamily));

TEST(CounterReport, EveryRowOfEveryTableIsInTheMetrics) {
  // Two workers' sets of each (the exception path has one), all zero: a counter
  // that never moved is exported too.
  const auto engines = std::make_unique<engine::Counters[]>(2);
  const auto readers = std::make_unique<cache::ReaderCounters[]>(3);
  const auto shards = std::make_unique<cache::ShardCounters[]>(2);
  const auto sockets = std::make_unique<io::SocketCounters[]>(2);
  const auto ports = std::make_unique<io::DpdkCounters[]>(2);
  const auto exception = std::make_unique<io::ExceptionCounters>();
  const auto servers = std::make_unique<upstream::ServerCounters[]>(4);  // 2 workers x 2
  const std::vector<std::string> lists = {"ads", "malware"};

  CounterReport report;
  report.add({"engine", ""}, engine::kCounterTable, {&engines[0], &engines[1]}, 0, lists);
  report.add({"cache", "cache_"}, cache::kReaderCounterTable,
             {&readers[0], &readers[1], &readers[2]});
  report.add({"cache", "cache_"}, cache::kShardCounterTable, {&shards[0], &shards[1]});
  report.add({"sockets", "worker_"}, io::kSocketCounterTable, {&sockets[0], &sockets[1]});
  report.add({"dpdk", "worker_"}, io::kDpdkCounterTable, {&ports[0], &ports[1]});
  report.add_single({"exception path", "exception_"}, io::kExceptionCounterTable, *exception);
  report.add_labelled({"upstreams", "upstream_server_"}, upstream::kServerCounterTable,
                      {&servers[0], &servers[2]}, "server", "192.0.2.1:53");
  report.add_labelled({"upstreams", "upstream_server_"}, upstream::kServerCounterTable,
                      {&servers[1], &servers[3]}, "server", "192.0.2.2:53");
  MetricsText metrics;  // throws on a family written twice or a malformed name
  report.write_metrics(metrics);
  const std::string& text = metrics.text();

  expect_every_row_exported(engine::kCounterTable, text, lists);
  expect_every_row_exported(cache::kReaderCounterTable, text);
  expect_every_row_exported(cache::kShardCounterTable, text);
  expect_every_row_exported(io::kSocketCounterTable, text);
  expect_every_row_exported(io::kDpdkCounterTable, text);
  expect_every_row_exported(io::kExceptionCounterTable, text);
  expect_every_row_exported(upstream::kServerCounterTable, text);
  // The names operators' dashboards and the tests use, unchanged.
  for (const char* name :
       {"heimdall_queries_total{worker=\"1\"} 0", "heimdall_answers_total{rcode=\"NXDOMAIN\"} 0",
        "heimdall_dropped_queries_total{reason=\"short\"} 0", "heimdall_cache_entries 0",
        "heimdall_worker_dropped_frames_total{worker=\"0\",reason=\"bad_ipv4_csum\"} 0",
        "heimdall_worker_tcp_accept_backoff_total{worker=\"1\"} 0",
        "heimdall_filter_blocked_total{list=\"malware\"} 0",
        "heimdall_upstream_server_queries_total{server=\"192.0.2.2:53\"} 0"}) {
    EXPECT_TRUE(has(text, std::string(name) + "\n")) << name;
  }
  EXPECT_FALSE(has(text, "reason=\"\"")) << "DropReason::None is never counted";
}

TEST(CounterReport, SumsWorkersWhereAskedAndKeepsThemApartElsewhere) {
  engine::Counters a, b;
  stats::bump(a.queries, 3);
  stats::bump(b.queries, 4);
  stats::bump(b.drop_short, 2);
  stats::bump(a.answers_by_rcode[3]);
  CounterReport report;
  report.add({"engine", ""}, engine::kCounterTable, {&a, &b});
  MetricsText metrics;
  report.write_metrics(metrics);
  EXPECT_TRUE(has(metrics.text(), "heimdall_queries_total{worker=\"0\"} 3\n"));
  EXPECT_TRUE(has(metrics.text(), "heimdall_queries_total{worker=\"1\"} 4\n"));
  EXPECT_TRUE(has(metrics.text(), "heimdall_dropped_queries_total{reason=\"short\"} 2\n"));
  EXPECT_TRUE(has(metrics.text(), "heimdall_answers_total{rcode=\"NXDOMAIN\"} 1\n"));

  const std::string totals = report.totals_text();
  EXPECT_TRUE(has(totals, "\nqueries 7\n") || totals.starts_with("queries 7\n")) << totals;
  EXPECT_TRUE(has(totals, "\ndropped_queries.short 2\n")) << totals;
  EXPECT_TRUE(has(totals, "\nanswers.NXDOMAIN 1\n")) << totals;
  EXPECT_EQ(report.total("queries"), 7u);
  EXPECT_EQ(report.total("dropped_queries.short"), 2u);
  EXPECT_EQ(report.summary_lines(),
            std::vector<std::string>{
                "engine: 7 queries, 2 dropped queries (short), 1 answers (NXDOMAIN)"});
}

TEST(CounterReport, WorkersHaveAColumnEachAndIdleCountersAreLeftOut) {
  engine::Counters engines[3];
  io::SocketCounters tcp_worker;
  stats::bump(engines[0].queries, 5);
  stats::bump(engines[2].queries, 1);
  stats::bump(tcp_worker.tcp_accepted, 2);
  CounterReport report;
  report.add({"engine", ""}, engine::kCounterTable, {&engines[0], &engines[1], &engines[2]});
  // The exception path's TCP worker comes after two DPDK workers.
  report.add({"sockets", "worker_"}, io::kSocketCounterTable, {&tcp_worker}, 2);
  const std::vector<std::string> columns = {"worker 0", "worker 1", "worker 2 (TCP)"};
  const std::string text = report.workers_text(columns);
  EXPECT_TRUE(std::regex_search(text, std::regex(R"(^ +worker 0  worker 1  worker 2 \(TCP\)\n)")))
      << text;
  EXPECT_TRUE(std::regex_search(text, std::regex(R"(\nqueries +5 +0 +1\n)"))) << text;
  EXPECT_TRUE(std::regex_search(text, std::regex(R"(\nworker_tcp_accepted +- +- +2\n)"))) << text;
  EXPECT_FALSE(has(text, "replies")) << text;
}

TEST(CounterReport, TheSummaryDropsEachSectionsPrefixAndItsIdleCounters) {
  cache::ReaderCounters reader;
  cache::ShardCounters shard;
  stats::bump(reader.hits, 12);
  stats::set(shard.entries, 4);
  io::ExceptionCounters exception;
  CounterReport report;
  report.add({"cache", "cache_"}, cache::kReaderCounterTable, {&reader});
  report.add({"cache", "cache_"}, cache::kShardCounterTable, {&shard});
  report.add_single({"exception path", "exception_"}, io::kExceptionCounterTable, exception);
  EXPECT_EQ(report.summary_lines(), std::vector<std::string>{"cache: 12 hits, 4 entries"});
}

TEST(CounterReport, EachServerIsSummedOverTheWorkersUnderItsOwnLabel) {
  upstream::ServerCounters worker0[2], worker1[2];
  stats::bump(worker0[0].chosen, 2);
  stats::bump(worker1[0].chosen, 3);
  stats::bump(worker1[1].chosen, 7);
  stats::set(worker1[1].down, 1);
  CounterReport report;
  report.add_labelled({"upstreams", "upstream_server_"}, upstream::kServerCounterTable,
                      {&worker0[0], &worker1[0]}, "server", "192.0.2.1:53");
  report.add_labelled({"upstreams", "upstream_server_"}, upstream::kServerCounterTable,
                      {&worker0[1], &worker1[1]}, "server", "192.0.2.2:53");
  MetricsText metrics;
  report.write_metrics(metrics);
  EXPECT_TRUE(has(metrics.text(),
                  "heimdall_upstream_server_queries_total{server=\"192.0.2.1:53\"} 5\n"
                  "heimdall_upstream_server_queries_total{server=\"192.0.2.2:53\"} 7\n"));
  EXPECT_TRUE(
      has(metrics.text(), "heimdall_upstream_server_down_workers{server=\"192.0.2.2:53\"} 1\n"));
  EXPECT_FALSE(has(metrics.text(), "srtt")) << "the caller averages it";
  EXPECT_EQ(report.total("upstream_server_queries.192.0.2.2:53"), 7u);
  EXPECT_EQ(
      report.summary_lines(),
      std::vector<std::string>{"upstreams: 5 queries (192.0.2.1:53), 7 queries (192.0.2.2:53), "
                               "1 down workers (192.0.2.2:53)"});
}

TEST(CounterReport, ListsAreLabelledOnlyWhileTheyExist) {
  engine::Counters counters;
  stats::bump(counters.blocked_by_list[0], 9);
  CounterReport report;
  const std::vector<std::string> lists = {"ads"};
  report.add({"engine", ""}, engine::kCounterTable, {&counters}, 0, lists);
  MetricsText metrics;
  report.write_metrics(metrics);
  EXPECT_TRUE(has(metrics.text(), "heimdall_filter_blocked_total{list=\"ads\"} 9\n"));
  EXPECT_EQ(metrics.text().find("heimdall_filter_blocked_total{"),
            metrics.text().rfind("heimdall_filter_blocked_total{"))
      << "one list, one sample";
}

}  // namespace
}  // namespace heimdall::control
