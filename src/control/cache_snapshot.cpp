#include "heimdall/control/cache_snapshot.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cerrno>
#include <memory>
#include <thread>

namespace heimdall::control {

CacheSaveStream::CacheSaveStream(cache::Cache& cache, const std::string& path,
                                 std::chrono::milliseconds stall_timeout)
    : walk_(cache, cache::DumpContent::WithAnswers),
      writer_(path, cache::SnapshotClock::now()),
      path_(path),
      stall_timeout_(stall_timeout),
      started_(Clock::now()),
      last_progress_(started_) {}

ResponseStream::Step CacheSaveStream::next(std::string& text) {
  try {
    for (;;) {
      const auto chunk = walk_.next();
      if (!chunk) {
        if (Clock::now() - last_progress_ < stall_timeout_) return Step::Wait;
        text = "cache save stopped after " + std::to_string(writer_.entries()) +
               " entries: the workers walked no part of their shards for " +
               std::to_string(stall_timeout_.count()) + " ms; " + path_ + " is unchanged";
        return Step::Failed;
      }
      last_progress_ = Clock::now();
      writer_.add(*chunk, walk_.answers());
      if (!walk_.done()) continue;
      writer_.commit();
      const auto took =
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_);
      text = "saved " + std::to_string(writer_.entries()) + " entries (" +
             std::to_string(writer_.bytes()) + " bytes) to " + path_ + " in " +
             std::to_string(took.count()) + " ms\n";
      return Step::Done;
    }
  } catch (const cache::SnapshotError& error) {
    text = std::string(error.what()) + "; the earlier snapshot is unchanged";
    return Step::Failed;
  }
}

std::string save_cache(cache::Cache& cache, const std::string& path) {
  CacheSaveStream stream(cache, path);
  for (;;) {
    std::string text;
    switch (stream.next(text)) {
      case ResponseStream::Step::Done:
        return text;
      case ResponseStream::Step::Failed:
        throw std::runtime_error(text);
      case ResponseStream::Step::More:
        break;
      case ResponseStream::Step::Wait:
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        break;
    }
  }
}

void restore_cache(cache::Cache& cache, const std::string& path) {
  struct stat status {};
  if (stat(path.c_str(), &status) != 0 && errno == ENOENT) {
    spdlog::info("cache snapshot {}: none yet; the cache starts empty", path);
    return;
  }
  const auto started = std::chrono::steady_clock::now();
  const cache::SnapshotClock now = cache::SnapshotClock::now();
  try {
    const cache::SnapshotLoad load = cache::load_snapshot(cache, path, now);
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    const std::int64_t down_s = (static_cast<std::int64_t>(now.wall_ns) -
                                 static_cast<std::int64_t>(load.saved_at_wall_ns)) /
                                1'000'000'000;
    spdlog::info(
        "cache snapshot {}: restored {} entries in {} ms (saved {} s ago; {} expired meanwhile, "
        "{} over the cache's capacity)",
        path, load.restored, took.count(), down_s, load.expired, load.no_room);
  } catch (const cache::SnapshotError& error) {
    spdlog::warn("cache snapshot refused, the cache starts empty: {}", error.what());
  }
}

CommandResult cache_save_command(cache::Cache& cache, const std::string& configured_path,
                                 std::span<const std::string> args) {
  if (args.size() > 1) return {false, "usage: cache save [FILE]"};
  const std::string path = args.empty() ? configured_path : args[0];
  if (path.empty()) {
    return {false, "cache save: no FILE given and no cache.snapshot configured"};
  }
  if (path.front() != '/') return {false, "cache save: FILE must be an absolute path"};
  try {
    return {true, "", std::make_shared<CacheSaveStream>(cache, path)};
  } catch (const std::runtime_error& error) {
    return {false, error.what()};
  }
}

}  // namespace heimdall::control
