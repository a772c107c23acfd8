// The DPDK port backend (docs/architecture.md §12): one poll-mode worker per worker lcore,
// each owning an RX/TX queue pair of the port and its own Engine; an exception
// thread for what the fast path does not own (ARP/NDP, TCP through a kernel tap).
// Workers share nothing writable: upstream answers that land on another worker's
// queue are handed to their owner over an SPSC ring and counted (docs/architecture.md §12.3).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "heimdall/cache/cache.hpp"
#include "heimdall/engine/engine.hpp"
#include "heimdall/io/socket_backend.hpp"
#include "heimdall/net/frame.hpp"
#include "heimdall/rcu/qsbr.hpp"

namespace heimdall::io {

struct DpdkPortSettings {
  std::string device;       // a vdev name (net_memif0) or a PCI address (0000:03:00.0)
  net::Interface identity;  // addresses and VLAN; the MAC is the port's unless `mac` is set
  std::optional<net::MacAddress> mac;
  std::optional<net::Endpoint> gateway;  // next hop off the IPv4 subnet (port unused)
  std::optional<net::Endpoint> gateway6;
};

struct DpdkBackendConfig {
  unsigned workers = 1;
  DpdkPortSettings port;
  unsigned mbufs = 0;  // 0: sized from the workers and queue depths
  std::uint16_t upstream_port_min = 20000;
  std::uint16_t upstream_port_max = 29999;
  engine::EngineConfig engine;
  cache::Cache* cache = nullptr;  // worker i reads as reader i and owns shard i
  const rcu::Published<filter::Snapshot>* filter = nullptr;
  // The exception path's kernel tap; empty: none (ARP/NDP are still answered).
  std::string tap_name;
  // TCP on the tap's addresses, served by a socket worker reading the cache and
  // the filter as reader `workers` (docs/architecture.md §12.5). Empty: no TCP.
  std::vector<net::Endpoint> tcp_listen;
  unsigned tcp_idle_timeout_ms = 10000;
  unsigned tcp_query_timeout_ms = 3000;
  unsigned tcp_max_connections = 1024;
  unsigned tcp_max_connections_per_client = 64;
  // Start-up waits this long for the link; a memif port comes up with its peer.
  unsigned link_wait_ms = 3000;
};

// A worker's port-level counters (owner writes, relaxed load + store).
struct alignas(64) DpdkCounters {
  using Counter = std::atomic<std::uint64_t>;
  Counter rx_frames{0};
  Counter tx_frames{0};
  Counter tx_dropped{0};   // the TX queue was full
  Counter no_mbuf{0};      // no buffer for a reply: dropped
  Counter dns_queries{0};  // frames handed to the engine as client queries
  Counter upstream_frames{0};
  Counter handed_over{0};        // upstream answers for another worker, sent over its ring
  Counter handover_received{0};  // answers another worker's queue received for this one
  Counter handover_full{0};      // the owner's ring was full: dropped
  Counter to_exception{0};       // ARP, NDP, TCP and the rest, sent to the exception thread
  Counter exception_full{0};     // the exception ring was full: dropped
  Counter echo_replies{0};
  Counter fragments{0};        // IP fragments: passed to the kernel (also in to_exception)
  Counter no_neighbour{0};     // an upstream query with no resolved next hop: dropped
  Counter no_route{0};         // an upstream of a family the port has no address for
  Counter drained_queries{0};  // queries that arrived while stopping: not answered
  Counter multi_segment{0};    // a frame in chained buffers (jumbo): dropped
  // One per net::DropReason (index = the enum value).
  std::array<Counter, net::kDropReasonCount> dropped{};
};

// The exception thread's counters (written by it only).
struct alignas(64) ExceptionCounters {
  using Counter = std::atomic<std::uint64_t>;
  Counter arp_replies{0};
  Counter arp_requests{0};  // sent to resolve a next hop
  Counter ndp_advertisements{0};
  Counter ndp_solicitations{0};
  Counter neighbours_learned{0};
  Counter to_tap{0};
  Counter from_tap{0};
  Counter tap_write_failed{0};
  Counter tap_multicast_dropped{0};  // the kernel's own multicast (MLD, RS): not sent out
  Counter tap_no_neighbour{0};       // a kernel frame to a next hop not yet resolved
  Counter egress_full{0};
  Counter no_mbuf{0};
};

// The port's own counters (rte_eth_stats), read by the control thread.
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

class DpdkWorker;
class ExceptionPath;
struct DpdkShared;

class DpdkBackend {
 public:
  // Sets up the port (queues, pool, link), the exception path and its tap, and
  // the workers, but starts nothing. Throws std::runtime_error naming the port
  // and the step that failed. The EAL must be running with enough worker lcores
  // for start(); tests drive the workers with poll_once instead.
  explicit DpdkBackend(const DpdkBackendConfig& config);
  ~DpdkBackend();
  DpdkBackend(const DpdkBackend&) = delete;

  // EAL heap bytes the packet buffers of such a backend take (docs/architecture.md §5.2).
  static std::size_t eal_bytes_needed(const DpdkBackendConfig& config);
  DpdkBackend& operator=(const DpdkBackend&) = delete;

  // Launches a worker on each of the first `workers` worker lcores, the exception
  // thread and the TCP worker. Throws if the EAL has too few worker lcores.
  void start();
  // Stops taking queries; in-flight ones are answered (or SERVFAIL) before the
  // workers return, bounded by the upstream budget. join() waits for that.
  void request_stop();
  void join();

  // Tests, in place of start(): one loop iteration of worker `worker` or of the
  // exception thread, in the calling thread. Returns the frames it handled.
  unsigned poll_worker_once(unsigned worker, std::uint64_t now_ns);
  unsigned poll_exception_once(std::uint64_t now_ns);

  std::size_t worker_count() const;
  const net::Interface& identity() const;
  std::uint16_t port_id() const;
  const engine::Counters& engine_counters(std::size_t worker) const;
  const upstream::Selector& selector(std::size_t worker) const;
  const DpdkCounters& dpdk_counters(std::size_t worker) const;
  const ExceptionCounters& exception_counters() const;
  PortStats port_stats() const;
  const SocketBackend* tcp_backend() const { return tcp_.get(); }

 private:
  void build();
  void release();

  DpdkBackendConfig config_;
  std::unique_ptr<DpdkShared> shared_;
  std::unique_ptr<ExceptionPath> exception_;
  std::vector<std::unique_ptr<DpdkWorker>> workers_;
  std::unique_ptr<SocketBackend> tcp_;
  std::vector<unsigned> lcores_;
  std::thread exception_thread_;
  bool started_ = false;
};

}  // namespace heimdall::io
