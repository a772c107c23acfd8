// The running server as the control thread sees it: the backend (io::Backend,
// whichever one the configuration chose) and what start-up built around it.
// Shared by main and the operator's interfaces (operations.hpp).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "heimdall/cache/cache.hpp"
#include "heimdall/control/filter_reloader.hpp"
#include "heimdall/control/management_server.hpp"
#include "heimdall/control/query_log_writer.hpp"
#include "heimdall/io/backend.hpp"
#include "heimdall/net/endpoint.hpp"

namespace heimdall::app {

// Everything the metrics and the control commands read.
struct Serving {
  io::Backend* backend = nullptr;
  cache::Cache* cache = nullptr;
  control::FilterReloader* filter = nullptr;
  control::QueryLogWriter* query_log = nullptr;
  std::vector<net::Endpoint> upstreams;
  unsigned workers = 0;
  std::string cache_snapshot;  // cache.snapshot: where `cache save` writes by default
  bool draining = false;       // heimdallctl drain: /health and /ready answer 503
  // Upstream attempts sent and answers received, summed over the engines, one
  // sample per control-loop tick (the last kUpstreamWindow): /health's evidence.
  static constexpr std::size_t kUpstreamWindow = 6;
  std::array<std::pair<std::uint64_t, std::uint64_t>, kUpstreamWindow> upstream_samples{};
  std::size_t upstream_ticks = 0;
  const control::ManagementServer* management = nullptr;  // its own counters, if it runs
};

}  // namespace heimdall::app
