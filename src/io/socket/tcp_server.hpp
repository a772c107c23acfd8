// One socket worker's DNS-over-TCP server (RFC 7766): its listeners, its table of
// client connections, and the limits that keep hostile clients from holding the
// table (slowloris, one source taking every slot, the descriptor limit). Driven
// by the worker's epoll loop; queries go to the worker's Engine and answers come
// back through send(). Private to io/socket.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "heimdall/engine/engine.hpp"
#include "heimdall/io/connection_counts.hpp"
#include "heimdall/io/socket_backend.hpp"
#include "heimdall/net/unique_fd.hpp"

namespace heimdall::io {

class TcpServer {
 public:
  // Opens a listener (in this process's SO_REUSEPORT group) for every
  // config.tcp_listen address and registers it with `epoll_fd`. Queries are
  // handed to `engine`, whose answers to TCP clients the worker passes to send().
  TcpServer(const SocketBackendConfig& config, SocketCounters& counters, int epoll_fd,
            engine::Engine& engine, engine::Sink& sink, std::uint64_t seed);
  ~TcpServer();
  TcpServer(const TcpServer&) = delete;
  TcpServer& operator=(const TcpServer&) = delete;

  void on_listener(std::uint32_t listener, std::uint64_t now_ns);
  void on_client(std::uint32_t slot, std::uint32_t events, std::uint64_t now_ns);
  // An answer for the connection handle the engine was given (slot and generation).
  void send(std::uint32_t connection, std::span<const std::uint8_t> wire);
  // Closes idle connections and those whose query is late; re-arms paused listeners.
  void sweep(std::uint64_t now_ns);
  void close_listeners();
  // Every answer written (or its connection gone).
  bool flushed() const;

 private:
  struct Listener {
    net::UniqueFd fd;
    std::uint64_t paused_until_ns = 0;  // 0: watched; else re-armed at this time
  };
  struct Client {
    net::UniqueFd fd;
    std::uint16_t generation = 0;
    net::Endpoint peer;
    ConnectionCounts::Key key;
    std::vector<std::uint8_t> in;  // length-prefixed frames, as read
    std::size_t in_length = 0;
    std::vector<std::uint8_t> out;  // replies not yet written
    std::size_t out_offset = 0;
    bool read_closed = false;
    bool want_write = false;
    // The last progress: accepted, a whole query read, answer bytes written. A
    // byte of a query that is not yet whole is not progress (slowloris).
    std::uint64_t last_active_ns = 0;
    // When the first byte of the query being read arrived; 0: between queries.
    std::uint64_t query_started_ns = 0;
  };

  void accept_one(net::UniqueFd fd, const sockaddr_storage& peer);
  void pause(std::uint32_t listener);
  // The slot a new client from `newcomer` may take when every slot is held: the
  // connection that has made no progress the longest, if that is long enough,
  // else the quietest of a client holding more than half the slots;
  // UINT32_MAX if none.
  std::uint32_t eviction_candidate(const ConnectionCounts::Key& newcomer) const;
  void read(std::uint32_t slot);
  void write(std::uint32_t slot);
  void close_client(std::uint32_t slot);
  void rewatch(std::uint32_t slot, std::uint32_t events);

  const SocketBackendConfig& config_;
  SocketCounters& counters_;
  int epoll_fd_;
  engine::Engine& engine_;
  engine::Sink& sink_;
  std::vector<Listener> listeners_;
  std::vector<Client> clients_;
  std::vector<std::uint32_t> free_slots_;  // a stack: accept and close are O(1)
  ConnectionCounts per_client_;
  std::uint64_t now_ns_ = 0;
};

}  // namespace heimdall::io
