// `heimdallctl cache dump [N]`: the cache's entries in presentation format,
// streamed to the client a chunk at a time (cache::DumpWalk, ResponseStream), so
// that neither N nor the cache's size sets the memory a dump takes. One line per
// entry, in master-file order, with the key's flags and the entry's state:
//
//   www.example.com. IN A positive ttl=287 flags=rd bytes=64 shard=1
//   old.example.com. IN AAAA nxdomain stale=12 flags=rd,do bytes=80 shard=0
//
// `ttl=` is the TTL left, `stale=` the seconds since expiry of an entry kept for
// serve-stale (RFC 8767). Notes and the closing count are comment lines (";").
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>

#include "heimdall/cache/dump.hpp"
#include "heimdall/control/management_server.hpp"

namespace heimdall::control {

// Entries one dump lists at most, and without N. A larger N is clamped, with a
// note: at ~100 bytes a line, a full dump is 100 MB of text.
inline constexpr std::size_t kCacheDumpMaxEntries = 1'000'000;
inline constexpr std::size_t kCacheDumpDefaultEntries = 10'000;

// One entry's line, newline included.
void append_dump_line(const cache::DumpRecord& record, std::string& out);

class CacheDumpStream : public ResponseStream {
 public:
  using Clock = std::chrono::steady_clock;
  // Starts the walk (throws std::runtime_error when another dump is running).
  // Fails when the owners give no chunk for `stall_timeout` (workers stopped).
  CacheDumpStream(cache::Cache& cache, std::size_t limit,
                  std::chrono::milliseconds stall_timeout = std::chrono::seconds(5),
                  std::function<Clock::time_point()> now = Clock::now);
  Step next(std::string& text) override;

 private:
  Step finish(std::string& text, bool more);

  cache::DumpWalk walk_;
  std::size_t limit_;
  std::size_t listed_ = 0;
  std::chrono::milliseconds stall_timeout_;
  std::function<Clock::time_point()> now_;
  Clock::time_point last_progress_;
};

// The command: `args` after "dump" (nothing, or N).
CommandResult cache_dump_command(cache::Cache& cache, std::span<const std::string> args);

}  // namespace heimdall::control
