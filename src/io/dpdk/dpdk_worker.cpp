#include "dpdk_worker.hpp"

#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_ring.h>
#include <sys/random.h>
#include <time.h>

#include <cstring>
#include <vector>

#include "../loop_support.hpp"

namespace heimdall::io {
namespace {

// The ports this worker sends upstream queries from: those of the range dealt to
// it (DpdkShared::port_owner), so that any worker receiving the answer knows
// whose it is. The engine draws among them uniformly for every attempt.
std::vector<std::uint16_t> source_ports(const DpdkShared& shared, unsigned index) {
  std::vector<std::uint16_t> ports;
  for (unsigned port = shared.upstream_port_min; port <= shared.upstream_port_max; ++port) {
    if (shared.owner_of_port(static_cast<std::uint16_t>(port)) == static_cast<int>(index)) {
      ports.push_back(static_cast<std::uint16_t>(port));
    }
  }
  return ports;
}

std::uint64_t random_seed() {
  std::uint64_t seed = 0;
  if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed)) seed = monotonic_ns();
  return seed;
}

}  // namespace

DpdkWorker::DpdkWorker(const DpdkBackendConfig& config, DpdkShared& shared, unsigned index)
    : config_(config), shared_(shared), index_(index) {
  const std::vector<std::uint16_t> ports = source_ports(shared, index);
  engine_ = std::make_unique<engine::Engine>(config.engine, ports, random_seed(), config.cache,
                                             index, config.filter);
}

DpdkWorker::~DpdkWorker() {
  for (unsigned i = 0; i < tx_count_; ++i) rte_pktmbuf_free(tx_[i]);
}

void DpdkWorker::run() {
  const rcu::ReaderThread filter_reader;
  if (config_.cache != nullptr) config_.cache->register_reader(index_);
  std::uint64_t drain_deadline_ns = 0;
  bool drained = false;
  // Stopping: no new queries; the queries in flight are answered (or their budget
  // runs out), then this worker says so and keeps polling until every worker and
  // the exception path's TCP worker are done too, since answers may still land on
  // its queue and the exception path sends through worker 0.
  while (!shared_.exit.load(std::memory_order_acquire)) {
    const std::uint64_t now_ns = monotonic_ns();
    poll_once(now_ns);
    if (config_.cache != nullptr) {
      config_.cache->maintain(index_, now_ns);
      config_.cache->quiescent(index_);
    }
    rcu::ReaderThread::quiescent();
    if (!stopping_ && shared_.stop.load(std::memory_order_acquire)) {
      stopping_ = true;
      drain_deadline_ns = now_ns + config_.engine.selector.budget_ns + 100'000'000;
    }
    if (stopping_ && !drained && (engine_->pending() == 0 || now_ns >= drain_deadline_ns)) {
      drained = true;
      shared_.drained_workers.fetch_add(1, std::memory_order_acq_rel);  // once, at shutdown
    }
  }
  if (config_.cache != nullptr) config_.cache->unregister_reader(index_);
  // The main thread's rte_eal_wait_lcore orders this, but inside uninstrumented
  // DPDK: ThreadSanitizer is told (docs/architecture.md §9.3).
  rcu::published(this);
}

unsigned DpdkWorker::poll_once(std::uint64_t now_ns) {
  neighbours_ = shared_.neighbours.read();
  rte_mbuf* frames[kBurst];
  const unsigned received =
      rte_eth_rx_burst(shared_.port_id, static_cast<std::uint16_t>(index_), frames, kBurst);
  unsigned handled = received;
  if (received > 0) {
    shared_.took_mbufs();
    bump(counters_.rx_frames, received);
    classify(frames, received);
    run_engine(now_ns);
  }
  handled += drain_handovers(now_ns);
  if (index_ == 0) handled += drain_egress();
  engine_->on_timer(now_ns, *this);
  flush_tx();
  return handled;
}

void DpdkWorker::classify(rte_mbuf* const* frames, unsigned count) {
  for (unsigned i = 0; i < count; ++i) {
    if (i + 1 < count) rte_prefetch0(rte_pktmbuf_mtod(frames[i + 1], void*));
    rte_mbuf* frame = frames[i];
    if (frame->nb_segs != 1) {  // the pool's buffers hold any frame up to the MTU
      bump(counters_.multi_segment);
      shared_.letting_go_of_mbufs();
      rte_pktmbuf_free(frame);
      continue;
    }
    const net::Frame parsed = net::parse_frame(frame_bytes(frame), shared_.identity);
    switch (parsed.kind) {
      case net::FrameKind::DnsQuery: {
        if (stopping_) {
          bump(counters_.drained_queries);
          shared_.letting_go_of_mbufs();
          rte_pktmbuf_free(frame);
          break;
        }
        net::ClientRef from;
        from.peer = parsed.source;
        from.link.mac = parsed.source_mac;
        from.link.vlan = parsed.vlan;
        from.link.to_link_local = net::is_link_local(parsed.destination);
        queries_[query_count_++] = engine::ClientQuery{
            {rte_pktmbuf_mtod_offset(frame, const std::uint8_t*, parsed.payload_offset),
             parsed.payload_length},
            from};
        held_[held_count_++] = frame;
        bump(counters_.dns_queries);
        break;
      }
      case net::FrameKind::UdpToUs:
        take_upstream_answer(frame, parsed);
        break;
      case net::FrameKind::EchoRequest:
        answer_echo(frame, parsed);
        break;
      case net::FrameKind::Exception:
        // docs/architecture.md §12.4: a fragment is reassembled by the kernel, behind the tap.
        if (parsed.drop == net::DropReason::Fragment) bump(counters_.fragments);
        pass_to_exception(frame);
        break;
      case net::FrameKind::ArpRequest:
      case net::FrameKind::ArpReply:
      case net::FrameKind::NeighbourSolicitation:
      case net::FrameKind::NeighbourAdvertisement:
        pass_to_exception(frame);
        break;
      case net::FrameKind::Drop:
        bump(counters_.dropped[static_cast<std::size_t>(parsed.drop)]);
        shared_.letting_go_of_mbufs();
        rte_pktmbuf_free(frame);
        break;
    }
  }
}

// An upstream answer goes to the worker whose source port it was sent from; UDP
// to any other port of ours belongs to the kernel's sockets behind the tap.
void DpdkWorker::take_upstream_answer(rte_mbuf* frame, const net::Frame& parsed) {
  const int owner = shared_.owner_of_port(parsed.destination.port);
  if (owner < 0) {
    pass_to_exception(frame);
    return;
  }
  bump(counters_.upstream_frames);
  if (static_cast<unsigned>(owner) != index_) {
    shared_.letting_go_of_mbufs();
    if (rte_ring_sp_enqueue(shared_.handover_ring(index_, static_cast<unsigned>(owner)), frame) !=
        0) {
      bump(counters_.handover_full);
      rte_pktmbuf_free(frame);
      return;
    }
    bump(counters_.handed_over);
    return;
  }
  answers_[answer_count_++] = engine::UpstreamAnswer{
      {rte_pktmbuf_mtod_offset(frame, const std::uint8_t*, parsed.payload_offset),
       parsed.payload_length},
      parsed.source,
      net::Transport::Udp,
      parsed.destination.port};
  held_[held_count_++] = frame;
}

void DpdkWorker::pass_to_exception(rte_mbuf* frame) {
  shared_.letting_go_of_mbufs();
  if (rte_ring_sp_enqueue(shared_.to_exception[index_], frame) != 0) {
    bump(counters_.exception_full);
    rte_pktmbuf_free(frame);
    return;
  }
  bump(counters_.to_exception);
}

void DpdkWorker::answer_echo(rte_mbuf* frame, const net::Frame& parsed) {
  const std::size_t length = net::make_echo_reply(frame_bytes(frame), parsed, shared_.identity);
  if (length == 0) {
    bump(counters_.dropped[static_cast<std::size_t>(net::DropReason::BadIcmp)]);
    shared_.letting_go_of_mbufs();
    rte_pktmbuf_free(frame);
    return;
  }
  rte_pktmbuf_trim(frame, static_cast<std::uint16_t>(rte_pktmbuf_data_len(frame) - length));
  bump(counters_.echo_replies);
  queue_tx(frame);
}

void DpdkWorker::run_engine(std::uint64_t now_ns) {
  if (query_count_ > 0) engine_->on_queries({queries_, query_count_}, now_ns, *this);
  if (answer_count_ > 0) engine_->on_upstream_answers({answers_, answer_count_}, now_ns, *this);
  if (held_count_ > 0) {
    shared_.letting_go_of_mbufs();
    rte_pktmbuf_free_bulk(held_, held_count_);
  }
  query_count_ = answer_count_ = held_count_ = 0;
}

// Answers that reached another worker's queue (no RSS on this port, or RSS that
// spread them elsewhere): counted there, handled here as if received.
unsigned DpdkWorker::drain_handovers(std::uint64_t now_ns) {
  unsigned total = 0;
  for (unsigned from = 0; from < shared_.workers; ++from) {
    if (from == index_) continue;
    rte_mbuf* frames[kBurst];
    const unsigned count = rte_ring_sc_dequeue_burst(
        shared_.handover_ring(from, index_), reinterpret_cast<void**>(frames), kBurst, nullptr);
    if (count == 0) continue;
    shared_.took_mbufs();
    bump(counters_.handover_received, count);
    for (unsigned i = 0; i < count; ++i) {
      const net::Frame parsed = net::parse_frame(frame_bytes(frames[i]), shared_.identity);
      answers_[answer_count_++] = engine::UpstreamAnswer{
          {rte_pktmbuf_mtod_offset(frames[i], const std::uint8_t*, parsed.payload_offset),
           parsed.payload_length},
          parsed.source,
          net::Transport::Udp,
          parsed.destination.port};
      held_[held_count_++] = frames[i];
    }
    run_engine(now_ns);
    total += count;
  }
  return total;
}

// Frames of the exception thread (ARP and NDP answers, the kernel's TCP) leave
// through this worker's TX queue: virtual ports have no queue to spare.
unsigned DpdkWorker::drain_egress() {
  rte_mbuf* frames[kBurst];
  const unsigned count =
      rte_ring_sc_dequeue_burst(shared_.egress, reinterpret_cast<void**>(frames), kBurst, nullptr);
  if (count > 0) shared_.took_mbufs();
  for (unsigned i = 0; i < count; ++i) queue_tx(frames[i]);
  return count;
}

bool DpdkWorker::our_address(std::uint8_t family, bool link_local, net::Endpoint& out) const {
  const net::Interface& identity = shared_.identity;
  out.family = family;
  if (family == AF_INET) {
    if (!identity.has_ipv4) return false;
    std::memcpy(out.address, identity.ipv4.data(), 4);
    return true;
  }
  if (link_local) {
    std::memcpy(out.address, identity.ipv6_link_local.data(), 16);
    return true;
  }
  if (!identity.has_ipv6) return false;
  std::memcpy(out.address, identity.ipv6.data(), 16);
  return true;
}

void DpdkWorker::send_to_client(const net::ClientRef& client, std::span<const std::uint8_t> wire) {
  net::UdpFlow flow;
  flow.source_mac = shared_.identity.mac;
  flow.destination_mac = client.link.mac;
  flow.vlan = client.link.vlan;
  our_address(client.peer.family, client.link.to_link_local, flow.source);
  flow.source.port = shared_.identity.dns_port;
  flow.destination = client.peer;
  send_udp(flow, wire);
}

void DpdkWorker::send_to_upstream(unsigned server, net::Transport transport,
                                  std::uint16_t local_port, std::span<const std::uint8_t> wire) {
  const net::Endpoint& to = shared_.servers[server];
  net::UdpFlow flow;
  // The engine asks for TCP only when config.upstream_tcp is set, which this
  // backend never does; a TCP attempt here times out like a lost datagram.
  if (transport != net::Transport::Udp || !our_address(to.family, false, flow.source)) {
    bump(counters_.no_route);
    return;
  }
  if (neighbours_ == nullptr || (neighbours_->resolved >> server & 1u) == 0) {
    bump(counters_.no_neighbour);
    return;
  }
  flow.source_mac = shared_.identity.mac;
  flow.destination_mac = neighbours_->server_mac[server];
  flow.vlan = shared_.identity.vlan;
  flow.source.port = local_port;
  flow.destination = to;
  send_udp(flow, wire);
}

void DpdkWorker::send_udp(const net::UdpFlow& flow, std::span<const std::uint8_t> payload) {
  rte_mbuf* frame = rte_pktmbuf_alloc(shared_.pool);
  if (frame == nullptr) {
    bump(counters_.no_mbuf);
    return;
  }
  shared_.took_mbufs();
  const std::size_t headers = net::udp_headers_length(flow);
  const std::size_t length = headers + payload.size();
  auto* data = reinterpret_cast<std::uint8_t*>(
      rte_pktmbuf_append(frame, static_cast<std::uint16_t>(length)));
  if (data == nullptr) {  // larger than a buffer: the engine caps replies below the MTU
    bump(counters_.no_mbuf);
    rte_pktmbuf_free(frame);
    return;
  }
  std::memcpy(data + headers, payload.data(), payload.size());
  const bool offload = shared_.udp_checksum_offload;
  // Cannot fail: the frame was sized by udp_headers_length for this flow, whose
  // addresses are of one family.
  static_cast<void>(
      net::write_udp_headers({data, length}, flow, payload.size(),
                             offload ? net::UdpChecksum::Offload : net::UdpChecksum::Full));
  if (offload) {
    const bool v4 = flow.source.family == AF_INET;
    frame->ol_flags |= (v4 ? RTE_MBUF_F_TX_IPV4 : RTE_MBUF_F_TX_IPV6) | RTE_MBUF_F_TX_UDP_CKSUM;
    frame->l2_len = flow.vlan != 0 ? 18 : 14;
    frame->l3_len = v4 ? 20 : 40;
  }
  queue_tx(frame);
}

void DpdkWorker::queue_tx(rte_mbuf* frame) {
  tx_[tx_count_++] = frame;
  if (tx_count_ == kTxBatch) flush_tx();
}

void DpdkWorker::flush_tx() {
  if (tx_count_ == 0) return;
  shared_.letting_go_of_mbufs();
  const std::uint16_t sent = rte_eth_tx_burst(shared_.port_id, static_cast<std::uint16_t>(index_),
                                              tx_, static_cast<std::uint16_t>(tx_count_));
  bump(counters_.tx_frames, sent);
  if (sent < tx_count_) {
    bump(counters_.tx_dropped, tx_count_ - sent);
    rte_pktmbuf_free_bulk(tx_ + sent, tx_count_ - sent);
  }
  tx_count_ = 0;
}

}  // namespace heimdall::io
