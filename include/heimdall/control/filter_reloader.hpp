// When the filter is rebuilt, and what the reloads did (docs/architecture.md §10.2): at start-up,
// on SIGHUP, when a list file changes, and every filter.refresh_interval. Each
// reload builds a whole new snapshot in the control thread and publishes it by RCU;
// workers keep answering from the old one meanwhile and never wait. The old
// snapshot is freed after a grace period, so a reload's peak is the old snapshot
// plus the new one (plus one list's text while it is parsed).
#pragma once

#include <sys/stat.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "heimdall/control/filter_loader.hpp"
#include "heimdall/rcu/qsbr.hpp"

namespace heimdall::control {

struct FilterStats {
  std::uint64_t reloads = 0;         // snapshots published, the first included
  std::uint64_t failed_reloads = 0;  // builds abandoned: the previous snapshot stayed
  std::uint64_t last_duration_ns = 0;
  std::int64_t last_reload_unix_s = 0;
  std::size_t rules = 0;  // trie rules of the snapshot in force
  std::size_t memory_bytes = 0;
  std::vector<ListLoad> lists;  // what the snapshot in force was built from
};

class FilterReloader {
 public:
  FilterReloader(const Config& config, unsigned workers);

  // Whether the configuration asks for any filtering at all (lists, local records
  // or forwarding zones); without, workers need not read a snapshot.
  bool active() const { return active_; }
  const rcu::Published<filter::Snapshot>& published() const { return published_; }

  // Builds and publishes a new snapshot; `why` names the trigger in the log.
  // Returns false when the previous snapshot (if any) stays in force: a list in
  // force could not be read, or the build failed.
  bool reload(const char* why);

  // About once a second, from the control thread: reloads when a list file has
  // changed (and stayed unchanged for one tick, so a file being written is not
  // read half-done) or when the refresh interval has passed.
  void tick(std::chrono::steady_clock::time_point now);

  const FilterStats& stats() const { return stats_; }

 private:
  struct FileState {
    bool exists = false;
    std::int64_t mtime_ns = 0;
    std::int64_t size = 0;
    ino_t inode = 0;
    bool operator==(const FileState&) const = default;
  };
  static FileState state_of(const std::string& path);
  void log_load(const FilterLoad& load, const char* why) const;

  FilterLoader loader_;
  bool active_;
  unsigned refresh_interval_s_;
  bool watch_files_;
  rcu::Published<filter::Snapshot> published_;
  std::vector<bool> in_force_;      // by list: read into the snapshot in force
  std::vector<FileState> seen_;     // as of the last reload
  std::vector<FileState> pending_;  // as of the last tick, while a change settles
  std::chrono::steady_clock::time_point next_refresh_;
  FilterStats stats_;
};

}  // namespace heimdall::control
