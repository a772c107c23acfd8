#include "heimdall/io/dpdk_backend.hpp"

#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <spdlog/spdlog.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include "../loop_support.hpp"
#include "dpdk_worker.hpp"
#include "exception_path.hpp"
#include "heimdall/upstream/source_ports.hpp"
#include "shared.hpp"

namespace heimdall::io {
namespace {

constexpr std::uint16_t kRxDescriptors = 1024;
constexpr std::uint16_t kTxDescriptors = 1024;
constexpr unsigned kRingSize = 1024;
constexpr unsigned kPoolCache = 256;

[[noreturn]] void fail(const std::string& device, const std::string& step, int error) {
  throw std::runtime_error("DPDK port " + device + ": " + step + ": " + rte_strerror(-error) +
                           " (" + std::to_string(error) + ")");
}

unsigned pool_size(const DpdkBackendConfig& config) {
  if (config.mbufs != 0) return config.mbufs;
  // Per worker: its RX and TX rings full, a burst held, the rings it receives on;
  // plus the exception path's rings and its TX. A power of two minus one suits
  // the mempool's ring.
  const unsigned per_worker = kRxDescriptors + kTxDescriptors + 2 * kRingSize + 512;
  const unsigned needed = config.workers * per_worker + 2 * kRingSize;
  unsigned size = 8192;
  while (size - 1 < needed) size *= 2;
  return size - 1;
}

rte_ring* make_ring(const std::string& name) {
  rte_ring* ring = rte_ring_create(name.c_str(), kRingSize, static_cast<int>(rte_socket_id()),
                                   RING_F_SP_ENQ | RING_F_SC_DEQ);
  if (ring == nullptr) {
    throw std::runtime_error("DPDK ring " + name + ": " + rte_strerror(rte_errno));
  }
  return ring;
}

void free_ring(rte_ring* ring) {
  if (ring == nullptr) return;
  void* frame = nullptr;
  while (rte_ring_dequeue(ring, &frame) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(frame));
  rte_ring_free(ring);
}

// Plain, linear set-up as in DPDK's l3fwd: each step's failure names the port.
void set_up_port(const DpdkBackendConfig& config, DpdkShared& shared) {
  const std::string& device = config.port.device;
  std::uint16_t port = 0;
  if (rte_eth_dev_get_port_by_name(device.c_str(), &port) != 0) {
    throw std::runtime_error("DPDK port " + device +
                             ": no such device (give it in dataplane.eal_args, e.g. "
                             "--vdev=net_memif0, or bind the PCI NIC to vfio-pci)");
  }
  shared.port_id = port;
  rte_eth_dev_info info{};
  if (const int error = rte_eth_dev_info_get(port, &info); error != 0) {
    fail(device, "reading its capabilities", error);
  }
  const unsigned queues = config.workers;
  if (info.max_rx_queues < queues || info.max_tx_queues < queues) {
    throw std::runtime_error("DPDK port " + device + ": " + std::to_string(queues) +
                             " workers need as many RX and TX queues; it has " +
                             std::to_string(info.max_rx_queues) + " and " +
                             std::to_string(info.max_tx_queues) +
                             " (net_af_packet: qpairs=N, net_memif: one per worker)");
  }

  rte_eth_conf conf{};
  // docs/architecture.md §12.1: RSS only where the port has it (memif, af_packet and tap do
  // not); the hash functions asked for are masked with what it offers.
  const std::uint64_t rss =
      info.flow_type_rss_offloads &
      (RTE_ETH_RSS_IP | RTE_ETH_RSS_NONFRAG_IPV4_UDP | RTE_ETH_RSS_NONFRAG_IPV6_UDP);
  if (queues > 1 && rss != 0) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_hf = rss;
  }
  constexpr std::uint64_t kUdpChecksum = RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
  if ((info.tx_offload_capa & kUdpChecksum) == kUdpChecksum) {
    conf.txmode.offloads |= kUdpChecksum;
    shared.udp_checksum_offload = true;
  }
  if (const int error = rte_eth_dev_configure(port, static_cast<std::uint16_t>(queues),
                                              static_cast<std::uint16_t>(queues), &conf);
      error != 0) {
    fail(device, "configuring " + std::to_string(queues) + " queue pairs", error);
  }
  shared.port_configured = true;
  std::uint16_t rx_descriptors = kRxDescriptors, tx_descriptors = kTxDescriptors;
  if (const int error = rte_eth_dev_adjust_nb_rx_tx_desc(port, &rx_descriptors, &tx_descriptors);
      error != 0) {
    fail(device, "sizing its descriptor rings", error);
  }
  const int socket = rte_eth_dev_socket_id(port);
  const unsigned socket_id = socket < 0 ? rte_socket_id() : static_cast<unsigned>(socket);
  shared.pool = rte_pktmbuf_pool_create(("heimdall_" + std::to_string(port)).c_str(),
                                        pool_size(config), kPoolCache, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                        static_cast<int>(socket_id));
  if (shared.pool == nullptr) {
    throw std::runtime_error("DPDK port " + device + ": packet buffer pool of " +
                             std::to_string(pool_size(config)) +
                             " mbufs: " + rte_strerror(rte_errno) + " (raise -m in eal_args)");
  }
  rte_eth_txconf txconf = info.default_txconf;
  txconf.offloads = conf.txmode.offloads;
  for (std::uint16_t queue = 0; queue < queues; ++queue) {
    if (const int error =
            rte_eth_rx_queue_setup(port, queue, rx_descriptors, socket_id, nullptr, shared.pool);
        error != 0) {
      fail(device, "RX queue " + std::to_string(queue), error);
    }
    if (const int error = rte_eth_tx_queue_setup(port, queue, tx_descriptors, socket_id, &txconf);
        error != 0) {
      fail(device, "TX queue " + std::to_string(queue), error);
    }
  }
  // A port that cannot take the configured MAC (net_ring, some vdevs) still
  // answers to it: promiscuous, with the MAC kept in software.
  bool mac_in_software = false;
  if (config.port.mac) {
    rte_ether_addr mac;
    std::copy(config.port.mac->bytes.begin(), config.port.mac->bytes.end(), mac.addr_bytes);
    const int error = rte_eth_dev_default_mac_addr_set(port, &mac);
    if (error == -ENOTSUP) {
      mac_in_software = true;
    } else if (error != 0) {
      fail(device, "setting MAC " + config.port.mac->to_string(), error);
    }
  }
  if (const int error = rte_eth_dev_start(port); error != 0) fail(device, "starting", error);
  // NDP solicitations go to multicast groups; a NIC filters them out otherwise.
  rte_eth_allmulticast_enable(port);

  rte_ether_addr mac;
  if (const int error = rte_eth_macaddr_get(port, &mac); error != 0) {
    fail(device, "reading its MAC", error);
  }
  std::copy(std::begin(mac.addr_bytes), std::end(mac.addr_bytes),
            shared.identity.mac.bytes.begin());
  if (mac_in_software) {
    rte_eth_promiscuous_enable(port);
    shared.identity.mac = *config.port.mac;
  }
  shared.identity.derive_link_local();

  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(config.link_wait_ms);
  rte_eth_link link{};
  while (rte_eth_link_get_nowait(port, &link) == 0 && link.link_status == RTE_ETH_LINK_DOWN &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (link.link_status == RTE_ETH_LINK_DOWN) {
    spdlog::warn("DPDK port {}: link down; serving as soon as it comes up", device);
  } else {
    spdlog::info("DPDK port {} (port {}): link up at {} Mbit/s, MAC {}, {} queue pairs{}", device,
                 port, link.link_speed, shared.identity.mac.to_string(), queues,
                 conf.rxmode.mq_mode == RTE_ETH_MQ_RX_RSS ? ", RSS" : "");
  }
}

}  // namespace

DpdkBackend::DpdkBackend(const DpdkBackendConfig& config)
    : config_(config), shared_(std::make_unique<DpdkShared>()) {
  if (config_.workers == 0) throw std::invalid_argument("the DPDK backend needs a worker");
  DpdkShared& shared = *shared_;
  shared.identity = config_.port.identity;
  shared.workers = config_.workers;
  shared.upstream_port_min = config_.upstream_port_min;
  shared.upstream_port_max = config_.upstream_port_max;
  shared.port_owner = upstream::deal_ports(
      upstream::PortRange{.low = config_.upstream_port_min, .high = config_.upstream_port_max},
      config_.workers, [] {
        std::uint32_t random = 0;
        if (getrandom(&random, sizeof(random), 0) != sizeof(random)) {
          random = static_cast<std::uint32_t>(monotonic_ns() * 0x9e3779b97f4a7c15ULL >> 32);
        }
        return random;
      });
  shared.servers = config_.engine.servers;
  if (shared.servers.size() > upstream::kMaxServers) {
    throw std::invalid_argument("the DPDK backend takes at most " +
                                std::to_string(upstream::kMaxServers) + " upstream servers");
  }
  // No TCP to upstreams from the fast path: truncated answers go to the client,
  // which asks again over TCP through the exception path.
  config_.engine.upstream_tcp = false;
  try {
    build();
  } catch (...) {
    release();
    throw;
  }
}

void DpdkBackend::build() {
  DpdkShared& shared = *shared_;
  set_up_port(config_, shared);

  // docs/architecture.md §6.6: a reply never needs fragmenting.
  std::uint16_t mtu = 1500;
  rte_eth_dev_get_mtu(shared.port_id, &mtu);
  const unsigned headers = 40 + 8 + (shared.identity.vlan != 0 ? 4 : 0);
  const unsigned room = rte_pktmbuf_data_room_size(shared.pool) - RTE_PKTMBUF_HEADROOM;
  const unsigned largest_frame = std::min<unsigned>(mtu + 14, room) - 14;
  config_.engine.max_udp = static_cast<std::uint16_t>(std::min<unsigned>(
      config_.engine.max_udp, largest_frame > headers ? largest_frame - headers : 512));

  const std::string prefix = "hd" + std::to_string(shared.port_id) + "_";
  for (unsigned worker = 0; worker < config_.workers; ++worker) {
    shared.to_exception.push_back(make_ring(prefix + "exc" + std::to_string(worker)));
  }
  shared.egress = make_ring(prefix + "egress");
  shared.handover.assign(std::size_t{config_.workers} * config_.workers, nullptr);
  for (unsigned from = 0; from < config_.workers; ++from) {
    for (unsigned to = 0; to < config_.workers; ++to) {
      if (from == to) continue;
      shared.handover[from * config_.workers + to] =
          make_ring(prefix + "ho" + std::to_string(from) + "_" + std::to_string(to));
    }
  }
  exception_ = std::make_unique<ExceptionPath>(config_, shared);
  for (unsigned worker = 0; worker < config_.workers; ++worker) {
    workers_.push_back(std::make_unique<DpdkWorker>(config_, shared, worker));
  }
  if (!config_.tcp_listen.empty()) {
    SocketBackendConfig tcp;
    tcp.workers = 1;
    tcp.tcp_listen = config_.tcp_listen;
    tcp.tcp_idle_timeout_ms = config_.tcp_idle_timeout_ms;
    tcp.tcp_query_timeout_ms = config_.tcp_query_timeout_ms;
    tcp.tcp_max_connections = config_.tcp_max_connections;
    tcp.tcp_max_connections_per_client = config_.tcp_max_connections_per_client;
    tcp.engine = config_.engine;
    tcp.engine.upstream_tcp = true;  // the kernel's sockets do reach upstreams over TCP
    // The kernel's own range, which check_port_ranges keeps apart from the fast
    // path's: an answer to one of the fast path's ports would go to a worker.
    tcp.source_ports = kernel_ephemeral_ports();
    tcp.cache = config_.cache;
    tcp.filter = config_.filter;
    tcp.first_reader = config_.workers;
    tcp_ = std::make_unique<SocketBackend>(tcp);
  }
}

DpdkBackend::~DpdkBackend() {
  if (started_) {
    request_stop();
    join();
  }
  release();
}

// Everything the constructor made, in reverse; also after a constructor that
// threw half-way, so that a second attempt in the process finds the names free.
void DpdkBackend::release() {
  tcp_.reset();
  workers_.clear();
  exception_.reset();
  DpdkShared& shared = *shared_;
  if (shared.port_configured) {
    rte_eth_dev_stop(shared.port_id);
    rte_eth_dev_close(shared.port_id);
    shared.port_configured = false;
  }
  for (rte_ring* ring : shared.to_exception) free_ring(ring);
  for (rte_ring* ring : shared.handover) free_ring(ring);
  free_ring(shared.egress);
  shared.to_exception.clear();
  shared.handover.clear();
  shared.egress = nullptr;
  rte_mempool_free(shared.pool);
  shared.pool = nullptr;
}

std::size_t DpdkBackend::eal_bytes_needed(const DpdkBackendConfig& config) {
  // A buffer, its headroom and the mbuf header, rounded up, for each mbuf; then
  // the rings of pointers.
  const std::size_t per_mbuf = RTE_MBUF_DEFAULT_BUF_SIZE + sizeof(rte_mbuf) + 128;
  const std::size_t rings = (std::size_t{config.workers} * config.workers + config.workers + 1) *
                            kRingSize * sizeof(void*);
  return std::size_t{pool_size(config)} * per_mbuf + rings;
}

void DpdkBackend::start() {
  unsigned lcore = 0;
  RTE_LCORE_FOREACH_WORKER(lcore) {
    if (lcores_.size() < config_.workers) lcores_.push_back(lcore);
  }
  if (lcores_.size() < config_.workers) {
    const std::size_t available = lcores_.size();
    lcores_.clear();
    throw std::runtime_error("dataplane.workers: " + std::to_string(config_.workers) +
                             " workers need as many worker lcores besides the main one; the EAL "
                             "has " +
                             std::to_string(available) +
                             " (give them with -l in dataplane.eal_args, e.g. -l 0,1)");
  }
  for (unsigned worker = 0; worker < config_.workers; ++worker) {
    DpdkWorker* body = workers_[worker].get();
    const int error = rte_eal_remote_launch(
        [](void* argument) {
          static_cast<DpdkWorker*>(argument)->run();
          return 0;
        },
        body, lcores_[worker]);
    if (error != 0) {
      // The workers already running are stopped before anything they use goes.
      shared_->exit.store(true, std::memory_order_release);
      for (unsigned launched = 0; launched < worker; ++launched) {
        rte_eal_wait_lcore(lcores_[launched]);
        rcu::observed(workers_[launched].get());
      }
      const unsigned failed_lcore = lcores_[worker];
      lcores_.clear();
      throw std::runtime_error("launching a worker on lcore " + std::to_string(failed_lcore) +
                               " failed");
    }
  }
  started_ = true;
  exception_thread_ = std::thread([this] { exception_->run(); });
  if (tcp_) tcp_->start();
}

void DpdkBackend::request_stop() {
  shared_->stop.store(true, std::memory_order_release);
  if (tcp_) tcp_->request_stop();
}

void DpdkBackend::join() {
  if (!started_) return;
  // The TCP worker's queries leave through the exception path and worker 0, so
  // the fast path keeps polling until it is done as well.
  while (shared_->drained_workers.load(std::memory_order_acquire) < config_.workers) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (tcp_) tcp_->join();
  shared_->exit.store(true, std::memory_order_release);
  for (std::size_t worker = 0; worker < lcores_.size(); ++worker) {
    rte_eal_wait_lcore(lcores_[worker]);
    rcu::observed(workers_[worker].get());
  }
  exception_->request_stop();
  if (exception_thread_.joinable()) exception_thread_.join();
  started_ = false;
}

unsigned DpdkBackend::poll_worker_once(unsigned worker, std::uint64_t now_ns) {
  return workers_.at(worker)->poll_once(now_ns);
}

unsigned DpdkBackend::poll_exception_once(std::uint64_t now_ns) {
  return exception_->poll_once(now_ns);
}

std::size_t DpdkBackend::worker_count() const { return workers_.size(); }
const net::Interface& DpdkBackend::identity() const { return shared_->identity; }
std::uint16_t DpdkBackend::port_id() const { return shared_->port_id; }
const engine::Counters& DpdkBackend::engine_counters(std::size_t worker) const {
  return workers_.at(worker)->engine().counters();
}
const upstream::Selector& DpdkBackend::selector(std::size_t worker) const {
  return workers_.at(worker)->engine().selector();
}
const DpdkCounters& DpdkBackend::dpdk_counters(std::size_t worker) const {
  return workers_.at(worker)->counters();
}
const ExceptionCounters& DpdkBackend::exception_counters() const { return exception_->counters(); }

void DpdkBackend::visit_engines(const EngineVisitor& visit) const {
  for (const auto& worker : workers_)
    visit(worker->engine().counters(), worker->engine().selector());
  if (tcp_) tcp_->visit_engines(visit);
}

void DpdkBackend::visit_counters(const CounterVisitor& visit) const {
  std::vector<const DpdkCounters*> sets;
  for (const auto& worker : workers_) sets.push_back(&worker->counters());
  visit(stats::CounterSets({"dpdk", "worker_"}, kDpdkCounterTable, std::move(sets)));
  visit(stats::CounterSets::single({"exception path", "exception_"}, kExceptionCounterTable,
                                   exception_->counters()));
  if (tcp_) visit(tcp_->socket_counter_sets(workers_.size()));
}

std::optional<PortStats> DpdkBackend::port_stats() const {
  PortStats stats;
  rte_eth_link link{};
  if (rte_eth_link_get_nowait(shared_->port_id, &link) == 0) {
    stats.link_up = link.link_status == RTE_ETH_LINK_UP;
    stats.link_speed_mbps = link.link_speed;
  }
  rte_eth_stats eth{};
  if (rte_eth_stats_get(shared_->port_id, &eth) == 0) {
    stats.rx_packets = eth.ipackets;
    stats.tx_packets = eth.opackets;
    stats.rx_missed = eth.imissed;
    stats.rx_errors = eth.ierrors;
    stats.tx_errors = eth.oerrors;
    stats.rx_no_mbuf = eth.rx_nombuf;
  }
  return stats;
}

}  // namespace heimdall::io
