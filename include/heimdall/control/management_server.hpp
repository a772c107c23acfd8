// The operator's ways in (docs/architecture.md §13.3): the Prometheus /metrics
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
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "heimdall/net/endpoint.hpp"
#include "heimdall/net/unique_fd.hpp"

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

// A long answer written piece by piece (heimdallctl cache dump): the server asks
// for the next piece only once the previous one is out to the client, so the
// answer never sits in memory whole, and a piece that is not ready yet does not
// hold the control thread. Runs on the control thread, inside poll().
class ResponseStream {
 public:
  enum class Step : std::uint8_t {
    More,    // `text` holds the next lines; ask again once they are written
    Wait,    // nothing ready (lines in `text` are still sent); ask again within a
             // few milliseconds. A stream must not wait for ever: it fails instead.
    Done,    // `text` holds the last lines (if any)
    Failed,  // `text` holds instead why: the client gets the ".error:" trailer
  };
  virtual ~ResponseStream() = default;
  // Appends lines, each ending in '\n', to `text` (empty on entry).
  virtual Step next(std::string& text) = 0;
};

struct CommandResult {
  bool ok = true;
  std::string text;  // for an error, the first line is the message
  // With `ok`: the rest of the answer, after `text`. Dropped, and the stream
  // destroyed, when the client goes away or stops reading.
  std::shared_ptr<ResponseStream> stream = nullptr;
};

// The control socket's line protocol. A request is one line: the command and its
// arguments separated by blanks. The response is "ok" or "error: <message>", the
// text's lines, then a line holding only ".". As in SMTP (RFC 5321 §4.5.2), a text
// line starting with "." gets one more, so no text line can end the response. A
// streamed answer that fails after its "ok" ends instead with ".error: <message>",
// which no stuffed text line can be either.
std::string encode_response(const CommandResult& result);

// Decodes a response as it arrives, for a client that prints it as it comes: the
// memory it holds is one partial line, whatever the answer's length. Inline, so
// heimdallctl needs only this header and not the control library (and its DPDK).
class ResponseReader {
 public:
  // Takes the next bytes received and appends the text lines they complete
  // (unstuffed, each with its newline) to `text`. True once the response's last
  // line has arrived; anything after it is ignored.
  bool feed(std::string_view data, std::string& text) {
    if (complete_) return true;
    pending_.append(data);
    std::size_t start = 0;
    for (std::size_t end; !complete_ && (end = pending_.find('\n', start)) != std::string::npos;
         start = end + 1) {
      std::string_view line = std::string_view(pending_).substr(start, end - start);
      if (!status_seen_) {
        status_seen_ = true;
        ok_ = line == "ok";
        if (!ok_) {
          message_ = line.starts_with("error: ") ? std::string(line.substr(7))
                                                 : "malformed response: " + std::string(line);
        }
      } else if (line == ".") {
        complete_ = true;
      } else if (line.starts_with(".error: ")) {
        complete_ = true;
        ok_ = false;
        failed_late_ = true;
        message_ = line.substr(8);
      } else {
        if (line.starts_with('.')) line.remove_prefix(1);
        text.append(line).push_back('\n');
      }
    }
    pending_.erase(0, start);
    return complete_;
  }
  bool status_seen() const { return status_seen_; }
  bool ok() const { return ok_; }
  // After the "ok": the answer stopped with a ".error:" trailer; its text so far
  // was the command's output.
  bool failed_late() const { return failed_late_; }
  const std::string& message() const { return message_; }  // when not ok

 private:
  std::string pending_;  // a line not complete yet
  bool status_seen_ = false;
  bool ok_ = false;
  bool failed_late_ = false;
  bool complete_ = false;
  std::string message_;
};

// The response in `received`, or nothing while its final line has not arrived.
// The text comes back with a newline after each line; for an error, after the
// message's line.
inline std::optional<CommandResult> decode_response(std::string_view received) {
  ResponseReader reader;
  std::string text;
  if (!reader.feed(received, text)) return std::nullopt;
  CommandResult result;
  result.ok = reader.ok();
  result.text = reader.ok() ? std::move(text) : reader.message() + "\n" + text;
  return result;
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

  // A plain-text page beside /metrics on the HTTP listener (/health, /ready): its
  // status line ("200 OK", "503 Service Unavailable") and body, built per request.
  struct Page {
    std::string status;
    std::string body;
  };
  using PageSource = std::function<Page()>;
  void add_page(std::string path, PageSource page);

  // Serves what is ready: waits at most `timeout_ms` in poll(2) (0: does not wait;
  // negative: until something happens; a signal ends the wait early), then does the
  // work that is ready without blocking, and closes connections idle for too long.
  // Call it from the control loop as that loop's sleep; `wake_fd` (the control
  // loop's signal descriptor, say) ends the wait too when it becomes readable, and
  // is left for the caller to read.
  void poll(int timeout_ms, int wake_fd = -1);

  std::uint16_t metrics_port() const { return metrics_port_; }     // 0 without HTTP
  std::size_t connections() const { return connections_.size(); }  // both kinds
  // Control connections closed because the client stopped reading its answer for
  // the idle timeout (each also logged).
  std::uint64_t stalled_clients() const { return stalled_clients_; }

 private:
  using Clock = std::chrono::steady_clock;
  struct Connection {
    net::UniqueFd fd;
    bool http = false;
    bool draining = false;     // HTTP: response sent, reading until the client closes
    bool peer_closed = false;  // control: no more input; close once answered
    bool close_when_sent = false;
    std::string in;
    std::string out;
    std::size_t sent = 0;
    Clock::time_point deadline;
    std::shared_ptr<ResponseStream> stream;  // the rest of the answer being written
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
  void answer(Connection& connection, CommandResult result);
  bool pull(Connection& connection);
  void respond_http(Connection& connection, std::string_view request);
  CommandResult run_command(std::string_view line);
  CommandResult help() const;
  std::string known_commands() const;
  void close(Connection& connection);
  void shut_down();

  ManagementLimits limits_;
  MetricsSource metrics_;
  std::map<std::string, PageSource, std::less<>> pages_;
  std::map<std::string, Command, std::less<>> commands_;
  net::UniqueFd metrics_fd_;
  net::UniqueFd control_fd_;
  std::uint16_t metrics_port_ = 0;
  std::string control_path_;
  std::uint64_t control_inode_ = 0;  // unlink only the file this object created
  std::uint64_t control_device_ = 0;
  std::vector<Connection> connections_;
  std::uint64_t stalled_clients_ = 0;
};

}  // namespace heimdall::control
