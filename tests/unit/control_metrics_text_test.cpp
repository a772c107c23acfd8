// The Prometheus text format 0.0.4 as written for /metrics: exact text for each kind
// of family, the escaping, the number spellings, the misuse that throws, and a
// checker written from the format's grammar that every line of a larger output must
// pass (promtool is not installed here; this checker stands in for it).
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "heimdall/control/metrics_text.hpp"

namespace heimdall::control {
namespace {

using Type = MetricsText::Type;

// ---- a checker for the exposition format ----------------------------------------

bool is_metric_name(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name.front()))) return false;
  for (const char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != ':') return false;
  }
  return true;
}

bool is_label_name(std::string_view name) {
  return is_metric_name(name) && name.find(':') == std::string_view::npos;
}

bool is_value(std::string_view text) {
  if (text == "+Inf" || text == "-Inf" || text == "NaN") return true;
  if (text.empty()) return false;
  const std::string copy(text);
  char* end = nullptr;
  const double value = std::strtod(copy.c_str(), &end);
  return end == copy.c_str() + copy.size() && std::isfinite(value);
}

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  std::string value;
};

// Parses `name{label="value",...} value`; returns an error or the empty string.
std::string parse_sample(std::string_view line, Sample& sample) {
  std::size_t at = 0;
  while (at < line.size() && line[at] != '{' && line[at] != ' ') ++at;
  sample.name = line.substr(0, at);
  if (!is_metric_name(sample.name)) return "bad metric name '" + sample.name + "'";
  if (at < line.size() && line[at] == '{') {
    ++at;
    while (at < line.size() && line[at] != '}') {
      const std::size_t equals = line.find('=', at);
      if (equals == std::string_view::npos) return "label without '='";
      const std::string name(line.substr(at, equals - at));
      if (!is_label_name(name)) return "bad label name '" + name + "'";
      if (equals + 1 >= line.size() || line[equals + 1] != '"') return "label value not quoted";
      std::string value;
      at = equals + 2;
      for (;; ++at) {
        if (at >= line.size()) return "unterminated label value";
        if (line[at] == '"') break;
        if (line[at] == '\\') {
          if (++at >= line.size()) return "dangling backslash";
          if (line[at] == 'n') {
            value += '\n';
          } else if (line[at] == '\\' || line[at] == '"') {
            value += line[at];
          } else {
            return "bad escape in label value";
          }
        } else {
          value += line[at];
        }
      }
      ++at;
      if (!sample.labels.emplace(name, value).second) return "label '" + name + "' twice";
      if (at < line.size() && line[at] == ',') ++at;
    }
    if (at >= line.size()) return "unterminated label set";
    ++at;
  }
  if (at >= line.size() || line[at] != ' ') return "no space before the value";
  std::string_view rest = line.substr(at + 1);
  const std::size_t space = rest.find(' ');
  sample.value = rest.substr(0, space);
  if (!is_value(sample.value)) return "bad value '" + sample.value + "'";
  if (space != std::string_view::npos) {  // an optional timestamp: an integer
    const std::string_view stamp = rest.substr(space + 1);
    if (stamp.empty() || stamp.find_first_not_of("-0123456789") != std::string_view::npos) {
      return "bad timestamp";
    }
  }
  return {};
}

// Checks the whole text: every line, HELP and TYPE before a family's samples, no
// family twice, sample names belonging to the current family, and for histograms
// cumulative buckets ending in le="+Inf" equal to _count. Returns the errors found.
std::vector<std::string> check_exposition(const std::string& text) {
  std::vector<std::string> errors;
  if (!text.empty() && text.back() != '\n') errors.push_back("text does not end in a newline");
  std::set<std::string> seen_families;
  std::set<std::string> helped;
  std::string family, type;
  std::map<std::string, double> last_bucket;  // by label set (without le)
  std::map<std::string, std::string> inf_bucket, count;
  std::istringstream lines(text);
  std::string line;
  for (int number = 1; std::getline(lines, line); ++number) {
    const auto error = [&](const std::string& what) {
      errors.push_back("line " + std::to_string(number) + ": " + what + ": " + line);
    };
    if (line.empty()) {
      error("empty line");
      continue;
    }
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      const std::string rest = line.substr(7);
      const std::size_t space = rest.find(' ');
      const std::string name = rest.substr(0, space);
      const std::string tail = space == std::string::npos ? "" : rest.substr(space + 1);
      if (!is_metric_name(name)) error("bad family name");
      if (line[2] == 'H') {
        if (!helped.insert(name).second) error("second HELP");
        for (std::size_t i = 0; i < tail.size(); ++i) {
          if (tail[i] == '\\' && (i + 1 == tail.size() || (tail[++i] != '\\' && tail[i] != 'n'))) {
            error("bad escape in HELP");
          }
        }
        if (name != family && seen_families.contains(name)) error("family seen before");
        if (name != family) type.clear();
        family = name;
      } else {
        if (name == family && !type.empty()) error("second TYPE");
        if (name != family && seen_families.contains(name)) error("family seen before");
        static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary",
                                                     "untyped"};
        if (!kTypes.contains(tail)) error("unknown type");
        if (tail == "counter" && !name.ends_with("_total")) error("counter without _total");
        family = name;
        type = tail;
      }
      seen_families.insert(name);
      continue;
    }
    if (line.starts_with('#')) continue;  // other comments are allowed
    Sample sample;
    if (const std::string problem = parse_sample(line, sample); !problem.empty()) {
      error(problem);
      continue;
    }
    if (type.empty()) {
      error("sample before its TYPE line");
      continue;
    }
    if (type != "histogram") {
      if (sample.name != family) error("sample outside its family '" + family + "'");
      continue;
    }
    const std::string suffix =
        sample.name.starts_with(family) ? sample.name.substr(family.size()) : "";
    if (suffix != "_bucket" && suffix != "_sum" && suffix != "_count") {
      error("histogram sample without _bucket, _sum or _count");
      continue;
    }
    const auto le = sample.labels.find("le");
    if ((suffix == "_bucket") != (le != sample.labels.end())) error("le on the wrong sample");
    std::string key = family;
    for (const auto& [name, value] : sample.labels) {
      if (name != "le") key += "," + name + "=" + value;
    }
    if (suffix == "_count") count[key] = sample.value;
    if (suffix != "_bucket" || le == sample.labels.end()) continue;
    const double value = std::stod(sample.value);
    if (last_bucket.contains(key) && value < last_bucket[key]) error("buckets not cumulative");
    last_bucket[key] = value;
    if (le->second == "+Inf") inf_bucket[key] = sample.value;
  }
  for (const auto& [key, value] : count) {
    if (inf_bucket[key] != value) errors.push_back(key + ": +Inf bucket differs from _count");
  }
  return errors;
}

// ---- exact output ----------------------------------------------------------------

TEST(MetricsText, CounterFamilyWithLabels) {
  MetricsText text;
  text.family("heimdall_responses_total", "Responses sent, by worker and rcode.", Type::Counter);
  text.sample({{"worker", "0"}, {"rcode", "NOERROR"}}, std::uint64_t{12});
  text.sample({{"worker", "1"}, {"rcode", "NXDOMAIN"}}, std::uint64_t{3});
  EXPECT_EQ(text.text(),
            "# HELP heimdall_responses_total Responses sent, by worker and rcode.\n"
            "# TYPE heimdall_responses_total counter\n"
            "heimdall_responses_total{worker=\"0\",rcode=\"NOERROR\"} 12\n"
            "heimdall_responses_total{worker=\"1\",rcode=\"NXDOMAIN\"} 3\n");
}

TEST(MetricsText, SampleWithoutLabelsHasNoBraces) {
  MetricsText text;
  text.family("heimdall_up", "Whether the process runs.", Type::Gauge);
  text.sample({}, 1);
  EXPECT_EQ(text.text(),
            "# HELP heimdall_up Whether the process runs.\n"
            "# TYPE heimdall_up gauge\n"
            "heimdall_up 1\n");
}

TEST(MetricsText, EscapesLabelValuesAndHelp) {
  MetricsText text;
  text.family("heimdall_list_rules", "Rules per list \\ one\nline.", Type::Gauge);
  text.sample({{"list", "a\\b \"q\"\nz"}}, 7);
  EXPECT_EQ(text.text(),
            "# HELP heimdall_list_rules Rules per list \\\\ one\\nline.\n"
            "# TYPE heimdall_list_rules gauge\n"
            "heimdall_list_rules{list=\"a\\\\b \\\"q\\\"\\nz\"} 7\n");
  EXPECT_TRUE(check_exposition(text.text()).empty());
}

TEST(MetricsText, GaugeWithDoubles) {
  MetricsText text;
  text.family("heimdall_ratio", "A ratio.", Type::Gauge);
  text.sample({{"k", "a"}}, 0.1);
  text.sample({{"k", "b"}}, 1e-9);
  text.sample({{"k", "c"}}, 2.5e21);
  text.sample({{"k", "d"}}, std::numeric_limits<double>::infinity());
  text.sample({{"k", "e"}}, -std::numeric_limits<double>::infinity());
  text.sample({{"k", "f"}}, std::numeric_limits<double>::quiet_NaN());
  text.sample({{"k", "g"}}, -3);
  EXPECT_EQ(text.text(),
            "# HELP heimdall_ratio A ratio.\n"
            "# TYPE heimdall_ratio gauge\n"
            "heimdall_ratio{k=\"a\"} 0.1\n"
            "heimdall_ratio{k=\"b\"} 1e-09\n"
            "heimdall_ratio{k=\"c\"} 2.5e+21\n"
            "heimdall_ratio{k=\"d\"} +Inf\n"
            "heimdall_ratio{k=\"e\"} -Inf\n"
            "heimdall_ratio{k=\"f\"} NaN\n"
            "heimdall_ratio{k=\"g\"} -3\n");
}

TEST(MetricsText, DoublesRoundTrip) {
  MetricsText text;
  text.family("heimdall_third", "One third.", Type::Gauge);
  text.sample({}, 1.0 / 3);
  const std::string& out = text.text();
  const std::string value = out.substr(out.rfind(' ') + 1);
  EXPECT_EQ(std::stod(value), 1.0 / 3);
}

TEST(MetricsText, LargeIntegersAreExact) {
  MetricsText text;
  text.family("heimdall_big_total", "Big.", Type::Counter);
  text.sample({}, std::numeric_limits<std::uint64_t>::max());
  text.sample({{"k", "v"}}, std::uint64_t{9007199254740993});  // 2^53 + 1: not a double
  EXPECT_NE(text.text().find("heimdall_big_total 18446744073709551615\n"), std::string::npos);
  EXPECT_NE(text.text().find("heimdall_big_total{k=\"v\"} 9007199254740993\n"), std::string::npos);
}

TEST(MetricsText, HistogramHasCumulativeBucketsSumAndCount) {
  MetricsText text;
  text.family("heimdall_upstream_rtt_seconds", "Upstream round-trip time.", Type::Histogram);
  const double bounds[] = {0.001, 0.01, 0.1};
  const std::uint64_t counts[] = {5, 3, 0, 2};
  text.histogram({{"upstream", "127.0.0.1:53"}}, bounds, counts, 1.25);
  EXPECT_EQ(text.text(),
            "# HELP heimdall_upstream_rtt_seconds Upstream round-trip time.\n"
            "# TYPE heimdall_upstream_rtt_seconds histogram\n"
            "heimdall_upstream_rtt_seconds_bucket{upstream=\"127.0.0.1:53\",le=\"0.001\"} 5\n"
            "heimdall_upstream_rtt_seconds_bucket{upstream=\"127.0.0.1:53\",le=\"0.01\"} 8\n"
            "heimdall_upstream_rtt_seconds_bucket{upstream=\"127.0.0.1:53\",le=\"0.1\"} 8\n"
            "heimdall_upstream_rtt_seconds_bucket{upstream=\"127.0.0.1:53\",le=\"+Inf\"} 10\n"
            "heimdall_upstream_rtt_seconds_sum{upstream=\"127.0.0.1:53\"} 1.25\n"
            "heimdall_upstream_rtt_seconds_count{upstream=\"127.0.0.1:53\"} 10\n");
}

TEST(MetricsText, HistogramWithoutLabelsOrBounds) {
  MetricsText text;
  text.family("heimdall_reload_seconds", "Reload time.", Type::Histogram);
  const std::uint64_t counts[] = {4};
  text.histogram({}, {}, counts, 0.5);
  EXPECT_EQ(text.text(),
            "# HELP heimdall_reload_seconds Reload time.\n"
            "# TYPE heimdall_reload_seconds histogram\n"
            "heimdall_reload_seconds_bucket{le=\"+Inf\"} 4\n"
            "heimdall_reload_seconds_sum 0.5\n"
            "heimdall_reload_seconds_count 4\n");
}

TEST(MetricsText, LabelsFromAVector) {
  MetricsText text;
  text.family("heimdall_x", "X.", Type::Gauge);
  const std::vector<MetricLabel> labels = {{"worker", std::to_string(3)}};
  text.sample(labels, 2);
  EXPECT_EQ(text.text().substr(text.text().rfind('\n', text.text().size() - 2) + 1),
            "heimdall_x{worker=\"3\"} 2\n");
}

// ---- misuse ----------------------------------------------------------------------

TEST(MetricsText, RejectsBadNames) {
  MetricsText text;
  EXPECT_THROW(text.family("", "h", Type::Gauge), std::invalid_argument);
  EXPECT_THROW(text.family("1abc", "h", Type::Gauge), std::invalid_argument);
  EXPECT_THROW(text.family("a-b", "h", Type::Gauge), std::invalid_argument);
  EXPECT_THROW(text.family("a b", "h", Type::Gauge), std::invalid_argument);
  EXPECT_NO_THROW(text.family("job:rate_5m", "h", Type::Gauge));
  EXPECT_THROW(text.sample({{"a:b", "v"}}, 1), std::invalid_argument);
  EXPECT_THROW(text.sample({{"__name", "v"}}, 1), std::invalid_argument);
  EXPECT_THROW(text.sample({{"", "v"}}, 1), std::invalid_argument);
  EXPECT_THROW(text.sample({{"k", "v"}, {"k", "w"}}, 1), std::invalid_argument);
}

TEST(MetricsText, CounterMustEndInTotalAndNotGoBelowZero) {
  MetricsText text;
  EXPECT_THROW(text.family("heimdall_queries", "h", Type::Counter), std::invalid_argument);
  text.family("heimdall_queries_total", "h", Type::Counter);
  EXPECT_THROW(text.sample({}, -1), std::invalid_argument);
  EXPECT_THROW(text.sample({}, -0.5), std::invalid_argument);
}

TEST(MetricsText, RejectsSampleBeforeAnyFamily) {
  MetricsText text;
  EXPECT_THROW(text.sample({}, 1), std::invalid_argument);
}

TEST(MetricsText, RejectsFamilyTwice) {
  MetricsText text;
  text.family("heimdall_a", "h", Type::Gauge);
  text.family("heimdall_b", "h", Type::Gauge);
  EXPECT_THROW(text.family("heimdall_a", "h", Type::Gauge), std::invalid_argument);
}

TEST(MetricsText, RejectsSamplesOfTheWrongKind) {
  MetricsText text;
  const std::uint64_t counts[] = {1};
  text.family("heimdall_g", "h", Type::Gauge);
  EXPECT_THROW(text.histogram({}, {}, counts, 0), std::invalid_argument);
  text.family("heimdall_h_seconds", "h", Type::Histogram);
  EXPECT_THROW(text.sample({}, 1), std::invalid_argument);
}

TEST(MetricsText, RejectsBadHistograms) {
  MetricsText text;
  text.family("heimdall_h_seconds", "h", Type::Histogram);
  const double bounds[] = {0.1, 0.2};
  const double unordered[] = {0.2, 0.1};
  const double infinite[] = {0.1, std::numeric_limits<double>::infinity()};
  const std::uint64_t two[] = {1, 2};
  const std::uint64_t three[] = {1, 2, 3};
  EXPECT_THROW(text.histogram({}, bounds, two, 0), std::invalid_argument);
  EXPECT_THROW(text.histogram({}, unordered, three, 0), std::invalid_argument);
  EXPECT_THROW(text.histogram({}, infinite, three, 0), std::invalid_argument);
  EXPECT_THROW(text.histogram({{"le", "x"}}, bounds, three, 0), std::invalid_argument);
}

// ---- the checker, on a larger output ----------------------------------------------

TEST(MetricsText, LargerOutputPassesTheFormatChecker) {
  MetricsText text;
  const char* rcodes[] = {"NOERROR", "SERVFAIL", "NXDOMAIN", "REFUSED"};
  text.family("heimdall_queries_total", "Queries received.", Type::Counter);
  for (int worker = 0; worker < 4; ++worker) {
    text.sample({{"worker", std::to_string(worker)}}, std::uint64_t{1000} * worker);
  }
  text.family("heimdall_responses_total", "Responses by rcode.", Type::Counter);
  for (int worker = 0; worker < 4; ++worker) {
    for (const char* rcode : rcodes) {
      text.sample({{"worker", std::to_string(worker)}, {"rcode", rcode}}, std::uint64_t{7});
    }
  }
  text.family("heimdall_drops_total", "Dropped packets by reason.", Type::Counter);
  text.sample({{"reason", "malformed"}}, 0);
  text.sample({{"reason", "no_neighbour"}}, 2);
  text.family("heimdall_cache_entries", "Cache entries.", Type::Gauge);
  text.sample({}, 123456);
  text.family("heimdall_cache_hit_ratio", "Hit ratio.", Type::Gauge);
  text.sample({}, 0.873);
  text.sample({{"odd", "quote \" back \\ nl \n end"}}, std::numeric_limits<double>::quiet_NaN());
  text.family("heimdall_upstream_rtt_seconds", "RTT with\\nescapes \\ in help.", Type::Histogram);
  const double bounds[] = {0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5};
  for (int upstream = 0; upstream < 3; ++upstream) {
    const std::uint64_t counts[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    text.histogram({{"upstream", "192.0.2." + std::to_string(upstream) + ":53"}}, bounds, counts,
                   3.75 * upstream);
  }
  text.family("heimdall_build_info", "Build.", Type::Gauge);
  text.sample({{"version", "0.1.0"}}, 1);

  const std::vector<std::string> errors = check_exposition(text.text());
  for (const std::string& error : errors) ADD_FAILURE() << error;
  EXPECT_GT(std::count(text.text().begin(), text.text().end(), '\n'), 60);
}

// The checker itself must catch what it is there to catch.
TEST(ExpositionChecker, FindsBrokenText) {
  EXPECT_TRUE(check_exposition("# TYPE a gauge\na 1\n").empty());
  EXPECT_FALSE(check_exposition("a 1\n").empty());                             // no TYPE
  EXPECT_FALSE(check_exposition("# TYPE a gauge\na{x=\"1} 1\n").empty());      // unterminated
  EXPECT_FALSE(check_exposition("# TYPE a gauge\na{x=\"\\t\"} 1\n").empty());  // bad escape
  EXPECT_FALSE(check_exposition("# TYPE a gauge\na{x=1} 1\n").empty());        // unquoted
  EXPECT_FALSE(check_exposition("# TYPE a gauge\na one\n").empty());           // value
  EXPECT_FALSE(check_exposition("# TYPE a gauge\nb 1\n").empty());             // other name
  EXPECT_FALSE(check_exposition("# TYPE a gauge\n# TYPE b gauge\n# TYPE a gauge\n").empty());
  EXPECT_FALSE(check_exposition("# TYPE a counter\na 1\n").empty());  // no _total
  EXPECT_FALSE(check_exposition("# TYPE a gauge\na 1").empty());      // no newline
  EXPECT_FALSE(check_exposition("# TYPE h histogram\nh_bucket{le=\"1\"} 2\n"
                                "h_bucket{le=\"+Inf\"} 1\nh_count 1\n")
                   .empty());  // not cumulative
  EXPECT_FALSE(check_exposition("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 3\n")
                   .empty());  // +Inf differs from _count
}

}  // namespace
}  // namespace heimdall::control
