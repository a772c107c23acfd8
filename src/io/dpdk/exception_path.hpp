// The exception thread (docs/architecture.md §12.4, §12.6): owns ARP and NDP (answers for the
// appliance's addresses, resolves the upstreams' next hops and publishes them to
// the workers by RCU), and bridges what the fast path does not own to the kernel
// through a tap. It is not on the fast path: it sleeps up to a millisecond at a
// time, and its frames leave through worker 0's TX queue.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "heimdall/io/dpdk_backend.hpp"
#include "shared.hpp"
#include "tap.hpp"

struct rte_mbuf;

namespace heimdall::io {

class ExceptionPath {
 public:
  ExceptionPath(const DpdkBackendConfig& config, DpdkShared& shared);
  ~ExceptionPath();

  void run();  // the thread body, until request_stop()
  void request_stop() { stop_.store(true, std::memory_order_release); }
  unsigned poll_once(std::uint64_t now_ns);

  const ExceptionCounters& counters() const { return counters_; }

 private:
  // IP address (family + 16 bytes) → MAC.
  using Key = std::array<std::uint8_t, 17>;
  struct Neighbour {
    net::MacAddress mac;
    std::uint64_t updated_ns = 0;
  };

  void handle_from_port(rte_mbuf* frame, std::uint64_t now_ns);
  void handle_from_tap(std::span<std::uint8_t> frame);
  void resolve_next_hops(std::uint64_t now_ns);
  void learn(const net::Endpoint& address, const net::MacAddress& mac, std::uint64_t now_ns);
  void publish_next_hops();
  std::optional<net::Endpoint> next_hop(const net::Endpoint& destination) const;
  std::optional<net::MacAddress> find(std::map<Key, Neighbour>& table,
                                      const net::Endpoint& address) const;
  void send(std::span<const std::uint8_t> frame);
  void send(rte_mbuf* frame);

  const DpdkBackendConfig& config_;
  DpdkShared& shared_;
  std::unique_ptr<Tap> tap_;
  std::atomic<bool> stop_{false};
  // From ARP and NDP only, for the next hops only (upstreams on the link, gateways).
  std::map<Key, Neighbour> neighbours_;
  // Source MACs of frames passed to the kernel, so its replies find their way
  // back without the kernel resolving anything (the tap is NOARP).
  std::map<Key, Neighbour> peers_;
  std::vector<std::optional<net::Endpoint>> server_next_hops_;
  bool published_once_ = false;
  bool next_hops_changed_ = false;
  std::uint64_t next_resolve_ns_ = 0;
  std::vector<std::uint8_t> buffer_;
  ExceptionCounters counters_;
};

}  // namespace heimdall::io
