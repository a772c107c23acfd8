#include "upstream_sockets.hpp"

#include <netinet/tcp.h>
#include <sys/epoll.h>

#include <cerrno>

#include "../loop_support.hpp"
#include "descriptors.hpp"
#include "heimdall/dns/wire.hpp"
#include "socket_util.hpp"

namespace heimdall::io {
namespace {

using PortOpen = engine::Sink::PortOpen;
using UdpAttempt = engine::Sink::UdpAttempt;

constexpr std::size_t kTcpFrameMax = 2 + 65535;
// An upstream UDP socket takes new attempts for at most this long, so that no port
// stays open long, whatever upstreams.attempts_per_udp_socket allows.
constexpr std::uint64_t kUdpSocketLifetimeNs = 1'000'000'000;

}  // namespace

UpstreamSockets::UpstreamSockets(const SocketBackendConfig& config, SocketCounters& counters,
                                 int epoll_fd, engine::Engine& engine, engine::Sink& sink,
                                 ReceiveBurst& receive)
    : config_(config),
      counters_(counters),
      epoll_fd_(epoll_fd),
      engine_(engine),
      sink_(sink),
      receive_(receive) {
  udp_.resize(config.max_udp_sockets);
  free_udp_slots_.reserve(config.max_udp_sockets);
  for (std::uint32_t slot = config.max_udp_sockets; slot-- > 0;) free_udp_slots_.push_back(slot);
  udp_slot_of_port_.assign(65536, kNoUdpSlot);
  active_udp_.assign(config.engine.servers.size(), kNoUdpSlot);
  for (std::size_t i = 0; i < config.engine.servers.size(); ++i) {
    server_batches_.push_back(std::make_unique<SendBatch>(counters_));
  }
  tcp_.resize(kUpstreamTcpSlots);
}

UdpAttempt UpstreamSockets::open_udp_attempt(unsigned server, std::uint16_t drawn,
                                             std::uint64_t now_ns) {
  if (const std::uint32_t active = active_udp_[server]; active != kNoUdpSlot) {
    Udp& current = udp_[active];
    if (current.attempts < config_.attempts_per_udp_socket &&
        now_ns < current.opened_ns + kUdpSocketLifetimeNs) {
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
  net::UniqueFd fd(socket(address.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
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
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&sa), length) != 0) {
    if (errno == EADDRINUSE || errno == EACCES) {
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
  event.data.u64 = event_tag(Kind::UpstreamUdp, slot);
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&sa), length) != 0 ||
      epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd.get(), &event) != 0) {
    bump(counters_.upstream_udp_no_descriptor);
    return UdpAttempt{PortOpen::Unavailable, 0};
  }
  free_udp_slots_.pop_back();
  server_batches_[server]->reset(fd.get(), false, true);
  Udp& opened = udp_[slot];
  opened.fd = std::move(fd);
  opened.server = server;
  opened.port = drawn;
  opened.attempts = 1;
  opened.in_flight = 1;
  opened.opened_ns = now_ns;
  udp_slot_of_port_[drawn] = slot;
  active_udp_[server] = slot;
  bump(counters_.upstream_udp_opened);
  return UdpAttempt{PortOpen::Opened, drawn};
}

void UpstreamSockets::close_udp_attempt(std::uint16_t local_port) {
  const std::uint32_t slot = udp_slot_of_port_[local_port];
  if (slot == kNoUdpSlot) return;
  Udp& attempt = udp_[slot];
  if (attempt.in_flight > 0) --attempt.in_flight;
  if (attempt.in_flight == 0 && active_udp_[attempt.server] != slot) close_udp(slot);
}

void UpstreamSockets::retire_udp(unsigned server) {
  const std::uint32_t slot = active_udp_[server];
  if (slot == kNoUdpSlot) return;
  if (!server_batches_[server]->empty()) server_batches_[server]->flush();
  active_udp_[server] = kNoUdpSlot;
  if (udp_[slot].in_flight == 0) close_udp(slot);
}

void UpstreamSockets::close_udp(std::uint32_t slot) {
  Udp& attempt = udp_[slot];
  attempt.fd.reset();  // also leaves the epoll set
  ++attempt.generation;
  udp_slot_of_port_[attempt.port] = kNoUdpSlot;
  free_udp_slots_.push_back(slot);
}

void UpstreamSockets::flush() {
  for (auto& batch : server_batches_) {
    if (!batch->empty()) batch->flush();
  }
}

void UpstreamSockets::on_udp(std::uint32_t slot, std::uint64_t now_ns) {
  // The engine may close the socket (its last attempt ended) while it handles
  // what was read: the loop goes on only while the slot holds the same socket.
  const int fd = udp_[slot].fd.get();
  const std::uint32_t generation = udp_[slot].generation;
  const std::uint16_t port = udp_[slot].port;
  engine::UpstreamAnswer answers[ReceiveBurst::kBurst];
  for (int burst = 0; burst < kBurstsPerWakeup; ++burst) {
    if (udp_[slot].fd.get() != fd || udp_[slot].generation != generation || fd < 0) return;
    const int received = receive_.receive(fd);
    if (received < 0 && errno == ECONNREFUSED) {
      // ICMP port unreachable from the server, which a connected socket reports;
      // the attempts' timers move them on.
      bump(counters_.upstream_udp_refused);
      continue;
    }
    if (received <= 0) return;
    std::size_t count = 0;
    for (std::size_t i = 0; i < static_cast<std::size_t>(received); ++i) {
      if (receive_.truncated(i)) {
        bump(counters_.udp_oversized);
        continue;
      }
      answers[count] = engine::UpstreamAnswer{.wire = receive_.datagram(i),
                                              .from = receive_.sender(i),
                                              .transport = net::Transport::Udp,
                                              .local_port = port};
      ++count;
    }
    engine_.on_upstream_answers({answers, count}, now_ns, sink_);
    if (static_cast<std::size_t>(received) < ReceiveBurst::kBurst) return;
  }
}

void UpstreamSockets::send(unsigned server, net::Transport transport, std::uint16_t local_port,
                           std::span<const std::uint8_t> wire, std::uint64_t now_ns) {
  const net::Endpoint& address = config_.engine.servers[server];
  if (transport == net::Transport::Udp) {
    const std::uint32_t slot = udp_slot_of_port_[local_port];
    if (slot == kNoUdpSlot) return;  // cannot happen: the engine opened it just now
    if (active_udp_[server] == slot) {
      server_batches_[server]->add(address, wire);  // sent with the loop's other datagrams
    } else if (::send(udp_[slot].fd.get(), wire.data(), wire.size(), MSG_NOSIGNAL) < 0) {
      bump(counters_.udp_send_dropped);  // the attempt's timer retries it
    } else {
      bump(counters_.udp_sent);
    }
    return;
  }

  std::uint32_t slot = 0;
  while (slot < tcp_.size() && tcp_[slot].fd.valid()) ++slot;
  if (slot == tcp_.size()) {
    bump(counters_.upstream_tcp_no_slot);  // the engine's timer will retry or SERVFAIL
    return;
  }
  net::UniqueFd fd(socket(address.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    bump(counters_.upstream_tcp_failed);
    return;
  }
  set_option(fd.get(), IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
  sockaddr_storage sa{};
  const socklen_t length = address.to_sockaddr(sa);
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&sa), length) != 0 &&
      errno != EINPROGRESS) {
    bump(counters_.upstream_tcp_failed);
    return;
  }
  Tcp& connection = tcp_[slot];
  connection.fd = std::move(fd);
  connection.server = server;
  connection.connected = false;
  connection.out.assign(
      {static_cast<std::uint8_t>(wire.size() >> 8), static_cast<std::uint8_t>(wire.size())});
  connection.out.insert(connection.out.end(), wire.begin(), wire.end());
  connection.out_offset = 0;
  connection.in.resize(kTcpFrameMax);
  connection.in_length = 0;
  connection.deadline_ns = now_ns + config_.engine.selector.budget_ns;
  epoll_event event{};
  event.events = EPOLLOUT;
  event.data.u64 = event_tag(Kind::UpstreamTcp, slot);
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, connection.fd.get(), &event) != 0) fail("epoll_ctl add");
}

void UpstreamSockets::on_tcp(std::uint32_t slot, std::uint32_t events, std::uint64_t now_ns) {
  Tcp& connection = tcp_[slot];
  if (!connection.fd.valid()) return;
  if (!connection.connected && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
    int error = 0;
    socklen_t error_length = sizeof(error);
    getsockopt(connection.fd.get(), SOL_SOCKET, SO_ERROR, &error, &error_length);
    if (error != 0) {
      close_tcp(slot, true, now_ns);
      return;
    }
    connection.connected = true;
  }
  if (connection.out_offset < connection.out.size()) {
    const ssize_t n = ::send(connection.fd.get(), connection.out.data() + connection.out_offset,
                             connection.out.size() - connection.out_offset, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN) {
      close_tcp(slot, true, now_ns);
      return;
    }
    if (n > 0) connection.out_offset += static_cast<std::size_t>(n);
    if (connection.out_offset == connection.out.size()) {
      epoll_event event{};
      event.events = EPOLLIN;
      event.data.u64 = event_tag(Kind::UpstreamTcp, slot);
      epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, connection.fd.get(), &event);
    }
    return;
  }
  if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
  const ssize_t n = recv(connection.fd.get(), connection.in.data() + connection.in_length,
                         connection.in.size() - connection.in_length, 0);
  if (n < 0 && errno == EAGAIN) return;
  if (n <= 0) {
    close_tcp(slot, true, now_ns);
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
  engine_.on_upstream_answers({&answer, 1}, now_ns, sink_);
  close_tcp(slot, false, now_ns);
}

void UpstreamSockets::close_tcp(std::uint32_t slot, bool failed, std::uint64_t now_ns) {
  Tcp& connection = tcp_[slot];
  if (!connection.fd.valid()) return;
  connection.fd.reset();
  if (failed) {
    bump(counters_.upstream_tcp_failed);
    // The query's ID sits after the 2-byte length prefix of what we sent.
    const std::uint16_t id = dns::load_u16(connection.out.data() + 2);
    engine_.on_upstream_failure(connection.server, net::Transport::Tcp, 0, id, now_ns, sink_);
  }
  connection.in.clear();
  connection.in.shrink_to_fit();
  connection.out.clear();
}

void UpstreamSockets::sweep(std::uint64_t now_ns) {
  for (unsigned server = 0; server < active_udp_.size(); ++server) {
    const std::uint32_t slot = active_udp_[server];
    if (slot != kNoUdpSlot && now_ns >= udp_[slot].opened_ns + kUdpSocketLifetimeNs) {
      retire_udp(server);
    }
  }
  for (std::uint32_t slot = 0; slot < tcp_.size(); ++slot) {
    if (tcp_[slot].fd.valid() && now_ns >= tcp_[slot].deadline_ns) close_tcp(slot, true, now_ns);
  }
}

}  // namespace heimdall::io
