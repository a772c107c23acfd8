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
  // Points the batch at a socket; anything queued is dropped.
  void reset(int fd, bool dual_stack);
  void add(const net::Endpoint& to, std::span<const std::uint8_t> bytes);
  void flush();
  bool empty() const { return count_ == 0; }

 private:
  int fd_ = -1;
  bool dual_stack_ = false;  // an AF_INET6 socket that also reaches IPv4 peers (as ::ffff:a.b.c.d)
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

 private:
  struct UdpSocket {
    int fd = -1;
    bool dual_stack = false;
    std::uint16_t port = 0;
    std::uint64_t opened_ns = 0;
    std::uint64_t retire_at_ns = 0;  // 0: in use; else closed at this time
    std::unique_ptr<SendBatch> batch;
  };
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
  bool open_upstream_socket(std::uint32_t slot);
  void rotate_source_port(std::uint64_t now_ns);
  void sweep(std::uint64_t now_ns);
  void close_listeners();
  void flush_batches();
  bool drained() const;

  const SocketBackendConfig& config_;
  int epoll_fd_ = -1;
  std::vector<UdpSocket> udp_listeners_;
  std::vector<UdpSocket> upstream_sockets_;
  std::vector<UpstreamTcp> upstream_tcp_;
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<TcpServer> tcp_server_;  // DNS over TCP from clients (tcp_server.cpp)
  cache::Cache* cache_ = nullptr;
  unsigned index_ = 0;
  SocketCounters counters_;
  std::atomic<bool> stop_requested_{false};
  std::uint64_t now_ns_ = 0;
  std::uint64_t next_sweep_ns_ = 0;
  std::uint64_t next_rotation_ns_ = 0;
  bool needs_ipv6_ = false;

  // One receive burst, reused for every UDP socket.
  static constexpr std::size_t kRecvBurst = 32;
  static constexpr std::size_t kRecvSlot = 65536;
  std::unique_ptr<std::uint8_t[]> recv_data_;
  std::unique_ptr<mmsghdr[]> recv_messages_;
  std::unique_ptr<iovec[]> recv_iovecs_;
  std::unique_ptr<sockaddr_storage[]> recv_addresses_;
};

}  // namespace heimdall::io
