// The Prometheus text format 0.0.4, written directly: one family's HELP and TYPE
// lines, then its samples, each "name{label="value",...} value\n".
#include "heimdall/control/metrics_text.hpp"

#include <charconv>
#include <cmath>
#include <stdexcept>
#include <system_error>

namespace heimdall::control {
namespace {

bool is_name_start(char c, bool colon_allowed) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         (colon_allowed && c == ':');
}

bool is_name_char(char c, bool colon_allowed) {
  return is_name_start(c, colon_allowed) || (c >= '0' && c <= '9');
}

// Metric names may hold colons (recording rules use them); label names may not.
bool is_valid_name(std::string_view name, bool colon_allowed) {
  if (name.empty() || !is_name_start(name.front(), colon_allowed)) return false;
  for (const char c : name) {
    if (!is_name_char(c, colon_allowed)) return false;
  }
  return true;
}

void require(bool condition, const std::string& what) {
  if (!condition) throw std::invalid_argument("metrics: " + what);
}

// HELP text escapes backslash and newline; label values also escape the quote.
void append_escaped(std::string& out, std::string_view text, bool quote) {
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

template <typename T>
std::string number_text(T value) {
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

// Prometheus parses values with Go's ParseFloat, which takes the shortest form that
// round-trips (what to_chars writes) and spells the specials +Inf, -Inf and NaN.
std::string double_text(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  return number_text(value);
}

const char* type_name(MetricsText::Type type) {
  switch (type) {
    case MetricsText::Type::Counter:
      return "counter";
    case MetricsText::Type::Gauge:
      return "gauge";
    case MetricsText::Type::Histogram:
      return "histogram";
  }
  return "untyped";
}

}  // namespace

void MetricsText::family(std::string_view name, std::string_view help, Type type) {
  require(is_valid_name(name, true), "invalid metric name '" + std::string(name) + "'");
  require(type != Type::Counter || name.ends_with("_total"),
          "counter '" + std::string(name) + "' must end in _total");
  // A scraper rejects a family that appears twice, even split by another one.
  require(families_.emplace(name).second, "family '" + std::string(name) + "' written twice");
  current_ = name;
  current_type_ = type;
  text_ += "# HELP ";
  text_ += name;
  text_ += ' ';
  append_escaped(text_, help, false);
  text_ += "\n# TYPE ";
  text_ += name;
  text_ += ' ';
  text_ += type_name(type);
  text_ += '\n';
}

void MetricsText::sample(MetricLabels labels, double value) {
  require_family(false);
  require(current_type_ != Type::Counter || value >= 0, "counter '" + current_ + "' below zero");
  write_sample("", labels, {}, double_text(value));
}

void MetricsText::sample_integer(MetricLabels labels, std::uint64_t value) {
  require_family(false);
  write_sample("", labels, {}, number_text(value));
}

void MetricsText::sample_integer(MetricLabels labels, std::int64_t value) {
  require_family(false);
  require(current_type_ != Type::Counter || value >= 0, "counter '" + current_ + "' below zero");
  write_sample("", labels, {}, number_text(value));
}

void MetricsText::histogram(MetricLabels labels, std::span<const double> upper_bounds,
                            std::span<const std::uint64_t> counts, double sum) {
  require_family(true);
  require(counts.size() == upper_bounds.size() + 1,
          "histogram '" + current_ + "' needs one count per bound plus the overflow");
  for (std::size_t i = 0; i < upper_bounds.size(); ++i) {
    require(std::isfinite(upper_bounds[i]) && (i == 0 || upper_bounds[i - 1] < upper_bounds[i]),
            "histogram '" + current_ + "' bounds must be finite and increasing");
  }
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < upper_bounds.size(); ++i) {
    cumulative += counts[i];
    write_sample("_bucket", labels, double_text(upper_bounds[i]), number_text(cumulative));
  }
  cumulative += counts.back();
  write_sample("_bucket", labels, "+Inf", number_text(cumulative));
  write_sample("_sum", labels, {}, double_text(sum));
  write_sample("_count", labels, {}, number_text(cumulative));
}

// Histograms take histogram(); counters and gauges take sample().
void MetricsText::require_family(bool histogram) const {
  require(!current_.empty(), "sample written before any family");
  require((current_type_ == Type::Histogram) == histogram,
          "sample of the wrong kind for family '" + current_ + "'");
}

void MetricsText::write_sample(std::string_view name_suffix, MetricLabels labels,
                               std::string_view le, std::string_view value) {
  text_ += current_;
  text_ += name_suffix;
  if (!labels.empty() || !le.empty()) {
    char separator = '{';
    for (std::size_t i = 0; i < labels.size(); ++i) {
      const auto& [name, label_value] = labels[i];
      // "__" names are reserved for Prometheus itself; "le" is the bucket label.
      require(is_valid_name(name, false) && !name.starts_with("__"),
              "invalid label name '" + std::string(name) + "'");
      for (std::size_t j = 0; j < i; ++j) {
        require(labels[j].first != name, "label '" + std::string(name) + "' given twice");
      }
      require(current_type_ != Type::Histogram || name != "le",
              "histogram '" + current_ + "' cannot have its own 'le' label");
      text_ += separator;
      text_ += name;
      text_ += "=\"";
      append_escaped(text_, label_value, true);
      text_ += '"';
      separator = ',';
    }
    if (!le.empty()) {
      text_ += separator;
      text_ += "le=\"";
      text_ += le;
      text_ += '"';
    }
    text_ += '}';
  }
  text_ += ' ';
  text_ += value;
  text_ += '\n';
}

}  // namespace heimdall::control
