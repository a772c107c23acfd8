#include "descriptors.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <stdexcept>

namespace heimdall::io {

void raise_descriptor_limit() {
  // The soft limit is often 1024 (systemd's default for services, most shells)
  // with a hard limit far above; a server that does not use select() takes the
  // hard one, as systemd.exec(5) advises. Failing leaves the soft limit as it was,
  // and check_descriptor_budget() says whether that is enough.
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
}

namespace {

std::uint64_t value_of(rlim_t limit) { return limit == RLIM_INFINITY ? UINT64_MAX : limit; }

}  // namespace

unsigned connection_slots(const SocketBackendConfig& config) {
  const unsigned per_worker =
      std::max(1u, config.tcp_max_connections / std::max(1u, config.workers));
  return std::min(per_worker, 65535u);
}

DescriptorBudget descriptor_budget(const SocketBackendConfig& config) {
  DescriptorBudget budget;
  budget.workers = config.workers;
  budget.client_connections = config.tcp_listen.empty() ? 0 : connection_slots(config);
  budget.upstream_tcp = config.engine.upstream_tcp ? kUpstreamTcpSlots : 0;
  budget.upstream_udp = config.max_udp_sockets;
  budget.fixed = 1 + config.udp_listen.size() + config.tcp_listen.size();
  return budget;
}

void check_descriptor_budget(const SocketBackendConfig& config) {
  const DescriptorBudget budget = descriptor_budget(config);
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || budget.total() <= value_of(limit.rlim_cur)) return;
  const auto text = [](std::uint64_t n) { return std::to_string(n); };
  throw std::runtime_error(
      "not enough file descriptors: listen.tcp_max_connections " +
      text(config.tcp_max_connections) + " and upstreams.max_udp_sockets_per_worker " +
      text(config.max_udp_sockets) + " over " + text(budget.workers) + " workers need up to " +
      text(budget.total()) + " (per worker " + text(budget.client_connections) +
      " client connections, " + text(budget.upstream_tcp) + " upstream TCP connections, " +
      text(budget.upstream_udp) + " upstream UDP sockets, " + text(budget.fixed) +
      " listeners and epoll; " + text(DescriptorBudget::kProcessReserve) +
      " for the rest of the process), but RLIMIT_NOFILE is " + text(value_of(limit.rlim_cur)) +
      " (hard limit " + text(value_of(limit.rlim_max)) +
      "): lower listen.tcp_max_connections or upstreams.max_udp_sockets_per_worker, or raise the "
      "limit (LimitNOFILE= in the systemd "
      "unit, ulimit -n)");
}

}  // namespace heimdall::io
