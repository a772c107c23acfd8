// The kernel-socket backend (docs/architecture.md §11): N worker threads, each with its own
// SO_REUSEPORT UDP and TCP listening sockets (the kernel spreads clients over
// them), its own upstream sockets, and its own Engine. Used for development, CI,
// and the slow path; no state is shared between workers.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "heimdall/cache/cache.hpp"
#include "heimdall/engine/engine.hpp"
#include "heimdall/io/backend.hpp"
#include "heimdall/net/endpoint.hpp"
#include "heimdall/rcu/qsbr.hpp"
#include "heimdall/stats/counter_table.hpp"
#include "heimdall/upstream/source_ports.hpp"

namespace heimdall::io {

struct SocketBackendConfig {
  unsigned workers = 2;
  std::vector<net::Endpoint> udp_listen;
  std::vector<net::Endpoint> tcp_listen;
  unsigned tcp_idle_timeout_ms = 10000;
  unsigned tcp_query_timeout_ms = 3000;  // a query must be whole this long after its first byte
  unsigned tcp_max_connections = 1024;   // across all workers
  unsigned tcp_max_connections_per_client = 64;  // per worker and client /32 or /64; 0: no limit
  // Upstream UDP (RFC 5452, docs/architecture.md §7.6): attempts leave from sockets
  // connected to their server, each opened on a port drawn from `source_ports`
  // (upstreams.source_ports) and carrying at most `attempts_per_udp_socket`
  // attempts (upstreams.attempts_per_udp_socket; 1: a socket per attempt) within
  // a second; a worker holds at most `max_udp_sockets` at once
  // (upstreams.max_udp_sockets_per_worker), an attempt beyond that is retried
  // shortly and counts against max_attempts.
  upstream::PortRange source_ports;
  unsigned max_udp_sockets = 1024;
  unsigned attempts_per_udp_socket = 1;
  engine::EngineConfig engine;
  // Shared by the workers (worker i reads as reader i and owns shard i); it must
  // outlive the backend. Null: no cache.
  cache::Cache* cache = nullptr;
  // The published filter, read by every worker; it must outlive the backend. Null:
  // no filtering.
  const rcu::Published<filter::Snapshot>* filter = nullptr;
  // Worker i reads the cache and the filter's regex scratch as reader
  // first_reader + i. Workers past the cache's shards own none: the DPDK backend's
  // exception path runs its TCP worker after the fast-path workers.
  unsigned first_reader = 0;
};

// Counters of the socket layer itself, one set per worker (same rules as
// engine::Counters: owner writes with stats::bump); each has its row in
// kSocketCounterTable.
struct alignas(64) SocketCounters {
  using Counter = stats::Counter;
  Counter udp_received{0};
  Counter udp_sent{0};
  Counter udp_send_dropped{0};  // the kernel refused a datagram (buffer full, unreachable)
  Counter udp_oversized{0};     // datagram larger than our receive buffer: dropped
  Counter tcp_accepted{0};
  Counter tcp_refused_limit{0};  // every slot busy, none quiet enough to evict: closed at once
  Counter tcp_refused_client_limit{0};  // the client's prefix has all its connections
  Counter tcp_evicted{0};               // the longest-quiet connection, closed for a new client
  Counter tcp_accept_backoff{0};        // accept failed for want of descriptors or memory: paused
  Counter tcp_closed_idle{0};
  Counter tcp_closed_query_timeout{0};  // a query not whole within tcp_query_timeout_ms
  Counter tcp_bad_frame{0};             // zero-length frame: connection closed
  Counter tcp_reply_dropped{0};         // the connection was gone when the answer came
  Counter upstream_tcp_failed{0};       // connect, write or read to an upstream over TCP failed
  Counter upstream_tcp_no_slot{0};
  Counter upstream_udp_opened{0};         // sockets opened for upstream UDP attempts
  Counter upstream_udp_port_in_use{0};    // drawn ports already taken: drawn again
  Counter upstream_udp_limit{0};          // attempts refused a socket: max_udp_sockets open
  Counter upstream_udp_no_descriptor{0};  // ... socket() or bind() failed for want of resources
  Counter upstream_udp_refused{0};        // the server's host said port unreachable (ICMP)
};

inline constexpr std::array kSocketCounterTable = {
    stats::counter(&SocketCounters::udp_received, "heimdall_worker_udp_received_total",
                   "Datagrams received."),
    stats::counter(&SocketCounters::udp_sent, "heimdall_worker_udp_sent_total", "Datagrams sent."),
    stats::counter(&SocketCounters::udp_send_dropped, "heimdall_worker_udp_send_dropped_total",
                   "Datagrams the kernel refused."),
    stats::counter(&SocketCounters::udp_oversized, "heimdall_worker_udp_oversized_total",
                   "Datagrams dropped: larger than the buffer."),
    stats::counter(&SocketCounters::tcp_accepted, "heimdall_worker_tcp_accepted_total",
                   "TCP connections accepted."),
    stats::counter(&SocketCounters::tcp_refused_limit, "heimdall_worker_tcp_refused_limit_total",
                   "TCP connections closed at once: every slot busy, none quiet long enough to "
                   "evict."),
    stats::counter(&SocketCounters::tcp_refused_client_limit,
                   "heimdall_worker_tcp_refused_client_limit_total",
                   "TCP connections closed at once: the client had "
                   "tcp_max_connections_per_client."),
    stats::counter(&SocketCounters::tcp_evicted, "heimdall_worker_tcp_evicted_total",
                   "TCP connections closed to make room for a new client (the longest quiet)."),
    stats::counter(&SocketCounters::tcp_accept_backoff, "heimdall_worker_tcp_accept_backoff_total",
                   "Times a TCP listener was paused: accept failed for want of descriptors or "
                   "memory."),
    stats::counter(&SocketCounters::tcp_closed_idle, "heimdall_worker_tcp_closed_idle_total",
                   "TCP connections closed: idle."),
    stats::counter(&SocketCounters::tcp_closed_query_timeout,
                   "heimdall_worker_tcp_closed_query_timeout_total",
                   "TCP connections closed: a query not whole within tcp_query_timeout_ms."),
    stats::counter(&SocketCounters::tcp_bad_frame, "heimdall_worker_tcp_bad_frame_total",
                   "TCP connections closed: zero-length frame."),
    stats::counter(&SocketCounters::tcp_reply_dropped, "heimdall_worker_tcp_reply_dropped_total",
                   "TCP answers dropped: the connection was gone or its buffer full."),
    stats::counter(&SocketCounters::upstream_tcp_failed,
                   "heimdall_worker_upstream_tcp_failed_total",
                   "Upstream TCP connections that failed."),
    stats::counter(&SocketCounters::upstream_tcp_no_slot,
                   "heimdall_worker_upstream_tcp_no_slot_total",
                   "Upstream TCP queries not sent: every upstream TCP slot busy."),
    stats::counter(&SocketCounters::upstream_udp_opened,
                   "heimdall_worker_upstream_udp_opened_total",
                   "Connected sockets opened for upstream UDP attempts."),
    stats::counter(&SocketCounters::upstream_udp_port_in_use,
                   "heimdall_worker_upstream_udp_port_in_use_total",
                   "Drawn upstream source ports already taken: drawn again."),
    stats::counter(&SocketCounters::upstream_udp_limit, "heimdall_worker_upstream_udp_limit_total",
                   "Upstream UDP attempts refused a socket: upstreams.max_udp_sockets_per_worker "
                   "open."),
    stats::counter(&SocketCounters::upstream_udp_no_descriptor,
                   "heimdall_worker_upstream_udp_no_descriptor_total",
                   "Upstream UDP sockets that could not be opened (descriptors, memory)."),
    stats::counter(&SocketCounters::upstream_udp_refused,
                   "heimdall_worker_upstream_udp_refused_total",
                   "Upstream UDP attempts ended by the server's port unreachable: failed over."),
};
static_assert(stats::covers_every_member(kSocketCounterTable));

class SocketWorker;

// Raises this process's soft RLIMIT_NOFILE to its hard limit; called once at
// start-up. The backend's constructor then refuses a configuration whose
// connection limits cannot fit in the limit (std::runtime_error naming
// listen.tcp_max_connections).
void raise_descriptor_limit();

// The kernel's ip_local_port_range: where the exception path's sockets draw their
// upstream source ports in DPDK mode, apart from the fast path's (docs/architecture.md §12.4).
upstream::PortRange kernel_ephemeral_ports();

class SocketBackend final : public Backend {
 public:
  // Opens every socket (so that a busy port, one held by another process included,
  // a bad address or too low a descriptor limit fails start-up with a clear
  // std::runtime_error) but starts no thread.
  explicit SocketBackend(const SocketBackendConfig& config);
  ~SocketBackend() override;
  SocketBackend(const SocketBackend&) = delete;
  SocketBackend& operator=(const SocketBackend&) = delete;

  void start() override;
  // Stops accepting queries; in-flight ones are answered (or SERVFAIL) before the
  // workers exit, bounded by the upstream budget. join() waits for that.
  void request_stop() override;
  void join() override;
  void visit_engines(const EngineVisitor& visit) const override;
  void visit_counters(const CounterVisitor& visit) const override;
  // The workers' SocketCounters, numbered from `first_worker` (the DPDK backend's
  // TCP worker follows its fast-path workers).
  stats::CounterSets socket_counter_sets(std::size_t first_worker) const;

  std::size_t worker_count() const { return workers_.size(); }
  const engine::Counters& engine_counters(std::size_t worker) const;
  const upstream::Selector& selector(std::size_t worker) const;
  const SocketCounters& socket_counters(std::size_t worker) const;

 private:
  SocketBackendConfig config_;  // the workers refer to this copy for their lifetime
  std::vector<std::unique_ptr<SocketWorker>> workers_;
  std::vector<std::thread> threads_;
};

}  // namespace heimdall::io
