#include "tap.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace heimdall::io {
namespace {

// <linux/ipv6.h>'s in6_ifreq, which clashes with <netinet/in.h> when included.
struct Ipv6InterfaceRequest {
  in6_addr address;
  std::uint32_t prefix_length;
  int interface_index;
};

[[noreturn]] void fail(const std::string& name, const std::string& step) {
  throw std::runtime_error("exception path tap " + name + ": " + step + ": " +
                           std::strerror(errno));
}

ifreq request_for(const std::string& name) {
  ifreq request{};
  std::strncpy(request.ifr_name, name.c_str(), IFNAMSIZ - 1);
  return request;
}

void ioctl_on(int family, unsigned long command, void* argument, const std::string& name,
              const std::string& step) {
  const net::UniqueFd control(socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!control.valid()) fail(name, step + " (socket)");
  if (ioctl(control.get(), command, argument) < 0) fail(name, step);
}

void set_ipv4(const std::string& name, const net::Interface& identity) {
  ifreq request = request_for(name);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  std::memcpy(&address.sin_addr, identity.ipv4.data(), 4);
  std::memcpy(&request.ifr_addr, &address, sizeof(address));
  ioctl_on(AF_INET, SIOCSIFADDR, &request, name, "setting its IPv4 address");
  const std::uint32_t mask =
      identity.prefix4 == 0 ? 0 : htonl(~std::uint32_t{0} << (32 - identity.prefix4));
  std::memcpy(&address.sin_addr, &mask, 4);
  std::memcpy(&request.ifr_netmask, &address, sizeof(address));
  ioctl_on(AF_INET, SIOCSIFNETMASK, &request, name, "setting its IPv4 netmask");
}

void set_ipv6(const std::string& name, const net::Interface& identity) {
  ifreq index_request = request_for(name);
  ioctl_on(AF_INET6, SIOCGIFINDEX, &index_request, name, "reading its index");
  Ipv6InterfaceRequest request{};
  std::memcpy(&request.address, identity.ipv6.data(), 16);
  request.prefix_length = identity.prefix6;
  request.interface_index = index_request.ifr_ifindex;
  ioctl_on(AF_INET6, SIOCSIFADDR, &request, name, "setting its IPv6 address");
}

// Best effort: a kernel without IPv6 has no such file.
void write_sysctl(const std::string& path, const char* value) {
  const net::UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return;
  const ssize_t written = ::write(fd.get(), value, std::strlen(value));
  (void)written;
}

}  // namespace

Tap::Tap(const std::string& name, const net::Interface& identity) : name_(name) {
  // A member: a step below that throws closes it, and the interface goes with it.
  fd_.reset(open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd_.valid()) fail(name, "opening /dev/net/tun");
  ifreq request = request_for(name);
  request.ifr_flags = IFF_TAP | IFF_NO_PI;
  if (ioctl(fd_.get(), TUNSETIFF, &request) < 0) fail(name, "creating it (needs CAP_NET_ADMIN)");

  ifreq hardware = request_for(name);
  hardware.ifr_hwaddr.sa_family = ARPHRD_ETHER;
  std::memcpy(hardware.ifr_hwaddr.sa_data, identity.mac.bytes.data(), 6);
  ioctl_on(AF_INET, SIOCSIFHWADDR, &hardware, name, "setting its MAC");

  // The kernel behind the tap takes no orders from the link: no SLAAC address or
  // default route from a router advertisement, no redirects. Its addresses are
  // the port's, set below.
  for (const char* setting : {"accept_ra", "autoconf", "accept_redirects"}) {
    write_sysctl("/proc/sys/net/ipv6/conf/" + name + "/" + setting, "0");
  }
  write_sysctl("/proc/sys/net/ipv4/conf/" + name + "/accept_redirects", "0");

  ifreq flags = request_for(name);
  ioctl_on(AF_INET, SIOCGIFFLAGS, &flags, name, "reading its flags");
  // NOARP also spares IPv6 duplicate address detection: the addresses are ours
  // at once, and the fast path answers NDP for them.
  flags.ifr_flags = static_cast<short>(flags.ifr_flags | IFF_UP | IFF_NOARP);
  ioctl_on(AF_INET, SIOCSIFFLAGS, &flags, name, "bringing it up");

  if (identity.has_ipv4) set_ipv4(name, identity);
  if (identity.has_ipv6) set_ipv6(name, identity);
}

Tap::~Tap() = default;

std::size_t Tap::read(std::span<std::uint8_t> buffer) {
  const ssize_t n = ::read(fd_.get(), buffer.data(), buffer.size());
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

bool Tap::write(std::span<const std::uint8_t> frame) {
  return ::write(fd_.get(), frame.data(), frame.size()) == static_cast<ssize_t>(frame.size());
}

}  // namespace heimdall::io
