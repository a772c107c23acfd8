// The process's signals, taken on the control thread only.
//
// Every thread inherits the signal mask of the thread that creates it, and the
// EAL, the logger and libcurl all start threads of their own. So the mask is set
// once, in main, before any of them exists (block_process_signals); after that no
// thread but the one reading the signalfd ever sees SIGHUP, SIGINT or SIGTERM, and
// none of them can take a signal's default action (exit) behind the control loop's
// back. Standard signals do not queue: a burst of SIGHUPs during a reload leaves
// one pending, which is one more reload after it — never two at once, none lost.
#pragma once

#include "heimdall/net/unique_fd.hpp"

namespace heimdall::control {

// Blocks SIGHUP, SIGINT, SIGTERM and SIGQUIT in the calling thread and ignores
// SIGPIPE (a peer that went away is an error return, not a signal). Call it first
// in main, while the process has one thread.
void block_process_signals();

class SignalInbox {
 public:
  // A non-blocking signalfd for the signals block_process_signals blocked.
  // Throws std::system_error when the kernel refuses one.
  SignalInbox();
  ~SignalInbox();
  SignalInbox(const SignalInbox&) = delete;
  SignalInbox& operator=(const SignalInbox&) = delete;

  int fd() const { return fd_.get(); }  // readable while a signal is pending
  // The next pending signal, or 0 when none is.
  int take();
  // Waits at most `timeout_ms` (negative: without limit) for a signal; then take().
  int wait(int timeout_ms);

 private:
  net::UniqueFd fd_;
};

}  // namespace heimdall::control
