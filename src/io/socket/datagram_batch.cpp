#include "datagram_batch.hpp"

#include <arpa/inet.h>

#include <cerrno>
#include <cstring>

#include "../loop_support.hpp"
#include "socket_util.hpp"

namespace heimdall::io {
namespace {

socklen_t to_socket_address(const net::Endpoint& to, bool dual_stack, sockaddr_storage& out) {
  if (dual_stack && to.family == AF_INET) {
    sockaddr_in6 mapped{};
    mapped.sin6_family = AF_INET6;
    mapped.sin6_port = htons(to.port);
    mapped.sin6_addr.s6_addr[10] = 0xff;
    mapped.sin6_addr.s6_addr[11] = 0xff;
    std::memcpy(&mapped.sin6_addr.s6_addr[12], to.address, 4);
    std::memcpy(&out, &mapped, sizeof(mapped));
    return sizeof(mapped);
  }
  return to.to_sockaddr(out);
}

}  // namespace

SendBatch::SendBatch(SocketCounters& counters)
    : counters_(counters),
      messages_(new mmsghdr[kBurst]),
      iovecs_(new iovec[kBurst]),
      addresses_(new sockaddr_storage[kBurst]),
      data_(new std::uint8_t[kBurst * kSlotSize]) {}

void SendBatch::reset(int fd, bool dual_stack, bool connected) {
  fd_ = fd;
  dual_stack_ = dual_stack;
  connected_ = connected;
  count_ = 0;
}

void SendBatch::add(const net::Endpoint& to, std::span<const std::uint8_t> bytes) {
  if (bytes.size() > kSlotSize) {
    bump(counters_.udp_send_dropped);
    return;
  }
  if (count_ == kBurst) flush();
  std::uint8_t* slot = data_.get() + count_ * kSlotSize;
  std::memcpy(slot, bytes.data(), bytes.size());
  iovecs_[count_] = iovec{slot, bytes.size()};
  mmsghdr& message = messages_[count_];
  message = mmsghdr{};
  if (!connected_) {
    message.msg_hdr.msg_name = &addresses_[count_];
    message.msg_hdr.msg_namelen = to_socket_address(to, dual_stack_, addresses_[count_]);
  }
  message.msg_hdr.msg_iov = &iovecs_[count_];
  message.msg_hdr.msg_iovlen = 1;
  ++count_;
}

void SendBatch::flush() {
  std::size_t sent = 0;
  while (sent < count_) {
    const int n = sendmmsg(fd_, messages_.get() + sent, static_cast<unsigned>(count_ - sent), 0);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    // The failing datagram is dropped (full buffer, unreachable peer); the rest
    // still get their chance.
    bump(counters_.udp_send_dropped);
    ++sent;
  }
  bump(counters_.udp_sent, count_);
  count_ = 0;
}

ReceiveBurst::ReceiveBurst(SocketCounters& counters)
    : counters_(counters),
      data_(new std::uint8_t[kBurst * kSlotSize]),
      messages_(new mmsghdr[kBurst]),
      iovecs_(new iovec[kBurst]),
      addresses_(new sockaddr_storage[kBurst]) {}

int ReceiveBurst::receive(int fd) {
  for (std::size_t i = 0; i < kBurst; ++i) {
    iovecs_[i] = iovec{data_.get() + i * kSlotSize, kSlotSize};
    messages_[i] = mmsghdr{};
    messages_[i].msg_hdr.msg_name = &addresses_[i];
    messages_[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
    messages_[i].msg_hdr.msg_iov = &iovecs_[i];
    messages_[i].msg_hdr.msg_iovlen = 1;
  }
  const int received = recvmmsg(fd, messages_.get(), kBurst, MSG_DONTWAIT, nullptr);
  if (received > 0) bump(counters_.udp_received, static_cast<std::uint64_t>(received));
  return received;
}

net::Endpoint ReceiveBurst::sender(std::size_t i) const {
  return normalize(reinterpret_cast<const sockaddr*>(&addresses_[i]));
}

}  // namespace heimdall::io
