// One socket-backend worker: an epoll loop over its own sockets feeding its own
// Engine (docs/architecture.md §11). The worker reads the UDP listeners and
// answers from them; client TCP is its TcpServer's, the sockets towards the
// upstream servers its UpstreamSockets'. Private to io/socket.
#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "datagram_batch.hpp"
#include "heimdall/engine/engine.hpp"
#include "heimdall/io/socket_backend.hpp"
#include "heimdall/net/unique_fd.hpp"
#include "tcp_server.hpp"
#include "upstream_sockets.hpp"

namespace heimdall::io {

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
  struct UdpListener {
    net::UniqueFd fd;
    std::unique_ptr<SendBatch> batch;  // the replies leaving from it
  };

  void on_event(const epoll_event& event);
  void read_udp_queries(std::uint32_t listener);
  void sweep(std::uint64_t now_ns);
  void close_listeners();
  void flush_batches();
  bool drained() const;

  const SocketBackendConfig& config_;
  // Declared first so that it closes last, after every socket it watches.
  net::UniqueFd epoll_fd_;
  SocketCounters counters_;
  std::vector<UdpListener> udp_listeners_;
  ReceiveBurst receive_;  // one receive burst, reused for every UDP socket
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<UpstreamSockets> upstream_;  // towards the servers (upstream_sockets.cpp)
  std::unique_ptr<TcpServer> tcp_server_;      // DNS over TCP from clients (tcp_server.cpp)
  cache::Cache* cache_ = nullptr;
  unsigned index_ = 0;
  std::atomic<bool> stop_requested_{false};
  std::uint64_t now_ns_ = 0;
  std::uint64_t next_sweep_ns_ = 0;
};

}  // namespace heimdall::io
