// The configuration translated into what each part of the server takes: the
// engine's, the backends', the cache's and the EAL's own configurations, and the
// access list. Pure functions of control::Config (check_port_ranges reads the
// kernel's port range), used by main's start-up.
#pragma once

#include <memory>

#include "heimdall/cache/cache.hpp"
#include "heimdall/control/config.hpp"
#include "heimdall/engine/engine.hpp"
#include "heimdall/filter/client_groups.hpp"
#include "heimdall/io/eal.hpp"
#include "heimdall/io/socket_backend.hpp"
#ifdef HEIMDALL_DPDK_BACKEND
#include "heimdall/io/dpdk_backend.hpp"
#endif

namespace heimdall::app {

// The access list as one LPM pair (allowed networks map to bit 0); null when every
// client is allowed.
std::unique_ptr<filter::ClientGroups> build_acl(const control::AclConfig& acl);

engine::EngineConfig engine_config(const control::Config& config,
                                   const filter::ClientGroups* acl = nullptr);
io::SocketBackendConfig socket_backend_config(const control::Config& config,
                                              const filter::ClientGroups* acl);
#ifdef HEIMDALL_DPDK_BACKEND
// A port address's host with `port` (the port's DNS service, its gateway...).
net::Endpoint host_of(const filter::Prefix& prefix, std::uint16_t port);
io::DpdkBackendConfig dpdk_backend_config(const control::Config& config,
                                          const filter::ClientGroups* acl = nullptr);
// Throws when dataplane.upstream_ports overlaps the kernel's ip_local_port_range.
void check_port_ranges(const control::Config& config);
#endif
cache::CacheConfig cache_config(const control::CacheSettings& settings);

bool uses_dpdk(const control::Config& config);
// Cache readers and filter scratch: one per worker, and the DPDK exception path's
// TCP worker after them.
unsigned reader_count(const control::Config& config);
// The EAL's options: its heap sized from the configuration, and the port's.
io::EalOptions eal_options(const control::Config& config);

}  // namespace heimdall::app
