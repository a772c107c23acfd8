#include "socket_util.hpp"

#include <netinet/in.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace heimdall::io {

void fail(const std::string& what) { throw std::runtime_error(what + ": " + std::strerror(errno)); }

void set_option(int fd, int level, int name, int value, const char* what) {
  if (setsockopt(fd, level, name, &value, sizeof(value)) != 0) fail(what);
}

net::Endpoint normalize(const sockaddr* sa) {
  net::Endpoint endpoint = net::Endpoint::from_sockaddr(sa);
  static constexpr std::uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (endpoint.family == AF_INET6 && std::memcmp(endpoint.address, kMappedPrefix, 12) == 0) {
    endpoint.family = AF_INET;
    std::memmove(endpoint.address, endpoint.address + 12, 4);
    std::memset(endpoint.address + 4, 0, 12);
  }
  return endpoint;
}

namespace {

std::string describe(const net::Endpoint& address, int type) {
  return std::string(type == SOCK_STREAM ? "tcp " : "udp ") + address.to_string();
}

}  // namespace

net::UniqueFd open_listener(const net::Endpoint& address, int type) {
  net::UniqueFd owned(socket(address.family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  const int fd = owned.get();
  if (fd < 0) fail("socket");
  // Every worker binds the same address; the kernel spreads flows over them.
  set_option(fd, SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT");
  if (type == SOCK_STREAM) set_option(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
  if (address.family == AF_INET6) set_option(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY");
  sockaddr_storage sa{};
  const socklen_t length = address.to_sockaddr(sa);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&sa), length) != 0) {
    fail("cannot listen on " + describe(address, type));
  }
  if (type == SOCK_STREAM && listen(fd, 256) != 0) fail("listen on " + address.to_string());
  return owned;
}

// SO_REUSEPORT lets any socket of the same user that also sets it join the group
// on an address, and the kernel then spreads the traffic over every member: a
// second heimdall started on the same address (or any program of the same user
// doing the same) would bind without error and take part of the clients. So
// before the workers open their group, this binds a probe socket WITHOUT
// SO_REUSEPORT, which fails with EADDRINUSE if anyone holds the address, and
// closes it again.
// - Wildcards: a probe on 127.0.0.1:53 also fails when someone holds 0.0.0.0:53
//   (and the other way round), the overlap a non-reuseport server would report.
//   IPv6 probes set IPV6_V6ONLY like the listeners, so an IPv4 holder does not
//   block an IPv6 listener, but a dual-stack [::]:53 holder does block 0.0.0.0:53.
// - TCP: the probe sets SO_REUSEADDR as the listeners do, so our own connections
//   left in TIME_WAIT by a previous run do not block a restart; SO_REUSEADDR
//   never allows binding over a socket in LISTEN.
// - The race: between the probe's close and the group's bind (microseconds)
//   another instance's probe can pass too, and both groups then form one. Only
//   two instances started at the same instant can meet there; one started while
//   another runs (the case that matters: a second start by mistake, a stale
//   service, a test harness) is always refused.
void check_address_free(const net::Endpoint& address, int type) {
  net::UniqueFd probe(socket(address.family, type | SOCK_CLOEXEC, 0));
  const int fd = probe.get();
  if (fd < 0) fail("socket");
  const auto option = [fd](int level, int name) {
    const int on = 1;
    setsockopt(fd, level, name, &on, sizeof(on));
  };
  if (type == SOCK_STREAM) option(SOL_SOCKET, SO_REUSEADDR);
  if (address.family == AF_INET6) option(IPPROTO_IPV6, IPV6_V6ONLY);
  sockaddr_storage sa{};
  const socklen_t length = address.to_sockaddr(sa);
  const int result = bind(fd, reinterpret_cast<const sockaddr*>(&sa), length);
  const int error = errno;
  probe.reset();
  if (result == 0) return;
  errno = error;
  if (error == EADDRINUSE) {
    throw std::runtime_error("cannot listen on " + describe(address, type) +
                             ": address already in use (another process, perhaps another "
                             "heimdall, holds it)");
  }
  fail("cannot listen on " + describe(address, type));
}

}  // namespace heimdall::io
