// The configuration translated into what each part of the server takes: the
// engine's, the cache's and the EAL's own configurations, the access list, and the
// backend itself. Pure functions of control::Config (make_backend also builds
// what it describes), used by main's start-up.
//
// make_backend is the one place that names a backend (docs/architecture.md §3.1):
// everything after start-up sees io::Backend. A new backend is a folder under
// src/io and its branch here.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "heimdall/cache/cache.hpp"
#include "heimdall/control/config.hpp"
#include "heimdall/engine/engine.hpp"
#include "heimdall/engine/query_log.hpp"
#include "heimdall/filter/client_groups.hpp"
#include "heimdall/filter/snapshot.hpp"
#include "heimdall/io/backend.hpp"
#include "heimdall/io/eal.hpp"
#include "heimdall/net/endpoint.hpp"
#include "heimdall/rcu/qsbr.hpp"

namespace heimdall::app {

// The access list as one LPM pair (allowed networks map to bit 0); null when every
// client is allowed.
std::unique_ptr<filter::ClientGroups> build_acl(const control::AclConfig& acl);

engine::EngineConfig engine_config(const control::Config& config,
                                   const filter::ClientGroups* acl = nullptr);
cache::CacheConfig cache_config(const control::CacheSettings& settings);

// What start-up built before the backend and every engine reads; each must outlive
// the backend. Null: none (every client allowed, no query log, no filter, no cache).
struct BackendInputs {
  const filter::ClientGroups* acl = nullptr;
  engine::QueryLog* query_log = nullptr;
  const rcu::Published<filter::Snapshot>* filter = nullptr;
  cache::Cache* cache = nullptr;
};
// The backend dataplane.backend names, built (its sockets or its port open) but not
// started. Throws std::runtime_error naming what failed.
std::unique_ptr<io::Backend> make_backend(const control::Config& config,
                                          const BackendInputs& inputs);
// What this build cannot run although the file is valid; empty when it can.
std::string unsupported(const control::Config& config);
// Where the configured backend listens, in words, for the log and systemd.
std::string describe_listeners(const control::Config& config);
// "a, b, c", or "none".
std::string join_endpoints(const std::vector<net::Endpoint>& endpoints);

bool uses_dpdk(const control::Config& config);
// Cache readers and filter scratch: one per worker, and the DPDK exception path's
// TCP worker after them.
unsigned reader_count(const control::Config& config);
// The EAL's options: its heap sized from the configuration, and the port's.
io::EalOptions eal_options(const control::Config& config);

}  // namespace heimdall::app
