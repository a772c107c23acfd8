// The operator's ways in (DESIGN.md §5 `management`): the Prometheus /metrics
// endpoint over HTTP and the control socket that heimdallctl talks to. One object,
// owned and polled by the control thread; it has no thread of its own and never
// touches a worker (the metrics callback reads the workers' relaxed counters).
//
// Nothing a client does can hold the control thread: every socket is non-blocking,
// each connection's input is bounded, connections are capped per listener, and a
// connection that makes no progress for the idle timeout is closed.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "heimdall/net/endpoint.hpp"

namespace heimdall::control {

struct ManagementLimits {
  std::size_t max_request_bytes = 8192;  // an HTTP request head, or one command line
  std::size_t max_connections = 64;      // per listener: a scrape flood cannot lock out heimdallctl
  std::chrono::milliseconds idle_timeout{5000};  // also the whole budget of an HTTP request
};

struct ManagementConfig {
  std::optional<net::Endpoint> metrics_listen;  // none: no HTTP endpoint
  std::string control_socket;                   // empty: no control socket
  ManagementLimits limits;
};

struct CommandResult {
  bool ok = true;
  std::string text;  // for an error, the first line is the message
};

// The control socket's line protocol. A request is one line: the command and its
// arguments separated by blanks. The response is "ok" or "error: <message>", the
// text's lines, then a line holding only ".". As in SMTP (RFC 5321 §4.5.2), a text
// line starting with "." gets one more, so no text line can end the response.
std::string encode_response(const CommandResult& result);

// The response in `received`, or nothing while its final "." line has not arrived.
// The text comes back with a newline after each line. Inline, so heimdallctl needs
// only this header and not the control library (and its DPDK).
inline std::optional<CommandResult> decode_response(std::string_view received) {
  const std::size_t status_end = received.find('\n');
  if (status_end == std::string_view::npos) return std::nullopt;
  const std::string_view status = received.substr(0, status_end);
  CommandResult result;
  result.ok = status == "ok";
  if (!result.ok) {
    result.text = status.starts_with("error: ") ? std::string(status.substr(7))
                                                : "malformed response: " + std::string(status);
    result.text += '\n';
  }
  for (std::size_t start = status_end + 1;;) {
    const std::size_t end = received.find('\n', start);
    if (end == std::string_view::npos) return std::nullopt;
    std::string_view line = received.substr(start, end - start);
    if (line == ".") return result;
    if (line.starts_with('.')) line.remove_prefix(1);
    result.text.append(line).push_back('\n');
    start = end + 1;
  }
}

class ManagementServer {
 public:
  using MetricsSource = std::function<std::string()>;  // the /metrics body, built per scrape
  using CommandHandler = std::function<CommandResult(std::span<const std::string> args)>;

  // Binds and listens now. Throws std::runtime_error naming the address or path and
  // the system's reason. A socket file left by a dead process (nothing accepts on
  // it) is replaced; one a live process answers on is never taken.
  ManagementServer(const ManagementConfig& config, MetricsSource metrics);
  ~ManagementServer();  // closes everything and removes its socket file
  ManagementServer(const ManagementServer&) = delete;
  ManagementServer& operator=(const ManagementServer&) = delete;

  // Registers a control command; "help" is built in and a name is taken once
  // (std::invalid_argument). A handler that throws answers "error: <what()>".
  // Handlers run on the control thread, inside poll().
  void add_command(std::string name, std::string help, CommandHandler handler);

  // Serves what is ready: waits at most `timeout_ms` in poll(2) (0: does not wait;
  // negative: until something happens; a signal ends the wait early), then does the
  // work that is ready without blocking, and closes connections idle for too long.
  // Call it from the control loop as that loop's sleep; `wake_fd` (the control
  // loop's signal descriptor, say) ends the wait too when it becomes readable, and
  // is left for the caller to read.
  void poll(int timeout_ms, int wake_fd = -1);

  std::uint16_t metrics_port() const { return metrics_port_; }     // 0 without HTTP
  std::size_t connections() const { return connections_.size(); }  // both kinds

 private:
  using Clock = std::chrono::steady_clock;
  struct Connection {
    int fd = -1;
    bool http = false;
    bool draining = false;     // HTTP: response sent, reading until the client closes
    bool peer_closed = false;  // control: no more input; close once answered
    bool close_when_sent = false;
    std::string in;
    std::string out;
    std::size_t sent = 0;
    Clock::time_point deadline;
  };
  struct Command {
    std::string help;
    CommandHandler handler;
  };

  void listen_metrics(const net::Endpoint& endpoint);
  void listen_control(const std::string& path);
  void accept_all(int listener, bool http);
  void on_readable(Connection& connection);
  void on_writable(Connection& connection);
  bool fill(Connection& connection) const;
  bool flush(Connection& connection);
  void read_http(Connection& connection);
  void read_control(Connection& connection);
  void serve_control(Connection& connection);
  void respond_http(Connection& connection, std::string_view request);
  CommandResult run_command(std::string_view line);
  CommandResult help() const;
  std::string known_commands() const;
  void close(Connection& connection);
  void shut_down();

  ManagementLimits limits_;
  MetricsSource metrics_;
  std::map<std::string, Command, std::less<>> commands_;
  int metrics_fd_ = -1;
  int control_fd_ = -1;
  std::uint16_t metrics_port_ = 0;
  std::string control_path_;
  std::uint64_t control_inode_ = 0;  // unlink only the file this object created
  std::uint64_t control_device_ = 0;
  std::vector<Connection> connections_;
};

}  // namespace heimdall::control
