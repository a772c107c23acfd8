#include "socket_worker.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "../loop_support.hpp"
#include "descriptors.hpp"
#include "heimdall/io/eal.hpp"

namespace heimdall::io {
namespace {

using engine::Counters;

constexpr std::size_t kTcpFrameMax = 2 + 65535;
constexpr std::uint64_t kSweepIntervalNs = 100'000'000;
// An upstream UDP socket takes new attempts for at most this long, so that no port
// stays open long, whatever upstreams.attempts_per_udp_socket allows.
constexpr std::uint64_t kUdpSocketLifetimeNs = 1'000'000'000;
constexpr int kMaxEvents = 64;
// Bursts read from one socket before the loop looks at the others.
constexpr int kBurstsPerWakeup = 4;

socklen_t to_socket_address(const net::Endpoint& to, bool dual_stack, sockaddr_storage& out) {
  if (dual_stack && to.family == AF_INET) {
    sockaddr_in6 mapped{};
    mapped.sin6_family = AF_INET6;
    mapped.sin6_port = htons(to.port);
    mapped.sin6_addr.s6_addr[10] = 0xff;
    mapped.sin6_addr.s6_addr[11] = 0xff;
    std::memcpy(&mapped.sin6_addr.s6_addr[12], to.address, 4);
    std::memcpy(&out, &mapped, sizeof(mapped));
    return sizeof(mapped);
  }
  return to.to_sockaddr(out);
}

}  // namespace

SendBatch::SendBatch(SocketCounters& counters)
    : counters_(counters),
      messages_(new mmsghdr[kBurst]),
      iovecs_(new iovec[kBurst]),
      addresses_(new sockaddr_storage[kBurst]),
      data_(new std::uint8_t[kBurst * kSlotSize]) {}

void SendBatch::reset(int fd, bool dual_stack, bool connected) {
  fd_ = fd;
  dual_stack_ = dual_stack;
  connected_ = connected;
  count_ = 0;
}

void SendBatch::add(const net::Endpoint& to, std::span<const std::uint8_t> bytes) {
  if (bytes.size() > kSlotSize) {
    bump(counters_.udp_send_dropped);
    return;
  }
  if (count_ == kBurst) flush();
  std::uint8_t* slot = data_.get() + count_ * kSlotSize;
  std::memcpy(slot, bytes.data(), bytes.size());
  iovecs_[count_] = iovec{slot, bytes.size()};
  mmsghdr& message = messages_[count_];
  message = mmsghdr{};
  if (!connected_) {
    message.msg_hdr.msg_name = &addresses_[count_];
    message.msg_hdr.msg_namelen = to_socket_address(to, dual_stack_, addresses_[count_]);
  }
  message.msg_hdr.msg_iov = &iovecs_[count_];
  message.msg_hdr.msg_iovlen = 1;
  ++count_;
}

void SendBatch::flush() {
  std::size_t sent = 0;
  while (sent < count_) {
    const int n = sendmmsg(fd_, messages_.get() + sent, static_cast<unsigned>(count_ - sent), 0);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    // The failing datagram is dropped (full buffer, unreachable peer); the rest
    // still get their chance.
    bump(counters_.udp_send_dropped);
    ++sent;
  }
  bump(counters_.udp_sent, count_);
  count_ = 0;
}

SocketWorker::SocketWorker(const SocketBackendConfig& config, unsigned index)
    : config_(config),
      recv_data_(new std::uint8_t[kRecvBurst * kRecvSlot]),
      recv_messages_(new mmsghdr[kRecvBurst]),
      recv_iovecs_(new iovec[kRecvBurst]),
      recv_addresses_(new sockaddr_storage[kRecvBurst]) {
  cache_ = config.cache;
  index_ = index;
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) fail("epoll_create1");

  for (const auto& address : config.udp_listen) {
    UdpSocket listener;
    listener.fd = open_listener(address, SOCK_DGRAM);
    listener.port = address.port;
    listener.batch = std::make_unique<SendBatch>(counters_);
    listener.batch->reset(listener.fd, false);
    watch(listener.fd, Kind::UdpListener, static_cast<std::uint32_t>(udp_listeners_.size()),
          EPOLLIN);
    udp_listeners_.push_back(std::move(listener));
  }

  upstream_udp_.resize(config.max_udp_sockets);
  free_udp_slots_.reserve(config.max_udp_sockets);
  for (std::uint32_t slot = config.max_udp_sockets; slot-- > 0;) free_udp_slots_.push_back(slot);
  udp_slot_of_port_.assign(65536, kNoUdpSlot);
  active_udp_.assign(config.engine.servers.size(), kNoUdpSlot);
  for (std::size_t i = 0; i < config.engine.servers.size(); ++i) {
    server_batches_.push_back(std::make_unique<SendBatch>(counters_));
  }
  // The engine draws an attempt's port from the whole range; one taken by another
  // socket is drawn again (open_udp_attempt says InUse).
  std::vector<std::uint16_t> ports;
  ports.reserve(config.source_ports.size());
  for (std::uint32_t port = config.source_ports.low; port <= config.source_ports.high; ++port) {
    ports.push_back(static_cast<std::uint16_t>(port));
  }

  upstream_tcp_.resize(kUpstreamTcpSlots);

  std::uint64_t seed = 0;
  if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed)) seed = monotonic_ns() ^ index;
  engine_ = std::make_unique<engine::Engine>(config.engine, ports, seed, config.cache, index,
                                             config.filter);
  tcp_server_ = std::make_unique<TcpServer>(config, counters_, epoll_fd_, *engine_, *this,
                                            seed * 0x9e3779b97f4a7c15ULL);
}

engine::Sink::UdpAttempt SocketWorker::open_udp_attempt(unsigned server, std::uint16_t drawn) {
  if (const std::uint32_t active = active_udp_[server]; active != kNoUdpSlot) {
    UpstreamUdp& current = upstream_udp_[active];
    if (current.attempts < config_.attempts_per_udp_socket &&
        now_ns_ < current.opened_ns + kUdpSocketLifetimeNs) {
      ++current.attempts;
      ++current.in_flight;
      return UdpAttempt{PortOpen::Opened, current.port};
    }
    retire_udp(server);
  }
  if (free_udp_slots_.empty()) {
    bump(counters_.upstream_udp_limit);
    return UdpAttempt{PortOpen::Unavailable, 0};
  }
  const net::Endpoint& address = config_.engine.servers[server];
  const int fd = socket(address.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    bump(counters_.upstream_udp_no_descriptor);
    return UdpAttempt{PortOpen::Unavailable, 0};
  }
  // Bound to the wildcard address on the drawn port, then connected: the kernel
  // picks the source address for the route and delivers only the server's datagrams.
  net::Endpoint local{};
  local.family = address.family;
  local.port = drawn;
  sockaddr_storage sa{};
  socklen_t length = local.to_sockaddr(sa);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&sa), length) != 0) {
    const int error = errno;
    close(fd);
    if (error == EADDRINUSE || error == EACCES) {
      bump(counters_.upstream_udp_port_in_use);
      return UdpAttempt{PortOpen::InUse, 0};
    }
    bump(counters_.upstream_udp_no_descriptor);
    return UdpAttempt{PortOpen::Unavailable, 0};
  }
  length = address.to_sockaddr(sa);
  const std::uint32_t slot = free_udp_slots_.back();
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = (static_cast<std::uint64_t>(Kind::UpstreamUdp) << 32) | slot;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&sa), length) != 0 ||
      epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) {
    close(fd);
    bump(counters_.upstream_udp_no_descriptor);
    return UdpAttempt{PortOpen::Unavailable, 0};
  }
  free_udp_slots_.pop_back();
  UpstreamUdp& opened = upstream_udp_[slot];
  opened.fd = fd;
  opened.server = server;
  opened.port = drawn;
  opened.attempts = 1;
  opened.in_flight = 1;
  opened.opened_ns = now_ns_;
  udp_slot_of_port_[drawn] = slot;
  active_udp_[server] = slot;
  server_batches_[server]->reset(fd, false, true);
  bump(counters_.upstream_udp_opened);
  return UdpAttempt{PortOpen::Opened, drawn};
}

void SocketWorker::close_udp_attempt(std::uint16_t local_port) {
  const std::uint32_t slot = udp_slot_of_port_[local_port];
  if (slot == kNoUdpSlot) return;
  UpstreamUdp& attempt = upstream_udp_[slot];
  if (attempt.in_flight > 0) --attempt.in_flight;
  if (attempt.in_flight == 0 && active_udp_[attempt.server] != slot) close_udp(slot);
}

void SocketWorker::retire_udp(unsigned server) {
  const std::uint32_t slot = active_udp_[server];
  if (slot == kNoUdpSlot) return;
  if (!server_batches_[server]->empty()) server_batches_[server]->flush();
  active_udp_[server] = kNoUdpSlot;
  if (upstream_udp_[slot].in_flight == 0) close_udp(slot);
}

void SocketWorker::close_udp(std::uint32_t slot) {
  UpstreamUdp& attempt = upstream_udp_[slot];
  close(attempt.fd);  // also leaves the epoll set
  attempt.fd = -1;
  ++attempt.generation;
  udp_slot_of_port_[attempt.port] = kNoUdpSlot;
  free_udp_slots_.push_back(slot);
}

SocketWorker::~SocketWorker() {
  tcp_server_.reset();
  for (auto& listener : udp_listeners_) close(listener.fd);
  for (auto& attempt : upstream_udp_) {
    if (attempt.fd >= 0) close(attempt.fd);
  }
  for (auto& connection : upstream_tcp_) {
    if (connection.fd >= 0) close(connection.fd);
  }
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

void SocketWorker::watch(int fd, Kind kind, std::uint32_t index, std::uint32_t events) {
  epoll_event event{};
  event.events = events;
  event.data.u64 = (static_cast<std::uint64_t>(kind) << 32) | index;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) fail("epoll_ctl add");
}

void SocketWorker::rewatch(int fd, Kind kind, std::uint32_t index, std::uint32_t events) {
  epoll_event event{};
  event.events = events;
  event.data.u64 = (static_cast<std::uint64_t>(kind) << 32) | index;
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &event);
}

void SocketWorker::run() {
  // Nothing in the socket path needs an lcore id yet; registering keeps the
  // thread ready for the DPDK libraries that will (docs/architecture.md §5.1).
  const bool registered = register_thread_with_eal();
  if (cache_ != nullptr) cache_->register_reader(index_);
  const rcu::ReaderThread filter_reader;
  epoll_event events[kMaxEvents];
  bool stopping = false;
  std::uint64_t drain_deadline_ns = 0;
  for (;;) {
    // With queries in flight the loop wakes every millisecond for their timers;
    // so it does while the control thread waits on this worker's shard (a dump or
    // snapshot walk, a flush by name), so that a million entries are saved in
    // about a second rather than 50 ms per chunk.
    const bool owner_asked =
        cache_ != nullptr && index_ < cache_->shard_count() && cache_->has_requests(index_);
    const int timeout_ms = engine_->pending() > 0 || owner_asked ? 1 : 50;
    // Offline while blocked (docs/architecture.md §9): no cache entry or filter snapshot is held
    // across epoll_wait, and neither the owners' reclamation nor a filter reload
    // waits for this thread to wake up. Going offline once per loop is also this
    // thread's quiescent state for both RCU domains.
    if (cache_ != nullptr) cache_->go_offline(index_);
    rcu::ReaderThread::offline();
    const int ready = epoll_wait(epoll_fd_, events, kMaxEvents, timeout_ms);
    rcu::ReaderThread::online();
    if (cache_ != nullptr) cache_->go_online(index_);
    now_ns_ = monotonic_ns();
    for (int i = 0; i < ready; ++i) on_event(events[i]);
    engine_->on_timer(now_ns_, *this);
    flush_batches();
    // Handed-over answers, expired entries and flushes of this worker's shard.
    if (cache_ != nullptr && index_ < cache_->shard_count()) cache_->maintain(index_, now_ns_);
    if (now_ns_ >= next_sweep_ns_) {
      sweep(now_ns_);
      next_sweep_ns_ = now_ns_ + kSweepIntervalNs;
    }
    if (!stopping && stop_requested_.load(std::memory_order_acquire)) {
      stopping = true;
      close_listeners();
      drain_deadline_ns = now_ns_ + config_.engine.selector.budget_ns + 100'000'000;
    }
    if (stopping && (drained() || now_ns_ >= drain_deadline_ns)) break;
  }
  if (cache_ != nullptr) cache_->unregister_reader(index_);
  if (registered) unregister_thread_from_eal();
}

bool SocketWorker::drained() const {
  if (engine_->pending() > 0) return false;
  return tcp_server_->flushed();
}

void SocketWorker::close_listeners() {
  // UDP listeners stay open while draining so replies can still leave from the
  // address the client asked; they are just no longer read.
  for (auto& listener : udp_listeners_) {
    if (listener.fd >= 0) epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listener.fd, nullptr);
  }
  tcp_server_->close_listeners();
}

void SocketWorker::flush_batches() {
  for (auto& listener : udp_listeners_) {
    if (!listener.batch->empty()) listener.batch->flush();
  }
  for (auto& batch : server_batches_) {
    if (!batch->empty()) batch->flush();
  }
}

void SocketWorker::on_event(const epoll_event& event) {
  const auto kind = static_cast<Kind>(event.data.u64 >> 32);
  const auto index = static_cast<std::uint32_t>(event.data.u64);
  switch (kind) {
    case Kind::UdpListener:
      read_udp_queries(index);
      break;
    case Kind::TcpListener:
      tcp_server_->on_listener(index, now_ns_);
      break;
    case Kind::UpstreamUdp:
      read_upstream_udp(index);
      break;
    case Kind::TcpClient:
      tcp_server_->on_client(index, event.events, now_ns_);
      break;
    case Kind::UpstreamTcp:
      on_upstream_tcp(index, event.events);
      break;
  }
}

int SocketWorker::receive_burst(int fd) {
  for (std::size_t i = 0; i < kRecvBurst; ++i) {
    recv_iovecs_[i] = iovec{recv_data_.get() + i * kRecvSlot, kRecvSlot};
    recv_messages_[i] = mmsghdr{};
    recv_messages_[i].msg_hdr.msg_name = &recv_addresses_[i];
    recv_messages_[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
    recv_messages_[i].msg_hdr.msg_iov = &recv_iovecs_[i];
    recv_messages_[i].msg_hdr.msg_iovlen = 1;
  }
  const int received = recvmmsg(fd, recv_messages_.get(), kRecvBurst, MSG_DONTWAIT, nullptr);
  if (received > 0) bump(counters_.udp_received, static_cast<std::uint64_t>(received));
  return received;
}

void SocketWorker::read_udp_queries(std::uint32_t listener) {
  engine::ClientQuery queries[kRecvBurst];
  for (int burst = 0; burst < kBurstsPerWakeup; ++burst) {
    const int received = receive_burst(udp_listeners_[listener].fd);
    if (received <= 0) return;
    std::size_t count = 0;
    for (int i = 0; i < received; ++i) {
      if (recv_messages_[i].msg_hdr.msg_flags & MSG_TRUNC) {
        bump(counters_.udp_oversized);
        continue;
      }
      queries[count].wire = {recv_data_.get() + static_cast<std::size_t>(i) * kRecvSlot,
                             recv_messages_[i].msg_len};
      queries[count].from =
          net::ClientRef{.peer = normalize(reinterpret_cast<const sockaddr*>(&recv_addresses_[i])),
                         .transport = net::Transport::Udp,
                         .socket = static_cast<std::uint16_t>(listener),
                         .connection = 0,
                         .link = {}};
      ++count;
    }
    engine_->on_queries({queries, count}, now_ns_, *this);
    if (static_cast<std::size_t>(received) < kRecvBurst) return;
  }
}

void SocketWorker::read_upstream_udp(std::uint32_t slot) {
  // The engine may close the socket (its last attempt ended) while it handles
  // what was read: the loop goes on only while the slot holds the same socket.
  const int fd = upstream_udp_[slot].fd;
  const std::uint32_t generation = upstream_udp_[slot].generation;
  const std::uint16_t port = upstream_udp_[slot].port;
  engine::UpstreamAnswer answers[kRecvBurst];
  for (int burst = 0; burst < kBurstsPerWakeup; ++burst) {
    if (upstream_udp_[slot].fd != fd || upstream_udp_[slot].generation != generation || fd < 0) {
      return;
    }
    const int received = receive_burst(fd);
    if (received < 0 && errno == ECONNREFUSED) {
      // ICMP port unreachable from the server, which a connected socket reports;
      // the attempts' timers move them on.
      bump(counters_.upstream_udp_refused);
      continue;
    }
    if (received <= 0) return;
    std::size_t count = 0;
    for (int i = 0; i < received; ++i) {
      if (recv_messages_[i].msg_hdr.msg_flags & MSG_TRUNC) {
        bump(counters_.udp_oversized);
        continue;
      }
      answers[count] = engine::UpstreamAnswer{
          .wire = {recv_data_.get() + static_cast<std::size_t>(i) * kRecvSlot,
                   recv_messages_[i].msg_len},
          .from = normalize(reinterpret_cast<const sockaddr*>(&recv_addresses_[i])),
          .transport = net::Transport::Udp,
          .local_port = port};
      ++count;
    }
    engine_->on_upstream_answers({answers, count}, now_ns_, *this);
    if (static_cast<std::size_t>(received) < kRecvBurst) return;
  }
}

void SocketWorker::send_to_client(const net::ClientRef& to, std::span<const std::uint8_t> wire) {
  if (to.transport == net::Transport::Udp) {
    udp_listeners_[to.socket].batch->add(to.peer, wire);
    return;
  }
  tcp_server_->send(to.connection, wire);
}

void SocketWorker::send_to_upstream(unsigned server, net::Transport transport,
                                    std::uint16_t local_port, std::span<const std::uint8_t> wire) {
  const net::Endpoint& address = config_.engine.servers[server];
  if (transport == net::Transport::Udp) {
    const std::uint32_t slot = udp_slot_of_port_[local_port];
    if (slot == kNoUdpSlot) return;  // cannot happen: the engine opened it just now
    if (active_udp_[server] == slot) {
      server_batches_[server]->add(address, wire);  // sent with the loop's other datagrams
    } else if (send(upstream_udp_[slot].fd, wire.data(), wire.size(), MSG_NOSIGNAL) < 0) {
      bump(counters_.udp_send_dropped);  // the attempt's timer retries it
    } else {
      bump(counters_.udp_sent);
    }
    return;
  }

  std::uint32_t slot = 0;
  while (slot < upstream_tcp_.size() && upstream_tcp_[slot].fd >= 0) ++slot;
  if (slot == upstream_tcp_.size()) {
    bump(counters_.upstream_tcp_no_slot);  // the engine's timer will retry or SERVFAIL
    return;
  }
  const int fd = socket(address.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    bump(counters_.upstream_tcp_failed);
    return;
  }
  set_option(fd, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
  sockaddr_storage sa{};
  const socklen_t length = address.to_sockaddr(sa);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&sa), length) != 0 && errno != EINPROGRESS) {
    bump(counters_.upstream_tcp_failed);
    close(fd);
    return;
  }
  UpstreamTcp& connection = upstream_tcp_[slot];
  connection.fd = fd;
  connection.server = server;
  connection.connected = false;
  connection.out.assign(
      {static_cast<std::uint8_t>(wire.size() >> 8), static_cast<std::uint8_t>(wire.size())});
  connection.out.insert(connection.out.end(), wire.begin(), wire.end());
  connection.out_offset = 0;
  connection.in.resize(kTcpFrameMax);
  connection.in_length = 0;
  connection.deadline_ns = now_ns_ + config_.engine.selector.budget_ns;
  watch(fd, Kind::UpstreamTcp, slot, EPOLLOUT);
}

void SocketWorker::on_upstream_tcp(std::uint32_t slot, std::uint32_t events) {
  UpstreamTcp& connection = upstream_tcp_[slot];
  if (connection.fd < 0) return;
  if (!connection.connected && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
    int error = 0;
    socklen_t error_length = sizeof(error);
    getsockopt(connection.fd, SOL_SOCKET, SO_ERROR, &error, &error_length);
    if (error != 0) {
      close_upstream_tcp(slot, true);
      return;
    }
    connection.connected = true;
  }
  if (connection.out_offset < connection.out.size()) {
    const ssize_t n = send(connection.fd, connection.out.data() + connection.out_offset,
                           connection.out.size() - connection.out_offset, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN) {
      close_upstream_tcp(slot, true);
      return;
    }
    if (n > 0) connection.out_offset += static_cast<std::size_t>(n);
    if (connection.out_offset == connection.out.size()) {
      rewatch(connection.fd, Kind::UpstreamTcp, slot, EPOLLIN);
    }
    return;
  }
  if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
  const ssize_t n = recv(connection.fd, connection.in.data() + connection.in_length,
                         connection.in.size() - connection.in_length, 0);
  if (n < 0 && errno == EAGAIN) return;
  if (n <= 0) {
    close_upstream_tcp(slot, true);
    return;
  }
  connection.in_length += static_cast<std::size_t>(n);
  if (connection.in_length < 2) return;
  const std::size_t length = dns::load_u16(connection.in.data());
  if (connection.in_length < 2 + length) return;
  const engine::UpstreamAnswer answer{.wire = {connection.in.data() + 2, length},
                                      .from = config_.engine.servers[connection.server],
                                      .transport = net::Transport::Tcp,
                                      .local_port = 0};
  engine_->on_upstream_answers({&answer, 1}, now_ns_, *this);
  close_upstream_tcp(slot, false);
}

void SocketWorker::close_upstream_tcp(std::uint32_t slot, bool failed) {
  UpstreamTcp& connection = upstream_tcp_[slot];
  if (connection.fd < 0) return;
  close(connection.fd);
  connection.fd = -1;
  if (failed) {
    bump(counters_.upstream_tcp_failed);
    // The query's ID sits after the 2-byte length prefix of what we sent.
    const std::uint16_t id = dns::load_u16(connection.out.data() + 2);
    engine_->on_upstream_failure(connection.server, net::Transport::Tcp, 0, id, now_ns_, *this);
  }
  connection.in.clear();
  connection.in.shrink_to_fit();
  connection.out.clear();
}

void SocketWorker::sweep(std::uint64_t now_ns) {
  tcp_server_->sweep(now_ns);
  for (unsigned server = 0; server < active_udp_.size(); ++server) {
    const std::uint32_t slot = active_udp_[server];
    if (slot != kNoUdpSlot && now_ns >= upstream_udp_[slot].opened_ns + kUdpSocketLifetimeNs) {
      retire_udp(server);
    }
  }
  for (std::uint32_t slot = 0; slot < upstream_tcp_.size(); ++slot) {
    if (upstream_tcp_[slot].fd >= 0 && now_ns >= upstream_tcp_[slot].deadline_ns) {
      close_upstream_tcp(slot, true);
    }
  }
}

}  // namespace heimdall::io
