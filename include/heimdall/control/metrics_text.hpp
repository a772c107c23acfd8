// The /metrics body in the Prometheus text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/), built by the
// control thread from counters it has summed. A scraper rejects a whole scrape on one
// bad line, so misuse (a bad name, a sample outside a family, a family twice) throws
// std::invalid_argument: it is a programming error, not an input error.
#pragma once

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace heimdall::control {

// A label's name and its value (unescaped: the writer escapes it).
using MetricLabel = std::pair<std::string_view, std::string>;
using MetricLabels = std::span<const MetricLabel>;

class MetricsText {
 public:
  enum class Type { Counter, Gauge, Histogram };

  // Starts a family with its "# HELP" and "# TYPE" lines. Names match
  // [a-zA-Z_:][a-zA-Z0-9_:]*; a counter's name ends in "_total", and a histogram's
  // samples get the _bucket, _sum and _count suffixes.
  void family(std::string_view name, std::string_view help, Type type);

  // One sample of the current counter or gauge family. Integers are printed
  // exactly; doubles in their shortest round-trip form, or +Inf, -Inf, NaN.
  void sample(MetricLabels labels, double value);
  template <std::integral T>
  void sample(MetricLabels labels, T value) {
    if constexpr (std::is_signed_v<T>) {
      sample_integer(labels, static_cast<std::int64_t>(value));
    } else {
      sample_integer(labels, static_cast<std::uint64_t>(value));
    }
  }
  void sample(std::initializer_list<MetricLabel> labels, double value) {
    sample(MetricLabels(labels.begin(), labels.size()), value);
  }
  template <std::integral T>
  void sample(std::initializer_list<MetricLabel> labels, T value) {
    sample(MetricLabels(labels.begin(), labels.size()), value);
  }

  // The samples of the current histogram family: one cumulative _bucket per upper
  // bound (seconds, finite, increasing) and le="+Inf", then _sum and _count.
  // `counts` are per bucket, not cumulative, with one more entry than
  // `upper_bounds`: the observations above the last bound.
  void histogram(MetricLabels labels, std::span<const double> upper_bounds,
                 std::span<const std::uint64_t> counts, double sum);
  void histogram(std::initializer_list<MetricLabel> labels, std::span<const double> upper_bounds,
                 std::span<const std::uint64_t> counts, double sum) {
    histogram(MetricLabels(labels.begin(), labels.size()), upper_bounds, counts, sum);
  }

  const std::string& text() const { return text_; }

 private:
  void sample_integer(MetricLabels labels, std::uint64_t value);
  void sample_integer(MetricLabels labels, std::int64_t value);
  void require_family(bool histogram) const;
  // `name_suffix` is appended to the family name; `le` is the bucket label, if any.
  void write_sample(std::string_view name_suffix, MetricLabels labels, std::string_view le,
                    std::string_view value);

  std::string text_;
  std::string current_;  // the family samples belong to; empty before the first
  Type current_type_ = Type::Gauge;
  std::set<std::string, std::less<>> families_;
};

}  // namespace heimdall::control
