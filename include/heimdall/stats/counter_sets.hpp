// One counter table and the sets it reads, with the sets' type erased: how a part
// that owns counters (a backend: io::Backend) hands them to what renders them
// (control::CounterReport) without either including the other (docs/architecture.md §3,
// §4.2). The table's rows are read through two function pointers made for its
// struct when the view is built; every metric name and help stays the table's.
//
// Control thread only: built and read once per scrape or command, never by a
// worker, whose counters stay plain members bumped as before.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "heimdall/stats/counter_table.hpp"

namespace heimdall::stats {

// A group of tables in the text forms: its name, and the prefix its counters' names
// lose in the summary ("cache: 12 hits", not "cache: 12 cache hits").
struct Section {
  std::string_view name;
  std::string_view prefix;
};

// A row as its readers see it, without the member it reads (Row<Set> names Set).
struct RowInfo {
  std::string_view metric;
  std::string_view help;
  Label label;
  std::string_view (*label_of)(std::size_t) = nullptr;
  std::size_t elements = 0;  // 0: a single counter; else an array row's size
  Kind kind = Kind::Count;
  Split split = Split::ByWorker;
};

class CounterSets {
 public:
  // One set per worker, numbered from `first_worker`. The table is one of the
  // static tables beside its struct; it and the sets must outlive this view.
  template <typename Set, std::size_t N>
  CounterSets(Section section, const std::array<Row<Set>, N>& table, std::vector<const Set*> sets,
              std::size_t first_worker = 0)
      : section_(section),
        rows_(table.data()),
        row_count_(N),
        sets_(sets.begin(), sets.end()),
        first_worker_(first_worker),
        describe_(&describe<Set>),
        counter_(&counter<Set>) {}

  // A set no worker owns (the DPDK exception thread's): counted in the totals,
  // left out of the per-worker forms.
  template <typename Set, std::size_t N>
  static CounterSets single(Section section, const std::array<Row<Set>, N>& table, const Set& set) {
    CounterSets view(section, table, std::vector<const Set*>{&set});
    view.per_worker_ = false;
    return view;
  }

  Section section() const { return section_; }
  std::size_t first_worker() const { return first_worker_; }
  bool per_worker() const { return per_worker_; }
  std::size_t row_count() const { return row_count_; }
  RowInfo row(std::size_t index) const { return describe_(rows_, index); }
  std::size_t set_count() const { return sets_.size(); }
  // Row `row_index`'s counter (element `element` of an array row) in set `set`, now.
  std::uint64_t read(std::size_t row_index, std::size_t element, std::size_t set) const {
    return stats::read(counter_(rows_, row_index, element, sets_[set]));
  }

 private:
  template <typename Set>
  static RowInfo describe(const void* rows, std::size_t index) {
    const Row<Set>& r = static_cast<const Row<Set>*>(rows)[index];
    return {.metric = r.metric,
            .help = r.help,
            .label = r.label,
            .label_of = r.label_of,
            .elements = r.counter != nullptr ? 0 : r.elements,
            .kind = r.kind,
            .split = r.split};
  }
  template <typename Set>
  static const Counter& counter(const void* rows, std::size_t index, std::size_t element,
                                const void* set) {
    const Row<Set>& r = static_cast<const Row<Set>*>(rows)[index];
    const Set& s = *static_cast<const Set*>(set);
    return r.counter != nullptr ? s.*r.counter : r.array(s)[element];
  }

  Section section_;
  const void* rows_;  // the table's Row<Set>s
  std::size_t row_count_;
  std::vector<const void*> sets_;  // const Set*
  std::size_t first_worker_;
  bool per_worker_ = true;
  RowInfo (*describe_)(const void* rows, std::size_t index);
  const Counter& (*counter_)(const void* rows, std::size_t index, std::size_t element,
                             const void* set);
};

}  // namespace heimdall::stats
