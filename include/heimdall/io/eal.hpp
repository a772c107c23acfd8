// DPDK's EAL, started once per process (docs/architecture.md §5.1): every process uses DPDK
// libraries (rings, hashes, mempools), so the socket backend, tests and benchmarks
// start it too, without hugepages, PCI or shared config.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace heimdall::io {

struct EalOptions {
  std::size_t memory_mb = 64;           // -m; computed from the config by the caller
  std::vector<std::string> extra_args;  // dataplane.eal_args for the DPDK backend
  bool quiet = true;                    // EAL's own logs at warning and above only
  // The DPDK backend: `extra_args` are the operator's EAL command line (lcores,
  // hugepages or not, devices), so nothing that would contradict it is added; -m
  // and the file prefix only when it has none.
  bool drives_ports = false;
};

// Starts the EAL. Throws std::runtime_error with DPDK's reason on failure, or when
// called twice. rte_eal_init pins the calling thread to the main lcore; this
// function restores the thread's previous CPU set afterwards, so threads created
// later (socket workers, logging) are not all squeezed onto one core.
void start_eal(const EalOptions& options);

// For a thread of ours that calls DPDK APIs needing an lcore id (mempool caches,
// rings with per-lcore state): registers it as a non-EAL lcore. False when the EAL
// is not running or has no lcore id left (RTE_MAX_LCORE).
bool register_thread_with_eal();
void unregister_thread_from_eal();

void stop_eal();

}  // namespace heimdall::io
