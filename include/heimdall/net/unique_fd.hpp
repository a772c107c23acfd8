// One owned file descriptor, closed when its owner goes: a socket or file that an
// early return or an exception leaves behind is closed, not leaked until the
// process hits RLIMIT_NOFILE. Move-only, so exactly one object owns a descriptor.
// In `net`, the bottom module, so that io and control share it (docs/architecture.md §3).
#pragma once

#include <unistd.h>

#include <utility>

namespace heimdall::net {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}  // takes `fd`; a negative one is none
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  // Gives the descriptor up to the caller, who closes it.
  int release() noexcept { return std::exchange(fd_, -1); }
  // Closes the descriptor held, if any, and takes `fd`. Closing a socket also
  // removes it from every epoll set it was in.
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  // Closes now and says whether close(2) succeeded: it can report a write error
  // that NFS or a full disk delayed until then. Nothing held: true.
  bool close() noexcept {
    const int fd = release();
    return fd < 0 || ::close(fd) == 0;
  }

 private:
  int fd_ = -1;
};

}  // namespace heimdall::net
