// Warm restarts (cache/snapshot.hpp) as the control thread runs them: the cache
// restored at start, and saved while the workers run: `heimdallctl cache save
// [FILE]`, and at a clean stop. Each owner copies its own
// shard a chunk at a time (a cache::DumpWalk WithAnswers), and the control thread
// writes the chunks out, so no worker waits on the disk.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "heimdall/cache/snapshot.hpp"
#include "heimdall/control/management_server.hpp"

namespace heimdall::control {

class CacheSaveStream : public ResponseStream {
 public:
  using Clock = std::chrono::steady_clock;
  // Starts the walk and creates the file's temporary copy. Throws
  // std::runtime_error when another walk of the cache runs, SnapshotError when
  // the file cannot be created. Fails when the owners give no chunk for
  // `stall_timeout` (workers stopped). Destroyed before it is done (the client
  // went away), it leaves any earlier snapshot at `path` as it was.
  CacheSaveStream(cache::Cache& cache, const std::string& path,
                  std::chrono::milliseconds stall_timeout = std::chrono::seconds(5));
  // One line when done: the entries and bytes written, where, and how long it took.
  Step next(std::string& text) override;

 private:
  cache::DumpWalk walk_;
  cache::SnapshotWriter writer_;
  std::string path_;
  std::chrono::milliseconds stall_timeout_;
  Clock::time_point started_;
  Clock::time_point last_progress_;
};

// Saves the cache to `path` and returns the stream's closing line; waits for the
// workers' walk (about a second for a million entries). Throws
// std::runtime_error, the earlier snapshot left as it was, when it cannot.
std::string save_cache(cache::Cache& cache, const std::string& path);

// Restores the snapshot at `path` into a cache no worker uses yet, and logs what
// it restored; a missing file is a cold start, a refused one (corrupt, foreign,
// unreadable) too, logged as a warning with the reason.
void restore_cache(cache::Cache& cache, const std::string& path);

// The command: `args` after "save" (nothing: the configured cache.snapshot, or FILE).
CommandResult cache_save_command(cache::Cache& cache, const std::string& configured_path,
                                 std::span<const std::string> args);

}  // namespace heimdall::control
