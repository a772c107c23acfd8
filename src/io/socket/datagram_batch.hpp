// Datagrams moved in bursts, one system call for many (docs/architecture.md §11.1):
// a SendBatch queues datagrams for one sendmmsg on one socket, a ReceiveBurst
// reads up to 32 with one recvmmsg. Their buffers are sized at construction, so
// the loop allocates nothing per datagram. Each belongs to one worker thread.
// Private to io/socket.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "heimdall/io/socket_backend.hpp"
#include "heimdall/net/endpoint.hpp"

namespace heimdall::io {

// Bursts read from one socket per wakeup before the loop looks at the others.
inline constexpr int kBurstsPerWakeup = 4;

// Datagrams queued for one sendmmsg call on one socket.
class SendBatch {
 public:
  static constexpr std::size_t kBurst = 32;
  static constexpr std::size_t kSlotSize = 4096;  // edns.max_udp is at most 4096

  explicit SendBatch(SocketCounters& counters);
  // Points the batch at a socket; anything queued is dropped. A connected socket's
  // datagrams carry no address.
  void reset(int fd, bool dual_stack, bool connected = false);
  void add(const net::Endpoint& to, std::span<const std::uint8_t> bytes);
  void flush();
  bool empty() const { return count_ == 0; }

 private:
  int fd_ = -1;
  bool dual_stack_ = false;  // an AF_INET6 socket that also reaches IPv4 peers (as ::ffff:a.b.c.d)
  bool connected_ = false;
  SocketCounters& counters_;
  std::size_t count_ = 0;
  std::unique_ptr<mmsghdr[]> messages_;
  std::unique_ptr<iovec[]> iovecs_;
  std::unique_ptr<sockaddr_storage[]> addresses_;
  std::unique_ptr<std::uint8_t[]> data_;
};

// One recvmmsg burst's buffers, reused for every UDP socket of a worker: what one
// receive() read stays valid until the next.
class ReceiveBurst {
 public:
  static constexpr std::size_t kBurst = 32;
  static constexpr std::size_t kSlotSize = 65536;  // a larger datagram is truncated()

  explicit ReceiveBurst(SocketCounters& counters);
  // One non-blocking recvmmsg from `fd`: the datagram count, or -1 with errno set.
  int receive(int fd);
  std::span<const std::uint8_t> datagram(std::size_t i) const {
    return {data_.get() + i * kSlotSize, messages_[i].msg_len};
  }
  bool truncated(std::size_t i) const { return (messages_[i].msg_hdr.msg_flags & MSG_TRUNC) != 0; }
  net::Endpoint sender(std::size_t i) const;  // IPv4-mapped IPv6 comes back as IPv4

 private:
  SocketCounters& counters_;
  std::unique_ptr<std::uint8_t[]> data_;
  std::unique_ptr<mmsghdr[]> messages_;
  std::unique_ptr<iovec[]> iovecs_;
  std::unique_ptr<sockaddr_storage[]> addresses_;
};

}  // namespace heimdall::io
