// The exception path's kernel side (docs/architecture.md §12.4): a tap interface carrying
// the port's MAC and addresses, so the kernel's TCP stack (and the socket
// backend's TCP listener on it) serves what the fast path does not own. It is
// NOARP: the exception thread owns ARP/NDP, and kernel frames reach it addressed
// to the interface's own MAC, which it replaces with the next hop's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "heimdall/net/frame.hpp"
#include "heimdall/net/unique_fd.hpp"

namespace heimdall::io {

class Tap {
 public:
  // Creates the interface, sets its MAC, NOARP, up, and the identity's addresses.
  // Throws std::runtime_error naming the step (no /dev/net/tun, no CAP_NET_ADMIN).
  Tap(const std::string& name, const net::Interface& identity);
  ~Tap();  // the kernel removes a non-persistent tap with its last descriptor
  Tap(const Tap&) = delete;
  Tap& operator=(const Tap&) = delete;

  int fd() const { return fd_.get(); }
  // One frame from the kernel into `buffer`, or 0 when none is waiting.
  std::size_t read(std::span<std::uint8_t> buffer);
  bool write(std::span<const std::uint8_t> frame);

 private:
  net::UniqueFd fd_;
  std::string name_;
};

}  // namespace heimdall::io
