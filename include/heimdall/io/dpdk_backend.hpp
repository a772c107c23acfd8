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
#include "heimdall/io/backend.hpp"
#include "heimdall/io/socket_backend.hpp"
#include "heimdall/net/frame.hpp"
#include "heimdall/rcu/qsbr.hpp"
#include "heimdall/stats/counter_table.hpp"

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

// A worker's port-level counters (owner writes with stats::bump); each has its row
// in kDpdkCounterTable.
struct alignas(64) DpdkCounters {
  using Counter = stats::Counter;
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

inline constexpr std::array kDpdkCounterTable = {
    stats::counter(&DpdkCounters::rx_frames, "heimdall_worker_rx_frames_total",
                   "Frames received on the worker's queue."),
    stats::counter(&DpdkCounters::tx_frames, "heimdall_worker_tx_frames_total",
                   "Frames sent on the worker's queue."),
    stats::counter(&DpdkCounters::tx_dropped, "heimdall_worker_tx_dropped_total",
                   "Frames dropped: the TX queue was full."),
    stats::counter(&DpdkCounters::no_mbuf, "heimdall_worker_no_mbuf_total",
                   "Replies dropped: no packet buffer."),
    stats::counter(&DpdkCounters::dns_queries, "heimdall_worker_dns_queries_total",
                   "Frames handed to the engine as client queries."),
    stats::counter(&DpdkCounters::upstream_frames, "heimdall_worker_upstream_frames_total",
                   "Frames from an upstream server (answers)."),
    stats::counter(&DpdkCounters::handed_over, "heimdall_worker_handed_over_total",
                   "Upstream answers passed to their worker's ring."),
    stats::counter(&DpdkCounters::handover_received, "heimdall_worker_handover_received_total",
                   "Upstream answers another worker's queue received for this one."),
    stats::counter(&DpdkCounters::handover_full, "heimdall_worker_handover_full_total",
                   "Upstream answers dropped: the ring was full."),
    stats::counter(&DpdkCounters::to_exception, "heimdall_worker_to_exception_total",
                   "Frames passed to the exception path."),
    stats::counter(&DpdkCounters::exception_full, "heimdall_worker_exception_full_total",
                   "Frames dropped: the exception ring was full."),
    stats::counter(&DpdkCounters::echo_replies, "heimdall_worker_echo_replies_total",
                   "ICMP and ICMPv6 echo requests answered in the fast path."),
    stats::counter(&DpdkCounters::fragments, "heimdall_worker_fragments_total",
                   "IP fragments passed to the kernel (also counted in to_exception)."),
    stats::counter(&DpdkCounters::no_neighbour, "heimdall_worker_no_neighbour_total",
                   "Upstream queries dropped: next hop unresolved."),
    stats::counter(&DpdkCounters::no_route, "heimdall_worker_no_route_total",
                   "Upstream queries dropped: the port has no address of that family."),
    stats::counter(&DpdkCounters::drained_queries, "heimdall_worker_drained_queries_total",
                   "Queries that arrived while stopping: not answered."),
    stats::counter(&DpdkCounters::multi_segment, "heimdall_worker_multi_segment_total",
                   "Frames dropped: in chained buffers (jumbo)."),
    stats::per_label<DpdkCounters, &DpdkCounters::dropped>(
        "heimdall_worker_dropped_frames_total", "Frames dropped, by reason.", "reason",
        [](std::size_t reason) {
          return net::drop_reason_name(static_cast<net::DropReason>(reason));
        }),
};
static_assert(stats::covers_every_member(kDpdkCounterTable));

// The exception thread's counters (written by it only); each has its row in
// kExceptionCounterTable.
struct alignas(64) ExceptionCounters {
  using Counter = stats::Counter;
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

inline constexpr std::array kExceptionCounterTable = {
    stats::counter(&ExceptionCounters::arp_replies, "heimdall_exception_arp_replies_total",
                   "ARP requests for the port's address answered.", stats::Split::Total),
    stats::counter(&ExceptionCounters::arp_requests, "heimdall_exception_arp_requests_total",
                   "ARP requests sent to resolve a next hop.", stats::Split::Total),
    stats::counter(
        &ExceptionCounters::ndp_advertisements, "heimdall_exception_ndp_advertisements_total",
        "NDP neighbour advertisements sent for the port's address.", stats::Split::Total),
    stats::counter(&ExceptionCounters::ndp_solicitations,
                   "heimdall_exception_ndp_solicitations_total",
                   "NDP neighbour solicitations sent to resolve a next hop.", stats::Split::Total),
    stats::counter(&ExceptionCounters::neighbours_learned,
                   "heimdall_exception_neighbours_learned_total", "Next hops learned (ARP or NDP).",
                   stats::Split::Total),
    stats::counter(&ExceptionCounters::to_tap, "heimdall_exception_to_tap_total",
                   "Frames passed to the kernel's tap.", stats::Split::Total),
    stats::counter(&ExceptionCounters::from_tap, "heimdall_exception_from_tap_total",
                   "Frames the kernel sent through the tap.", stats::Split::Total),
    stats::counter(&ExceptionCounters::tap_write_failed,
                   "heimdall_exception_tap_write_failed_total", "Frames the tap refused.",
                   stats::Split::Total),
    stats::counter(&ExceptionCounters::tap_multicast_dropped,
                   "heimdall_exception_tap_multicast_dropped_total",
                   "The kernel's own multicast (MLD, RS): not sent out.", stats::Split::Total),
    stats::counter(&ExceptionCounters::tap_no_neighbour,
                   "heimdall_exception_tap_no_neighbour_total",
                   "Kernel frames dropped: next hop not yet resolved.", stats::Split::Total),
    stats::counter(&ExceptionCounters::egress_full, "heimdall_exception_egress_full_total",
                   "Frames dropped: the egress ring to the port was full.", stats::Split::Total),
    stats::counter(&ExceptionCounters::no_mbuf, "heimdall_exception_no_mbuf_total",
                   "Frames dropped: no packet buffer.", stats::Split::Total),
};
static_assert(stats::covers_every_member(kExceptionCounterTable));

class DpdkWorker;
class ExceptionPath;
struct DpdkShared;

class DpdkBackend final : public Backend {
 public:
  // Sets up the port (queues, pool, link), the exception path and its tap, and
  // the workers, but starts nothing. Throws std::runtime_error naming the port
  // and the step that failed. The EAL must be running with enough worker lcores
  // for start(); tests drive the workers with poll_once instead.
  explicit DpdkBackend(const DpdkBackendConfig& config);
  ~DpdkBackend() override;
  DpdkBackend(const DpdkBackend&) = delete;

  // EAL heap bytes the packet buffers of such a backend take (docs/architecture.md §5.2).
  static std::size_t eal_bytes_needed(const DpdkBackendConfig& config);
  DpdkBackend& operator=(const DpdkBackend&) = delete;

  // Launches a worker on each of the first `workers` worker lcores, the exception
  // thread and the TCP worker. Throws if the EAL has too few worker lcores.
  void start() override;
  // Stops taking queries; in-flight ones are answered (or SERVFAIL) before the
  // workers return, bounded by the upstream budget. join() waits for that.
  void request_stop() override;
  void join() override;
  // The fast-path workers, then the TCP worker.
  void visit_engines(const EngineVisitor& visit) const override;
  // The workers' DpdkCounters, the exception path's, then the TCP worker's sockets.
  void visit_counters(const CounterVisitor& visit) const override;
  std::optional<PortStats> port_stats() const override;

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
