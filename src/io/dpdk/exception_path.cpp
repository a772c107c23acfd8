#include "exception_path.hpp"

#include <poll.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <time.h>

#include <cstring>

#include "../loop_support.hpp"

namespace heimdall::io {
namespace {

constexpr unsigned kBurst = 32;
// Unresolved next hops are asked for every second; resolved ones are refreshed
// every 30 s (an answer replaces the entry, silence keeps the last one known).
constexpr std::uint64_t kResolveIntervalNs = 1'000'000'000;
constexpr std::uint64_t kRefreshAfterNs = 30'000'000'000;
constexpr std::size_t kMaxPeers = 65536;

std::array<std::uint8_t, 17> key_of(const net::Endpoint& address) {
  std::array<std::uint8_t, 17> key{};
  key[0] = address.family;
  std::memcpy(key.data() + 1, address.address, address.family == AF_INET ? 4 : 16);
  return key;
}

net::Endpoint address_of(std::uint8_t family, const std::uint8_t* bytes) {
  net::Endpoint address;
  address.family = family;
  std::memcpy(address.address, bytes, family == AF_INET ? 4 : 16);
  return address;
}

}  // namespace

ExceptionPath::ExceptionPath(const DpdkBackendConfig& config, DpdkShared& shared)
    : config_(config), shared_(shared), buffer_(16384) {
  if (!config.tap_name.empty()) tap_ = std::make_unique<Tap>(config.tap_name, shared.identity);
  for (const net::Endpoint& server : shared.servers) server_next_hops_.push_back(next_hop(server));
}

ExceptionPath::~ExceptionPath() = default;

void ExceptionPath::run() {
  while (!stop_.load(std::memory_order_acquire)) {
    pollfd tap{tap_ ? tap_->fd() : -1, POLLIN, 0};
    // Up to a millisecond of sleep: ARP and TCP wait at most that long, and the
    // thread costs nothing while the fast path owns the traffic.
    poll(&tap, 1, 1);
    poll_once(monotonic_ns());
  }
}

unsigned ExceptionPath::poll_once(std::uint64_t now_ns) {
  unsigned handled = 0;
  for (rte_ring* ring : shared_.to_exception) {
    rte_mbuf* frames[kBurst];
    const unsigned count =
        rte_ring_sc_dequeue_burst(ring, reinterpret_cast<void**>(frames), kBurst, nullptr);
    if (count > 0) shared_.took_mbufs();
    for (unsigned i = 0; i < count; ++i) handle_from_port(frames[i], now_ns);
    handled += count;
  }
  if (tap_) {
    for (unsigned i = 0; i < kBurst; ++i) {
      const std::size_t length = tap_->read(buffer_);
      if (length == 0) break;
      bump(counters_.from_tap);
      handle_from_tap({buffer_.data(), length});
      ++handled;
    }
  }
  if (now_ns >= next_resolve_ns_) {
    resolve_next_hops(now_ns);
    next_resolve_ns_ = now_ns + kResolveIntervalNs;
  }
  if (next_hops_changed_ || !published_once_) publish_next_hops();
  return handled;
}

void ExceptionPath::handle_from_port(rte_mbuf* frame, std::uint64_t now_ns) {
  const std::span<std::uint8_t> bytes = frame_bytes(frame);
  const net::Frame parsed = net::parse_frame(bytes, shared_.identity);
  switch (parsed.kind) {
    case net::FrameKind::ArpRequest: {
      learn(parsed.source, parsed.neighbour_mac, now_ns);  // RFC 826: merge the sender
      const std::size_t length = net::make_arp_reply(bytes, parsed, shared_.identity);
      rte_pktmbuf_trim(frame, static_cast<std::uint16_t>(bytes.size() - length));
      bump(counters_.arp_replies);
      send(frame);
      return;
    }
    case net::FrameKind::ArpReply:
    case net::FrameKind::NeighbourAdvertisement:
      learn(parsed.kind == net::FrameKind::ArpReply
                ? parsed.source
                : address_of(AF_INET6, parsed.ndp_target.data()),
            parsed.neighbour_mac, now_ns);
      break;
    case net::FrameKind::NeighbourSolicitation: {
      static constexpr std::uint8_t kUnspecified[16] = {};
      if (std::memcmp(parsed.source.address, kUnspecified, 16) != 0) {
        learn(parsed.source, parsed.neighbour_mac, now_ns);
      }
      std::uint8_t advertisement[net::kMaxNdpFrame];
      const std::size_t length =
          net::build_neighbour_advertisement(advertisement, parsed, shared_.identity);
      if (length > 0) {
        bump(counters_.ndp_advertisements);
        send({advertisement, length});
      }
      break;
    }
    case net::FrameKind::Exception:
    case net::FrameKind::UdpToUs:
      if (!tap_) break;
      // Bounded: a scan from many sources must not grow it without end.
      if (peers_.size() >= kMaxPeers) peers_.clear();
      peers_[key_of(parsed.source)] = Neighbour{parsed.source_mac, now_ns};
      if (parsed.vlan != 0) {
        // The kernel's side is untagged: the tag comes off here and goes back on
        // in handle_from_tap.
        std::memmove(bytes.data() + 4, bytes.data(), 12);
        if (!tap_->write(bytes.subspan(4))) bump(counters_.tap_write_failed);
      } else if (!tap_->write(bytes)) {
        bump(counters_.tap_write_failed);
      }
      bump(counters_.to_tap);
      break;
    default:
      break;
  }
  shared_.letting_go_of_mbufs();
  rte_pktmbuf_free(frame);
}

// A frame the kernel sent: addressed to the tap's own MAC (NOARP), it leaves with
// the next hop's MAC instead, and the port's VLAN tag.
void ExceptionPath::handle_from_tap(std::span<std::uint8_t> frame) {
  if (frame.size() < 14 + 20 || (frame[0] & 1) != 0) {
    bump(counters_.tap_multicast_dropped);
    return;
  }
  const std::uint16_t ethertype = static_cast<std::uint16_t>(frame[12] << 8 | frame[13]);
  net::Endpoint destination;
  if (ethertype == 0x0800) {
    destination = address_of(AF_INET, frame.data() + 14 + 16);
  } else if (ethertype == 0x86dd && frame.size() >= 14 + 40) {
    destination = address_of(AF_INET6, frame.data() + 14 + 24);
  } else {
    bump(counters_.tap_multicast_dropped);
    return;
  }
  // Off-link destinations go through the gateway; on-link ones to what ARP/NDP
  // resolved, else to the MAC their own frames came from. A peer cannot claim a
  // next hop's address this way: the resolved entry is looked at first.
  std::optional<net::MacAddress> mac;
  if (const auto hop = next_hop(destination)) {
    mac = find(neighbours_, *hop);
    if (!mac && key_of(*hop) == key_of(destination)) mac = find(peers_, destination);
  }
  if (!mac) {
    bump(counters_.tap_no_neighbour);
    return;
  }
  std::memcpy(frame.data(), mac->bytes.data(), 6);
  std::memcpy(frame.data() + 6, shared_.identity.mac.bytes.data(), 6);
  if (shared_.identity.vlan == 0) {
    send(frame);
    return;
  }
  std::uint8_t tagged[16384 + 4];
  if (frame.size() + 4 > sizeof(tagged)) return;
  std::memcpy(tagged, frame.data(), 12);
  tagged[12] = 0x81;
  tagged[13] = 0x00;
  tagged[14] = static_cast<std::uint8_t>(shared_.identity.vlan >> 8);
  tagged[15] = static_cast<std::uint8_t>(shared_.identity.vlan);
  std::memcpy(tagged + 16, frame.data() + 12, frame.size() - 12);
  send({tagged, frame.size() + 4});
}

void ExceptionPath::resolve_next_hops(std::uint64_t now_ns) {
  std::uint8_t request[net::kMaxNdpFrame];
  // The upstreams' next hops, and the gateways: the kernel's replies to clients
  // off the link leave through them even when no upstream does.
  std::vector<std::optional<net::Endpoint>> hops = server_next_hops_;
  hops.push_back(config_.port.gateway);
  hops.push_back(config_.port.gateway6);
  for (std::size_t i = 0; i < hops.size(); ++i) {
    const auto& hop = hops[i];
    if (!hop) continue;
    bool asked = false;  // a gateway that is also an upstream's next hop: ask once
    for (std::size_t j = 0; j < i; ++j) asked |= hops[j] && key_of(*hops[j]) == key_of(*hop);
    if (asked) continue;
    const auto known = neighbours_.find(key_of(*hop));
    if (known != neighbours_.end() && now_ns - known->second.updated_ns < kRefreshAfterNs) {
      continue;
    }
    std::size_t length = 0;
    if (hop->family == AF_INET) {
      std::array<std::uint8_t, 4> target;
      std::memcpy(target.data(), hop->address, 4);
      length = net::build_arp_request(request, shared_.identity, target);
      bump(counters_.arp_requests);
    } else {
      std::array<std::uint8_t, 16> target;
      std::memcpy(target.data(), hop->address, 16);
      length = net::build_neighbour_solicitation(request, shared_.identity, target);
      bump(counters_.ndp_solicitations);
    }
    if (length > 0) send({request, length});
  }
}

// Only the next hops are kept: anyone may send ARP and NDP, and a table that took
// every sender would grow without bound and let strangers set how often the
// workers' snapshot is replaced.
void ExceptionPath::learn(const net::Endpoint& address, const net::MacAddress& mac,
                          std::uint64_t now_ns) {
  const Key key = key_of(address);
  bool next_hop = false;
  for (const auto& hop : server_next_hops_) next_hop |= hop && key_of(*hop) == key;
  for (const auto& gateway : {config_.port.gateway, config_.port.gateway6}) {
    next_hop |= gateway && key_of(*gateway) == key;
  }
  if (!next_hop) return;
  Neighbour& entry = neighbours_[key];
  const bool changed = entry.updated_ns == 0 || !(entry.mac == mac);
  entry = Neighbour{mac, now_ns};
  if (!changed) return;
  bump(counters_.neighbours_learned);
  next_hops_changed_ = true;  // published once, at the end of this round
}

void ExceptionPath::publish_next_hops() {
  auto next = std::make_unique<Neighbours>();
  for (std::size_t server = 0; server < server_next_hops_.size(); ++server) {
    if (!server_next_hops_[server]) continue;
    if (const auto mac = find(neighbours_, *server_next_hops_[server])) {
      next->server_mac[server] = *mac;
      next->resolved |= 1u << server;
    }
  }
  published_once_ = true;
  next_hops_changed_ = false;
  shared_.neighbours.publish(std::move(next));  // waits a grace period for the old one
}

std::optional<net::Endpoint> ExceptionPath::next_hop(const net::Endpoint& destination) const {
  net::Endpoint hop = destination;
  hop.port = 0;
  if (shared_.identity.on_link(hop)) return hop;
  const auto& gateway =
      destination.family == AF_INET ? config_.port.gateway : config_.port.gateway6;
  if (!gateway) return std::nullopt;
  net::Endpoint via = *gateway;
  via.port = 0;
  return via;
}

std::optional<net::MacAddress> ExceptionPath::find(std::map<Key, Neighbour>& table,
                                                   const net::Endpoint& address) const {
  const auto it = table.find(key_of(address));
  if (it == table.end()) return std::nullopt;
  return it->second.mac;
}

void ExceptionPath::send(std::span<const std::uint8_t> frame) {
  rte_mbuf* mbuf = rte_pktmbuf_alloc(shared_.pool);
  if (mbuf == nullptr) {
    bump(counters_.no_mbuf);
    return;
  }
  shared_.took_mbufs();
  void* data = rte_pktmbuf_append(mbuf, static_cast<std::uint16_t>(frame.size()));
  if (data == nullptr) {
    shared_.letting_go_of_mbufs();
    rte_pktmbuf_free(mbuf);
    bump(counters_.no_mbuf);
    return;
  }
  std::memcpy(data, frame.data(), frame.size());
  send(mbuf);
}

void ExceptionPath::send(rte_mbuf* frame) {
  shared_.letting_go_of_mbufs();
  if (rte_ring_sp_enqueue(shared_.egress, frame) != 0) {
    bump(counters_.egress_full);
    rte_pktmbuf_free(frame);
  }
}

}  // namespace heimdall::io
