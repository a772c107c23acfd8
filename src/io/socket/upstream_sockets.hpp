// One socket worker's sockets towards its upstream servers, the Sink side of its
// Engine that leaves the host: UDP attempts on connected sockets opened on drawn
// source ports (RFC 5452, docs/architecture.md §7.6) and one TCP connection per
// TCP attempt (docs/architecture.md §11.3). Driven by the worker's epoll loop;
// answers go to the worker's Engine, failures are reported to it. Everything here
// runs on the worker's thread. Private to io/socket.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "datagram_batch.hpp"
#include "heimdall/engine/engine.hpp"
#include "heimdall/io/socket_backend.hpp"
#include "heimdall/net/unique_fd.hpp"

namespace heimdall::io {

class UpstreamSockets {
 public:
  // Sizes the tables (config.max_udp_sockets UDP slots, kUpstreamTcpSlots TCP
  // slots); opens nothing yet. Sockets are registered with `epoll_fd`; answers
  // are read through the worker's `receive` burst and handed to `engine`, which
  // answers its clients through `sink`.
  UpstreamSockets(const SocketBackendConfig& config, SocketCounters& counters, int epoll_fd,
                  engine::Engine& engine, engine::Sink& sink, ReceiveBurst& receive);
  UpstreamSockets(const UpstreamSockets&) = delete;
  UpstreamSockets& operator=(const UpstreamSockets&) = delete;

  // engine::Sink's open_udp_attempt and close_udp_attempt, for the worker to pass on.
  engine::Sink::UdpAttempt open_udp_attempt(unsigned server, std::uint16_t drawn,
                                            std::uint64_t now_ns);
  void close_udp_attempt(std::uint16_t local_port);
  // engine::Sink's send_to_upstream: UDP from the attempt's socket, TCP on a new
  // connection whose deadline is the selector's budget.
  void send(unsigned server, net::Transport transport, std::uint16_t local_port,
            std::span<const std::uint8_t> wire, std::uint64_t now_ns);

  void on_udp(std::uint32_t slot, std::uint64_t now_ns);  // answers to read
  void on_tcp(std::uint32_t slot, std::uint32_t events, std::uint64_t now_ns);
  // Sends the datagrams queued for each server's current socket.
  void flush();
  // Retires UDP sockets past their lifetime and fails TCP connections past their
  // deadline.
  void sweep(std::uint64_t now_ns);

 private:
  // A socket for upstream UDP attempts, connected to its server: datagrams from
  // anywhere else are not delivered to it, and a scan sees a closed port. It
  // carries at most attempts_per_udp_socket attempts for at most
  // kUdpSocketLifetimeNs, then takes no more and closes once the last has ended.
  struct Udp {
    net::UniqueFd fd;
    unsigned server = 0;
    std::uint16_t port = 0;
    std::uint32_t generation = 0;  // bumped at every close
    std::uint32_t attempts = 0;    // carried so far
    std::uint32_t in_flight = 0;   // attempts not ended yet
    std::uint64_t opened_ns = 0;
  };
  static constexpr std::uint32_t kNoUdpSlot = UINT32_MAX;
  struct Tcp {
    net::UniqueFd fd;
    unsigned server = 0;
    bool connected = false;
    std::vector<std::uint8_t> out;
    std::size_t out_offset = 0;
    std::vector<std::uint8_t> in;
    std::size_t in_length = 0;
    std::uint64_t deadline_ns = 0;
  };

  // The server's current UDP socket takes no more attempts; it closes once its
  // attempts in flight have ended.
  void retire_udp(unsigned server);
  void close_udp(std::uint32_t slot);
  void close_tcp(std::uint32_t slot, bool failed, std::uint64_t now_ns);

  const SocketBackendConfig& config_;
  SocketCounters& counters_;
  int epoll_fd_;
  engine::Engine& engine_;
  engine::Sink& sink_;
  ReceiveBurst& receive_;
  std::vector<Udp> udp_;                         // max_udp_sockets slots
  std::vector<std::uint32_t> free_udp_slots_;    // reserved to capacity: never grows in the loop
  std::vector<std::uint32_t> udp_slot_of_port_;  // 65536 entries: the open socket on a port
  std::vector<std::uint32_t> active_udp_;        // per server: the socket new attempts use
  std::vector<std::unique_ptr<SendBatch>> server_batches_;  // per server: its active socket's
  std::vector<Tcp> tcp_;
};

}  // namespace heimdall::io
