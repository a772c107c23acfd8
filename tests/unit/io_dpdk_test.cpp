// The DPDK backend on net_ring ports (no NIC, no hugepages): frames go in through
// the port's RX ring, the test drives one loop iteration at a time, and what the
// port transmits is read back from its TX ring and compared byte for byte.
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <atomic>
#include <cstring>
#include <string>
#include <vector>

#include "engine_harness.hpp"
#include "heimdall/cache/cache.hpp"
#include "heimdall/io/dpdk_backend.hpp"
#include "heimdall/net/frame.hpp"

namespace heimdall::io {
namespace {

using engine::testing::answer_to;
using engine::testing::Bytes;
using engine::testing::query;

constexpr std::uint64_t kSecond = 1'000'000'000;

const net::MacAddress kOurMac{{0x02, 0, 0, 0, 0, 0x01}};
const net::MacAddress kClientMac{{0x02, 0, 0, 0, 0, 0x10}};
const net::MacAddress kUpstreamMac{{0x02, 0, 0, 0, 0, 0x20}};

net::Endpoint v4(std::uint8_t last, std::uint16_t port) {
  net::Endpoint endpoint;
  endpoint.family = AF_INET;
  endpoint.port = port;
  const std::uint8_t address[4] = {198, 18, 0, last};
  std::memcpy(endpoint.address, address, 4);
  return endpoint;
}

const net::Endpoint kOurAddress = v4(1, 53);
const net::Endpoint kUpstream = v4(2, 53);
const net::Endpoint kClient = v4(10, 40000);

Bytes udp_frame(const net::MacAddress& from_mac, const net::MacAddress& to_mac,
                const net::Endpoint& from, const net::Endpoint& to, const Bytes& payload) {
  const net::UdpFlow flow{.source_mac = from_mac,
                          .destination_mac = to_mac,
                          .vlan = 0,
                          .source = from,
                          .destination = to};
  const std::size_t headers = net::udp_headers_length(flow);
  Bytes frame(headers + payload.size());
  std::memcpy(frame.data() + headers, payload.data(), payload.size());
  frame.resize(net::write_udp_headers(frame, flow, payload.size()));
  return frame;
}

Bytes arp_reply_from_upstream() {
  Bytes frame = {0x02, 0, 0,    0, 0, 0x01, 0x02, 0,  0, 0, 0, 0x20, 0x08, 0x06,  // Ethernet
                 0,    1, 0x08, 0, 6, 4,    0,    2,                              // ARP reply
                 0x02, 0, 0,    0, 0, 0x20, 198,  18, 0, 2,                       // sender
                 0x02, 0, 0,    0, 0, 0x01, 198,  18, 0, 1};                      // target
  frame.resize(60, 0);
  return frame;
}

// A port made of rings, one pair per worker, and a backend on it.
class RingPort {
 public:
  explicit RingPort(unsigned queues, std::string name, cache::Cache* cache = nullptr) {
    static std::atomic<unsigned> created{0};
    name += std::to_string(created++);
    for (unsigned q = 0; q < queues; ++q) {
      rx_.push_back(rte_ring_create((name + "rx" + std::to_string(q)).c_str(), 1024, 0,
                                    RING_F_SP_ENQ | RING_F_SC_DEQ));
      tx_.push_back(rte_ring_create((name + "tx" + std::to_string(q)).c_str(), 1024, 0,
                                    RING_F_SP_ENQ | RING_F_SC_DEQ));
    }
    const int port = rte_eth_from_rings(name.c_str(), rx_.data(), queues, tx_.data(), queues, 0);
    EXPECT_GE(port, 0);

    DpdkBackendConfig config;
    config.workers = queues;
    config.port.device = "net_ring_" + name;
    config.port.mac = kOurMac;
    config.port.identity.has_ipv4 = true;
    std::memcpy(config.port.identity.ipv4.data(), kOurAddress.address, 4);
    config.port.identity.prefix4 = 24;
    config.port.identity.has_ipv6 = true;
    config.port.identity.ipv6 = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    config.port.identity.prefix6 = 64;
    config.engine.servers = {kUpstream};
    config.engine.selector.budget_ns = kSecond;
    config.cache = cache;
    config.link_wait_ms = 0;
    backend_ = std::make_unique<DpdkBackend>(config);
  }
  ~RingPort() {
    backend_.reset();
    for (rte_ring* ring : rx_) drain_and_free(ring);
    for (rte_ring* ring : tx_) drain_and_free(ring);
  }

  DpdkBackend& backend() { return *backend_; }

  void receive(const Bytes& frame, unsigned queue = 0) {
    rte_mempool* pool =
        rte_mempool_lookup(("heimdall_" + std::to_string(backend_->port_id())).c_str());
    ASSERT_NE(pool, nullptr);
    rte_mbuf* mbuf = rte_pktmbuf_alloc(pool);
    ASSERT_NE(mbuf, nullptr);
    std::memcpy(rte_pktmbuf_append(mbuf, static_cast<std::uint16_t>(frame.size())), frame.data(),
                frame.size());
    ASSERT_EQ(rte_ring_enqueue(rx_[queue], mbuf), 0);
  }

  // Every frame the port sent on `queue` since the last call.
  std::vector<Bytes> sent(unsigned queue = 0) {
    std::vector<Bytes> frames;
    void* object = nullptr;
    while (rte_ring_dequeue(tx_[queue], &object) == 0) {
      auto* mbuf = static_cast<rte_mbuf*>(object);
      const auto* data = rte_pktmbuf_mtod(mbuf, const std::uint8_t*);
      frames.emplace_back(data, data + rte_pktmbuf_data_len(mbuf));
      rte_pktmbuf_free(mbuf);
    }
    return frames;
  }

  // Resolves the upstream's MAC as the exception thread would: its ARP request
  // goes out, the reply comes back and is published.
  void resolve_upstream(std::uint64_t now_ns) {
    backend_->poll_exception_once(now_ns);
    backend_->poll_worker_once(0, now_ns);
    const std::vector<Bytes> out = sent();
    ASSERT_EQ(out.size(), 1u);
    const net::Frame request = net::parse_frame(out[0], upstream_view());
    EXPECT_EQ(request.kind, net::FrameKind::ArpRequest);
    receive(arp_reply_from_upstream());
    backend_->poll_worker_once(0, now_ns);
    backend_->poll_exception_once(now_ns);
  }

  // How the upstream sees frames: its own identity.
  static net::Interface upstream_view() {
    net::Interface upstream;
    upstream.mac = kUpstreamMac;
    upstream.has_ipv4 = true;
    std::memcpy(upstream.ipv4.data(), kUpstream.address, 4);
    upstream.prefix4 = 24;
    return upstream;
  }
  static net::Interface client_view() {
    net::Interface client;
    client.mac = kClientMac;
    client.has_ipv4 = true;
    std::memcpy(client.ipv4.data(), kClient.address, 4);
    client.prefix4 = 24;
    client.dns_port = kClient.port;
    return client;
  }

 private:
  static void drain_and_free(rte_ring* ring) {
    void* object = nullptr;
    while (rte_ring_dequeue(ring, &object) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(object));
    rte_ring_free(ring);
  }

  std::vector<rte_ring*> rx_;
  std::vector<rte_ring*> tx_;
  std::unique_ptr<DpdkBackend> backend_;
};

// Where two frames first differ, for a readable failure.
std::string first_difference(const Bytes& actual, const Bytes& expected) {
  std::size_t at = 0;
  while (at < actual.size() && at < expected.size() && actual[at] == expected[at]) ++at;
  if (at == actual.size() && at == expected.size()) return "identical";
  std::string text = "first difference at byte " + std::to_string(at) + " of " +
                     std::to_string(actual.size()) + " (expected " +
                     std::to_string(expected.size()) + "); differing bytes:";
  for (std::size_t i = at; i < actual.size() && i < expected.size(); ++i) {
    if (actual[i] != expected[i]) {
      text += " " + std::to_string(i) + ":" + std::to_string(actual[i]) + "/" +
              std::to_string(expected[i]);
    }
  }
  return text;
}

Bytes payload_of(const Bytes& frame, const net::Frame& parsed) {
  return Bytes(frame.begin() + parsed.payload_offset,
               frame.begin() + parsed.payload_offset + parsed.payload_length);
}

std::uint16_t id_of(const Bytes& wire) {
  return static_cast<std::uint16_t>(wire[0] << 8 | wire[1]);
}

// An upstream's answer as the client gets it: under the client's ID, and without
// AA (a forwarder is not the authority).
Bytes as_relayed(Bytes wire, std::uint16_t id) {
  wire[0] = static_cast<std::uint8_t>(id >> 8);
  wire[1] = static_cast<std::uint8_t>(id);
  wire[2] &= static_cast<std::uint8_t>(~(dns::flag::AA >> 8));
  return wire;
}

TEST(DpdkBackend, ForwardsAQueryAndRepliesByteExact) {
  RingPort port(1, "fwd");
  DpdkBackend& backend = port.backend();
  const std::uint64_t now = 10 * kSecond;
  port.resolve_upstream(now);

  const Bytes client_query = query(0x1234, "www.example.com", dns::rrtype::A);
  port.receive(udp_frame(kClientMac, kOurMac, kClient, kOurAddress, client_query));
  backend.poll_worker_once(0, now);

  // The upstream query leaves to the upstream's MAC from a fast-path source port.
  const std::vector<Bytes> upstream_frames = port.sent();
  ASSERT_EQ(upstream_frames.size(), 1u);
  const net::Frame upstream_query = net::parse_frame(upstream_frames[0], RingPort::upstream_view());
  ASSERT_EQ(upstream_query.kind, net::FrameKind::DnsQuery);
  EXPECT_EQ(upstream_query.source_mac, kOurMac);
  EXPECT_EQ(upstream_query.destination_mac, kUpstreamMac);
  EXPECT_EQ(std::memcmp(upstream_query.source.address, kOurAddress.address, 4), 0);
  EXPECT_GE(upstream_query.source.port, 20000);
  EXPECT_LE(upstream_query.source.port, 29999);
  const Bytes sent_query = payload_of(upstream_frames[0], upstream_query);

  // Its answer comes back; the client gets it under its own ID, from port 53.
  const Bytes answer = answer_to(sent_query);
  net::Endpoint ours_at_source_port = kOurAddress;
  ours_at_source_port.port = upstream_query.source.port;
  port.receive(udp_frame(kUpstreamMac, kOurMac, kUpstream, ours_at_source_port, answer));
  backend.poll_worker_once(0, now);

  const std::vector<Bytes> replies = port.sent();
  ASSERT_EQ(replies.size(), 1u);
  const Bytes expected =
      udp_frame(kOurMac, kClientMac, kOurAddress, kClient, as_relayed(answer, 0x1234));
  EXPECT_EQ(replies[0], expected) << first_difference(replies[0], expected);
  EXPECT_EQ(backend.dpdk_counters(0).dns_queries.load(), 1u);
  EXPECT_EQ(backend.dpdk_counters(0).upstream_frames.load(), 1u);
}

TEST(DpdkBackend, AnswersACacheHitWithoutGoingUpstream) {
  cache::CacheConfig cache_config;
  cache_config.max_entries = 1024;
  cache_config.max_bytes = 1 << 20;
  cache::Cache cache(cache_config, 1, 1, 7);
  cache.register_reader(0);
  {
    RingPort port(1, "hit", &cache);
    DpdkBackend& backend = port.backend();
    const std::uint64_t now = 10 * kSecond;
    port.resolve_upstream(now);

    port.receive(udp_frame(kClientMac, kOurMac, kClient, kOurAddress,
                           query(1, "cached.example.com", dns::rrtype::A)));
    backend.poll_worker_once(0, now);
    const std::vector<Bytes> upstream_frames = port.sent();
    ASSERT_EQ(upstream_frames.size(), 1u);
    const net::Frame upstream_query =
        net::parse_frame(upstream_frames[0], RingPort::upstream_view());
    const Bytes answer = answer_to(payload_of(upstream_frames[0], upstream_query));
    net::Endpoint ours = kOurAddress;
    ours.port = upstream_query.source.port;
    port.receive(udp_frame(kUpstreamMac, kOurMac, kUpstream, ours, answer));
    backend.poll_worker_once(0, now);
    ASSERT_EQ(port.sent().size(), 1u);
    cache.maintain(0, now);

    // The same question from another client port: answered from the cache, at
    // once, with the same bytes under the new ID.
    net::Endpoint second_client = kClient;
    second_client.port = 40001;
    port.receive(udp_frame(kClientMac, kOurMac, second_client, kOurAddress,
                           query(2, "cached.example.com", dns::rrtype::A)));
    backend.poll_worker_once(0, now);
    const std::vector<Bytes> replies = port.sent();
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_EQ(replies[0],
              udp_frame(kOurMac, kClientMac, kOurAddress, second_client, as_relayed(answer, 2)));
    EXPECT_EQ(backend.engine_counters(0).cache_answers.load(), 1u);
  }
  cache.unregister_reader(0);
}

// Without RSS the answer may land on any queue: the source port names the worker
// that sent the query (a secret deal of the range, not port % workers), and
// another worker hands it over.
TEST(DpdkBackend, HandsAnAnswerToTheWorkerThatSentTheQuery) {
  RingPort port(2, "ho");
  DpdkBackend& backend = port.backend();
  const std::uint64_t now = 10 * kSecond;
  port.resolve_upstream(now);

  port.receive(udp_frame(kClientMac, kOurMac, kClient, kOurAddress,
                         query(0x77, "spread.example.com", dns::rrtype::A)),
               0);
  backend.poll_worker_once(0, now);
  const std::vector<Bytes> upstream_frames = port.sent(0);
  ASSERT_EQ(upstream_frames.size(), 1u);
  const net::Frame upstream_query = net::parse_frame(upstream_frames[0], RingPort::upstream_view());
  EXPECT_GE(upstream_query.source.port, 20000);  // dataplane.upstream_ports
  EXPECT_LE(upstream_query.source.port, 29999);

  net::Endpoint ours = kOurAddress;
  ours.port = upstream_query.source.port;
  const Bytes answer = answer_to(payload_of(upstream_frames[0], upstream_query));
  port.receive(udp_frame(kUpstreamMac, kOurMac, kUpstream, ours, answer), 1);
  backend.poll_worker_once(1, now);
  EXPECT_TRUE(port.sent(1).empty());
  EXPECT_EQ(backend.dpdk_counters(1).handed_over.load(), 1u);

  backend.poll_worker_once(0, now);
  const std::vector<Bytes> replies = port.sent(0);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0],
            udp_frame(kOurMac, kClientMac, kOurAddress, kClient, as_relayed(answer, 0x77)));
  EXPECT_EQ(backend.dpdk_counters(0).handover_received.load(), 1u);
  EXPECT_EQ(backend.engine_counters(1).upstream_answers.load(), 0u);
}

// RFC 5452: a forger who knows which worker took a query must still guess among
// the whole range, so a worker's ports are not the ones of one residue.
TEST(DpdkBackend, AWorkersSourcePortsAreNotOneResidue) {
  RingPort port(2, "res");
  DpdkBackend& backend = port.backend();
  const std::uint64_t now = 10 * kSecond;
  port.resolve_upstream(now);
  for (std::uint16_t i = 0; i < 24; ++i) {
    const std::string name = "r" + std::to_string(i) + ".example.com";
    port.receive(udp_frame(kClientMac, kOurMac, kClient, kOurAddress,
                           query(i, name.c_str(), dns::rrtype::A)),
                 0);
  }
  backend.poll_worker_once(0, now);
  const std::vector<Bytes> frames = port.sent(0);
  ASSERT_EQ(frames.size(), 24u);
  unsigned odd = 0;
  for (const Bytes& frame : frames) {
    odd += net::parse_frame(frame, RingPort::upstream_view()).source.port % 2;
  }
  EXPECT_GT(odd, 0u);
  EXPECT_LT(odd, 24u);
}

TEST(DpdkBackend, DropsAnUpstreamQueryWithoutANextHopAndCountsIt) {
  RingPort port(1, "nonb");
  DpdkBackend& backend = port.backend();
  port.receive(udp_frame(kClientMac, kOurMac, kClient, kOurAddress,
                         query(5, "early.example.com", dns::rrtype::A)));
  backend.poll_worker_once(0, kSecond);
  EXPECT_TRUE(port.sent().empty());
  EXPECT_EQ(backend.dpdk_counters(0).no_neighbour.load(), 1u);
}

// What the control thread reads through io::Backend: each worker's engine once, in
// worker order, and the backend's own tables with the values the workers counted.
TEST(DpdkBackend, ShowsItsEnginesAndCountersThroughTheBackendInterface) {
  RingPort port(2, "visit");
  const Backend& backend = port.backend();
  port.receive(udp_frame(kClientMac, kOurMac, kClient, kOurAddress,
                         query(6, "seen.example.com", dns::rrtype::A)),
               1);
  port.backend().poll_worker_once(1, kSecond);

  std::vector<const engine::Counters*> engines;
  std::vector<const upstream::Selector*> selectors;
  backend.visit_engines([&](const engine::Counters& counters, const upstream::Selector& selector) {
    engines.push_back(&counters);
    selectors.push_back(&selector);
  });
  ASSERT_EQ(engines.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(engines[i], &port.backend().engine_counters(i));
    EXPECT_EQ(selectors[i], &port.backend().selector(i));
  }

  std::vector<std::string> sections;
  std::uint64_t no_neighbour[2] = {9, 9};
  backend.visit_counters([&](const stats::CounterSets& sets) {
    sections.emplace_back(sets.section().name);
    if (sets.section().name != "dpdk") return;
    EXPECT_TRUE(sets.per_worker());
    EXPECT_EQ(sets.first_worker(), 0u);
    ASSERT_EQ(sets.set_count(), 2u);
    for (std::size_t row = 0; row < sets.row_count(); ++row) {
      if (sets.row(row).metric != "heimdall_worker_no_neighbour_total") continue;
      for (std::size_t set = 0; set < 2; ++set) no_neighbour[set] = sets.read(row, 0, set);
    }
  });
  EXPECT_EQ(sections, (std::vector<std::string>{"dpdk", "exception path"}));  // no TCP worker
  EXPECT_EQ(no_neighbour[0], 0u);
  EXPECT_EQ(no_neighbour[1], 1u);
  EXPECT_TRUE(backend.port_stats().has_value());
}

// The fast path cannot open TCP to an upstream: a truncated answer goes to the
// client, which asks again over TCP (through the exception path).
TEST(DpdkBackend, PassesATruncatedAnswerToTheClient) {
  RingPort port(1, "tc");
  DpdkBackend& backend = port.backend();
  const std::uint64_t now = 10 * kSecond;
  port.resolve_upstream(now);
  port.receive(udp_frame(kClientMac, kOurMac, kClient, kOurAddress,
                         query(9, "big.example.com", dns::rrtype::TXT)));
  backend.poll_worker_once(0, now);
  const std::vector<Bytes> upstream_frames = port.sent();
  ASSERT_EQ(upstream_frames.size(), 1u);
  const net::Frame upstream_query = net::parse_frame(upstream_frames[0], RingPort::upstream_view());
  net::Endpoint ours = kOurAddress;
  ours.port = upstream_query.source.port;
  const Bytes truncated = answer_to(payload_of(upstream_frames[0], upstream_query), dns::flag::TC);
  port.receive(udp_frame(kUpstreamMac, kOurMac, kUpstream, ours, truncated));
  backend.poll_worker_once(0, now);
  const std::vector<Bytes> replies = port.sent();
  ASSERT_EQ(replies.size(), 1u);
  const net::Frame reply = net::parse_frame(replies[0], RingPort::client_view());
  ASSERT_EQ(reply.kind, net::FrameKind::DnsQuery);  // to the client's "DNS port"
  const Bytes wire = payload_of(replies[0], reply);
  EXPECT_EQ(id_of(wire), 9);
  EXPECT_NE(wire[2] & 0x02, 0) << "TC bit";
}

TEST(DpdkBackend, AnswersArpForItsAddressThroughTheExceptionPath) {
  RingPort port(1, "arp");
  DpdkBackend& backend = port.backend();
  Bytes request = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0,    0, 0,   0x10, 0x08, 0x06,
                   0,    1,    0x08, 0,    6,    4,    0,    1, 0x02, 0, 0,   0,    0,    0x10,
                   198,  18,   0,    10,   0,    0,    0,    0, 0,    0, 198, 18,   0,    1};
  request.resize(60, 0);
  port.receive(request);
  backend.poll_worker_once(0, kSecond);  // to the exception ring
  backend.poll_exception_once(kSecond);  // answered, queued for worker 0
  backend.poll_worker_once(0, kSecond);  // sent
  std::vector<Bytes> out = port.sent();
  // The exception thread also asks for the upstream's MAC on its first round.
  std::erase_if(out, [](const Bytes& frame) { return frame[21] == 1; });
  ASSERT_EQ(out.size(), 1u);
  const Bytes& reply = out[0];
  EXPECT_EQ(Bytes(reply.begin(), reply.begin() + 6), Bytes({0x02, 0, 0, 0, 0, 0x10}));
  EXPECT_EQ(reply[21], 2);  // op: reply
  EXPECT_EQ(Bytes(reply.begin() + 22, reply.begin() + 32),
            Bytes({0x02, 0, 0, 0, 0, 0x01, 198, 18, 0, 1}));
  EXPECT_EQ(backend.exception_counters().arp_replies.load(), 1u);
}

TEST(DpdkBackend, AnswersPingInTheFastPath) {
  RingPort port(1, "ping");
  DpdkBackend& backend = port.backend();
  Bytes ping = {0x02, 0,  0,   0,  0, 0x01, 0x02, 0, 0,  0, 0,    0x10, 0x08, 0x00,
                0x45, 0,  0,   28, 0, 1,    0x40, 0, 64, 1, 0,    0,    198,  18,
                0,    10, 198, 18, 0, 1,    8,    0, 0,  0, 0x12, 0x34, 0,    1};
  const std::uint16_t ip_sum = net::internet_checksum({ping.data() + 14, 20});
  ping[24] = static_cast<std::uint8_t>(ip_sum >> 8);
  ping[25] = static_cast<std::uint8_t>(ip_sum);
  const std::uint16_t icmp_sum = net::internet_checksum({ping.data() + 34, 8});
  ping[36] = static_cast<std::uint8_t>(icmp_sum >> 8);
  ping[37] = static_cast<std::uint8_t>(icmp_sum);
  port.receive(ping);
  backend.poll_worker_once(0, kSecond);
  const std::vector<Bytes> out = port.sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0][34], 0);  // echo reply
  EXPECT_EQ(Bytes(out[0].begin(), out[0].begin() + 6), Bytes({0x02, 0, 0, 0, 0, 0x10}));
  EXPECT_EQ(net::internet_checksum({out[0].data() + 34, 8}), 0);
  EXPECT_EQ(backend.dpdk_counters(0).echo_replies.load(), 1u);
}

TEST(DpdkBackend, DropsABadChecksumAndCountsTheReason) {
  RingPort port(1, "bad");
  DpdkBackend& backend = port.backend();
  Bytes frame = udp_frame(kClientMac, kOurMac, kClient, kOurAddress,
                          query(3, "x.example.com", dns::rrtype::A));
  frame[24] ^= 0xff;  // IPv4 header checksum
  port.receive(frame);
  backend.poll_worker_once(0, kSecond);
  EXPECT_TRUE(port.sent().empty());
  EXPECT_EQ(backend.dpdk_counters(0)
                .dropped[static_cast<std::size_t>(net::DropReason::BadIpv4Checksum)]
                .load(),
            1u);
}

}  // namespace
}  // namespace heimdall::io
