// Building a filter snapshot from the configuration (docs/architecture.md §10.2):
// read every list (files and URLs), parse each into the trie and the
// regex set, add the local records, the forwarding zones and the client groups,
// and build. Control-thread code: it allocates, reads files and downloads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "heimdall/control/config.hpp"
#include "heimdall/filter/snapshot.hpp"

namespace heimdall::control {

// What one list's latest load gave.
struct ListLoad {
  std::string name;
  std::string source;  // as resolved: an absolute path or the URL
  bool read = false;   // its text was had, fresh or from the last good copy
  bool from_last_good = false;
  std::string error;   // why the source failed; "" when it did not
  std::string format;  // the format used, declared or detected
  std::size_t rules = 0;
  std::size_t regex_rules = 0;
  std::size_t rejected = 0;                 // malformed lines (and, for RPZ, contradictions)
  std::size_t unsupported = 0;              // RPZ actions and triggers we do not act on
  std::size_t skipped = 0;                  // hosts-file entries such as localhost
  std::vector<std::size_t> first_rejected;  // line numbers, the first few
  std::string first_regex_error;
};

struct FilterLoad {
  // Null when a list that is in force could not be read: the snapshot in force
  // stays, every list as it was.
  std::unique_ptr<filter::Snapshot> snapshot;
  std::vector<ListLoad> lists;
  std::size_t local_records = 0;
  std::vector<std::string> local_record_errors;  // records refused when combined (CNAME and other)
  std::uint64_t duration_ns = 0;
};

// The upstream mask each forwarding zone routes to, and that of the default
// route, both over all_upstream_servers(config.upstreams).
std::vector<std::uint32_t> zone_server_masks(const UpstreamsConfig& upstreams);
std::uint32_t default_server_mask(const UpstreamsConfig& upstreams);

class FilterLoader {
 public:
  // `workers`: how many regex scratch spaces a snapshot carries.
  FilterLoader(const Config& config, unsigned workers);

  // Reads and builds. A list that cannot be read (a URL falls back to its last
  // good copy first) stops the build when `in_force[list]` says the snapshot in
  // force has it, so its previous version stays in force; otherwise it is left
  // out and its error reported. An empty `in_force`: nothing is in force yet.
  // Throws when the build itself fails (a regex set Hyperscan cannot compile as a
  // whole, no EAL memory for the client groups).
  FilterLoad load(const std::vector<bool>& in_force) const;

  // The local list files, for change watching.
  const std::vector<std::string>& files() const { return files_; }

 private:
  struct Source {
    std::string location;   // absolute path or URL
    std::string last_good;  // where a URL's last good copy is kept; "" for files
  };

  Config config_;
  unsigned workers_;
  std::vector<Source> sources_;  // by list
  std::vector<std::string> files_;
};

}  // namespace heimdall::control
