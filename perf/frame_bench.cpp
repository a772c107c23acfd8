// Micro-benchmarks of the L2-L4 work the DPDK backend does per packet on one core:
// classifying a received DNS query frame (checksum included) and writing the
// Ethernet/IP/UDP headers of its reply with a full UDP checksum or with the
// pseudo-header sum a NIC with checksum offload completes.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "heimdall/net/frame.hpp"

namespace {

using namespace heimdall;

constexpr std::size_t kPayload = 64;  // a typical query; a typical A answer is ~80

net::Interface ours() {
  net::Interface iface;
  iface.mac = *net::MacAddress::parse("02:00:00:00:00:01");
  iface.has_ipv4 = true;
  inet_pton(AF_INET, "192.0.2.1", iface.ipv4.data());
  iface.prefix4 = 24;
  iface.has_ipv6 = true;
  inet_pton(AF_INET6, "2001:db8::1", iface.ipv6.data());
  iface.prefix6 = 64;
  iface.derive_link_local();
  return iface;
}

net::Endpoint endpoint(int family, const char* text, std::uint16_t port) {
  net::Endpoint e;
  e.family = static_cast<std::uint8_t>(family);
  inet_pton(family, text, e.address);
  e.port = port;
  return e;
}

// A client's query to us, written with the same builder the replies use.
std::vector<std::uint8_t> query_frame(int family) {
  const net::Interface iface = ours();
  net::UdpFlow flow;
  flow.source_mac = *net::MacAddress::parse("02:00:00:00:00:02");
  flow.destination_mac = iface.mac;
  flow.source = family == AF_INET ? endpoint(AF_INET, "192.0.2.7", 40000)
                                  : endpoint(AF_INET6, "2001:db8::7", 40000);
  flow.destination = family == AF_INET ? endpoint(AF_INET, "192.0.2.1", 53)
                                       : endpoint(AF_INET6, "2001:db8::1", 53);
  std::vector<std::uint8_t> frame(net::kMaxUdpHeaders + kPayload, 0x5a);
  frame.resize(net::write_udp_headers(frame, flow, kPayload));
  return frame;
}

void BM_ParseQueryFrame(benchmark::State& state) {
  const int family = state.range(0) == 4 ? AF_INET : AF_INET6;
  const std::vector<std::uint8_t> frame = query_frame(family);
  const net::Interface iface = ours();
  if (net::parse_frame(frame, iface).kind != net::FrameKind::DnsQuery) {
    state.SkipWithError("the query frame does not parse as a DNS query");
  }
  for (auto _ : state) benchmark::DoNotOptimize(net::parse_frame(frame, iface));
}
BENCHMARK(BM_ParseQueryFrame)->Arg(4)->Arg(6);

void BM_WriteReplyHeaders(benchmark::State& state) {
  const int family = state.range(0) == 4 ? AF_INET : AF_INET6;
  const auto checksum = state.range(1) == 0 ? net::UdpChecksum::Full : net::UdpChecksum::Offload;
  net::UdpFlow flow;
  flow.source_mac = ours().mac;
  flow.destination_mac = *net::MacAddress::parse("02:00:00:00:00:02");
  flow.source = family == AF_INET ? endpoint(AF_INET, "192.0.2.1", 53)
                                  : endpoint(AF_INET6, "2001:db8::1", 53);
  flow.destination = family == AF_INET ? endpoint(AF_INET, "192.0.2.7", 40000)
                                       : endpoint(AF_INET6, "2001:db8::7", 40000);
  std::vector<std::uint8_t> frame(net::kMaxUdpHeaders + 80, 0x5a);
  for (auto _ : state) {
    benchmark::DoNotOptimize(net::write_udp_headers(frame, flow, 80, checksum));
    benchmark::ClobberMemory();
  }
}
// {IP version, 0: full UDP checksum, 1: offloaded}
BENCHMARK(BM_WriteReplyHeaders)->Args({4, 0})->Args({4, 1})->Args({6, 0})->Args({6, 1});

}  // namespace

BENCHMARK_MAIN();
