// Where upstream UDP queries leave from (RFC 5452 §4, docs/architecture.md §7.6). The source
// port is drawn uniformly from the whole configured range for every attempt, so
// that an off-path forger must guess it together with the 16-bit ID: with the
// default 1024-65535, log2(64512) = 15.98 bits more.
//
// Socket backend (upstream_sockets.cpp): attempts leave from sockets connected to
// their upstream, each opened on a freshly drawn port and carrying at most
// upstreams.attempts_per_udp_socket attempts (16) within a second, then closed
// once its last attempt ends. A connected socket takes datagrams only from its
// upstream, so a scan from anywhere else finds the port closed, and an off-path
// forger (who cannot see which ports are open) must still guess each attempt's
// port among the whole range: sharing a socket among attempts does not shorten
// that guess, it only saves socket()+bind()+connect()+epoll_ctl()+close() and
// lets sends and receives be batched again (perf/RESULTS.md: a socket per attempt
// cost about 60% of the cache-miss throughput, 16 attempts per socket about 10%).
// DPDK backend: the worker owns the port space of its address and needs no
// socket; the port must also tell which worker an answer belongs to (docs/architecture.md
// §12.3), so the range is dealt out among the workers by a secret random shuffle
// drawn at start (`deal_ports`). A forger who knows which worker took the query
// still does not know which ports are that worker's, so the port keeps the full
// log2(range) bits against it; only one who learned the deal would be down to
// log2(range / workers).
#pragma once

#include <cstdint>
#include <vector>

namespace heimdall::upstream {

struct PortRange {
  std::uint16_t low = 1024;
  std::uint16_t high = 65535;

  std::uint32_t size() const { return std::uint32_t{high} - low + 1; }
  bool contains(std::uint16_t port) const { return port >= low && port <= high; }
};

// A value below `n` from 32 random bits, without the modulo bias that `random % n`
// has when n does not divide 2^32 (Lemire's multiply-shift: at most n / 2^32).
inline std::uint32_t uniform_below(std::uint32_t random, std::uint32_t n) {
  return static_cast<std::uint32_t>((std::uint64_t{random} * n) >> 32);
}

// The port of `range` that `random` picks, every port equally likely.
inline std::uint16_t draw_port(const PortRange& range, std::uint32_t random) {
  return static_cast<std::uint16_t>(range.low + uniform_below(random, range.size()));
}

// Deals the ports of `range` to `workers` workers in a random order (Fisher-Yates
// driven by `next_random`, which must return CSPRNG output): owner[port - low] is
// the worker that sends from `port`. Every worker gets range / workers ports, give
// or take one.
template <typename Random>
std::vector<std::uint8_t> deal_ports(const PortRange& range, unsigned workers,
                                     Random&& next_random) {
  std::vector<std::uint8_t> owner(range.size());
  for (std::uint32_t i = 0; i < owner.size(); ++i)
    owner[i] = static_cast<std::uint8_t>(i % workers);
  for (std::uint32_t i = static_cast<std::uint32_t>(owner.size()); i > 1; --i) {
    const std::uint32_t j = uniform_below(next_random(), i);
    std::swap(owner[i - 1], owner[j]);
  }
  return owner;
}

}  // namespace heimdall::upstream
