// The metrics endpoint and the control socket, served from the control thread's
// loop with poll(2) over non-blocking sockets. HTTP is the minimum Prometheus needs
// (its messages are parsed and written in http_message): one request per
// connection, answered and closed. The control socket runs one
// command at a time per connection: the next line is read only once the previous
// answer is written, so a client that does not read cannot make the buffers grow.
// A streamed answer (ResponseStream) is pulled a piece at a time, each once the
// previous is written, a few pieces per poll.
#include "heimdall/control/management_server.hpp"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "http_message.hpp"

namespace heimdall::control {
namespace {

constexpr std::string_view kMetricsPath = "/metrics";
constexpr std::string_view kMetricsType = "text/plain; version=0.0.4; charset=utf-8";
// Connections refused in one poll() call: the rest wait in the backlog, so a flood
// of connects costs the control thread a bounded amount of work per loop.
constexpr int kMaxRefusalsPerPoll = 64;
constexpr std::size_t kReadChunk = 4096;
constexpr std::size_t kMaxDrainPerPoll = 64 * 1024;
// A streamed answer: pieces written per connection per poll() call (the rest in
// the next calls), and how long poll() waits at most while a stream has nothing
// ready for its connection.
constexpr int kMaxPiecesPerPoll = 4;
constexpr int kStreamWaitMs = 1;

[[noreturn]] void fail(const std::string& what, int error) {
  throw std::system_error(error, std::generic_category(), what);
}

sockaddr_un unix_address(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) {
    throw std::runtime_error("control socket " + path + ": path longer than " +
                             std::to_string(sizeof address.sun_path - 1) + " bytes");
  }
  path.copy(address.sun_path, path.size());
  return address;
}

// A socket file is stale when connecting to it is refused: its process is gone.
// Anything else (it accepts, its backlog is full, we may not connect) means it may
// be in use, and a socket in use is never taken over.
void remove_stale_socket(const std::string& path, const sockaddr_un& address) {
  struct stat status {};
  if (::lstat(path.c_str(), &status) != 0) {
    if (errno == ENOENT) return;
    fail("control socket " + path, errno);
  }
  if (!S_ISSOCK(status.st_mode)) {
    throw std::runtime_error("control socket " + path + ": exists and is not a socket");
  }
  const net::UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (probe.get() < 0) fail("control socket " + path + ": socket", errno);
  const int error =
      ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0
          ? 0
          : errno;
  if (error == 0 || error == EAGAIN || error == EINPROGRESS) {
    throw std::runtime_error("control socket " + path + ": in use by another process");
  }
  if (error != ECONNREFUSED) {
    fail("control socket " + path + ": cannot tell whether it is in use", error);
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    fail("control socket " + path + ": removing the stale socket", errno);
  }
}

std::vector<std::string> split_words(std::string_view line) {
  std::vector<std::string> words;
  std::size_t start = 0;
  while ((start = line.find_first_not_of(" \t", start)) != std::string_view::npos) {
    const std::size_t end = std::min(line.find_first_of(" \t", start), line.size());
    words.emplace_back(line.substr(start, end - start));
    start = end;
  }
  return words;
}

// The text's lines, each ending in a newline and stuffed.
void append_lines(std::string& out, std::string_view text) {
  while (!text.empty()) {
    const std::size_t end = std::min(text.find('\n'), text.size());
    if (text.starts_with('.')) out.push_back('.');
    out.append(text.substr(0, end)).push_back('\n');
    text.remove_prefix(std::min(end + 1, text.size()));
  }
}

// The first line of `text`, or `otherwise` when it is empty.
std::string_view first_line(std::string_view text, std::string_view otherwise) {
  const std::string_view line = text.substr(0, std::min(text.find('\n'), text.size()));
  return line.empty() ? otherwise : line;
}

}  // namespace

std::string encode_response(const CommandResult& result) {
  std::string_view text = result.text;
  std::string out;
  if (result.ok) {
    out = "ok\n";
  } else {
    const std::string_view message = first_line(text, "failed");
    out.append("error: ").append(message).push_back('\n');
    const std::size_t end = std::min(text.find('\n'), text.size());
    text.remove_prefix(std::min(end + 1, text.size()));
  }
  append_lines(out, text);
  out.append(".\n");
  return out;
}

ManagementServer::ManagementServer(const ManagementConfig& config, MetricsSource metrics)
    : limits_(config.limits), metrics_(std::move(metrics)) {
  commands_.emplace("help", Command{"lists the commands",
                                    [this](std::span<const std::string>) { return help(); }});
  try {
    if (config.metrics_listen) listen_metrics(*config.metrics_listen);
    if (!config.control_socket.empty()) listen_control(config.control_socket);
  } catch (...) {
    shut_down();  // the destructor does not run for a constructor that throws
    throw;
  }
}

ManagementServer::~ManagementServer() { shut_down(); }

void ManagementServer::shut_down() {
  for (Connection& connection : connections_) close(connection);
  connections_.clear();
  metrics_fd_.reset();
  control_fd_.reset();
  // Only the file this server bound: a successor may already have replaced it.
  struct stat status {};
  if (!control_path_.empty() && ::lstat(control_path_.c_str(), &status) == 0 &&
      status.st_ino == control_inode_ && status.st_dev == control_device_) {
    ::unlink(control_path_.c_str());
  }
  control_path_.clear();
}

void ManagementServer::listen_metrics(const net::Endpoint& endpoint) {
  const std::string name = "metrics endpoint " + endpoint.to_string();
  sockaddr_storage address{};
  socklen_t length = endpoint.to_sockaddr(address);
  net::UniqueFd fd(::socket(address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) fail(name + ": socket", errno);
  // A restart must not wait for the previous process's TIME_WAIT connections; on
  // Linux this still refuses a port another socket listens on.
  const int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), length) != 0) {
    fail(name + ": bind", errno);
  }
  if (::listen(fd.get(), SOMAXCONN) != 0) fail(name + ": listen", errno);
  length = sizeof address;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    fail(name + ": getsockname", errno);
  }
  metrics_port_ = net::Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&address)).port;
  metrics_fd_ = std::move(fd);
}

void ManagementServer::listen_control(const std::string& path) {
  const sockaddr_un address = unix_address(path);
  remove_stale_socket(path, address);
  net::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) fail("control socket " + path + ": socket", errno);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    fail("control socket " + path + ": bind", errno);
  }
  struct stat status {};
  if (::stat(path.c_str(), &status) != 0) fail("control socket " + path + ": stat", errno);
  control_path_ = path;
  control_inode_ = status.st_ino;
  control_device_ = status.st_dev;
  // Before listen(), so nobody connects while the mode still comes from the umask.
  if (::chmod(path.c_str(), 0660) != 0) fail("control socket " + path + ": chmod", errno);
  if (::listen(fd.get(), SOMAXCONN) != 0) fail("control socket " + path + ": listen", errno);
  control_fd_ = std::move(fd);
}

void ManagementServer::add_command(std::string name, std::string help, CommandHandler handler) {
  if (name.empty() || name.find_first_of(" \t\r\n") != std::string::npos ||
      commands_.contains(name)) {
    throw std::invalid_argument("control command '" + name + "': empty, built in or taken");
  }
  commands_.emplace(std::move(name), Command{std::move(help), std::move(handler)});
}

void ManagementServer::add_page(std::string path, PageSource page) {
  pages_.insert_or_assign(std::move(path), std::move(page));
}

void ManagementServer::poll(int timeout_ms, int wake_fd) {
  std::vector<pollfd> fds;
  for (const Connection& connection : connections_) {
    short events = 0;
    if (!connection.out.empty()) {
      events = POLLOUT;
    } else if (connection.stream) {
      // Its next piece is asked for after the wait, which is kept short.
      if (timeout_ms < 0 || timeout_ms > kStreamWaitMs) timeout_ms = kStreamWaitMs;
    } else if (connection.http || (!connection.peer_closed && !connection.close_when_sent)) {
      events = POLLIN;
    }
    fds.push_back({connection.fd.get(), events, 0});
  }
  const std::size_t open = fds.size();
  if (metrics_fd_.valid()) fds.push_back({metrics_fd_.get(), POLLIN, 0});
  if (control_fd_.valid()) fds.push_back({control_fd_.get(), POLLIN, 0});
  const std::size_t listeners_end = fds.size();
  if (wake_fd >= 0) fds.push_back({wake_fd, POLLIN, 0});

  // EINTR (a signal for the control loop) counts as nothing ready.
  const bool any_ready = ::poll(fds.data(), fds.size(), timeout_ms) > 0;
  for (std::size_t i = 0; i < open; ++i) {
    Connection& connection = connections_[i];
    const short ready = any_ready ? fds[i].revents : 0;
    if (ready == 0) {
      if (connection.stream && connection.out.empty()) serve_control(connection);
      continue;
    }
    if (connection.out.empty() && (ready & (POLLIN | POLLHUP | POLLERR)) != 0) {
      on_readable(connection);
    } else if ((ready & (POLLOUT | POLLHUP | POLLERR)) != 0) {
      on_writable(connection);
    } else if ((ready & POLLNVAL) != 0) {
      close(connection);
    }
  }
  // New connections join after the loop above: accepting may move the vector.
  for (std::size_t i = open; any_ready && i < listeners_end; ++i) {
    if ((fds[i].revents & POLLIN) != 0) accept_all(fds[i].fd, fds[i].fd == metrics_fd_.get());
  }

  const Clock::time_point now = Clock::now();
  for (Connection& connection : connections_) {
    if (!connection.fd.valid() || now < connection.deadline) continue;
    if (!connection.http && connection.sent < connection.out.size()) {
      ++stalled_clients_;
      spdlog::warn(
          "control socket: closed a connection whose client stopped reading its "
          "answer for {} ms ({} bytes unsent{})",
          limits_.idle_timeout.count(), connection.out.size() - connection.sent,
          connection.stream ? ", the rest of a streamed answer dropped" : "");
    }
    close(connection);
  }
  std::erase_if(connections_, [](const Connection& connection) { return !connection.fd.valid(); });
}

void ManagementServer::accept_all(int listener, bool http) {
  std::size_t open = static_cast<std::size_t>(
      std::count_if(connections_.begin(), connections_.end(),
                    [&](const Connection& connection) { return connection.http == http; }));
  for (int refused = 0; refused < kMaxRefusalsPerPoll;) {
    net::UniqueFd fd(::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd.valid()) {
      // A connection reset while queued is gone; EAGAIN, EMFILE and the like end the round.
      if (errno == ECONNABORTED || errno == EINTR) continue;
      return;
    }
    if (open >= limits_.max_connections) {
      // Best effort: the answer fits any socket buffer, and nothing waits for it.
      const std::string busy = http ? http_error("503 Service Unavailable")
                                    : encode_response({false, "too many connections"});
      [[maybe_unused]] const ssize_t written =
          ::send(fd.get(), busy.data(), busy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      ++refused;
      continue;
    }
    Connection connection;
    connection.fd = std::move(fd);
    connection.http = http;
    connection.deadline = Clock::now() + limits_.idle_timeout;
    connections_.push_back(std::move(connection));
    ++open;
  }
}

void ManagementServer::on_readable(Connection& connection) {
  if (connection.http) {
    read_http(connection);
  } else {
    read_control(connection);
  }
}

// Reads what has arrived, up to one byte past the request limit: that byte tells a
// request that is too large from one that fits. False once the client has closed
// its side, or the connection broke.
bool ManagementServer::fill(Connection& connection) const {
  char buffer[kReadChunk];
  while (connection.in.size() <= limits_.max_request_bytes) {
    const std::size_t room = limits_.max_request_bytes + 1 - connection.in.size();
    const ssize_t got = ::recv(connection.fd.get(), buffer, std::min(room, sizeof buffer), 0);
    if (got > 0) {
      connection.in.append(buffer, static_cast<std::size_t>(got));
    } else if (got < 0 && errno == EINTR) {
      continue;
    } else {
      return got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
  }
  return true;
}

// Writes what is pending; true once all of it is out. A broken connection is closed.
bool ManagementServer::flush(Connection& connection) {
  while (connection.sent < connection.out.size()) {
    const ssize_t put = ::send(connection.fd.get(), connection.out.data() + connection.sent,
                               connection.out.size() - connection.sent, MSG_NOSIGNAL);
    if (put > 0) {
      connection.sent += static_cast<std::size_t>(put);
      connection.deadline = Clock::now() + limits_.idle_timeout;
    } else if (put < 0 && errno == EINTR) {
      continue;
    } else {
      if (put == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) close(connection);
      return false;
    }
  }
  connection.out.clear();
  connection.sent = 0;
  return true;
}

void ManagementServer::read_http(Connection& connection) {
  if (connection.draining) {
    // After the answer, reading on until the client closes keeps our close from
    // resetting the connection over unread input, which could destroy the answer.
    char buffer[kReadChunk];
    for (std::size_t drained = 0; drained < kMaxDrainPerPoll;) {
      const ssize_t got = ::recv(connection.fd.get(), buffer, sizeof buffer, 0);
      if (got > 0) {
        drained += static_cast<std::size_t>(got);
      } else if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return;
      } else {
        close(connection);
        return;
      }
    }
    return;
  }
  // The request has one budget in all, set at accept: reading does not extend it.
  const bool open = fill(connection);
  const std::size_t end = head_end(connection.in);
  if (end != std::string::npos && end <= limits_.max_request_bytes) {
    respond_http(connection, std::string_view(connection.in).substr(0, end));
  } else if (connection.in.size() > limits_.max_request_bytes) {
    connection.out = http_error("413 Content Too Large");
  } else if (!open) {
    close(connection);  // gone before the request was complete: nobody to answer
    return;
  } else {
    return;
  }
  on_writable(connection);
}

void ManagementServer::respond_http(Connection& connection, std::string_view head) {
  const std::optional<RequestLine> request = parse_request(head);
  if (!request) {
    connection.out = http_error("400 Bad Request");
  } else if (request->method != "GET" && request->method != "HEAD") {
    connection.out = http_error("405 Method Not Allowed", "Allow: GET, HEAD\r\n");
  } else if (const auto page = pages_.find(request->path); page != pages_.end()) {
    const Page answer = page->second();
    connection.out = http_response(answer.status, "text/plain; charset=utf-8", answer.body,
                                   request->method == "GET");
  } else if (request->path != kMetricsPath) {
    connection.out = http_error("404 Not Found");
  } else {
    try {
      connection.out = http_response("200 OK", kMetricsType, metrics_(), request->method == "GET");
    } catch (const std::exception& error) {
      connection.out = http_response("500 Internal Server Error", "text/plain; charset=utf-8",
                                     std::string(error.what()) + "\n", true);
    }
  }
}

void ManagementServer::read_control(Connection& connection) {
  const std::size_t before = connection.in.size();
  // The client is done sending (heimdallctl shuts its side down after the line) or
  // the connection broke; what it sent is still answered.
  if (!fill(connection)) connection.peer_closed = true;
  if (connection.in.size() != before) connection.deadline = Clock::now() + limits_.idle_timeout;
  serve_control(connection);
}

void ManagementServer::on_writable(Connection& connection) {
  if (!connection.http) {
    serve_control(connection);
    return;
  }
  if (!flush(connection)) return;
  connection.in.clear();
  connection.in.shrink_to_fit();
  connection.out.shrink_to_fit();
  connection.draining = true;
  ::shutdown(connection.fd.get(), SHUT_WR);
}

// Writes the pending answer and the pieces of a streamed one, then answers the next
// complete line, until the socket would block, a stream has nothing ready or has
// given its share of this poll, the input holds no complete line, or the
// connection is done.
void ManagementServer::serve_control(Connection& connection) {
  int pieces = 0;
  while (flush(connection)) {
    if (connection.stream) {
      if (pieces++ == kMaxPiecesPerPoll || !pull(connection)) return;
      continue;
    }
    if (connection.close_when_sent) {
      close(connection);
      return;
    }
    const std::size_t end = connection.in.find('\n');
    if (end != std::string::npos) {
      const std::string line = connection.in.substr(0, end);
      connection.in.erase(0, end + 1);
      answer(connection, run_command(line));
    } else if (connection.in.size() > limits_.max_request_bytes) {
      connection.out =
          encode_response({false, "command line longer than " +
                                      std::to_string(limits_.max_request_bytes) + " bytes"});
      connection.close_when_sent = true;
    } else if (connection.peer_closed) {
      // A last line without its newline is still a command.
      if (connection.in.empty()) {
        close(connection);
        return;
      }
      answer(connection, run_command(std::exchange(connection.in, {})));
      connection.close_when_sent = true;
    } else {
      return;
    }
  }
}

void ManagementServer::answer(Connection& connection, CommandResult result) {
  if (!result.ok || !result.stream) {
    connection.out = encode_response(result);
    return;
  }
  connection.out = "ok\n";
  append_lines(connection.out, result.text);
  connection.stream = std::move(result.stream);
}

// Puts the stream's next piece in `out`; false when it has nothing yet. The
// client is not idle while the stream prepares a piece: the deadline moves on.
bool ManagementServer::pull(Connection& connection) {
  std::string text;
  ResponseStream::Step step = ResponseStream::Step::Failed;
  try {
    step = connection.stream->next(text);
  } catch (const std::exception& error) {
    text = error.what();
  }
  connection.deadline = Clock::now() + limits_.idle_timeout;
  if (step == ResponseStream::Step::Failed) {
    connection.out.append(".error: ").append(first_line(text, "failed")).push_back('\n');
    connection.stream.reset();
    return true;
  }
  append_lines(connection.out, text);
  if (step == ResponseStream::Step::Done) {
    connection.out.append(".\n");
    connection.stream.reset();
  }
  return !connection.out.empty();
}

CommandResult ManagementServer::run_command(std::string_view line) {
  const std::vector<std::string> words = split_words(without_cr(line));
  if (words.empty()) return {false, "empty command; commands: " + known_commands()};
  const auto command = commands_.find(words.front());
  if (command == commands_.end()) {
    return {false, "unknown command '" + words.front() + "'; commands: " + known_commands()};
  }
  try {
    return command->second.handler(std::span(words).subspan(1));
  } catch (const std::exception& error) {
    return {false, error.what()};
  }
}

CommandResult ManagementServer::help() const {
  std::size_t width = 0;
  for (const auto& entry : commands_) width = std::max(width, entry.first.size());
  CommandResult result;
  for (const auto& [name, command] : commands_) {
    result.text.append(name).append(width + 2 - name.size(), ' ').append(command.help);
    result.text.push_back('\n');
  }
  return result;
}

std::string ManagementServer::known_commands() const {
  std::string text;
  for (const auto& entry : commands_) text.append(text.empty() ? "" : ", ").append(entry.first);
  return text;
}

void ManagementServer::close(Connection& connection) {
  connection.fd.reset();
  connection.in.clear();
  connection.out.clear();
  connection.sent = 0;
  connection.stream.reset();
}

}  // namespace heimdall::control
