// Where upstream attempts leave: the backend's side of them, as `upstream::Attempts`
// sees it. engine::Sink derives from it and adds the clients' side; a backend
// implements both in one object, so an attempt costs the same one virtual call
// per send it always did.
#pragma once

#include <cstdint>
#include <span>

#include "heimdall/net/client_ref.hpp"

namespace heimdall::upstream {

class Sender {
 public:
  virtual ~Sender() = default;
  // UDP: sent from the socket bound to `local_port`. TCP: a new connection to the
  // server, whose answer the backend hands the engine with transport Tcp. The
  // backend copies the bytes before returning: the span is reused.
  virtual void send_to_upstream(unsigned server, net::Transport transport, std::uint16_t local_port,
                                std::span<const std::uint8_t> wire) = 0;

  // The local end of one UDP attempt (RFC 5452, docs/architecture.md §7.6). The attempts draw
  // `drawn` uniformly from their source ports. The socket backend sends the attempt
  // from a socket connected to the server: a new one on `drawn`, or one opened on
  // an earlier draw that may still carry attempts (upstreams.attempts_per_udp_socket);
  // `port` says which. InUse: `drawn` is taken (another port is drawn).
  // Unavailable: no socket can be had now (socket limit, descriptors): the attempt
  // is retried shortly. A backend that owns its port space (DPDK) uses `drawn`.
  enum class PortOpen : std::uint8_t { Opened, InUse, Unavailable };
  struct UdpAttempt {
    PortOpen result = PortOpen::Opened;
    std::uint16_t port = 0;
  };
  virtual UdpAttempt open_udp_attempt(unsigned /*server*/, std::uint16_t drawn) {
    return UdpAttempt{PortOpen::Opened, drawn};
  }
  virtual void close_udp_attempt(std::uint16_t /*local_port*/) {}
};

}  // namespace heimdall::upstream
