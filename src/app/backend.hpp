// The running data plane as the control thread sees it: either backend, and what
// start-up built around it. Shared by main and the operator's interfaces.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "heimdall/cache/cache.hpp"
#include "heimdall/control/filter_reloader.hpp"
#include "heimdall/control/management_server.hpp"
#include "heimdall/control/query_log_writer.hpp"
#include "heimdall/engine/engine.hpp"
#include "heimdall/io/socket_backend.hpp"
#ifdef HEIMDALL_DPDK_BACKEND
#include "heimdall/io/dpdk_backend.hpp"
#endif

namespace heimdall::app {

// Either backend, as start-up, the control loop and shutdown see it.
class Backend {
 public:
  void start() {
    if (socket_) socket_->start();
#ifdef HEIMDALL_DPDK_BACKEND
    if (dpdk_) dpdk_->start();
#endif
  }
  void request_stop() {
    if (socket_) socket_->request_stop();
#ifdef HEIMDALL_DPDK_BACKEND
    if (dpdk_) dpdk_->request_stop();
#endif
  }
  void join() {
    if (socket_) socket_->join();
#ifdef HEIMDALL_DPDK_BACKEND
    if (dpdk_) dpdk_->join();
#endif
  }
  // Every engine's counters: the workers', then the exception path's TCP worker.
  std::vector<const engine::Counters*> engine_counters() const {
    std::vector<const engine::Counters*> counters;
    const auto add_socket = [&](const io::SocketBackend& backend) {
      for (std::size_t i = 0; i < backend.worker_count(); ++i) {
        counters.push_back(&backend.engine_counters(i));
      }
    };
    if (socket_) add_socket(*socket_);
#ifdef HEIMDALL_DPDK_BACKEND
    if (dpdk_) {
      for (std::size_t i = 0; i < dpdk_->worker_count(); ++i) {
        counters.push_back(&dpdk_->engine_counters(i));
      }
      if (dpdk_->tcp_backend() != nullptr) add_socket(*dpdk_->tcp_backend());
    }
#endif
    return counters;
  }
  // Every engine's upstream selector, in the order of engine_counters().
  std::vector<const upstream::Selector*> selectors() const {
    std::vector<const upstream::Selector*> selectors;
    const auto add_socket = [&](const io::SocketBackend& backend) {
      for (std::size_t i = 0; i < backend.worker_count(); ++i) {
        selectors.push_back(&backend.selector(i));
      }
    };
    if (socket_) add_socket(*socket_);
#ifdef HEIMDALL_DPDK_BACKEND
    if (dpdk_) {
      for (std::size_t i = 0; i < dpdk_->worker_count(); ++i)
        selectors.push_back(&dpdk_->selector(i));
      if (dpdk_->tcp_backend() != nullptr) add_socket(*dpdk_->tcp_backend());
    }
#endif
    return selectors;
  }
  void reset() {
    socket_.reset();
#ifdef HEIMDALL_DPDK_BACKEND
    dpdk_.reset();
#endif
  }

  std::unique_ptr<io::SocketBackend> socket_;
#ifdef HEIMDALL_DPDK_BACKEND
  std::unique_ptr<io::DpdkBackend> dpdk_;
#endif
};

// Everything the metrics and the control commands read.
struct Serving {
  Backend* backend = nullptr;
  cache::Cache* cache = nullptr;
  control::FilterReloader* filter = nullptr;
  control::QueryLogWriter* query_log = nullptr;
  std::vector<net::Endpoint> upstreams;
  unsigned workers = 0;
  std::string cache_snapshot;  // cache.snapshot: where `cache save` writes by default
  bool draining = false;       // heimdallctl drain: /health and /ready answer 503
  // Upstream attempts sent and answers received, summed over the engines, one
  // sample per control-loop tick (the last kUpstreamWindow): /health's evidence.
  static constexpr std::size_t kUpstreamWindow = 6;
  std::array<std::pair<std::uint64_t, std::uint64_t>, kUpstreamWindow> upstream_samples{};
  std::size_t upstream_ticks = 0;
  const control::ManagementServer* management = nullptr;  // its own counters, if it runs
};

}  // namespace heimdall::app
