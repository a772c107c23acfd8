// Every counter the operator can see, read once from the counter tables
// (stats/counter_table.hpp) and rendered four ways: the /metrics families, the
// totals of `heimdallctl stats`, the per-worker columns of `heimdallctl workers`,
// and the exit summary. A counter's name in the text forms is its metric's, without
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
#include "heimdall/stats/counter_table.hpp"

namespace heimdall::control {

class CounterReport {
 public:
  // A group of tables in the text forms: its name, and the prefix its names lose
  // in the summary ("cache: 12 hits", not "cache: 12 cache hits").
  struct Section {
    std::string_view name;
    std::string_view prefix;
  };

  // One table's counter sets, one per worker numbered from `first_worker`.
  // `runtime_labels` name the elements of an array row whose labels are known only
  // now (the filter's lists); its elements past them are left out.
  template <typename Set, std::size_t N>
  void add(Section section, const std::array<stats::Row<Set>, N>& table,
           const std::vector<const Set*>& sets, std::size_t first_worker = 0,
           std::span<const std::string> runtime_labels = {}) {
    add_table(section, table, sets, first_worker, runtime_labels, true);
  }
  // One table's sets of one thing every worker counts apart (an upstream server),
  // one per worker: each of its samples has the label `name`="value" too.
  template <typename Set, std::size_t N>
  void add_labelled(Section section, const std::array<stats::Row<Set>, N>& table,
                    const std::vector<const Set*>& sets, std::string_view name, std::string value) {
    const std::size_t first = entries_.size();
    add_table(section, table, sets, 0, {}, true);
    for (std::size_t i = first; i < entries_.size(); ++i) {
      entries_[i].set_label_name = name;
      entries_[i].set_label_value = value;
    }
  }
  // A set no worker owns (the exception thread's): left out of `workers`.
  template <typename Set, std::size_t N>
  void add_single(Section section, const std::array<stats::Row<Set>, N>& table, const Set& set) {
    add_table(section, table, std::vector<const Set*>{&set}, 0, {}, false);
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

  template <typename Set, std::size_t N>
  void add_table(Section section, const std::array<stats::Row<Set>, N>& table,
                 const std::vector<const Set*>& sets, std::size_t first_worker,
                 std::span<const std::string> runtime_labels, bool per_worker) {
    for (const stats::Row<Set>& row : table) {
      if (row.kind == stats::Kind::Derived) continue;  // its caller exports it
      const auto add_entry = [&](std::string_view label_value, auto counter_of) {
        Entry& entry = entries_.emplace_back(Entry{section.name,
                                                   section.prefix,
                                                   row.metric,
                                                   row.help,
                                                   row.kind,
                                                   row.split,
                                                   row.label.name,
                                                   std::string(label_value),
                                                   {},
                                                   {},
                                                   {},
                                                   first_worker,
                                                   per_worker});
        for (const Set* set : sets) entry.values.push_back(stats::read(counter_of(*set)));
      };
      if (row.counter != nullptr) {
        add_entry(row.label.value,
                  [&](const Set& set) -> const stats::Counter& { return set.*row.counter; });
        continue;
      }
      for (std::size_t i = 0; i < row.elements; ++i) {
        std::string_view label;
        if (row.label_of != nullptr) {
          label = row.label_of(i);
        } else if (i < runtime_labels.size()) {
          label = runtime_labels[i];
        }
        if (label.empty()) continue;  // never counted, or no list of that number
        add_entry(label,
                  [&](const Set& set) -> const stats::Counter& { return row.array(set)[i]; });
      }
    }
  }

  std::vector<Entry> entries_;
};

}  // namespace heimdall::control
