#include "tcp_server.hpp"

#include <netinet/tcp.h>
#include <sys/epoll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "../loop_support.hpp"
#include "descriptors.hpp"
#include "heimdall/dns/wire.hpp"
#include "socket_util.hpp"

namespace heimdall::io {
namespace {

constexpr std::size_t kTcpFrameMax = 2 + 65535;
// A client that does not read its answers is cut off rather than buffered forever.
constexpr std::size_t kTcpOutLimit = 1 << 20;
// Connections taken from the backlog per wakeup, so that a flood of connections
// does not starve the worker's UDP sockets.
constexpr int kAcceptsPerWakeup = 64;
// A listener whose accept failed for want of descriptors or memory is left alone
// this long: level-triggered, it would otherwise wake the loop at once, forever.
constexpr std::uint64_t kAcceptBackoffNs = 100'000'000;
// With every slot taken, a new client may have the slot of the connection that
// has made no progress for the longest time, if that is at least this long
// (RFC 7766 §6.2.3: a server may close idle connections under pressure). 200 ms is
// Unbound's TCP_QUERY_TIMEOUT_MINIMUM, the timeout it gives connections when its
// TCP slots run short; a connection waiting on a slow upstream can lose its slot
// then, a cheaper loss than never taking a new client.
constexpr std::uint64_t kEvictAfterNs = 200'000'000;

}  // namespace

TcpServer::TcpServer(const SocketBackendConfig& config, SocketCounters& counters, int epoll_fd,
                     engine::Engine& engine, engine::Sink& sink, std::uint64_t seed)
    : config_(config),
      counters_(counters),
      epoll_fd_(epoll_fd),
      engine_(engine),
      sink_(sink),
      per_client_(connection_slots(config), seed) {
  clients_.resize(connection_slots(config));
  free_slots_.reserve(clients_.size());
  // Slot 0 on top: the first connections take the lowest slots.
  for (std::size_t slot = clients_.size(); slot-- > 0;) {
    free_slots_.push_back(static_cast<std::uint32_t>(slot));
  }
  for (const auto& address : config.tcp_listen) {
    Listener listener;
    listener.fd = open_listener(address, SOCK_STREAM);
    listeners_.push_back(std::move(listener));
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 =
        event_tag(Kind::TcpListener, static_cast<std::uint32_t>(listeners_.size() - 1));
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listeners_.back().fd.get(), &event) != 0) {
      fail("epoll_ctl add");
    }
  }
}

// The clients' and listeners' descriptors close with them.
TcpServer::~TcpServer() = default;

void TcpServer::close_listeners() {
  for (Listener& listener : listeners_) {
    listener.fd.reset();  // also leaves the epoll set
  }
}

bool TcpServer::flushed() const {
  for (const auto& client : clients_) {
    if (client.fd.valid() && client.out_offset < client.out.size()) return false;
  }
  return true;
}

void TcpServer::on_listener(std::uint32_t index, std::uint64_t now_ns) {
  now_ns_ = now_ns;
  const Listener& listener = listeners_[index];
  if (!listener.fd.valid() || listener.paused_until_ns != 0) return;
  for (int accepted = 0; accepted < kAcceptsPerWakeup; ++accepted) {
    sockaddr_storage peer{};
    socklen_t peer_length = sizeof(peer);
    net::UniqueFd fd(accept4(listener.fd.get(), reinterpret_cast<sockaddr*>(&peer), &peer_length,
                             SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (fd.valid()) {
      accept_one(std::move(fd), peer);
      continue;
    }
    switch (errno) {
      case EAGAIN:
        return;
      // The pending connection's own trouble (accept(2): Linux passes network
      // errors already pending on it); the next one may be fine.
      case EINTR:
      case ECONNABORTED:
      case EPROTO:
      case EPERM:
      case ENETDOWN:
      case ENOPROTOOPT:
      case EHOSTDOWN:
      case ENONET:
      case EHOSTUNREACH:
      case EOPNOTSUPP:
      case ENETUNREACH:
        continue;
      default:
        // EMFILE, ENFILE, ENOBUFS, ENOMEM: the connection stays in the backlog
        // and the listener stays readable, so retrying now would spin.
        pause(index);
        return;
    }
  }
}

void TcpServer::pause(std::uint32_t index) {
  Listener& listener = listeners_[index];
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listener.fd.get(), nullptr);
  listener.paused_until_ns = now_ns_ + kAcceptBackoffNs;
  bump(counters_.tcp_accept_backoff);
}

void TcpServer::accept_one(net::UniqueFd fd, const sockaddr_storage& peer) {
  const net::Endpoint endpoint = normalize(reinterpret_cast<const sockaddr*>(&peer));
  const ConnectionCounts::Key key = ConnectionCounts::key_of(endpoint);
  const unsigned per_client = config_.tcp_max_connections_per_client;
  if (per_client != 0 && per_client_.count(key) >= per_client) {
    bump(counters_.tcp_refused_client_limit);
    return;
  }
  if (free_slots_.empty()) {
    const std::uint32_t victim = eviction_candidate(key);
    if (victim == UINT32_MAX) {
      bump(counters_.tcp_refused_limit);
      return;
    }
    bump(counters_.tcp_evicted);
    close_client(victim);
  }
  const std::uint32_t slot = free_slots_.back();
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = event_tag(Kind::TcpClient, slot);
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd.get(), &event) != 0) {
    // Out of kernel memory or of epoll watches (fs.epoll.max_user_watches).
    bump(counters_.tcp_refused_limit);
    return;
  }
  free_slots_.pop_back();
  per_client_.add(key, 0);
  const int on = 1;
  setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
  Client& client = clients_[slot];
  client.fd = std::move(fd);
  ++client.generation;
  client.peer = endpoint;
  client.key = key;
  client.in.resize(kTcpFrameMax);
  client.in_length = 0;
  client.out.clear();
  client.out_offset = 0;
  client.read_closed = false;
  client.want_write = false;
  client.last_active_ns = now_ns_;
  client.query_started_ns = 0;
  bump(counters_.tcp_accepted);
}

std::uint32_t TcpServer::eviction_candidate(const ConnectionCounts::Key& newcomer) const {
  // First choice: the connection quiet for longest, if it has been quiet long enough.
  std::uint32_t quietest = UINT32_MAX;
  for (std::uint32_t slot = 0; slot < clients_.size(); ++slot) {
    const Client& client = clients_[slot];
    if (!client.fd.valid()) continue;
    if (quietest == UINT32_MAX || client.last_active_ns < clients_[quietest].last_active_ns) {
      quietest = slot;
    }
  }
  if (quietest != UINT32_MAX && now_ns_ >= kEvictAfterNs &&
      clients_[quietest].last_active_ns <= now_ns_ - kEvictAfterNs) {
    return quietest;
  }
  // Every connection is busy or fresh. One client holding more than half of the
  // slots (a burst of reconnects, a pool opened at once) must not lock everyone
  // else out for that while: it gives up its quietest connection.
  std::uint32_t hog = UINT32_MAX;
  std::size_t hog_count = 0;
  for (std::uint32_t slot = 0; slot < clients_.size(); ++slot) {
    const Client& client = clients_[slot];
    if (!client.fd.valid() || client.key == newcomer) continue;
    const std::size_t count = per_client_.count(client.key);
    if (count > hog_count ||
        (count == hog_count && client.last_active_ns < clients_[hog].last_active_ns)) {
      hog = slot;
      hog_count = count;
    }
  }
  return hog_count * 2 > clients_.size() ? hog : UINT32_MAX;
}

void TcpServer::on_client(std::uint32_t slot, std::uint32_t events, std::uint64_t now_ns) {
  now_ns_ = now_ns;
  if (!clients_[slot].fd.valid()) return;
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) read(slot);
  if (clients_[slot].fd.valid() && (events & EPOLLOUT)) write(slot);
}

void TcpServer::rewatch(std::uint32_t slot, std::uint32_t events) {
  epoll_event event{};
  event.events = events;
  event.data.u64 = event_tag(Kind::TcpClient, slot);
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, clients_[slot].fd.get(), &event);
}

void TcpServer::read(std::uint32_t slot) {
  Client& client = clients_[slot];
  if (client.read_closed) return;
  const ssize_t n = recv(client.fd.get(), client.in.data() + client.in_length,
                         client.in.size() - client.in_length, 0);
  if (n < 0) {
    if (errno != EAGAIN && errno != EINTR) close_client(slot);
    return;
  }
  if (n == 0) {
    // Half-close: the client is done asking but may still want its answers
    // (RFC 7766 §6.2.4). Kept until they are written, see sweep().
    client.read_closed = true;
    rewatch(slot, client.want_write ? static_cast<std::uint32_t>(EPOLLOUT) : 0u);
    return;
  }
  if (client.in_length == 0) client.query_started_ns = now_ns_;
  client.in_length += static_cast<std::size_t>(n);

  // Every complete frame in the buffer goes to the engine, in bursts; answers
  // leave as they complete, in any order (RFC 7766 §7). All of them are taken
  // now: a buffer left full would read as end-of-stream on the next recv.
  constexpr std::size_t kBurst = 64;
  engine::ClientQuery queries[kBurst];
  std::size_t consumed = 0;
  const std::uint32_t handle = (std::uint32_t{client.generation} << 16) | slot;
  for (;;) {
    std::size_t count = 0;
    while (client.in_length - consumed >= 2 && count < kBurst) {
      const std::size_t length = dns::load_u16(client.in.data() + consumed);
      if (length == 0) {
        bump(counters_.tcp_bad_frame);
        close_client(slot);
        return;
      }
      if (client.in_length - consumed < 2 + length) break;
      queries[count++] =
          engine::ClientQuery{.wire = {client.in.data() + consumed + 2, length},
                              .from = net::ClientRef{.peer = client.peer,
                                                     .transport = net::Transport::Tcp,
                                                     .socket = 0,
                                                     .connection = handle,
                                                     .link = {}}};
      consumed += 2 + length;
    }
    if (count == 0) break;
    client.last_active_ns = now_ns_;
    engine_.on_queries({queries, count}, now_ns_, sink_);
    // The engine may have closed this connection while replying (write error).
    if (!client.fd.valid()) return;
  }
  std::memmove(client.in.data(), client.in.data() + consumed, client.in_length - consumed);
  client.in_length -= consumed;
  // The rest, if any, is the start of the next query, which arrived just now.
  if (client.in_length == 0) {
    client.query_started_ns = 0;
  } else if (consumed != 0) {
    client.query_started_ns = now_ns_;
  }
}

void TcpServer::write(std::uint32_t slot) {
  Client& client = clients_[slot];
  while (client.out_offset < client.out.size()) {
    const ssize_t n = ::send(client.fd.get(), client.out.data() + client.out_offset,
                             client.out.size() - client.out_offset, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN) break;
      if (errno == EINTR) continue;
      close_client(slot);
      return;
    }
    client.out_offset += static_cast<std::size_t>(n);
    client.last_active_ns = now_ns_;
  }
  if (client.out_offset == client.out.size()) {
    client.out.clear();
    client.out_offset = 0;
  }
  const bool want_write = client.out_offset < client.out.size();
  if (want_write != client.want_write) {
    client.want_write = want_write;
    rewatch(slot, (client.read_closed ? 0u : EPOLLIN) | (want_write ? EPOLLOUT : 0u));
  }
}

void TcpServer::close_client(std::uint32_t slot) {
  Client& client = clients_[slot];
  if (!client.fd.valid()) return;
  client.fd.reset();  // also removes it from the epoll set
  client.query_started_ns = 0;
  per_client_.remove(client.key);
  free_slots_.push_back(slot);  // never grows: reserved for every slot
  // `in` may hold the queries of the burst being processed right now: its memory
  // is released by the next sweep, not here.
  client.out.clear();
  client.out.shrink_to_fit();
}

void TcpServer::send(std::uint32_t connection, std::span<const std::uint8_t> wire) {
  const std::uint32_t slot = connection & 0xffff;
  if (slot >= clients_.size() || !clients_[slot].fd.valid() ||
      clients_[slot].generation != (connection >> 16)) {
    bump(counters_.tcp_reply_dropped);
    return;
  }
  Client& client = clients_[slot];
  if (client.out.size() - client.out_offset + wire.size() > kTcpOutLimit) {
    bump(counters_.tcp_reply_dropped);
    close_client(slot);
    return;
  }
  const std::uint8_t prefix[2] = {static_cast<std::uint8_t>(wire.size() >> 8),
                                  static_cast<std::uint8_t>(wire.size())};
  client.out.insert(client.out.end(), prefix, prefix + 2);
  client.out.insert(client.out.end(), wire.begin(), wire.end());
  write(slot);
}

void TcpServer::sweep(std::uint64_t now_ns) {
  now_ns_ = now_ns;
  const std::uint64_t idle_ns = std::uint64_t{config_.tcp_idle_timeout_ms} * 1'000'000;
  const std::uint64_t query_ns = std::uint64_t{config_.tcp_query_timeout_ms} * 1'000'000;
  // A half-closed client has had every answer it can get once the budget is over.
  const std::uint64_t half_closed_ns = config_.engine.selector.budget_ns + 100'000'000;
  for (std::uint32_t slot = 0; slot < clients_.size(); ++slot) {
    Client& client = clients_[slot];
    if (!client.fd.valid()) {
      if (!client.in.empty()) std::vector<std::uint8_t>().swap(client.in);
      continue;
    }
    // A query on its way must be whole by its deadline however its bytes trickle
    // in; between queries the idle timeout counts from the last progress.
    if (client.query_started_ns != 0 && !client.read_closed) {
      if (now_ns - client.query_started_ns >= query_ns) {
        bump(counters_.tcp_closed_query_timeout);
        close_client(slot);
      }
      continue;
    }
    const std::uint64_t idle = now_ns - client.last_active_ns;
    const bool flushed = client.out_offset >= client.out.size();
    if ((client.read_closed && flushed && idle >= std::min(idle_ns, half_closed_ns)) ||
        idle >= idle_ns) {
      bump(counters_.tcp_closed_idle);
      close_client(slot);
    }
  }
  for (std::uint32_t index = 0; index < listeners_.size(); ++index) {
    Listener& listener = listeners_[index];
    if (!listener.fd.valid() || listener.paused_until_ns == 0 ||
        now_ns < listener.paused_until_ns) {
      continue;
    }
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = event_tag(Kind::TcpListener, index);
    listener.paused_until_ns = epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listener.fd.get(), &event) == 0
                                   ? 0
                                   : now_ns + kAcceptBackoffNs;
  }
}

}  // namespace heimdall::io
