// heimdallctl: the operator's client for the control socket. Sends one command line,
// prints the answer's text, and says by its exit status how it went:
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
#include <optional>
#include <string>
#include <string_view>

#include "heimdall/control/management_server.hpp"

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kDefaultSocket = "/run/heimdall/control.sock";
constexpr auto kTimeout = std::chrono::seconds(10);  // the whole exchange
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

// Reads until the response's final "." line. Returns nothing, with `problem` set,
// when the connection ends first or the deadline passes.
std::optional<heimdall::control::CommandResult> read_response(int fd, Clock::time_point deadline,
                                                              std::string& problem) {
  std::string received;
  char buffer[4096];
  for (;;) {
    const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
    if (got > 0) {
      received.append(buffer, static_cast<std::size_t>(got));
      if (auto result = heimdall::control::decode_response(received)) return result;
    } else if (got == 0) {
      problem = "the server closed the connection before the end of its answer";
      return std::nullopt;
    } else if (errno == EAGAIN || errno == EINTR) {
      if (!wait_for(fd, POLLIN, deadline)) {
        problem = "no complete answer within 10 s";
        return std::nullopt;
      }
    } else {
      problem = std::string("reading the answer: ") + std::strerror(errno);
      return std::nullopt;
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
  std::optional<heimdall::control::CommandResult> result = read_response(fd, deadline, problem);
  ::close(fd);
  if (!sent && !result) problem = std::string("sending the command: ") + std::strerror(send_error);
  if (!result) {
    std::fprintf(stderr, "heimdallctl: %s\n", problem.c_str());
    return kExitFailed;
  }
  if (!result->ok) {
    std::fprintf(stderr, "heimdallctl: error: %s", result->text.c_str());
    return kExitFailed;
  }
  std::fwrite(result->text.data(), 1, result->text.size(), stdout);
  return std::fflush(stdout) == 0 ? 0 : kExitFailed;
}
