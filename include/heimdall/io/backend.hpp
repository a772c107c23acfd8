// A data plane as the control thread drives and reads it (docs/architecture.md §3.1):
// the socket backend, the DPDK port backend, and any later one (AF_XDP,
// io_uring) implement it, so that start-up, shutdown, the metrics and heimdallctl
// never name a backend; only the start-up code that builds one from the
// configuration does.
//
// Every method here is the control thread's; nothing is on a packet's path. What
// is read (engine, selector and backend counters) is written by the workers that
// own it and read with relaxed loads (docs/architecture.md §4.2). The backend's own
// counters leave through stats::CounterSets, so that io never includes control.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "heimdall/engine/engine.hpp"
#include "heimdall/stats/counter_sets.hpp"
#include "heimdall/upstream/selector.hpp"

namespace heimdall::io {

// A NIC port's own counters (for DPDK, rte_eth_stats), read from the port by the
// control thread, not from a worker.
struct PortStats {
  bool link_up = false;
  std::uint32_t link_speed_mbps = 0;
  std::uint64_t rx_packets = 0;
  std::uint64_t tx_packets = 0;
  std::uint64_t rx_missed = 0;  // dropped by the port: its RX queue was full
  std::uint64_t rx_errors = 0;
  std::uint64_t tx_errors = 0;
  std::uint64_t rx_no_mbuf = 0;
};

class Backend {
 public:
  // A backend stops and joins its threads when destroyed.
  virtual ~Backend() = default;

  // Launches the workers (built, sockets or port open, by the constructor).
  // Throws std::runtime_error when they cannot run.
  virtual void start() = 0;
  // Stops taking queries; in-flight ones are answered (or SERVFAIL) before the
  // workers exit, bounded by the upstream budget. join() waits for that.
  virtual void request_stop() = 0;
  virtual void join() = 0;

  // Each engine's counters and upstream selector, every engine once: the workers
  // in order, then any slow-path worker (the DPDK exception path's TCP worker).
  // This order numbers the workers in every output.
  using EngineVisitor = std::function<void(const engine::Counters&, const upstream::Selector&)>;
  virtual void visit_engines(const EngineVisitor& visit) const = 0;
  // The backend's own counter tables with their sets (socket, port, exception
  // path counters), in the order the outputs list them; each names its section and
  // the number of its first worker.
  using CounterVisitor = std::function<void(const stats::CounterSets&)>;
  virtual void visit_counters(const CounterVisitor& visit) const = 0;
  // The NIC port's counters, for a backend that drives one.
  virtual std::optional<PortStats> port_stats() const { return std::nullopt; }
};

}  // namespace heimdall::io
