// The kernel-socket backend (docs/architecture.md §11): N worker threads, each with its own
// SO_REUSEPORT UDP and TCP listening sockets (the kernel spreads clients over
// them), its own upstream sockets, and its own Engine. Used for development, CI,
// and the slow path; no state is shared between workers.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "heimdall/cache/cache.hpp"
#include "heimdall/engine/engine.hpp"
#include "heimdall/net/endpoint.hpp"
#include "heimdall/rcu/qsbr.hpp"
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
// engine::Counters: owner writes with relaxed load + store).
struct alignas(64) SocketCounters {
  using Counter = std::atomic<std::uint64_t>;
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

class SocketWorker;

// Raises this process's soft RLIMIT_NOFILE to its hard limit; called once at
// start-up. The backend's constructor then refuses a configuration whose
// connection limits cannot fit in the limit (std::runtime_error naming
// listen.tcp_max_connections).
void raise_descriptor_limit();

// The kernel's ip_local_port_range: where the exception path's sockets draw their
// upstream source ports in DPDK mode, apart from the fast path's (docs/architecture.md §12.4).
upstream::PortRange kernel_ephemeral_ports();

class SocketBackend {
 public:
  // Opens every socket (so that a busy port, one held by another process included,
  // a bad address or too low a descriptor limit fails start-up with a clear
  // std::runtime_error) but starts no thread.
  explicit SocketBackend(const SocketBackendConfig& config);
  ~SocketBackend();
  SocketBackend(const SocketBackend&) = delete;
  SocketBackend& operator=(const SocketBackend&) = delete;

  void start();
  // Stops accepting queries; in-flight ones are answered (or SERVFAIL) before the
  // workers exit, bounded by the upstream budget. join() waits for that.
  void request_stop();
  void join();

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
