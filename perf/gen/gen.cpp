// gen: the benchmark lab's open-loop DNS load source (docs/architecture.md §14 item 11). A DPDK
// program on one lcore and one RX/TX queue pair: it sends pre-built queries from
// many simulated clients at a TSC-paced rate (or as fast as the port takes them),
// never waits for replies, and matches each reply to its query through a send-time
// table indexed by (client source port, DNS ID) to measure latency. Results go out
// as a table and, with --json, as one JSON line. Usage: gen --help.
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_prefetch.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "heimdall/dns/build.hpp"
#include "heimdall/dns/name.hpp"
#include "heimdall/dns/wire.hpp"
#include "heimdall/net/frame.hpp"
#include "histogram.hpp"
#include "options.hpp"
#include "queries.hpp"

namespace heimdall::gen {
namespace {

volatile std::sig_atomic_t stop_requested = 0;

void on_signal(int) { stop_requested = 1; }

constexpr unsigned kMbufs = 16383;  // a power of two minus one suits the mempool ring
constexpr unsigned kMbufCache = 256;
constexpr std::uint16_t kMaxBurstSize = 512;  // --burst is checked against it
constexpr std::uint16_t kDescriptors = 1024;
constexpr int kTxAttempts = 4;  // tx_burst calls before the rest of a burst is dropped
constexpr std::uint16_t kEtherIpv4 = 0x0800, kEtherArp = 0x0806;
constexpr double kArpSeconds = 3.0;

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "gen: %s\n", message.c_str());
  std::exit(1);
}

std::uint32_t ipv4_host_order(const std::array<std::uint8_t, 4>& address) {
  return (std::uint32_t{address[0]} << 24) | (std::uint32_t{address[1]} << 16) |
         (std::uint32_t{address[2]} << 8) | address[3];
}

std::string ipv4_text(std::uint32_t address) {
  char text[16];
  std::snprintf(text, sizeof(text), "%u.%u.%u.%u", address >> 24, (address >> 16) & 0xff,
                (address >> 8) & 0xff, address & 0xff);
  return text;
}

// What a run counts. Queries, their replies (whenever they arrive before the drain
// ends), rcodes and TX drops cover the measured window; warmup_replies the warm-up;
// the odd replies (late, unmatched, not_dns) and the frames served, the whole run.
struct Counters {
  std::uint64_t sent = 0;
  std::uint64_t received = 0;  // first reply to a measured query
  std::uint64_t noerror = 0, nxdomain = 0, servfail = 0, refused = 0, other_rcode = 0;
  std::uint64_t truncated = 0;  // TC set
  std::uint64_t reflected = 0;  // our query came back as it was (a MAC-swapping reflector)
  std::uint64_t late = 0;       // its slot already holds a newer query of the same client
  std::uint64_t unmatched = 0;  // its slot is empty: a duplicate, or an ID never sent
  std::uint64_t not_dns = 0;    // not IPv4/UDP to or from our clients, or shorter than a header
  std::uint64_t warmup_replies = 0;
  std::uint64_t arp_replies_sent = 0;
  std::uint64_t upstream_answered = 0;  // --serve-upstream
  std::uint64_t tx_ring_full = 0;       // built but not taken by tx_burst: freed, not sent
  std::uint64_t tx_alloc_failures = 0;
};

struct Client {
  std::uint32_t ip = 0;  // host byte order
  std::uint16_t next_id = 0;
};

class Generator {
 public:
  Generator(const Options& options, std::uint16_t port, rte_mempool* pool,
            net::MacAddress source_mac)
      : options_(options),
        port_(port),
        pool_(pool),
        source_mac_(source_mac),
        hz_(rte_get_tsc_hz()),
        dst_ip_(ipv4_host_order(options.dst)) {
    clients_.resize(options.clients);
    const unsigned host_bits = 32u - options.src_prefix;
    const std::uint64_t block = std::uint64_t{1} << host_bits;
    // Skip the network and broadcast addresses where the subnet has them.
    const std::uint64_t hosts = host_bits >= 2 ? block - 2 : block;
    const std::uint32_t first = options.src_net + (host_bits >= 2 ? 1 : 0);
    for (std::uint32_t c = 0; c < options.clients; ++c) {
      clients_[c].ip = first + static_cast<std::uint32_t>(c % hosts);
      clients_[c].next_id = static_cast<std::uint16_t>(c * 7919u);
    }
    // The window of IDs a client can have in flight: as many as fit in 4 Mi slots
    // (32 MiB), at least 64. A reply older than its client's window is "late".
    window_ = std::bit_floor(std::clamp<std::uint32_t>((1u << 22) / options.clients, 64, 65536));
    slots_.assign(std::size_t{options.clients} * window_, 0);
    hot_threshold_ = static_cast<std::uint64_t>(options.hit_ratio * 4294967296.0);
    cold_first_ = options.names > options.hot ? options.hot : 0;
    next_cold_ = cold_first_;
  }

  net::MacAddress& destination_mac() { return destination_mac_; }
  std::uint32_t window() const { return window_; }

  // Asks --dst for its MAC by ARP, answering ARP on the way. False on timeout.
  bool resolve_destination();

  // The run: warm-up, measured window, drain. Returns the measured seconds.
  double run(const QueryFrames& frames);

  const Counters& counters() const { return counters_; }
  const LatencyHistogram& latency() const { return latency_; }

 private:
  void receive(std::uint64_t now);
  void handle_reply(const std::uint8_t* data, std::uint16_t length, std::uint64_t now);
  // A query to --serve-upstream becomes its answer, in place. True when `m` now
  // holds the answer (to be sent), false when it is not such a query.
  bool answer_upstream(rte_mbuf* m);
  // An ARP request for any address but --dst becomes our reply, in place. True when
  // the frame was turned into a reply (and must be sent), false when it is to be freed.
  bool answer_arp(std::uint8_t* data, std::uint16_t length);
  // Queries go out in three steps: build() fills `pending_` with `count` new
  // queries, flush() offers what is left of it to tx_burst up to `attempts` times
  // and stamps the send time of each query the port took, drop_pending() frees
  // the rest (counted as tx_ring_full).
  void build(std::uint16_t count, bool measured);
  void flush(int attempts, bool measured);
  void drop_pending(bool measured);
  // Sends frames that are not queries (ARP), freeing what the port does not take.
  void transmit(rte_mbuf** mbufs, std::uint16_t count, std::uint16_t* accepted);
  std::uint32_t pick_name();
  std::uint64_t next_random() {
    // xorshift64*: fast, good enough to pick hot names.
    random_ ^= random_ >> 12;
    random_ ^= random_ << 25;
    random_ ^= random_ >> 27;
    return random_ * 0x2545F4914F6CDD1DULL;
  }

  const Options& options_;
  const std::uint16_t port_;
  rte_mempool* const pool_;
  const net::MacAddress source_mac_;
  net::MacAddress destination_mac_;
  const std::uint64_t hz_;
  const std::uint32_t dst_ip_;
  const QueryFrames* frames_ = nullptr;

  std::vector<Client> clients_;
  std::uint32_t next_client_ = 0;
  std::uint32_t window_ = 0;
  // Send-time table, clients × window: (TSC since start_ + 1) << 16 | DNS ID, 0 when
  // free. Set for each query tx_burst took, cleared by its first reply.
  std::vector<std::uint64_t> slots_;
  std::uint64_t start_ = 0;          // TSC at the start of sending
  std::uint64_t measured_from_ = 0;  // relative stamp of the first measured query
  std::uint64_t hot_threshold_ = 0;  // next_random() below it: a hot name
  std::uint32_t cold_first_ = 0, next_cold_ = 0;
  std::uint64_t random_ = 0x9E3779B97F4A7C15ULL;
  bool resolving_ = false;
  struct Pending {
    rte_mbuf* mbufs[kMaxBurstSize];
    std::uint32_t slot[kMaxBurstSize];
    std::uint16_t id[kMaxBurstSize];
    std::uint16_t first = 0, count = 0;
  } pending_;

  Counters counters_;
  LatencyHistogram latency_;
};

std::uint32_t Generator::pick_name() {
  if (hot_threshold_ != 0 && (next_random() >> 32) < hot_threshold_) {
    return static_cast<std::uint32_t>((next_random() >> 32) % options_.hot);
  }
  const std::uint32_t name = next_cold_;
  next_cold_ = next_cold_ + 1 == options_.names ? cold_first_ : next_cold_ + 1;
  return name;
}

void Generator::transmit(rte_mbuf** mbufs, std::uint16_t count, std::uint16_t* accepted) {
  std::uint16_t done = 0;
  for (int attempt = 0; attempt < kTxAttempts && done < count; ++attempt) {
    done += rte_eth_tx_burst(port_, 0, mbufs + done, count - done);
  }
  if (done < count) {
    rte_pktmbuf_free_bulk(mbufs + done, count - done);
  }
  *accepted = done;
}

void Generator::build(std::uint16_t count, bool measured) {
  if (rte_pktmbuf_alloc_bulk(pool_, pending_.mbufs, count) != 0) {
    if (measured) counters_.tx_alloc_failures += count;
    return;
  }
  for (std::uint16_t i = 0; i < count; ++i) {
    const std::uint32_t c = next_client_;
    next_client_ = c + 1 == options_.clients ? 0 : c + 1;
    const std::uint32_t name = pick_name();
    const std::uint16_t length = frames_->length(name);
    rte_mbuf* m = pending_.mbufs[i];
    auto* data = rte_pktmbuf_mtod(m, std::uint8_t*);
    std::memcpy(data, frames_->frame(name), length);
    m->data_len = length;
    m->pkt_len = length;
    const std::uint16_t id = clients_[c].next_id++;
    QueryFrames::stamp(data, clients_[c].ip, static_cast<std::uint16_t>(options_.src_port + c), id);
    pending_.slot[i] = c * window_ + (id & (window_ - 1));
    pending_.id[i] = id;
  }
  pending_.first = 0;
  pending_.count = count;
}

void Generator::flush(int attempts, bool measured) {
  for (int attempt = 0; attempt < attempts && pending_.first < pending_.count; ++attempt) {
    const std::uint64_t stamp = (rte_rdtsc() - start_ + 1) << 16;
    const std::uint16_t first = pending_.first;
    const std::uint16_t done =
        rte_eth_tx_burst(port_, 0, pending_.mbufs + first, pending_.count - first);
    for (std::uint16_t i = first; i < first + done; ++i) {
      slots_[pending_.slot[i]] = stamp | pending_.id[i];
    }
    pending_.first = static_cast<std::uint16_t>(first + done);
    if (measured) counters_.sent += done;
  }
}

void Generator::drop_pending(bool measured) {
  const std::uint16_t left = pending_.count - pending_.first;
  if (left != 0) rte_pktmbuf_free_bulk(pending_.mbufs + pending_.first, left);
  if (measured) counters_.tx_ring_full += left;
  pending_.first = pending_.count = 0;
}

bool Generator::answer_arp(std::uint8_t* data, std::uint16_t length) {
  // RFC 826 over Ethernet/IPv4: htype 1, ptype 0x0800, hlen 6, plen 4.
  if (length < 42 || dns::load_u16(data + 14) != 1 || dns::load_u16(data + 16) != kEtherIpv4 ||
      data[18] != 6 || data[19] != 4) {
    return false;
  }
  const std::uint16_t op = dns::load_u16(data + 20);
  const std::uint32_t sender_ip = dns::load_u32(data + 28);
  const std::uint32_t target_ip = dns::load_u32(data + 38);
  if (op == 2 && resolving_ && sender_ip == dst_ip_) {
    std::memcpy(destination_mac_.bytes.data(), data + 22, 6);
    resolving_ = false;
    return false;
  }
  // Everything but the target itself stands behind us (the clients, a gateway);
  // a gratuitous ARP (sender == target) asks nobody.
  if (op != 1 || target_ip == dst_ip_ || target_ip == sender_ip) return false;
  std::memcpy(data, data + 22, 6);  // Ethernet destination: the asker
  std::memcpy(data + 6, source_mac_.bytes.data(), 6);
  dns::store_u16(data + 20, 2);
  std::memcpy(data + 32, data + 22, 10);  // target hardware + protocol address: the asker
  std::memcpy(data + 22, source_mac_.bytes.data(), 6);
  dns::store_u32(data + 28, target_ip);
  return true;
}

void Generator::handle_reply(const std::uint8_t* data, std::uint16_t length, std::uint64_t now) {
  using namespace frame_offset;
  if (length < kIpv4 + 20 || dns::load_u16(data + kEthertype) != kEtherIpv4) {
    ++counters_.not_dns;
    return;
  }
  const std::size_t ihl = std::size_t{data[kIpv4] & 0x0fu} * 4;
  const std::size_t udp = kIpv4 + ihl;
  if ((data[kIpv4] >> 4) != 4 || ihl < 20 || data[kIpv4 + 9] != 17 ||
      length < udp + 8 + dns::kHeaderSize) {
    ++counters_.not_dns;
    return;
  }
  const std::uint16_t source_port = dns::load_u16(data + udp);
  const std::uint16_t destination_port = dns::load_u16(data + udp + 2);
  const std::uint8_t* message = data + udp + 8;
  // A reflected query still goes to the target's address and port: the client is
  // its source. A reply comes from there.
  const bool reflected =
      destination_port == options_.dst_port && dns::load_u32(data + kIpv4 + 16) == dst_ip_;
  const std::uint16_t client_port = reflected ? source_port : destination_port;
  const std::uint32_t client = static_cast<std::uint16_t>(client_port - options_.src_port);
  if (client_port < options_.src_port || client >= options_.clients ||
      (!reflected &&
       (source_port != options_.dst_port || dns::load_u32(data + kIpv4 + 12) != dst_ip_))) {
    ++counters_.not_dns;
    return;
  }
  const std::uint16_t id = dns::load_u16(message + dns::offset::kId);
  std::uint64_t& slot = slots_[client * window_ + (id & (window_ - 1))];
  if (slot == 0) {
    ++counters_.unmatched;
    return;
  }
  if (static_cast<std::uint16_t>(slot) != id) {
    ++counters_.late;
    return;
  }
  const std::uint64_t sent = slot >> 16;
  slot = 0;
  if (sent < measured_from_) {
    ++counters_.warmup_replies;
    return;
  }
  const std::uint64_t cycles = now - (start_ + sent - 1);
  latency_.record(
      static_cast<std::uint64_t>(static_cast<double>(cycles) * 1e9 / static_cast<double>(hz_)));
  ++counters_.received;
  const std::uint16_t flags = dns::load_u16(message + dns::offset::kFlags);
  if ((flags & dns::flag::QR) == 0) {
    ++counters_.reflected;
    return;
  }
  if ((flags & dns::flag::TC) != 0) ++counters_.truncated;
  switch (flags & dns::flag::kRcodeMask) {
    case 0:
      ++counters_.noerror;
      break;
    case 2:
      ++counters_.servfail;
      break;
    case 3:
      ++counters_.nxdomain;
      break;
    case 5:
      ++counters_.refused;
      break;
    default:
      ++counters_.other_rcode;
      break;
  }
}

bool Generator::answer_upstream(rte_mbuf* m) {
  using namespace frame_offset;
  auto* data = rte_pktmbuf_mtod(m, std::uint8_t*);
  const std::uint16_t length = rte_pktmbuf_data_len(m);
  // Untagged IPv4 without options, UDP to the upstream's port 53, a query with one question.
  if (length < kDns + dns::kHeaderSize || dns::load_u16(data + kEthertype) != kEtherIpv4 ||
      data[kIpv4] != 0x45 || data[kIpv4 + 9] != 17 ||
      dns::load_u32(data + kDestinationIp) != options_.serve_upstream ||
      dns::load_u16(data + kDestinationPort) != 53) {
    return false;
  }
  std::uint8_t* message = data + kDns;
  const dns::Header query = dns::Header::read(message);
  std::size_t end = dns::kHeaderSize;
  const std::span<const std::uint8_t> received(message, length - kDns);
  if (query.has(dns::flag::QR) || query.qdcount != 1 ||
      dns::skip_name(received, end) != dns::ParseError::Ok || end + 4 > received.size()) {
    return false;
  }
  const std::uint16_t qtype = dns::load_u16(message + end);
  end += 4;
  constexpr std::size_t kLongestAnswer = 28 + dns::kOptRecordSize;  // AAAA record + OPT
  if (m->nb_segs != 1 || kDns + end + kLongestAnswer > length + rte_pktmbuf_tailroom(m)) {
    return false;
  }

  // The answer: header, the question as asked, one wildcard record for A or AAAA
  // (a pointer to the question's name), and an OPT when the query had one.
  const bool edns = query.arcount != 0;
  std::uint8_t* out = message + end;
  std::uint16_t answers = 0;
  if (qtype == dns::rrtype::A || qtype == dns::rrtype::AAAA) {
    const bool v4 = qtype == dns::rrtype::A;
    dns::store_u16(out, 0xc000 | dns::kHeaderSize);
    dns::store_u16(out + 2, qtype);
    dns::store_u16(out + 4, dns::rrclass::IN);
    dns::store_u32(out + 6, 300);
    dns::store_u16(out + 10, v4 ? 4 : 16);
    if (v4) {
      static constexpr std::uint8_t kAddress[4] = {192, 0, 2, 1};
      std::memcpy(out + 12, kAddress, 4);
    } else {
      static constexpr std::uint8_t kAddress[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                                                    0,    0,    0,    0,    0, 0, 0, 1};
      std::memcpy(out + 12, kAddress, 16);
    }
    out += v4 ? 16 : 28;
    answers = 1;
  }
  if (edns) out += dns::write_opt(std::span(out, dns::kOptRecordSize), dns::OptSpec{});
  dns::Header reply{query.id,
                    static_cast<std::uint16_t>(dns::flag::QR | dns::flag::AA |
                                               (query.flags & (dns::flag::RD | dns::flag::CD))),
                    1,
                    answers,
                    0,
                    static_cast<std::uint16_t>(edns ? 1 : 0)};
  reply.write(message);
  const auto new_length = static_cast<std::uint16_t>(out - data);

  std::memcpy(data, data + 6, 6);
  std::memcpy(data + 6, source_mac_.bytes.data(), 6);
  std::uint8_t address[4];
  std::memcpy(address, data + kSourceIp, 4);
  std::memcpy(data + kSourceIp, data + kDestinationIp, 4);
  std::memcpy(data + kDestinationIp, address, 4);
  dns::store_u16(data + kIpv4 + 2, static_cast<std::uint16_t>(new_length - kIpv4));
  data[kIpv4 + 8] = 64;
  dns::store_u16(data + kIpChecksum, 0);
  dns::store_u16(data + kIpChecksum, net::internet_checksum(std::span(data + kIpv4, 20)));
  const std::uint16_t client_port = dns::load_u16(data + kSourcePort);
  dns::store_u16(data + kSourcePort, 53);
  dns::store_u16(data + kDestinationPort, client_port);
  const auto udp_length = static_cast<std::uint16_t>(new_length - kUdp);
  dns::store_u16(data + kUdp + 4, udp_length);
  dns::store_u16(data + kUdpChecksum, 0);
  std::uint32_t pseudo = 17u + udp_length;
  for (std::size_t i = kSourceIp; i < kUdp; i += 2) pseudo += dns::load_u16(data + i);
  const std::uint16_t checksum = net::internet_checksum(std::span(data + kUdp, udp_length), pseudo);
  dns::store_u16(data + kUdpChecksum, checksum == 0 ? 0xffff : checksum);
  m->data_len = new_length;
  m->pkt_len = new_length;
  return true;
}

void Generator::receive(std::uint64_t now) {
  rte_mbuf* mbufs[kMaxBurstSize];
  rte_mbuf* replies[kMaxBurstSize];
  std::uint16_t reply_count = 0;
  const std::uint16_t count = rte_eth_rx_burst(port_, 0, mbufs, options_.burst);
  for (std::uint16_t i = 0; i < count; ++i) {
    if (i + 3 < count) rte_prefetch0(rte_pktmbuf_mtod(mbufs[i + 3], void*));
    auto* data = rte_pktmbuf_mtod(mbufs[i], std::uint8_t*);
    const std::uint16_t length = rte_pktmbuf_data_len(mbufs[i]);
    if (length >= 14 && dns::load_u16(data + frame_offset::kEthertype) == kEtherArp) {
      if (answer_arp(data, length)) {
        replies[reply_count++] = mbufs[i];
        ++counters_.arp_replies_sent;
        continue;
      }
    } else if (options_.serve_upstream != 0 && answer_upstream(mbufs[i])) {
      replies[reply_count++] = mbufs[i];
      ++counters_.upstream_answered;
      continue;
    } else if (!resolving_) {
      handle_reply(data, length, now);
    }
    rte_pktmbuf_free(mbufs[i]);
  }
  if (reply_count != 0) {
    std::uint16_t accepted = 0;
    transmit(replies, reply_count, &accepted);
  }
}

bool Generator::resolve_destination() {
  resolving_ = true;
  net::Interface ours;
  ours.mac = source_mac_;
  ours.has_ipv4 = true;
  const std::uint32_t asker = clients_[0].ip;
  ours.ipv4 = {static_cast<std::uint8_t>(asker >> 24), static_cast<std::uint8_t>(asker >> 16),
               static_cast<std::uint8_t>(asker >> 8), static_cast<std::uint8_t>(asker)};
  const std::uint64_t deadline = rte_rdtsc() + static_cast<std::uint64_t>(kArpSeconds * hz_);
  std::uint64_t next_request = 0;
  while (resolving_ && !stop_requested) {
    const std::uint64_t now = rte_rdtsc();
    if (now >= deadline) break;
    if (now >= next_request) {
      next_request = now + hz_ / 4;
      if (rte_mbuf* m = rte_pktmbuf_alloc(pool_)) {
        const std::size_t length = net::build_arp_request(
            std::span(rte_pktmbuf_mtod(m, std::uint8_t*), rte_pktmbuf_tailroom(m)), ours,
            options_.dst);
        m->data_len = static_cast<std::uint16_t>(length);
        m->pkt_len = static_cast<std::uint32_t>(length);
        std::uint16_t accepted = 0;
        if (length == 0) {
          rte_pktmbuf_free(m);
        } else {
          transmit(&m, 1, &accepted);
        }
      }
    }
    receive(now);
  }
  const bool resolved = !resolving_;
  resolving_ = false;
  return resolved;
}

double Generator::run(const QueryFrames& frames) {
  frames_ = &frames;
  start_ = rte_rdtsc();
  const std::uint64_t measure_start = start_ + static_cast<std::uint64_t>(options_.warmup * hz_);
  std::uint64_t send_end = measure_start + static_cast<std::uint64_t>(options_.duration * hz_);
  measured_from_ = measure_start - start_ + 1;
  // Pacing: the number of queries due by now is (now - start) × rate / hz. Every
  // query built counts, whether the port took it or not, so a full TX ring does not
  // turn the open loop into a closed one: what the port refuses after a few tries
  // is dropped and counted. At --rate 0 there is nothing to be late for, so a burst
  // the port only partly took is offered again on the next turn instead.
  const double per_cycle = options_.rate / static_cast<double>(hz_);
  std::uint64_t issued = 0;
  for (;;) {
    const std::uint64_t now = rte_rdtsc();
    if (stop_requested) send_end = std::min(send_end, now);
    if (now >= send_end) break;
    receive(now);
    const bool measured = now >= measure_start;
    if (options_.rate == 0) {
      if (pending_.first == pending_.count) build(options_.burst, measured);
      flush(1, measured);
      continue;
    }
    const auto target = static_cast<std::uint64_t>(static_cast<double>(now - start_) * per_cycle);
    const std::uint64_t due =
        std::min<std::uint64_t>(target - std::min(target, issued), options_.burst);
    if (due == 0) continue;
    build(static_cast<std::uint16_t>(due), measured);
    flush(kTxAttempts, measured);
    drop_pending(measured);
    issued += due;
  }
  drop_pending(false);  // at --rate 0, the last burst the port never took
  const std::uint64_t drain_end = rte_rdtsc() + static_cast<std::uint64_t>(options_.drain * hz_);
  for (std::uint64_t now = rte_rdtsc(); now < drain_end; now = rte_rdtsc()) receive(now);
  return send_end > measure_start
             ? static_cast<double>(send_end - measure_start) / static_cast<double>(hz_)
             : 0.0;
}

struct PortStats {
  std::uint64_t rx_nombuf = 0, imissed = 0, ierrors = 0, oerrors = 0;
};

void report(const Options& options, const Generator& gen, double seconds, const PortStats& port,
            bool interrupted) {
  const Counters& c = gen.counters();
  const LatencyHistogram& h = gen.latency();
  const std::uint64_t lost = c.sent > c.received ? c.sent - c.received : 0;
  const double loss_pct = c.sent == 0 ? 0.0 : 100.0 * static_cast<double>(lost) / c.sent;
  const double sent_pps = seconds > 0 ? c.sent / seconds : 0.0;
  const double received_pps = seconds > 0 ? c.received / seconds : 0.0;
  const auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
  const double p50 = us(h.quantile(0.50)), p90 = us(h.quantile(0.90)), p99 = us(h.quantile(0.99)),
               p999 = us(h.quantile(0.999)), max = us(h.max()), mean = h.mean() / 1000.0;
  char rate[32];
  if (options.rate > 0) {
    std::snprintf(rate, sizeof(rate), "%.0f pps", options.rate);
  } else {
    std::snprintf(rate, sizeof(rate), "max");
  }

  std::printf(
      "gen: %.3f s measured%s (warm-up %.3g s), rate %s, %u clients, %u names (hot %u, hit "
      "ratio %.3g), burst %u\n",
      seconds, interrupted ? " (interrupted)" : "", options.warmup, rate, options.clients,
      options.names, options.hot, options.hit_ratio, options.burst);
  std::printf("  %-22s %14llu  %12.0f pps\n", "sent", static_cast<unsigned long long>(c.sent),
              sent_pps);
  std::printf("  %-22s %14llu  %12.0f pps\n", "received",
              static_cast<unsigned long long>(c.received), received_pps);
  std::printf("  %-22s %14llu  %11.3f %%\n", "lost", static_cast<unsigned long long>(lost),
              loss_pct);
  std::printf("  %-22s p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f  mean %.2f\n",
              "latency (us)", p50, p90, p99, p999, max, mean);
  std::printf(
      "  %-22s NOERROR %llu  NXDOMAIN %llu  SERVFAIL %llu  REFUSED %llu  other %llu  "
      "(TC %llu)  reflected queries %llu\n",
      "rcode", static_cast<unsigned long long>(c.noerror),
      static_cast<unsigned long long>(c.nxdomain), static_cast<unsigned long long>(c.servfail),
      static_cast<unsigned long long>(c.refused), static_cast<unsigned long long>(c.other_rcode),
      static_cast<unsigned long long>(c.truncated), static_cast<unsigned long long>(c.reflected));
  std::printf("  %-22s late %llu  unmatched %llu  warm-up %llu  not DNS %llu  (ID window %u)\n",
              "other replies", static_cast<unsigned long long>(c.late),
              static_cast<unsigned long long>(c.unmatched),
              static_cast<unsigned long long>(c.warmup_replies),
              static_cast<unsigned long long>(c.not_dns), gen.window());
  std::printf("  %-22s ring full %llu  mbuf alloc failures %llu  port errors %llu\n", "tx drops",
              static_cast<unsigned long long>(c.tx_ring_full),
              static_cast<unsigned long long>(c.tx_alloc_failures),
              static_cast<unsigned long long>(port.oerrors));
  std::printf("  %-22s mbuf alloc failures %llu  missed %llu  errors %llu\n", "rx",
              static_cast<unsigned long long>(port.rx_nombuf),
              static_cast<unsigned long long>(port.imissed),
              static_cast<unsigned long long>(port.ierrors));
  std::printf("  %-22s ARP replies %llu  upstream queries answered %llu\n", "served",
              static_cast<unsigned long long>(c.arp_replies_sent),
              static_cast<unsigned long long>(c.upstream_answered));
  if (!options.json) {
    std::fflush(stdout);
    return;
  }
  std::printf(
      "{\"seconds\":%.6f,\"interrupted\":%s,\"rate_target\":%.0f,\"clients\":%u,\"names\":%u,"
      "\"hot\":%u,\"hit_ratio\":%.6g,\"burst\":%u,"
      "\"sent\":%llu,\"received\":%llu,\"lost\":%llu,\"loss_pct\":%.6f,"
      "\"sent_pps\":%.1f,\"received_pps\":%.1f,"
      "\"latency_us\":{\"samples\":%llu,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,"
      "\"max\":%.3f,\"mean\":%.3f},"
      "\"rcode\":{\"noerror\":%llu,\"nxdomain\":%llu,\"servfail\":%llu,\"refused\":%llu,"
      "\"other\":%llu},\"truncated\":%llu,\"reflected\":%llu,"
      "\"late\":%llu,\"unmatched\":%llu,\"warmup_replies\":%llu,\"not_dns\":%llu,"
      "\"tx_ring_full\":%llu,\"tx_alloc_failures\":%llu,\"tx_errors\":%llu,"
      "\"rx_nombuf\":%llu,\"rx_missed\":%llu,\"rx_errors\":%llu,\"arp_answered\":%llu,"
      "\"upstream_answered\":%llu}\n",
      seconds, interrupted ? "true" : "false", options.rate, options.clients, options.names,
      options.hot, options.hit_ratio, options.burst, static_cast<unsigned long long>(c.sent),
      static_cast<unsigned long long>(c.received), static_cast<unsigned long long>(lost), loss_pct,
      sent_pps, received_pps, static_cast<unsigned long long>(h.count()), p50, p90, p99, p999, max,
      mean, static_cast<unsigned long long>(c.noerror), static_cast<unsigned long long>(c.nxdomain),
      static_cast<unsigned long long>(c.servfail), static_cast<unsigned long long>(c.refused),
      static_cast<unsigned long long>(c.other_rcode), static_cast<unsigned long long>(c.truncated),
      static_cast<unsigned long long>(c.reflected), static_cast<unsigned long long>(c.late),
      static_cast<unsigned long long>(c.unmatched),
      static_cast<unsigned long long>(c.warmup_replies), static_cast<unsigned long long>(c.not_dns),
      static_cast<unsigned long long>(c.tx_ring_full),
      static_cast<unsigned long long>(c.tx_alloc_failures),
      static_cast<unsigned long long>(port.oerrors),
      static_cast<unsigned long long>(port.rx_nombuf),
      static_cast<unsigned long long>(port.imissed), static_cast<unsigned long long>(port.ierrors),
      static_cast<unsigned long long>(c.arp_replies_sent),
      static_cast<unsigned long long>(c.upstream_answered));
  std::fflush(stdout);
}

// Port set-up, linear as in l3fwd: each failure a fatal message naming the port.
void start_port(std::uint16_t port, rte_mempool* pool) {
  if (!rte_eth_dev_is_valid_port(port)) {
    die("port " + std::to_string(port) + " does not exist (" +
        std::to_string(rte_eth_dev_count_avail()) + " ports; give a --vdev)");
  }
  rte_eth_dev_info info{};
  if (int rc = rte_eth_dev_info_get(port, &info); rc != 0) {
    die("port " + std::to_string(port) + ": dev_info_get: " + rte_strerror(-rc));
  }
  rte_eth_conf conf{};
  if (int rc = rte_eth_dev_configure(port, 1, 1, &conf); rc != 0) {
    die("port " + std::to_string(port) + ": configure: " + rte_strerror(-rc));
  }
  std::uint16_t rx_descriptors = kDescriptors, tx_descriptors = kDescriptors;
  if (int rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, &rx_descriptors, &tx_descriptors); rc != 0) {
    die("port " + std::to_string(port) + ": adjust descriptors: " + rte_strerror(-rc));
  }
  const int socket = rte_eth_dev_socket_id(port);
  if (int rc = rte_eth_rx_queue_setup(port, 0, rx_descriptors, socket, nullptr, pool); rc != 0) {
    die("port " + std::to_string(port) + ": RX queue set-up: " + rte_strerror(-rc));
  }
  if (int rc = rte_eth_tx_queue_setup(port, 0, tx_descriptors, socket, nullptr); rc != 0) {
    die("port " + std::to_string(port) + ": TX queue set-up: " + rte_strerror(-rc));
  }
  if (int rc = rte_eth_dev_start(port); rc != 0) {
    die("port " + std::to_string(port) + ": start: " + rte_strerror(-rc));
  }
  rte_eth_promiscuous_enable(port);  // not every vdev supports it; replies are ours anyway
}

// Waits for the link (memif: for the peer to connect). False on timeout or signal.
bool wait_for_link(std::uint16_t port, double seconds) {
  const std::uint64_t deadline =
      rte_rdtsc() + static_cast<std::uint64_t>(seconds * rte_get_tsc_hz());
  bool said = false;
  while (!stop_requested) {
    rte_eth_link link{};
    if (rte_eth_link_get_nowait(port, &link) == 0 && link.link_status == RTE_ETH_LINK_UP) {
      return true;
    }
    if (rte_rdtsc() >= deadline) return false;
    if (!said) {
      std::fprintf(stderr, "gen: waiting for peer (port %u link down)\n", port);
      said = true;
    }
    rte_delay_us_sleep(10000);
  }
  return false;
}

// After the run: waits until the peer has taken the link down, without polling.
void wait_for_link_down(std::uint16_t port, double seconds) {
  const std::uint64_t deadline =
      rte_rdtsc() + static_cast<std::uint64_t>(seconds * rte_get_tsc_hz());
  while (rte_rdtsc() < deadline && !stop_requested) {
    rte_eth_link link{};
    if (rte_eth_link_get_nowait(port, &link) == 0 && link.link_status == RTE_ETH_LINK_DOWN) return;
    rte_delay_us_sleep(10000);
  }
}

int run_main(int argc, char** argv) {
  // gen [EAL args] -- [gen args]: our own part first, so that --help and bad
  // values answer before the EAL starts.
  int separator = argc;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--") == 0) {
      separator = i;
      break;
    }
  }
  if (separator == argc && argc > 1 &&
      (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
    print_usage(stdout);
    return 0;
  }
  const Options options =
      separator < argc ? parse_options(argc - separator - 1, argv + separator + 1) : Options{};

  // A file prefix of our own unless one is given, so two DPDK processes on one host
  // (gen and its target) never share runtime files even without --no-shconf; no
  // telemetry unless asked for.
  std::vector<std::string> eal_args(argv, argv + separator);
  const bool has_prefix = std::any_of(eal_args.begin(), eal_args.end(), [](const std::string& a) {
    return a.rfind("--file-prefix", 0) == 0;
  });
  if (!has_prefix) eal_args.push_back("--file-prefix=heimdall-gen-" + std::to_string(getpid()));
  // Telemetry unlinks its socket only at exit, after we remove the runtime directory.
  const bool has_telemetry =
      std::any_of(eal_args.begin(), eal_args.end(),
                  [](const std::string& a) { return a.find("telemetry") != std::string::npos; });
  if (!has_telemetry) eal_args.push_back("--no-telemetry");
  std::vector<char*> eal_argv;
  for (auto& arg : eal_args) eal_argv.push_back(arg.data());
  eal_argv.push_back(nullptr);
  if (rte_eal_init(static_cast<int>(eal_args.size()), eal_argv.data()) < 0) {
    die(std::string("EAL start failed: ") + rte_strerror(rte_errno));
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  rte_mempool* pool = rte_pktmbuf_pool_create("gen_mbufs", kMbufs, kMbufCache, 0,
                                              RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
  if (pool == nullptr) die(std::string("mbuf pool: ") + rte_strerror(rte_errno));
  start_port(options.port_id, pool);

  net::MacAddress source_mac;
  if (options.src_mac) {
    source_mac = *options.src_mac;
  } else {
    rte_ether_addr mac{};
    rte_eth_macaddr_get(options.port_id, &mac);
    std::memcpy(source_mac.bytes.data(), mac.addr_bytes, 6);
  }

  int status = 0;
  {
    auto gen = std::make_unique<Generator>(options, options.port_id, pool, source_mac);
    gen->destination_mac() = options.dst_mac;
    if (!wait_for_link(options.port_id, options.link_timeout)) {
      std::fprintf(stderr, "gen: port %u %s\n", options.port_id,
                   stop_requested ? "interrupted while waiting for the link"
                                  : "link still down (is the peer running?)");
      status = 1;
    } else if (options.resolve_dst_mac && !gen->resolve_destination()) {
      std::fprintf(stderr, "gen: no ARP reply from %s within %.0f s\n",
                   ipv4_text(ipv4_host_order(options.dst)).c_str(), kArpSeconds);
      status = 1;
    } else {
      std::fprintf(stderr, "gen: link up; %s -> %s (%s:%u)\n", source_mac.to_string().c_str(),
                   gen->destination_mac().to_string().c_str(),
                   ipv4_text(ipv4_host_order(options.dst)).c_str(), options.dst_port);
      try {
        const QueryFrames frames(options, source_mac, gen->destination_mac());
        const double seconds = gen->run(frames);
        rte_eth_stats stats{};
        rte_eth_stats_get(options.port_id, &stats);
        report(options, *gen, seconds,
               PortStats{stats.rx_nombuf, stats.imissed, stats.ierrors, stats.oerrors},
               stop_requested != 0);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "gen: %s\n", e.what());
        status = 1;
      }
    }
  }

  // DPDK 22.11's memif unmaps the shared rings when either side disconnects without
  // stopping the other side's polling: a peer still polling may crash when we go,
  // and the EAL interrupt thread crashed here in 1 of 8 runs in rte_eth_dev_close
  // or rte_eal_cleanup. So: wait (--linger) for the peer to stop its port first,
  // then stop ours, which sends memif's disconnect, and leave the rest to the exit.
  if (status == 0 && options.linger > 0) wait_for_link_down(options.port_id, options.linger);
  rte_eth_dev_stop(options.port_id);
  const std::string runtime_dir = rte_eal_get_runtime_dir();
  std::fflush(stdout);
  std::fflush(stderr);
  rmdir(runtime_dir.c_str());  // empty with --no-shconf and no telemetry
  std::_Exit(status);
}

}  // namespace
}  // namespace heimdall::gen

int main(int argc, char** argv) { return heimdall::gen::run_main(argc, argv); }
