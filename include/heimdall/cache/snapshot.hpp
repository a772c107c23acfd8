// Warm restarts (docs/architecture.md §8.6): the cache's entries written to a
// file and read back at the next start, so that a restarted node answers what it
// had cached without asking the upstreams again.
//
// The file: a 64-byte header (magic, format version, entry count, body length,
// the body's CRC-32C and the header's own), then one record per entry: its key,
// kind, lifetime and the wall-clock time it was stored, followed by its stored
// answer (cache/stored_answer.hpp). Wall-clock time, because the workers'
// monotonic clock starts again at a reboot. Integers are in host byte order: a
// file from a machine of the other order is refused as of another version.
//
// Writing goes to PATH.tmp, renamed over PATH once complete and synced, so that
// a crash while saving leaves the previous snapshot whole. Reading checks the
// whole file before it restores anything: a corrupt, truncated or foreign file
// restores nothing and says why.
#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "heimdall/cache/cache.hpp"
#include "heimdall/cache/dump.hpp"

namespace heimdall::cache {

inline constexpr std::uint32_t kSnapshotVersion = 1;

// The two clocks, read together once: entries are carried from the workers'
// monotonic clock to the wall clock when saved, and back when restored.
struct SnapshotClock {
  std::uint64_t wall_ns = 0;
  std::uint64_t monotonic_ns = 0;
  static SnapshotClock now();
};

// A snapshot that cannot be written or read: the message says which file and why.
class SnapshotError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class SnapshotWriter {
 public:
  // Creates PATH.tmp (replacing any left by an earlier attempt). Throws
  // SnapshotError when it cannot.
  SnapshotWriter(std::string path, SnapshotClock now);
  ~SnapshotWriter();  // a file not committed is removed
  SnapshotWriter(const SnapshotWriter&) = delete;
  SnapshotWriter& operator=(const SnapshotWriter&) = delete;

  // Appends the entries of one chunk of a DumpWalk WithAnswers; `answers` is
  // DumpWalk::answers() for it. Entries already expired are left out.
  void add(std::span<const DumpRecord> records, std::span<const std::uint8_t> answers);
  // Completes the file and renames it over PATH. Throws SnapshotError.
  void commit();

  std::uint64_t entries() const { return entries_; }
  std::uint64_t bytes() const;  // of the file so far

 private:
  void append(const void* data, std::size_t length);
  void flush_buffer();

  std::string path_;
  std::string temporary_;
  SnapshotClock clock_;
  int fd_ = -1;
  std::vector<std::uint8_t> buffer_;
  std::uint64_t entries_ = 0;
  std::uint64_t body_bytes_ = 0;
  std::uint32_t body_crc_ = 0;
  bool committed_ = false;
};

struct SnapshotLoad {
  std::uint64_t restored = 0;
  std::uint64_t expired = 0;  // past their TTL by now: left out
  std::uint64_t no_room = 0;  // over the cache's capacity or memory
  std::uint64_t saved_at_wall_ns = 0;
};

// Restores the entries of the snapshot at `path` that are still alive at `now`,
// their TTLs lowered by the time since they were stored. Only before any owner
// runs (Cache::restore). Throws SnapshotError, having restored nothing, when the
// file cannot be read, is not a Heimdall cache snapshot, is of another format
// version, or is truncated or corrupt.
SnapshotLoad load_snapshot(Cache& cache, const std::string& path, SnapshotClock now);

}  // namespace heimdall::cache
