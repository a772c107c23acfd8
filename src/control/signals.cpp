#include "heimdall/control/signals.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace heimdall::control {
namespace {

sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (const int number : {SIGHUP, SIGINT, SIGTERM, SIGQUIT}) sigaddset(&set, number);
  return set;
}

}  // namespace

void block_process_signals() {
  const sigset_t set = handled_signals();
  if (const int error = pthread_sigmask(SIG_BLOCK, &set, nullptr); error != 0) {
    throw std::system_error(error, std::generic_category(), "pthread_sigmask");
  }
  signal(SIGPIPE, SIG_IGN);
}

SignalInbox::SignalInbox() {
  const sigset_t set = handled_signals();
  fd_.reset(signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!fd_.valid()) throw std::system_error(errno, std::generic_category(), "signalfd");
}

SignalInbox::~SignalInbox() = default;

int SignalInbox::take() {
  signalfd_siginfo info{};
  for (;;) {
    const ssize_t n = read(fd_.get(), &info, sizeof(info));
    if (n == static_cast<ssize_t>(sizeof(info))) return static_cast<int>(info.ssi_signo);
    if (n < 0 && errno == EINTR) continue;
    return 0;  // EAGAIN: nothing pending
  }
}

int SignalInbox::wait(int timeout_ms) {
  pollfd ready{.fd = fd_.get(), .events = POLLIN, .revents = 0};
  while (::poll(&ready, 1, timeout_ms) < 0 && errno == EINTR) {
  }
  return take();
}

}  // namespace heimdall::control
