// One socket-backend worker: an epoll loop over its own sockets feeding its own
// Engine. Private to io/socket.
#pragma once

#include <sys/epoll.h>
#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "heimdall/engine/engine.hpp"
#include "heimdall/io/socket_backend.hpp"
#include "socket_util.hpp"
#include "tcp_server.hpp"

namespace heimdall::io {

// Datagrams queued for one sendmmsg call on one socket.
class SendBatch {
 public:
  static constexpr std::size_t kBurst = 32;
  static constexpr std::size_t kSlotSize = 4096;  // edns.max_udp is at most 4096

  explicit SendBatch(SocketCounters& counters);
  // Points the batch at a socket; anything queued is dropped. A connected socket's
  // datagrams carry no address.
  void reset(int fd, bool dual_stack, bool connected = false);
  void add(const net::Endpoint& to, std::span<const std::uint8_t> bytes);
  void flush();
  bool empty() const { return count_ == 0; }

 private:
  int fd_ = -1;
  bool dual_stack_ = false;  // an AF_INET6 socket that also reaches IPv4 peers (as ::ffff:a.b.c.d)
  bool connected_ = false;
  SocketCounters& counters_;
  std::size_t count_ = 0;
  std::unique_ptr<mmsghdr[]> messages_;
  std::unique_ptr<iovec[]> iovecs_;
  std::unique_ptr<sockaddr_storage[]> addresses_;
  std::unique_ptr<std::uint8_t[]> data_;
};

class SocketWorker final : public engine::Sink {
 public:
  SocketWorker(const SocketBackendConfig& config, unsigned index);
  ~SocketWorker() override;

  void run();  // the thread body; returns after request_stop() once drained
  void request_stop() { stop_requested_.store(true, std::memory_order_release); }

  const engine::Counters& engine_counters() const { return engine_->counters(); }
  const upstream::Selector& selector() const { return engine_->selector(); }
  const SocketCounters& counters() const { return counters_; }

  void send_to_client(const net::ClientRef& client, std::span<const std::uint8_t> wire) override;
  void send_to_upstream(unsigned server, net::Transport transport, std::uint16_t local_port,
                        std::span<const std::uint8_t> wire) override;
  UdpAttempt open_udp_attempt(unsigned server, std::uint16_t drawn) override;
  void close_udp_attempt(std::uint16_t local_port) override;

 private:
  struct UdpSocket {
    int fd = -1;
    bool dual_stack = false;
    std::uint16_t port = 0;
    std::uint64_t opened_ns = 0;
    std::uint64_t retire_at_ns = 0;  // 0: in use; else closed at this time
    std::unique_ptr<SendBatch> batch;
  };
  // A socket for upstream UDP attempts, connected to its server: datagrams from
  // anywhere else are not delivered to it, and a scan sees a closed port. It
  // carries at most attempts_per_udp_socket attempts for at most
  // kUdpSocketLifetimeNs, then takes no more and closes once the last has ended.
  struct UpstreamUdp {
    int fd = -1;
    unsigned server = 0;
    std::uint16_t port = 0;
    std::uint32_t generation = 0;  // bumped at every close
    std::uint32_t attempts = 0;    // carried so far
    std::uint32_t in_flight = 0;   // attempts not ended yet
    std::uint64_t opened_ns = 0;
  };
  static constexpr std::uint32_t kNoUdpSlot = UINT32_MAX;
  struct UpstreamTcp {
    int fd = -1;
    unsigned server = 0;
    bool connected = false;
    std::vector<std::uint8_t> out;
    std::size_t out_offset = 0;
    std::vector<std::uint8_t> in;
    std::size_t in_length = 0;
    std::uint64_t deadline_ns = 0;
  };

  void watch(int fd, Kind kind, std::uint32_t index, std::uint32_t events);
  void rewatch(int fd, Kind kind, std::uint32_t index, std::uint32_t events);
  void on_event(const epoll_event& event);
  // One recvmmsg into the shared receive burst; returns the datagram count.
  int receive_burst(int fd);
  void read_udp_queries(std::uint32_t listener);
  void read_upstream_udp(std::uint32_t socket);
  void on_upstream_tcp(std::uint32_t slot, std::uint32_t events);
  void close_upstream_tcp(std::uint32_t slot, bool failed);
  // The server's current UDP socket takes no more attempts; it closes once its
  // attempts in flight have ended.
  void retire_udp(unsigned server);
  void close_udp(std::uint32_t slot);
  void sweep(std::uint64_t now_ns);
  void close_listeners();
  void flush_batches();
  bool drained() const;

  const SocketBackendConfig& config_;
  int epoll_fd_ = -1;
  std::vector<UdpSocket> udp_listeners_;
  std::vector<UpstreamUdp> upstream_udp_;        // max_udp_sockets slots
  std::vector<std::uint32_t> free_udp_slots_;    // reserved to capacity: never grows in the loop
  std::vector<std::uint32_t> udp_slot_of_port_;  // 65536 entries: the open socket on a port
  std::vector<std::uint32_t> active_udp_;        // per server: the socket new attempts use
  std::vector<std::unique_ptr<SendBatch>> server_batches_;  // per server: its active socket's
  std::vector<UpstreamTcp> upstream_tcp_;
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<TcpServer> tcp_server_;  // DNS over TCP from clients (tcp_server.cpp)
  cache::Cache* cache_ = nullptr;
  unsigned index_ = 0;
  SocketCounters counters_;
  std::atomic<bool> stop_requested_{false};
  std::uint64_t now_ns_ = 0;
  std::uint64_t next_sweep_ns_ = 0;

  // One receive burst, reused for every UDP socket.
  static constexpr std::size_t kRecvBurst = 32;
  static constexpr std::size_t kRecvSlot = 65536;
  std::unique_ptr<std::uint8_t[]> recv_data_;
  std::unique_ptr<mmsghdr[]> recv_messages_;
  std::unique_ptr<iovec[]> recv_iovecs_;
  std::unique_ptr<sockaddr_storage[]> recv_addresses_;
};

}  // namespace heimdall::io
