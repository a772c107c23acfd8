// Where a client's query came from and how its reply must leave: the peer, the
// transport, and the backend's handle for the socket or connection. The engine
// stores it while a query is forwarded and hands it back with the reply.
#pragma once

#include <cstdint>

#include "heimdall/net/endpoint.hpp"
#include "heimdall/net/frame.hpp"

namespace heimdall::net {

enum class Transport : std::uint8_t { Udp, Tcp };

struct ClientRef {
  Endpoint peer;
  Transport transport = Transport::Udp;
  std::uint16_t socket = 0;      // the backend's index of the listening socket (UDP)
  std::uint32_t connection = 0;  // the backend's connection handle (TCP): slot and generation
  // DPDK backend: the reply goes back to the sender's MAC, on its VLAN, from the
  // address the query was sent to (docs/architecture.md §2.2 rule 5).
  struct Link {
    MacAddress mac;
    std::uint16_t vlan = 0;
    bool to_link_local = false;
  } link;
};

}  // namespace heimdall::net
