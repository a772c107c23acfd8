// Every counter the operator can see, read once from the counter tables
// (stats/counter_table.hpp; a backend's through stats/counter_sets.hpp) and rendered four ways: the
// /metrics families, the totals of `heimdallctl stats`, the per-worker columns of `heimdallctl
// workers`, and the exit summary. A counter's name in the text forms is its metric's, without
// "heimdall_" and "_total", and with ".label" for a labelled one
// (heimdall_dropped_queries_total{reason="short"} is dropped_queries.short).
// Built by the control thread with relaxed loads; never on a worker.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "heimdall/control/metrics_text.hpp"
#include "heimdall/stats/counter_sets.hpp"
#include "heimdall/stats/counter_table.hpp"

namespace heimdall::control {

class CounterReport {
 public:
  using Section = stats::Section;

  // One table's counter sets, one per worker numbered from `first_worker`.
  // `runtime_labels` name the elements of an array row whose labels are known only
  // now (the filter's lists); its elements past them are left out.
  template <typename Set, std::size_t N>
  void add(Section section, const std::array<stats::Row<Set>, N>& table,
           const std::vector<const Set*>& sets, std::size_t first_worker = 0,
           std::span<const std::string> runtime_labels = {}) {
    add(stats::CounterSets(section, table, sets, first_worker), runtime_labels);
  }
  // The same, from sets whose type their owner has erased (a backend's:
  // io::Backend::visit_counters).
  void add(const stats::CounterSets& sets, std::span<const std::string> runtime_labels = {});
  // One table's sets of one thing every worker counts apart (an upstream server),
  // one per worker: each of its samples has the label `name`="value" too.
  template <typename Set, std::size_t N>
  void add_labelled(Section section, const std::array<stats::Row<Set>, N>& table,
                    const std::vector<const Set*>& sets, std::string_view name, std::string value) {
    const std::size_t first = entries_.size();
    add(stats::CounterSets(section, table, sets));
    for (std::size_t i = first; i < entries_.size(); ++i) {
      entries_[i].set_label_name = name;
      entries_[i].set_label_value = value;
    }
  }
  // A set no worker owns (the exception thread's): left out of `workers`.
  template <typename Set, std::size_t N>
  void add_single(Section section, const std::array<stats::Row<Set>, N>& table, const Set& set) {
    add(stats::CounterSets::single(section, table, set));
  }

  void write_metrics(MetricsText& metrics) const;
  // "name total" per counter, one a line.
  std::string totals_text() const;
  // A column per worker (`column_names[i]` heads worker i's), a line per counter
  // that is not zero on every worker.
  std::string workers_text(std::span<const std::string> column_names) const;
  // Per section, its counters that are not zero, in words: "cache: 12 hits, 3 misses",
  // "engine: 40 queries, 2 stale answers, 1 dropped queries (short)".
  std::vector<std::string> summary_lines() const;
  // The total of the counter named `name` (as in totals_text); 0 when there is none.
  std::uint64_t total(std::string_view name) const;

 private:
  // One exported counter (a row, or one element of an array row), read from every set.
  struct Entry {
    std::string_view section;
    std::string_view prefix;
    std::string_view metric;
    std::string_view help;
    stats::Kind kind;
    stats::Split split;
    std::string_view label_name;  // empty: no label
    std::string label_value;
    std::string_view set_label_name;  // the thing counted (add_labelled); empty: none
    std::string set_label_value;
    std::vector<std::uint64_t> values;  // by set
    std::size_t first_worker;
    bool per_worker;

    std::uint64_t total() const;
    std::string name() const;
  };

  std::vector<Entry> entries_;
};

}  // namespace heimdall::control
