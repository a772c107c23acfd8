// heimdallctl: the operator's client for the control socket. Sends one command line,
// prints the answer's text as it arrives (a cache dump may be long), and says by its
// exit status how it went:
//   0 the command succeeded, 1 it failed (or the answer did not arrive),
//   2 usage error, 3 the socket could not be reached.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "heimdall/control/management_server.hpp"

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kDefaultSocket = "/run/heimdall/control.sock";
// Connecting and sending; then, for the answer, the longest wait for its next bytes.
constexpr auto kTimeout = std::chrono::seconds(10);
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnreachable = 3;

void print_usage(std::FILE* out) {
  std::fprintf(out,
               "usage: heimdallctl [--socket PATH] COMMAND [ARGS...]\n"
               "Runs COMMAND on a running heimdall through its control socket\n"
               "(default %s). 'heimdallctl help' lists the commands.\n"
               "Exit status: 0 ok, 1 the command failed, 2 usage error, 3 cannot connect.\n",
               kDefaultSocket);
}

[[noreturn]] void usage_error(const std::string& problem) {
  std::fprintf(stderr, "heimdallctl: %s\n", problem.c_str());
  print_usage(stderr);
  std::exit(kExitUsage);
}

struct Options {
  std::string socket_path = kDefaultSocket;
  std::string line;  // the command and its arguments, newline-terminated
};

Options parse_options(int argc, char** argv) {
  Options options;
  int i = 1;
  for (; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      print_usage(stdout);
      std::exit(0);
    } else if (arg == "--socket") {
      if (++i == argc) usage_error("--socket needs a path");
      options.socket_path = argv[i];
    } else if (arg.starts_with("--socket=")) {
      options.socket_path = arg.substr(9);
    } else if (arg == "--") {
      ++i;
      break;
    } else if (arg.starts_with("-") && arg.size() > 1) {
      usage_error("unknown option " + std::string(arg));
    } else {
      break;
    }
  }
  if (i == argc) usage_error("no command given");
  if (options.socket_path.empty()) usage_error("--socket needs a path");
  for (; i < argc; ++i) {
    const std::string_view word = argv[i];
    // The server splits the line at blanks: a word cannot carry one.
    if (word.empty() || word.find_first_of(" \t\r\n") != std::string_view::npos) {
      usage_error("'" + std::string(word) + "': arguments cannot be empty or contain blanks");
    }
    options.line.append(options.line.empty() ? "" : " ").append(word);
  }
  options.line.push_back('\n');
  return options;
}

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

// Connects with the deadline as the send timeout, which bounds a Unix connect(2)
// that waits for room in the server's backlog. Returns -1 with errno set.
int connect_to(const std::string& path, Clock::time_point deadline) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  path.copy(address.sun_path, path.size());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const int ms = remaining_ms(deadline);
  const timeval timeout{ms / 1000, (ms % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    const int error = errno;
    ::close(fd);
    errno = error == EINPROGRESS ? ETIMEDOUT : error;
    return -1;
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

// Waits for `events` on `fd` until the deadline; false on timeout.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  pollfd entry{fd, events, 0};
  for (;;) {
    const int ready = ::poll(&entry, 1, remaining_ms(deadline));
    if (ready > 0) return true;
    if (ready == 0 || errno != EINTR) return false;
  }
}

bool send_line(int fd, std::string_view line, Clock::time_point deadline) {
  while (!line.empty()) {
    const ssize_t put = ::send(fd, line.data(), line.size(), MSG_NOSIGNAL);
    if (put > 0) {
      line.remove_prefix(static_cast<std::size_t>(put));
    } else if (errno == EAGAIN || errno == EINTR) {
      if (!wait_for(fd, POLLOUT, deadline)) {
        errno = ETIMEDOUT;
        return false;
      }
    } else {
      return false;
    }
  }
  // Nothing more comes from us: the server answers and closes.
  ::shutdown(fd, SHUT_WR);
  return true;
}

// Reads the response to its last line, writing an ok answer's text to stdout as
// it comes and keeping an error's for `error_text`. False, with `problem` set, when
// the connection ends first or nothing arrives for kTimeout.
bool read_response(int fd, heimdall::control::ResponseReader& reader, std::string& error_text,
                   std::string& problem) {
  char buffer[65536];
  Clock::time_point deadline = Clock::now() + kTimeout;
  for (;;) {
    const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
    if (got > 0) {
      deadline = Clock::now() + kTimeout;
      std::string text;
      const bool complete =
          reader.feed(std::string_view(buffer, static_cast<std::size_t>(got)), text);
      if (reader.ok() || reader.failed_late()) {
        std::fwrite(text.data(), 1, text.size(), stdout);
      } else {
        error_text += text;
      }
      if (complete) return true;
    } else if (got == 0) {
      problem = "the server closed the connection before the end of its answer";
      return false;
    } else if (errno == EAGAIN || errno == EINTR) {
      if (!wait_for(fd, POLLIN, deadline)) {
        problem = "no more of the answer for 10 s";
        return false;
      }
    } else {
      problem = std::string("reading the answer: ") + std::strerror(errno);
      return false;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse_options(argc, argv);
  const Clock::time_point deadline = Clock::now() + kTimeout;
  const int fd = connect_to(options.socket_path, deadline);
  if (fd < 0) {
    std::fprintf(stderr, "heimdallctl: cannot connect to %s: %s\n", options.socket_path.c_str(),
                 std::strerror(errno));
    return kExitUnreachable;
  }
  std::string problem;
  const bool sent = send_line(fd, options.line, deadline);
  const int send_error = errno;
  // Even when sending failed, the server may have said why (too many connections).
  heimdall::control::ResponseReader reader;
  std::string error_text;
  const bool complete = read_response(fd, reader, error_text, problem);
  ::close(fd);
  const bool flushed = std::fflush(stdout) == 0;
  if (!reader.status_seen()) {
    if (!sent) problem = std::string("sending the command: ") + std::strerror(send_error);
    std::fprintf(stderr, "heimdallctl: %s\n", problem.c_str());
    return kExitFailed;
  }
  if (!reader.ok()) {
    // An error's message, its text, and what cut the answer short if anything.
    std::fprintf(stderr, "heimdallctl: error: %s\n%s", reader.message().c_str(),
                 error_text.c_str());
    if (!complete) std::fprintf(stderr, "heimdallctl: %s\n", problem.c_str());
    return kExitFailed;
  }
  if (!complete) {
    std::fprintf(stderr, "heimdallctl: %s\n", problem.c_str());
    return kExitFailed;
  }
  return flushed ? 0 : kExitFailed;
}
