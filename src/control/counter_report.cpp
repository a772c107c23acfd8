#include "heimdall/control/counter_report.hpp"

#include <algorithm>

namespace heimdall::control {

std::uint64_t CounterReport::Entry::total() const {
  std::uint64_t sum = 0;
  for (const std::uint64_t value : values) sum += value;
  return sum;
}

std::string CounterReport::Entry::name() const {
  std::string_view base = metric;
  if (base.starts_with("heimdall_")) base.remove_prefix(9);
  if (kind == stats::Kind::Count && base.ends_with("_total")) base.remove_suffix(6);
  std::string text(base);
  if (!set_label_name.empty()) text += "." + set_label_value;
  if (!label_name.empty()) text += "." + label_value;
  return text;
}

void CounterReport::add(const stats::CounterSets& sets,
                        std::span<const std::string> runtime_labels) {
  for (std::size_t r = 0; r < sets.row_count(); ++r) {
    const stats::RowInfo row = sets.row(r);
    if (row.kind == stats::Kind::Derived) continue;  // its caller exports it
    const auto add_entry = [&](std::string_view label_value, std::size_t element) {
      Entry& entry = entries_.emplace_back(Entry{sets.section().name,
                                                 sets.section().prefix,
                                                 row.metric,
                                                 row.help,
                                                 row.kind,
                                                 row.split,
                                                 row.label.name,
                                                 std::string(label_value),
                                                 {},
                                                 {},
                                                 {},
                                                 sets.first_worker(),
                                                 sets.per_worker()});
      for (std::size_t set = 0; set < sets.set_count(); ++set) {
        entry.values.push_back(sets.read(r, element, set));
      }
    };
    if (row.elements == 0) {
      add_entry(row.label.value, 0);
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
      add_entry(label, i);
    }
  }
}

// A family's entries may come from several add() calls (one per upstream server):
// each family is written once, at its first entry, with all of its samples.
void CounterReport::write_metrics(MetricsText& metrics) const {
  std::vector<bool> written(entries_.size(), false);
  for (std::size_t first = 0; first < entries_.size(); ++first) {
    if (written[first]) continue;
    const Entry& head = entries_[first];
    metrics.family(
        head.metric, head.help,
        head.kind == stats::Kind::Gauge ? MetricsText::Type::Gauge : MetricsText::Type::Counter);
    for (std::size_t e = first; e < entries_.size(); ++e) {
      const Entry& entry = entries_[e];
      if (written[e] || entry.metric != head.metric) continue;
      written[e] = true;
      std::vector<MetricLabel> labels;
      const auto add_labels = [&] {
        if (!entry.set_label_name.empty()) {
          labels.emplace_back(entry.set_label_name, entry.set_label_value);
        }
        if (!entry.label_name.empty()) labels.emplace_back(entry.label_name, entry.label_value);
      };
      if (entry.split == stats::Split::Total) {
        add_labels();
        metrics.sample(labels, entry.total());
        continue;
      }
      for (std::size_t i = 0; i < entry.values.size(); ++i) {
        labels.clear();
        labels.emplace_back("worker", std::to_string(entry.first_worker + i));
        add_labels();
        metrics.sample(labels, entry.values[i]);
      }
    }
  }
}

std::string CounterReport::totals_text() const {
  std::string text;
  for (const Entry& entry : entries_) {
    text += entry.name() + " " + std::to_string(entry.total()) + "\n";
  }
  return text;
}

std::string CounterReport::workers_text(std::span<const std::string> column_names) const {
  std::size_t name_width = 0;
  for (const Entry& entry : entries_) name_width = std::max(name_width, entry.name().size());
  std::vector<std::size_t> widths;
  for (const std::string& column : column_names)
    widths.push_back(std::max<std::size_t>(column.size(), 8));
  const auto pad = [](std::string& text, std::string_view cell, std::size_t width, bool right) {
    const std::string fill(width > cell.size() ? width - cell.size() : 0, ' ');
    text += right ? fill + std::string(cell) : std::string(cell) + fill;
  };
  std::string text;
  pad(text, "", name_width, false);
  for (std::size_t c = 0; c < column_names.size(); ++c) {
    text += "  ";
    pad(text, column_names[c], widths[c], true);
  }
  text += "\n";
  for (const Entry& entry : entries_) {
    if (!entry.per_worker || entry.total() == 0) continue;
    pad(text, entry.name(), name_width, false);
    for (std::size_t c = 0; c < column_names.size(); ++c) {
      text += "  ";
      const bool has = c >= entry.first_worker && c - entry.first_worker < entry.values.size();
      pad(text, has ? std::to_string(entry.values[c - entry.first_worker]) : "-", widths[c], true);
    }
    text += "\n";
  }
  return text;
}

std::vector<std::string> CounterReport::summary_lines() const {
  std::vector<std::string> lines;
  std::string_view section;
  for (const Entry& entry : entries_) {
    if (lines.empty() || entry.section != section) {
      section = entry.section;
      lines.push_back(std::string(section) + ":");
    }
    const std::uint64_t total = entry.total();
    if (total == 0) continue;
    // A sentence, not a key: "3 dropped queries (qr_set)", "2 stale answers".
    std::string_view base = entry.metric;
    if (base.starts_with("heimdall_")) base.remove_prefix(9);
    if (base.starts_with(entry.prefix)) base.remove_prefix(entry.prefix.size());
    if (entry.kind == stats::Kind::Count && base.ends_with("_total")) base.remove_suffix(6);
    std::string name_text(base);
    std::replace(name_text.begin(), name_text.end(), '_', ' ');
    if (!entry.set_label_name.empty()) name_text += " (" + entry.set_label_value + ")";
    if (!entry.label_name.empty()) name_text += " (" + entry.label_value + ")";
    std::string& line = lines.back();
    line +=
        (line.back() == ':' ? " " : ", ") + std::to_string(total) + " " + std::string(name_text);
  }
  std::erase_if(lines, [](const std::string& line) { return line.back() == ':'; });
  return lines;
}

std::uint64_t CounterReport::total(std::string_view name) const {
  for (const Entry& entry : entries_) {
    if (entry.name() == name) return entry.total();
  }
  return 0;
}

}  // namespace heimdall::control
