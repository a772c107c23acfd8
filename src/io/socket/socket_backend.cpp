#include "heimdall/io/socket_backend.hpp"

#include <fstream>
#include <stdexcept>
#include <utility>

#include "descriptors.hpp"
#include "socket_util.hpp"
#include "socket_worker.hpp"

namespace heimdall::io {

upstream::PortRange kernel_ephemeral_ports() {
  std::ifstream file("/proc/sys/net/ipv4/ip_local_port_range");
  unsigned low = 0, high = 0;
  if (!(file >> low >> high) || low == 0 || low > high || high > 65535) {
    return upstream::PortRange{.low = 32768, .high = 60999};  // Linux's default
  }
  return upstream::PortRange{.low = static_cast<std::uint16_t>(low),
                             .high = static_cast<std::uint16_t>(high)};
}

SocketBackend::SocketBackend(const SocketBackendConfig& config) : config_(config) {
  if (config.workers == 0) throw std::invalid_argument("the socket backend needs a worker");
  if (config.udp_listen.empty() && config.tcp_listen.empty()) {
    throw std::invalid_argument("the socket backend needs an address to listen on");
  }
  if (config.max_udp_sockets == 0 || config.source_ports.size() == 0 ||
      config.source_ports.low > config.source_ports.high) {
    throw std::invalid_argument("the socket backend needs upstream source ports and sockets");
  }
  check_descriptor_budget(config);
  // Before any worker joins a SO_REUSEPORT group: refuse an address another
  // process holds instead of sharing its traffic (socket_util.cpp says how).
  for (const auto& address : config.udp_listen) check_address_free(address, SOCK_DGRAM);
  for (const auto& address : config.tcp_listen) check_address_free(address, SOCK_STREAM);
  workers_.reserve(config.workers);
  for (unsigned i = 0; i < config.workers; ++i) {
    workers_.push_back(std::make_unique<SocketWorker>(config_, config_.first_reader + i));
  }
}

SocketBackend::~SocketBackend() {
  request_stop();
  join();
}

void SocketBackend::start() {
  for (auto& worker : workers_) threads_.emplace_back([w = worker.get()] { w->run(); });
}

void SocketBackend::request_stop() {
  for (auto& worker : workers_) worker->request_stop();
}

void SocketBackend::join() {
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  threads_.clear();
}

void SocketBackend::visit_engines(const EngineVisitor& visit) const {
  for (const auto& worker : workers_) visit(worker->engine_counters(), worker->selector());
}

void SocketBackend::visit_counters(const CounterVisitor& visit) const {
  visit(socket_counter_sets(0));
}

stats::CounterSets SocketBackend::socket_counter_sets(std::size_t first_worker) const {
  std::vector<const SocketCounters*> sets;
  for (const auto& worker : workers_) sets.push_back(&worker->counters());
  return stats::CounterSets({"sockets", "worker_"}, kSocketCounterTable, std::move(sets),
                            first_worker);
}

const engine::Counters& SocketBackend::engine_counters(std::size_t worker) const {
  return workers_[worker]->engine_counters();
}

const upstream::Selector& SocketBackend::selector(std::size_t worker) const {
  return workers_[worker]->selector();
}

const SocketCounters& SocketBackend::socket_counters(std::size_t worker) const {
  return workers_[worker]->counters();
}

}  // namespace heimdall::io
