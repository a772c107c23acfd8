// Counters a worker owns and the control thread reads, and the table that declares
// each of them once. Beside every counter struct sits a constexpr table of rows
// (which member, its Prometheus name, its help, its label such as a drop reason),
// as grout registers each drop once; /metrics, heimdallctl stats and workers and the
// exit summary are all rendered from the tables (control/counter_report.hpp), so a
// new counter is a member plus a row, and a member without a row does not compile
// (covers_every_member below).
//
// The data plane never sees a table: it bumps plain members as before.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

namespace heimdall::stats {

using Counter = std::atomic<std::uint64_t>;

// The owner's increment (docs/architecture.md §4.2): a relaxed load and store, never a
// read-modify-write, since only the owning thread writes; readers load relaxed.
inline void bump(Counter& counter, std::uint64_t by = 1) {
  counter.store(counter.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}
inline void set(Counter& counter, std::uint64_t value) {
  counter.store(value, std::memory_order_relaxed);
}
inline std::uint64_t read(const Counter& counter) {
  return counter.load(std::memory_order_relaxed);
}

// A Prometheus counter or gauge; or Derived: exported by hand as part of something
// the rows cannot say (an average over workers, a histogram), by the code that
// its row's comment names. Every other output leaves a Derived row out.
enum class Kind : std::uint8_t { Count, Gauge, Derived };
// Whether /metrics gives one sample per worker (label "worker") or their sum.
enum class Split : std::uint8_t { ByWorker, Total };

struct Label {
  std::string_view name;
  std::string_view value;
};

// One row of a table: a counter of `Set`, or an array of them (one sample per
// element). Rows that share a metric are one family: they sit together and differ
// by their label's value.
template <typename Set>
struct Row {
  const Counter Set::*counter = nullptr;                    // a single counter, or
  std::span<const Counter> (*array)(const Set&) = nullptr;  // an array of them
  std::size_t elements = 0;                                 // the array's size
  std::string_view metric;                                  // "heimdall_..._total" for a counter
  std::string_view help;
  // A counter's label; for an array, the label's name and each element's value:
  // label_of(i), where "" leaves element i out (never counted) and a null
  // label_of means the values are known only when rendering (list names).
  Label label{};
  std::string_view (*label_of)(std::size_t) = nullptr;
  Kind kind = Kind::Count;
  Split split = Split::ByWorker;
};

// Row builders, so that a table reads one counter per line.
template <typename Set>
constexpr Row<Set> counter(const Counter Set::*member, std::string_view metric,
                           std::string_view help, Split split = Split::ByWorker) {
  return {.counter = member, .metric = metric, .help = help, .split = split};
}
template <typename Set>
constexpr Row<Set> gauge(const Counter Set::*member, std::string_view metric, std::string_view help,
                         Split split = Split::ByWorker) {
  return {.counter = member, .metric = metric, .help = help, .kind = Kind::Gauge, .split = split};
}
template <typename Set>
constexpr Row<Set> labelled(const Counter Set::*member, std::string_view metric,
                            std::string_view help, Label label, Split split = Split::ByWorker) {
  return {.counter = member, .metric = metric, .help = help, .label = label, .split = split};
}

template <typename Set>
constexpr Row<Set> derived(const Counter Set::*member, std::string_view metric,
                           std::string_view help) {
  return {.counter = member, .metric = metric, .help = help, .kind = Kind::Derived};
}

// The elements of array member `Member` (a std::array<Counter, N>), for Row::array.
template <typename Set, auto Member>
constexpr std::span<const Counter> array_of(const Set& set) {
  return set.*Member;
}
template <typename Set, auto Member>
constexpr Row<Set> per_label(std::string_view metric, std::string_view help,
                             std::string_view label_name, std::string_view (*label_of)(std::size_t),
                             Split split = Split::ByWorker) {
  return {.array = &array_of<Set, Member>,
          .elements = std::tuple_size_v<std::remove_cvref_t<decltype(std::declval<Set>().*Member)>>,
          .metric = metric,
          .help = help,
          .label = {label_name, {}},
          .label_of = label_of,
          .split = split};
}

template <typename Set, auto Member>
constexpr Row<Set> derived_array(std::string_view metric, std::string_view help) {
  return {.array = &array_of<Set, Member>,
          .elements = std::tuple_size_v<std::remove_cvref_t<decltype(std::declval<Set>().*Member)>>,
          .metric = metric,
          .help = help,
          .kind = Kind::Derived};
}

template <typename Set>
constexpr const Counter* first_counter(const Row<Set>& row, const Set& set) {
  return row.counter != nullptr ? &(set.*row.counter) : row.array(set).data();
}

namespace detail {
// Converts to any member's type: Set{Any{}, ...} compiles with as many of them as
// Set has members (an array member takes one, since Any converts to it whole).
struct Any {
  template <typename T>
  constexpr operator T() const noexcept;  // never called: unevaluated only
};
template <typename Set, typename... Anys>
constexpr std::size_t member_count() {
  if constexpr (requires { Set{Anys{}..., Any{}}; }) {
    return member_count<Set, Anys..., Any>();
  } else {
    return sizeof...(Anys);
  }
}
}  // namespace detail

// True when the rows name every member of `Set` exactly once, and rows of one
// metric sit together. Used as static_assert(covers_every_member(kTable)) beside
// each table, so a member added without its row stops the build.
template <typename Set, std::size_t N>
consteval bool covers_every_member(const std::array<Row<Set>, N>& table) {
  const Set probe{};
  for (std::size_t i = 0; i < N; ++i) {
    // By `elements`, not `array == nullptr`: GCC with -fsanitize=undefined does not
    // fold a function pointer's comparison with null in a constant expression.
    if ((table[i].counter == nullptr) == (table[i].elements == 0)) return false;
    for (std::size_t j = 0; j < i; ++j) {
      if (first_counter(table[i], probe) == first_counter(table[j], probe)) return false;
      // A family is written once: its rows must not be split by another family.
      if (table[j].metric == table[i].metric && table[j + 1].metric != table[i].metric) {
        return false;
      }
    }
  }
  return N == detail::member_count<Set>();
}

}  // namespace heimdall::stats
