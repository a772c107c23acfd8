// One poll-mode worker (docs/architecture.md §12.2): owns RX/TX queue `index` of the port, its
// Engine, its counters and its TX batch, as DPDK l3fwd's lcore_conf does. Nothing
// here is written by another thread.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "heimdall/engine/engine.hpp"
#include "heimdall/io/dpdk_backend.hpp"
#include "shared.hpp"

struct rte_mbuf;

namespace heimdall::io {

class DpdkWorker final : public engine::Sink {
 public:
  DpdkWorker(const DpdkBackendConfig& config, DpdkShared& shared, unsigned index);
  ~DpdkWorker() override;

  // The lcore body: polls until the backend stops and the in-flight queries are
  // answered (or their budget is spent).
  void run();
  // One loop iteration: receive a burst, answer it, drain the handover rings, run
  // the timers, send. Returns the frames handled.
  unsigned poll_once(std::uint64_t now_ns);

  void send_to_client(const net::ClientRef& client, std::span<const std::uint8_t> wire) override;
  void send_to_upstream(unsigned server, net::Transport transport, std::uint16_t local_port,
                        std::span<const std::uint8_t> wire) override;

  const engine::Engine& engine() const { return *engine_; }
  const DpdkCounters& counters() const { return counters_; }

 private:
  static constexpr unsigned kBurst = 32;
  static constexpr unsigned kTxBatch = 64;

  // Sorts a received burst: queries and this worker's upstream answers are kept for
  // the engine (their mbufs in `held`), the rest are answered, passed on or dropped.
  void classify(rte_mbuf* const* frames, unsigned count);
  void take_upstream_answer(rte_mbuf* frame, const net::Frame& parsed);
  void pass_to_exception(rte_mbuf* frame);
  void answer_echo(rte_mbuf* frame, const net::Frame& parsed);
  unsigned drain_handovers(std::uint64_t now_ns);
  unsigned drain_egress();
  void run_engine(std::uint64_t now_ns);
  // Frames a UDP datagram from our address to `flow` into a new mbuf and queues it.
  void send_udp(const net::UdpFlow& flow, std::span<const std::uint8_t> payload);
  void queue_tx(rte_mbuf* frame);
  void flush_tx();
  bool our_address(std::uint8_t family, bool link_local, net::Endpoint& out) const;

  const DpdkBackendConfig& config_;
  DpdkShared& shared_;
  const unsigned index_;
  std::unique_ptr<engine::Engine> engine_;
  const Neighbours* neighbours_ = nullptr;  // read once per loop (RCU)
  bool stopping_ = false;

  // The burst being handled: client queries and upstream answers point into `held_`.
  engine::ClientQuery queries_[kBurst];
  engine::UpstreamAnswer answers_[kBurst];
  unsigned query_count_ = 0;
  unsigned answer_count_ = 0;
  rte_mbuf* held_[kBurst] = {};
  unsigned held_count_ = 0;

  rte_mbuf* tx_[kTxBatch] = {};
  unsigned tx_count_ = 0;
  DpdkCounters counters_;
};

}  // namespace heimdall::io
