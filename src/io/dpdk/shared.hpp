// What the DPDK backend's threads share, set up once before any of them runs and
// read-only afterwards (rings are SPSC: each has exactly one producer and one
// consumer, named where it is created).
#pragma once

#include <rte_mbuf.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "heimdall/io/dpdk_backend.hpp"
#include "heimdall/net/frame.hpp"
#include "heimdall/rcu/annotations.hpp"
#include "heimdall/rcu/qsbr.hpp"
#include "heimdall/upstream/selector.hpp"

struct rte_mempool;
struct rte_ring;

namespace heimdall::io {

// Link-layer next hops of the upstream servers, published by the exception thread
// (the ARP/NDP owner) and read by the workers (docs/architecture.md §12.6). Index = the
// engine's server index.
struct Neighbours {
  std::array<net::MacAddress, upstream::kMaxServers> server_mac{};
  std::uint32_t resolved = 0;  // bit i: server_mac[i] is known
};

struct DpdkShared {
  std::uint16_t port_id = 0;
  bool port_configured = false;  // rte_eth_dev_configure succeeded: stop and close it
  net::Interface identity;
  bool udp_checksum_offload = false;
  bool ipv4_checksum_offload = false;
  rte_mempool* pool = nullptr;
  unsigned workers = 0;
  std::uint16_t upstream_port_min = 0;
  std::uint16_t upstream_port_max = 0;
  // port_owner[port - upstream_port_min]: the worker that sends from that port,
  // dealt by a secret shuffle at start (upstream::deal_ports), so that knowing a
  // query's worker tells a forger nothing about its port. Read-only once workers run.
  std::vector<std::uint8_t> port_owner;
  std::vector<net::Endpoint> servers;
  // Worker i → the exception thread: frames the fast path does not own.
  std::vector<rte_ring*> to_exception;
  // The exception thread → worker 0, which sends them on its TX queue.
  rte_ring* egress = nullptr;
  // handover[from * workers + to]: upstream answers that arrived at `from` for `to`.
  std::vector<rte_ring*> handover;
  rcu::Published<Neighbours> neighbours;
  // Shutdown: `stop` ends new queries; each worker counts itself in
  // `drained_workers` once its queries in flight are done; `exit` ends the loops.
  std::atomic<bool> stop{false};
  std::atomic<unsigned> drained_workers{0};
  std::atomic<bool> exit{false};

  rte_ring* handover_ring(unsigned from, unsigned to) const {
    return handover[from * workers + to];
  }
  // The worker that sent an upstream query from `port` (docs/architecture.md §12.3), or -1
  // when the port is not one of the fast path's.
  int owner_of_port(std::uint16_t port) const {
    if (port < upstream_port_min || port > upstream_port_max) return -1;
    return port_owner[port - upstream_port_min];
  }

  // ThreadSanitizer cannot see DPDK order an mbuf's hand-offs (rings, the pool's
  // per-lcore caches, a driver freeing what it sent), so every thread marks the
  // pool released before it lets go of an mbuf and acquired after it takes one
  // (docs/architecture.md §9.3). Nothing outside TSan builds.
  void letting_go_of_mbufs() const { rcu::published(pool); }
  void took_mbufs() const { rcu::observed(pool); }
};

// A received frame's bytes; frames are single-segment (the workers drop others).
inline std::span<std::uint8_t> frame_bytes(rte_mbuf* frame) {
  return {rte_pktmbuf_mtod(frame, std::uint8_t*), rte_pktmbuf_data_len(frame)};
}

}  // namespace heimdall::io
