// How many file descriptors the socket backend can use at most, checked against
// RLIMIT_NOFILE at start-up: a server that runs out of descriptors under load
// fails its clients (and, before the accept backoff, spun on its listeners), so a
// configuration that cannot fit is refused before it serves. Private to io/socket.
#pragma once

#include <cstdint>
#include <string>

#include "heimdall/io/socket_backend.hpp"

namespace heimdall::io {

// Upstream TCP connections a worker may have open at once (answers truncated
// over UDP asked again over TCP); one more is refused and counted.
inline constexpr unsigned kUpstreamTcpSlots = 256;

// Client connection slots of one worker: listen.tcp_max_connections shared out
// over the workers (at most 65535: the slot is 16 bits of the connection handle).
unsigned connection_slots(const SocketBackendConfig& config);

struct DescriptorBudget {
  unsigned workers = 0;
  // Per worker:
  std::uint64_t client_connections = 0;  // connection_slots(), 0 without a TCP listener
  std::uint64_t upstream_tcp = 0;        // kUpstreamTcpSlots
  // Upstream UDP sockets: those the attempts in flight use, at most max_udp_sockets
  // (upstreams.max_udp_sockets_per_worker; RFC 5452, docs/architecture.md §7.6).
  std::uint64_t upstream_udp = 0;
  std::uint64_t fixed = 0;  // epoll, UDP and TCP listeners
  // The rest of the process, whatever the workers do: standard streams and
  // logs, the management listeners with their 64 connections each, the query
  // log, list downloads, file watches, the EAL's own descriptors.
  static constexpr std::uint64_t kProcessReserve = 192;

  std::uint64_t per_worker() const {
    return client_connections + upstream_tcp + upstream_udp + fixed;
  }
  std::uint64_t total() const { return workers * per_worker() + kProcessReserve; }
};

DescriptorBudget descriptor_budget(const SocketBackendConfig& config);

// Throws std::runtime_error naming listen.tcp_max_connections, the budget and
// the limit when the budget does not fit.
void check_descriptor_budget(const SocketBackendConfig& config);

}  // namespace heimdall::io
