// Socket set-up shared by the socket backend's UDP side, its TCP server and the
// backend's start-up checks. Private to io/socket.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "heimdall/net/endpoint.hpp"
#include "heimdall/net/unique_fd.hpp"

namespace heimdall::io {

// How a worker's epoll events name what they are for: the kind in the upper 32
// bits of the event data, an index into that kind's table in the lower.
enum class Kind : std::uint32_t { UdpListener, TcpListener, UpstreamUdp, TcpClient, UpstreamTcp };

inline std::uint64_t event_tag(Kind kind, std::uint32_t index) {
  return (static_cast<std::uint64_t>(kind) << 32) | index;
}

// Throws std::runtime_error("<what>: <strerror(errno)>").
[[noreturn]] void fail(const std::string& what);

void set_option(int fd, int level, int name, int value, const char* what);

// An IPv4 peer seen through a dual-stack socket arrives as ::ffff:a.b.c.d; the
// engine compares endpoints, so it must see the IPv4 form the config uses.
net::Endpoint normalize(const sockaddr* sa);

// A non-blocking listening socket on `address` (SOCK_DGRAM or SOCK_STREAM) that
// joins this process's SO_REUSEPORT group for that address.
net::UniqueFd open_listener(const net::Endpoint& address, int type);

// Throws, naming the address, if another process already holds `address` for
// `type`; see the definition for why this is needed with SO_REUSEPORT.
void check_address_free(const net::Endpoint& address, int type);

}  // namespace heimdall::io
