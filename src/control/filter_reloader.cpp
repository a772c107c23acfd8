#include "heimdall/control/filter_reloader.hpp"

#include <spdlog/spdlog.h>

#include <ctime>

namespace heimdall::control {
namespace {

std::string line_numbers(const std::vector<std::size_t>& lines) {
  std::string text;
  for (const std::size_t line : lines) text += (text.empty() ? "" : ", ") + std::to_string(line);
  return text;
}

}  // namespace

FilterReloader::FilterReloader(const Config& config, unsigned workers)
    : loader_(config, workers),
      active_(!config.filter.lists.empty() || !config.local_records.empty() ||
              !config.upstreams.forward_zones.empty()),
      refresh_interval_s_(config.filter.refresh_interval_s),
      watch_files_(config.filter.watch_files) {
  next_refresh_ = std::chrono::steady_clock::now() + std::chrono::seconds(refresh_interval_s_);
}

FilterReloader::FileState FilterReloader::state_of(const std::string& path) {
  struct stat status {};
  if (stat(path.c_str(), &status) != 0) return {};
  return {true, std::int64_t{status.st_mtim.tv_sec} * 1'000'000'000 + status.st_mtim.tv_nsec,
          static_cast<std::int64_t>(status.st_size), status.st_ino};
}

bool FilterReloader::reload(const char* why) {
  if (!active_) return false;
  std::vector<FileState> before;
  for (const auto& file : loader_.files()) before.push_back(state_of(file));
  // The files as read are the ones not to reload for again, whatever the outcome.
  seen_ = before;
  pending_ = std::move(before);
  FilterLoad load;
  try {
    load = loader_.load(in_force_);
  } catch (const std::exception& error) {
    spdlog::error("filter: reload ({}) failed: {}; the previous filter stays in force", why,
                  error.what());
    ++stats_.failed_reloads;
    return false;
  }
  log_load(load, why);
  if (!load.snapshot) {
    ++stats_.failed_reloads;
    return false;
  }
  in_force_.clear();
  for (const ListLoad& list : load.lists) in_force_.push_back(list.read);
  stats_.lists = load.lists;
  stats_.last_duration_ns = load.duration_ns;
  stats_.rules = load.snapshot->trie().rules();
  stats_.memory_bytes = load.snapshot->memory_bytes();
  published_.publish(std::move(load.snapshot));  // returns after the old one is freed
  ++stats_.reloads;
  stats_.last_reload_unix_s = static_cast<std::int64_t>(std::time(nullptr));
  return true;
}

void FilterReloader::tick(std::chrono::steady_clock::time_point now) {
  if (!active_) return;
  if (refresh_interval_s_ != 0 && now >= next_refresh_) {
    next_refresh_ = now + std::chrono::seconds(refresh_interval_s_);
    reload("refresh interval");
    return;
  }
  if (!watch_files_) return;
  const auto& files = loader_.files();
  if (seen_.size() != files.size()) return;  // before the first reload
  bool changed = false, settled = true;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const FileState state = state_of(files[i]);
    if (!(state == seen_[i])) changed = true;
    if (!(state == pending_[i])) settled = false;
    pending_[i] = state;
  }
  if (changed && settled) reload("a list file changed");
}

void FilterReloader::log_load(const FilterLoad& load, const char* why) const {
  const double ms = static_cast<double>(load.duration_ns) / 1e6;
  for (const ListLoad& list : load.lists) {
    if (!list.error.empty()) {
      if (list.from_last_good) {
        spdlog::warn("filter: list '{}': {}; using its last good copy", list.name, list.error);
      } else if (list.read) {
        spdlog::warn("filter: list '{}': {}", list.name, list.error);  // e.g. copy not kept
      } else {
        spdlog::error("filter: list '{}': {}", list.name, list.error);
      }
    }
    if (!list.read) continue;
    spdlog::info("filter: list '{}' ({}): {} rules, {} regex rules, {} lines rejected{}{}{}",
                 list.name, list.format, list.rules, list.regex_rules, list.rejected,
                 list.first_rejected.empty() ? "" : " (lines ", line_numbers(list.first_rejected),
                 list.first_rejected.empty() ? "" : ")");
    // A list of whose lines not one was taken is almost always declared (or
    // detected) in the wrong format, not a list that means to block nothing.
    if (list.rules == 0 && list.regex_rules == 0 && list.rejected != 0) {
      spdlog::warn(
          "filter: list '{}': all {} lines rejected as {}: is its format right? "
          "(filter.lists[].format)",
          list.name, list.rejected, list.format);
    }
    if (!list.first_regex_error.empty()) {
      spdlog::warn("filter: list '{}': first bad regex: {}", list.name, list.first_regex_error);
    }
    if (list.unsupported != 0) {
      spdlog::info("filter: list '{}': {} RPZ records with actions or triggers not supported",
                   list.name, list.unsupported);
    }
  }
  for (const std::string& error : load.local_record_errors) {
    spdlog::error("filter: local record {}", error);
  }
  if (!load.snapshot) {
    spdlog::error(
        "filter: reload ({}) abandoned after {:.1f} ms: a list in force could not be read; "
        "the previous filter stays in force",
        why, ms);
    return;
  }
  spdlog::info(
      "filter: built ({}) in {:.1f} ms: {} trie rules, {} regex rules, {} local records, "
      "{:.1f} MiB",
      why, ms, load.snapshot->trie().rules(), load.snapshot->regexes().size(), load.local_records,
      static_cast<double>(load.snapshot->memory_bytes()) / (1 << 20));
}

}  // namespace heimdall::control
