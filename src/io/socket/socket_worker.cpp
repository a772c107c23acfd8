#include "socket_worker.hpp"

#include <sys/random.h>

#include "../loop_support.hpp"
#include "heimdall/io/eal.hpp"
#include "socket_util.hpp"

namespace heimdall::io {
namespace {

constexpr std::uint64_t kSweepIntervalNs = 100'000'000;
constexpr int kMaxEvents = 64;

}  // namespace

SocketWorker::SocketWorker(const SocketBackendConfig& config, unsigned index)
    : config_(config),
      epoll_fd_(epoll_create1(EPOLL_CLOEXEC)),
      receive_(counters_),
      cache_(config.cache),
      index_(index) {
  if (!epoll_fd_.valid()) fail("epoll_create1");

  for (const auto& address : config.udp_listen) {
    UdpListener listener;
    listener.fd = open_listener(address, SOCK_DGRAM);
    listener.batch = std::make_unique<SendBatch>(counters_);
    listener.batch->reset(listener.fd.get(), false);
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 =
        event_tag(Kind::UdpListener, static_cast<std::uint32_t>(udp_listeners_.size()));
    if (epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, listener.fd.get(), &event) != 0) {
      fail("epoll_ctl add");
    }
    udp_listeners_.push_back(std::move(listener));
  }

  // The engine draws an attempt's port from the whole range; one taken by another
  // socket is drawn again (open_udp_attempt says InUse).
  std::vector<std::uint16_t> ports;
  ports.reserve(config.source_ports.size());
  for (std::uint32_t port = config.source_ports.low; port <= config.source_ports.high; ++port) {
    ports.push_back(static_cast<std::uint16_t>(port));
  }

  std::uint64_t seed = 0;
  if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed)) seed = monotonic_ns() ^ index;
  engine_ = std::make_unique<engine::Engine>(config.engine, ports, seed, config.cache, index,
                                             config.filter);
  upstream_ = std::make_unique<UpstreamSockets>(config, counters_, epoll_fd_.get(), *engine_, *this,
                                                receive_);
  tcp_server_ = std::make_unique<TcpServer>(config, counters_, epoll_fd_.get(), *engine_, *this,
                                            seed * 0x9e3779b97f4a7c15ULL);
}

// The members close their own descriptors: the TCP server's and the upstream
// sockets first (they hold the engine), the listeners, the epoll set last.
SocketWorker::~SocketWorker() = default;

engine::Sink::UdpAttempt SocketWorker::open_udp_attempt(unsigned server, std::uint16_t drawn) {
  return upstream_->open_udp_attempt(server, drawn, now_ns_);
}

void SocketWorker::close_udp_attempt(std::uint16_t local_port) {
  upstream_->close_udp_attempt(local_port);
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
    const int ready = epoll_wait(epoll_fd_.get(), events, kMaxEvents, timeout_ms);
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
    epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, listener.fd.get(), nullptr);
  }
  tcp_server_->close_listeners();
}

void SocketWorker::flush_batches() {
  for (auto& listener : udp_listeners_) {
    if (!listener.batch->empty()) listener.batch->flush();
  }
  upstream_->flush();
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
      upstream_->on_udp(index, now_ns_);
      break;
    case Kind::TcpClient:
      tcp_server_->on_client(index, event.events, now_ns_);
      break;
    case Kind::UpstreamTcp:
      upstream_->on_tcp(index, event.events, now_ns_);
      break;
  }
}

void SocketWorker::read_udp_queries(std::uint32_t listener) {
  engine::ClientQuery queries[ReceiveBurst::kBurst];
  for (int burst = 0; burst < kBurstsPerWakeup; ++burst) {
    const int received = receive_.receive(udp_listeners_[listener].fd.get());
    if (received <= 0) return;
    std::size_t count = 0;
    for (std::size_t i = 0; i < static_cast<std::size_t>(received); ++i) {
      if (receive_.truncated(i)) {
        bump(counters_.udp_oversized);
        continue;
      }
      queries[count].wire = receive_.datagram(i);
      queries[count].from = net::ClientRef{.peer = receive_.sender(i),
                                           .transport = net::Transport::Udp,
                                           .socket = static_cast<std::uint16_t>(listener),
                                           .connection = 0,
                                           .link = {}};
      ++count;
    }
    engine_->on_queries({queries, count}, now_ns_, *this);
    if (static_cast<std::size_t>(received) < ReceiveBurst::kBurst) return;
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
  upstream_->send(server, transport, local_port, wire, now_ns_);
}

void SocketWorker::sweep(std::uint64_t now_ns) {
  tcp_server_->sweep(now_ns);
  upstream_->sweep(now_ns);
}

}  // namespace heimdall::io
