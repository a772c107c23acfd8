// The metrics endpoint and the control socket on real sockets: 127.0.0.1 with a port
// the kernel picks, and a socket file in a temporary directory. Clients here are
// non-blocking and the test thread drives the server's poll() between their steps,
// so no test needs a thread and none can hang past its deadline.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "heimdall/control/management_server.hpp"

namespace heimdall::control {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kDeadline = 5s;  // for any one exchange; a hang fails instead

class Socket {
 public:
  explicit Socket(int fd = -1) : fd_(fd) {}
  ~Socket() { reset(); }
  Socket(Socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Socket& operator=(Socket&& other) noexcept {
    reset();
    fd_ = std::exchange(other.fd_, -1);
    return *this;
  }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  }

 private:
  int fd_;
};

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

// Connecting completes in the kernel's backlog, before the server accepts.
Socket connect_tcp(std::uint16_t port) {
  Socket socket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(socket.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    throw std::runtime_error("connect to the metrics port failed");
  }
  set_nonblocking(socket.get());
  return socket;
}

int connect_unix_fd(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  path.copy(address.sun_path, sizeof address.sun_path - 1);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

Socket connect_unix(const std::string& path) {
  Socket socket(connect_unix_fd(path));
  if (socket.get() < 0) throw std::runtime_error("connect to the control socket failed");
  set_nonblocking(socket.get());
  return socket;
}

void send_all(const Socket& socket, std::string_view data) {
  while (!data.empty()) {
    const ssize_t put = ::send(socket.get(), data.data(), data.size(), MSG_NOSIGNAL);
    if (put <= 0) throw std::runtime_error("send failed");
    data.remove_prefix(static_cast<std::size_t>(put));
  }
}

// Reads what has arrived; returns false once the server has closed.
bool read_some(const Socket& socket, std::string& into) {
  char buffer[65536];
  for (;;) {
    const ssize_t got = ::recv(socket.get(), buffer, sizeof buffer, 0);
    if (got > 0) {
      into.append(buffer, static_cast<std::size_t>(got));
    } else {
      return got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
  }
}

// Polls the server and reads from `socket` until `done` says so or the server
// closes; the text read so far.
std::string drive(ManagementServer& server, const Socket& socket,
                  const std::function<bool(const std::string&)>& done = {}) {
  std::string received;
  const auto deadline = Clock::now() + kDeadline;
  while (Clock::now() < deadline) {
    server.poll(10);
    if (!read_some(socket, received)) return received;
    if (done && done(received)) return received;
  }
  ADD_FAILURE() << "no answer in time; got so far: " << received;
  return received;
}

// Polls until `condition` holds or the deadline passes.
bool poll_until(ManagementServer& server, const std::function<bool()>& condition) {
  const auto deadline = Clock::now() + kDeadline;
  while (Clock::now() < deadline) {
    server.poll(10);
    if (condition()) return true;
  }
  return false;
}

// Endpoint::parse refuses port 0, which here asks the kernel for a free port.
net::Endpoint loopback(std::uint16_t port) {
  net::Endpoint endpoint = *net::Endpoint::parse("127.0.0.1");
  endpoint.port = port;
  return endpoint;
}

bool complete(const std::string& received) { return decode_response(received).has_value(); }

std::string status_line(const std::string& response) {
  return response.substr(0, response.find("\r\n"));
}

std::string body_of(const std::string& response) {
  const std::size_t end = response.find("\r\n\r\n");
  return end == std::string::npos ? "" : response.substr(end + 4);
}

bool has_header(const std::string& response, const std::string& header) {
  const std::string head = response.substr(0, response.find("\r\n\r\n") + 2);
  return head.find("\r\n" + header + "\r\n") != std::string::npos;
}

std::string join(std::span<const std::string> words) {
  std::string text;
  for (const std::string& word : words) text.append(text.empty() ? "" : "|").append(word);
  return text;
}

class ManagementServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/heimdall-management-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    directory_ = pattern;
    socket_path_ = directory_ + "/control.sock";
  }
  void TearDown() override { std::filesystem::remove_all(directory_); }

  ManagementConfig config(ManagementLimits limits = {}) const {
    ManagementConfig config;
    config.metrics_listen = loopback(0);
    config.control_socket = socket_path_;
    config.limits = limits;
    return config;
  }

  std::unique_ptr<ManagementServer> make_server(ManagementLimits limits = {}) {
    auto server = std::make_unique<ManagementServer>(config(limits), [this] {
      ++scrapes_;
      return metrics_body_;
    });
    server->add_command("echo", "prints its arguments joined by |",
                        [](std::span<const std::string> args) {
                          return CommandResult{true, join(args) + "\n"};
                        });
    return server;
  }

  std::string http(ManagementServer& server, std::string_view request) {
    const Socket client = connect_tcp(server.metrics_port());
    send_all(client, request);
    return drive(server, client);
  }

  // Sends `line` and returns the raw response up to and including its "." line.
  std::string command(ManagementServer& server, std::string_view line) {
    const Socket client = connect_unix(socket_path_);
    send_all(client, line);
    return drive(server, client, complete);
  }

  std::string directory_;
  std::string socket_path_;
  std::string metrics_body_ = "# HELP heimdall_up Up.\n# TYPE heimdall_up gauge\nheimdall_up 1\n";
  int scrapes_ = 0;
};

// ---- the line protocol -----------------------------------------------------------

TEST(ControlProtocol, EncodesOkAndErrors) {
  EXPECT_EQ(encode_response({true, ""}), "ok\n.\n");
  EXPECT_EQ(encode_response({true, "a\nb"}), "ok\na\nb\n.\n");
  EXPECT_EQ(encode_response({true, "a\n\nb\n"}), "ok\na\n\nb\n.\n");
  EXPECT_EQ(encode_response({false, "no such list"}), "error: no such list\n.\n");
  EXPECT_EQ(encode_response({false, "bad\ndetail\n"}), "error: bad\ndetail\n.\n");
  EXPECT_EQ(encode_response({false, ""}), "error: failed\n.\n");
}

TEST(ControlProtocol, StuffsLinesStartingWithADot) {
  EXPECT_EQ(encode_response({true, ".\n..\n.x\nx.\n"}), "ok\n..\n...\n..x\nx.\n.\n");
}

TEST(ControlProtocol, DecodesWhatWasEncoded) {
  for (const CommandResult& result :
       {CommandResult{true, ""}, CommandResult{true, ".\n..\n.x\nplain\n\nlast\n"},
        CommandResult{false, "message\n"}, CommandResult{false, "message\n.\nmore\n"}}) {
    const auto decoded = decode_response(encode_response(result));
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(decoded->ok, result.ok);
    EXPECT_EQ(decoded->text, result.text);
  }
}

TEST(ControlProtocol, IncompleteResponseDecodesToNothing) {
  const std::string full = encode_response({true, "one\n.\ntwo\n"});
  for (std::size_t size = 0; size < full.size(); ++size) {
    EXPECT_FALSE(decode_response(std::string_view(full).substr(0, size)).has_value()) << size;
  }
  EXPECT_TRUE(decode_response(full).has_value());
}

TEST(ControlProtocol, UnknownStatusIsAnError) {
  const auto decoded = decode_response("hello\n.\n");
  ASSERT_TRUE(decoded.has_value());
  EXPECT_FALSE(decoded->ok);
  EXPECT_EQ(decoded->text, "malformed response: hello\n");
}

TEST(ControlProtocol, ReaderGivesLinesAsTheyArriveWhateverTheCuts) {
  const std::string full = encode_response({true, ".\n..\n.x\nplain\n\nlast\n"});
  for (std::size_t step = 1; step <= full.size(); ++step) {
    ResponseReader reader;
    std::string text;
    bool complete = false;
    for (std::size_t at = 0; at < full.size(); at += step) {
      EXPECT_FALSE(complete) << step;
      complete = reader.feed(std::string_view(full).substr(at, step), text);
    }
    EXPECT_TRUE(complete) << step;
    EXPECT_TRUE(reader.ok());
    EXPECT_EQ(text, ".\n..\n.x\nplain\n\nlast\n") << step;
  }
  // Only complete lines come out; the rest waits for its newline.
  ResponseReader reader;
  std::string text;
  EXPECT_FALSE(reader.feed("ok\none\ntw", text));
  EXPECT_EQ(text, "one\n");
  EXPECT_FALSE(reader.feed("o\n", text));
  EXPECT_EQ(text, "one\ntwo\n");
}

TEST(ControlProtocol, ErrorTrailerEndsAStreamedAnswer) {
  ResponseReader reader;
  std::string text;
  EXPECT_TRUE(
      reader.feed("ok\npartial\n..error: a text line\n.error: walk stopped\nafter\n", text));
  EXPECT_FALSE(reader.ok());
  EXPECT_TRUE(reader.failed_late());
  EXPECT_EQ(reader.message(), "walk stopped");
  EXPECT_EQ(text, "partial\n.error: a text line\n");
  const auto decoded = decode_response("ok\npartial\n.error: walk stopped\n");
  ASSERT_TRUE(decoded.has_value());
  EXPECT_FALSE(decoded->ok);
  EXPECT_EQ(decoded->text, "walk stopped\npartial\n");
  // A text line that looks like the trailer is stuffed, so it stays text.
  EXPECT_EQ(encode_response({true, ".error: not one\n"}), "ok\n..error: not one\n.\n");
}

// ---- HTTP ------------------------------------------------------------------------

TEST_F(ManagementServerTest, ScrapeReturnsTheMetricsText) {
  auto server = make_server();
  ASSERT_NE(server->metrics_port(), 0);
  const std::string response =
      http(*server, "GET /metrics HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n");
  EXPECT_EQ(status_line(response), "HTTP/1.1 200 OK");
  EXPECT_TRUE(has_header(response, "Content-Type: text/plain; version=0.0.4; charset=utf-8"));
  EXPECT_TRUE(has_header(response, "Content-Length: " + std::to_string(metrics_body_.size())));
  EXPECT_TRUE(has_header(response, "Connection: close"));
  EXPECT_EQ(body_of(response), metrics_body_);
  EXPECT_EQ(scrapes_, 1);
}

TEST_F(ManagementServerTest, LargeBodyIsWrittenWhole) {
  auto server = make_server();
  metrics_body_.clear();
  for (int i = 0; metrics_body_.size() < 3'000'000; ++i) {
    metrics_body_ += "heimdall_x{i=\"" + std::to_string(i) + "\"} 1\n";
  }
  const std::string response = http(*server, "GET /metrics HTTP/1.0\r\n\r\n");
  EXPECT_EQ(status_line(response), "HTTP/1.1 200 OK");
  EXPECT_EQ(body_of(response), metrics_body_);
}

TEST_F(ManagementServerTest, RequestInPiecesAndQueryString) {
  auto server = make_server();
  const Socket client = connect_tcp(server->metrics_port());
  send_all(client, "GET /metr");
  for (int i = 0; i < 3; ++i) server->poll(5);
  send_all(client, "ics?x=1 HTTP/1.1\r\nHost: a\r\n");
  for (int i = 0; i < 3; ++i) server->poll(5);
  send_all(client, "\r\n");
  EXPECT_EQ(status_line(drive(*server, client)), "HTTP/1.1 200 OK");
}

TEST_F(ManagementServerTest, HeadHasHeadersOnly) {
  auto server = make_server();
  const std::string response = http(*server, "HEAD /metrics HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(status_line(response), "HTTP/1.1 200 OK");
  EXPECT_TRUE(has_header(response, "Content-Length: " + std::to_string(metrics_body_.size())));
  EXPECT_EQ(body_of(response), "");
}

TEST_F(ManagementServerTest, OtherPathsAre404) {
  auto server = make_server();
  for (const char* path : {"/", "/metricsx", "/metrics/", "/favicon.ico"}) {
    const std::string response =
        http(*server, "GET " + std::string(path) + " HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_EQ(status_line(response), "HTTP/1.1 404 Not Found") << path;
  }
  EXPECT_EQ(scrapes_, 0);
}

TEST_F(ManagementServerTest, OtherMethodsAre405) {
  auto server = make_server();
  for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS"}) {
    const std::string response =
        http(*server, std::string(method) + " /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
    EXPECT_EQ(status_line(response), "HTTP/1.1 405 Method Not Allowed") << method;
    EXPECT_TRUE(has_header(response, "Allow: GET, HEAD"));
  }
  EXPECT_EQ(scrapes_, 0);
}

TEST_F(ManagementServerTest, MalformedRequestsAre400) {
  auto server = make_server();
  for (const char* request :
       {"garbage\r\n\r\n", "GET /metrics\r\n\r\n", "GET /metrics HTTP/2.0\r\n\r\n",
        "GET metrics HTTP/1.1\r\n\r\n", "GET  /metrics HTTP/1.1\r\n\r\n",
        "G(T /metrics HTTP/1.1\r\n\r\n", "GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nbad name: x\r\n\r\n"}) {
    EXPECT_EQ(status_line(http(*server, request)), "HTTP/1.1 400 Bad Request") << request;
  }
  EXPECT_EQ(scrapes_, 0);
}

TEST_F(ManagementServerTest, RequestOverTheLimitIs413) {
  auto server = make_server();
  const std::string request =
      "GET /metrics HTTP/1.1\r\nX-Padding: " + std::string(10000, 'a') + "\r\n\r\n";
  const std::string response = http(*server, request);
  EXPECT_EQ(status_line(response), "HTTP/1.1 413 Content Too Large");
  EXPECT_EQ(scrapes_, 0);
  EXPECT_TRUE(poll_until(*server, [&] { return server->connections() == 0; }));
}

TEST_F(ManagementServerTest, RequestExactlyAtTheLimitIsServed) {
  auto server = make_server();
  std::string request = "GET /metrics HTTP/1.1\r\nX-Padding: ";
  request += std::string(8192 - request.size() - 4, 'a') + "\r\n\r\n";
  ASSERT_EQ(request.size(), 8192u);
  EXPECT_EQ(status_line(http(*server, request)), "HTTP/1.1 200 OK");
}

TEST_F(ManagementServerTest, FailingMetricsSourceIs500) {
  ManagementConfig configuration = config();
  configuration.control_socket.clear();
  ManagementServer server(configuration,
                          []() -> std::string { throw std::runtime_error("no stats yet"); });
  const std::string response = http(server, "GET /metrics HTTP/1.1\r\n\r\n");
  EXPECT_EQ(status_line(response), "HTTP/1.1 500 Internal Server Error");
  EXPECT_EQ(body_of(response), "no stats yet\n");
}

TEST_F(ManagementServerTest, ConnectionsBeyondTheLimitAreRefusedAndAGoodOneIsServed) {
  auto server = make_server();
  const Socket good = connect_tcp(server->metrics_port());
  ASSERT_TRUE(poll_until(*server, [&] { return server->connections() == 1; }));
  std::vector<Socket> idle;
  for (int i = 0; i < 70; ++i) idle.push_back(connect_tcp(server->metrics_port()));
  ASSERT_TRUE(poll_until(*server, [&] { return server->connections() == 64; }));
  for (int i = 0; i < 5; ++i) server->poll(5);
  EXPECT_EQ(server->connections(), 64u);

  int refused = 0;
  for (const Socket& socket : idle) {
    std::string got;
    if (!read_some(socket, got)) {
      EXPECT_EQ(status_line(got), "HTTP/1.1 503 Service Unavailable");
      ++refused;
    }
  }
  EXPECT_EQ(refused, 7);  // 70 + the good one, over 64

  send_all(good, "GET /metrics HTTP/1.1\r\n\r\n");
  EXPECT_EQ(body_of(drive(*server, good)), metrics_body_);
}

TEST_F(ManagementServerTest, HttpFloodDoesNotLockOutTheControlSocket) {
  auto server = make_server();
  std::vector<Socket> idle;
  for (int i = 0; i < 64; ++i) idle.push_back(connect_tcp(server->metrics_port()));
  ASSERT_TRUE(poll_until(*server, [&] { return server->connections() == 64; }));
  EXPECT_EQ(command(*server, "echo still here\n"), "ok\nstill|here\n.\n");
}

TEST_F(ManagementServerTest, IdleAndSlowConnectionsAreClosed) {
  ManagementLimits limits;
  limits.idle_timeout = 200ms;
  auto server = make_server(limits);
  const Socket silent = connect_tcp(server->metrics_port());
  const Socket slow = connect_tcp(server->metrics_port());
  const Socket control = connect_unix(socket_path_);
  const auto start = Clock::now();
  // The slow client keeps sending, but an HTTP request has one budget in all.
  std::string got;
  while (Clock::now() - start < 400ms) {
    server->poll(10);
    ::send(slow.get(), "G", 1, MSG_NOSIGNAL);
  }
  EXPECT_EQ(server->connections(), 0u);
  EXPECT_FALSE(read_some(silent, got));
  EXPECT_FALSE(read_some(control, got));
  EXPECT_EQ(got, "");
}

TEST_F(ManagementServerTest, ClientLeavingEarlyDoesNotHurt) {
  auto server = make_server();
  {
    const Socket client = connect_tcp(server->metrics_port());
    send_all(client, "GET /metrics HTTP/1.1\r\n\r\n");
  }
  {
    const Socket client = connect_unix(socket_path_);
    send_all(client, "help\n");
  }
  EXPECT_TRUE(poll_until(*server, [&] { return server->connections() == 0; }));
  EXPECT_EQ(status_line(http(*server, "GET /metrics HTTP/1.1\r\n\r\n")), "HTTP/1.1 200 OK");
}

TEST_F(ManagementServerTest, MetricsPortInUseIsReported) {
  auto server = make_server();
  ManagementConfig second;
  second.metrics_listen = loopback(server->metrics_port());
  try {
    ManagementServer other(second, [] { return std::string(); });
    FAIL() << "bound a port in use";
  } catch (const std::runtime_error& error) {
    const std::string what = error.what();
    EXPECT_NE(what.find("127.0.0.1:" + std::to_string(server->metrics_port())), std::string::npos)
        << what;
    EXPECT_NE(what.find("Address already in use"), std::string::npos) << what;
  }
}

TEST_F(ManagementServerTest, PollWaitsNoLongerThanItsTimeout) {
  auto server = make_server();
  const Socket silent = connect_tcp(server->metrics_port());
  const auto start = Clock::now();
  server->poll(50);
  server->poll(0);
  EXPECT_LT(Clock::now() - start, 1s);
}

// ---- the control socket ----------------------------------------------------------

TEST_F(ManagementServerTest, CommandRoundTripWithArguments) {
  auto server = make_server();
  std::vector<std::string> seen;
  server->add_command("list", "shows a list", [&](std::span<const std::string> args) {
    seen.assign(args.begin(), args.end());
    return CommandResult{true, "ads: 3 rules\n"};
  });
  EXPECT_EQ(command(*server, "list  ads\tfull\r\n"), "ok\nads: 3 rules\n.\n");
  EXPECT_EQ(seen, (std::vector<std::string>{"ads", "full"}));
}

TEST_F(ManagementServerTest, TextLinesStartingWithADotAreStuffed) {
  auto server = make_server();
  server->add_command("dots", "", [](std::span<const std::string>) {
    return CommandResult{true, ".\n..\n.hidden\nend\n"};
  });
  const std::string raw = command(*server, "dots\n");
  EXPECT_EQ(raw, "ok\n..\n...\n..hidden\nend\n.\n");
  EXPECT_EQ(decode_response(raw)->text, ".\n..\n.hidden\nend\n");
}

TEST_F(ManagementServerTest, UnknownCommandListsTheKnownOnes) {
  auto server = make_server();
  EXPECT_EQ(command(*server, "flush\n"),
            "error: unknown command 'flush'; commands: echo, help\n.\n");
  EXPECT_EQ(command(*server, "  \n"), "error: empty command; commands: echo, help\n.\n");
}

TEST_F(ManagementServerTest, HelpListsCommandsWithTheirHelp) {
  auto server = make_server();
  server->add_command("cache", "cache statistics",
                      [](std::span<const std::string>) { return CommandResult{}; });
  EXPECT_EQ(command(*server, "help\n"),
            "ok\n"
            "cache  cache statistics\n"
            "echo   prints its arguments joined by |\n"
            "help   lists the commands\n"
            ".\n");
}

TEST_F(ManagementServerTest, CommandNamesAreTakenOnce) {
  auto server = make_server();
  const auto handler = [](std::span<const std::string>) { return CommandResult{}; };
  EXPECT_THROW(server->add_command("echo", "", handler), std::invalid_argument);
  EXPECT_THROW(server->add_command("help", "", handler), std::invalid_argument);
  EXPECT_THROW(server->add_command("two words", "", handler), std::invalid_argument);
  EXPECT_THROW(server->add_command("", "", handler), std::invalid_argument);
}

TEST_F(ManagementServerTest, FailingAndThrowingHandlersAnswerErrors) {
  auto server = make_server();
  server->add_command("fail", "", [](std::span<const std::string>) {
    return CommandResult{false, "list 'x' not found\nknown lists: ads\n"};
  });
  server->add_command("throw", "", [](std::span<const std::string>) -> CommandResult {
    throw std::runtime_error("reload in progress");
  });
  const std::string failed = command(*server, "fail\n");
  EXPECT_EQ(failed, "error: list 'x' not found\nknown lists: ads\n.\n");
  EXPECT_EQ(command(*server, "throw\n"), "error: reload in progress\n.\n");
  EXPECT_EQ(command(*server, "echo ok\n"), "ok\nok\n.\n");  // the server carries on
}

TEST_F(ManagementServerTest, SeveralCommandsOnOneConnection) {
  auto server = make_server();
  const Socket client = connect_unix(socket_path_);
  send_all(client, "echo a\necho b c\n");  // pipelined
  const std::string two = "ok\na\n.\nok\nb|c\n.\n";
  EXPECT_EQ(
      drive(*server, client, [&](const std::string& got) { return got.size() >= two.size(); }),
      two);
  send_all(client, "echo d\n");
  EXPECT_EQ(drive(*server, client, complete), "ok\nd\n.\n");
  EXPECT_EQ(server->connections(), 1u);
}

TEST_F(ManagementServerTest, LastLineWithoutNewlineIsAnsweredBeforeClosing) {
  auto server = make_server();
  const Socket client = connect_unix(socket_path_);
  send_all(client, "echo last");
  ::shutdown(client.get(), SHUT_WR);
  EXPECT_EQ(drive(*server, client), "ok\nlast\n.\n");  // then the server closes
  EXPECT_TRUE(poll_until(*server, [&] { return server->connections() == 0; }));
}

TEST_F(ManagementServerTest, OverlongCommandLineIsAnErrorAndCloses) {
  auto server = make_server();
  const Socket client = connect_unix(socket_path_);
  send_all(client, "echo " + std::string(9000, 'x'));
  EXPECT_EQ(drive(*server, client), "error: command line longer than 8192 bytes\n.\n");
}

TEST_F(ManagementServerTest, ClientThatDoesNotReadCannotBlockTheServer) {
  auto server = make_server();
  server->add_command("big", "", [](std::span<const std::string>) {
    return CommandResult{true, std::string(4 << 20, 'x') + "\n"};
  });
  const Socket client = connect_unix(socket_path_);
  send_all(client, "big\nbig\nbig\n");
  const auto start = Clock::now();
  for (int i = 0; i < 20; ++i) server->poll(0);
  EXPECT_LT(Clock::now() - start, 2s);
  const std::size_t one = (4 << 20) + 6;  // "ok\n", the text and its newline, ".\n"
  const std::string all =
      drive(*server, client, [&](const std::string& got) { return got.size() >= 3 * one; });
  EXPECT_EQ(all.size(), 3 * one);
}

TEST_F(ManagementServerTest, ControlConnectionsBeyondTheLimitAreRefused) {
  ManagementLimits limits;
  limits.max_connections = 2;
  auto server = make_server(limits);
  const Socket first = connect_unix(socket_path_);
  const Socket second = connect_unix(socket_path_);
  ASSERT_TRUE(poll_until(*server, [&] { return server->connections() == 2; }));
  const Socket third = connect_unix(socket_path_);
  EXPECT_EQ(drive(*server, third), "error: too many connections\n.\n");
  send_all(first, "echo 1\n");
  EXPECT_EQ(drive(*server, first, complete), "ok\n1\n.\n");
}

// ---- the socket file -------------------------------------------------------------

TEST_F(ManagementServerTest, SocketFileHasMode0660AndGoesAway) {
  {
    auto server = make_server();
    struct stat status {};
    ASSERT_EQ(::lstat(socket_path_.c_str(), &status), 0);
    EXPECT_TRUE(S_ISSOCK(status.st_mode));
    EXPECT_EQ(status.st_mode & 0777, 0660u);
  }
  EXPECT_FALSE(std::filesystem::exists(socket_path_));
}

TEST_F(ManagementServerTest, DestructionClosesOpenConnections) {
  auto server = make_server();
  const Socket client = connect_unix(socket_path_);
  ASSERT_TRUE(poll_until(*server, [&] { return server->connections() == 1; }));
  server.reset();
  std::string got;
  EXPECT_FALSE(read_some(client, got));
}

TEST_F(ManagementServerTest, StaleSocketFileIsReplaced) {
  {
    // A socket bound and never served: what a crashed process leaves behind.
    const Socket stale(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    socket_path_.copy(address.sun_path, sizeof address.sun_path - 1);
    ASSERT_EQ(::bind(stale.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
  }
  ASSERT_TRUE(std::filesystem::exists(socket_path_));
  auto server = make_server();
  EXPECT_EQ(command(*server, "echo fresh\n"), "ok\nfresh\n.\n");
}

TEST_F(ManagementServerTest, LiveSocketIsNotStolen) {
  auto server = make_server();
  ManagementConfig second;
  second.control_socket = socket_path_;
  try {
    ManagementServer other(second, [] { return std::string(); });
    FAIL() << "took over a live socket";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find(socket_path_), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("in use"), std::string::npos) << error.what();
  }
  EXPECT_EQ(command(*server, "echo mine\n"), "ok\nmine\n.\n");
}

TEST_F(ManagementServerTest, SuccessorsSocketIsNotRemoved) {
  auto first = make_server();
  // An operator removed the file and a new instance bound the path meanwhile.
  std::filesystem::remove(socket_path_);
  ManagementConfig second;
  second.control_socket = socket_path_;
  ManagementServer successor(second, [] { return std::string(); });
  first.reset();
  EXPECT_TRUE(std::filesystem::exists(socket_path_));
}

TEST_F(ManagementServerTest, FileThatIsNotASocketIsLeftAlone) {
  std::ofstream(socket_path_) << "not a socket";
  EXPECT_THROW(make_server(), std::runtime_error);
  std::ifstream in(socket_path_);
  std::string text;
  std::getline(in, text);
  EXPECT_EQ(text, "not a socket");
}

TEST_F(ManagementServerTest, UnwritableDirectoryIsReported) {
  ManagementConfig configuration;
  configuration.control_socket = directory_ + "/missing/control.sock";
  try {
    ManagementServer server(configuration, [] { return std::string(); });
    FAIL() << "bound in a missing directory";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find(configuration.control_socket), std::string::npos);
    EXPECT_NE(std::string(error.what()).find("No such file or directory"), std::string::npos)
        << error.what();
  }
}

TEST_F(ManagementServerTest, FailedSetUpLeaksNoDescriptor) {
  const auto open_descriptors = [] {
    const std::filesystem::directory_iterator fds("/proc/self/fd");
    return std::distance(begin(fds), end(fds));
  };
  ManagementConfig configuration = config();
  configuration.control_socket = directory_ + "/missing/control.sock";
  const auto before = open_descriptors();
  EXPECT_THROW(ManagementServer(configuration, [] { return std::string(); }), std::runtime_error);
  EXPECT_EQ(open_descriptors(), before);
}

}  // namespace
}  // namespace heimdall::control

namespace heimdall::control {
namespace {

// A stream that plays back its pieces, counting the calls; Done after the last.
class ScriptedStream : public ResponseStream {
 public:
  struct Piece {
    Step step;
    std::string text;
  };
  ScriptedStream(std::vector<Piece> pieces, int& pulls, bool& destroyed)
      : pieces_(std::move(pieces)), pulls_(pulls), destroyed_(destroyed) {}
  ~ScriptedStream() override { destroyed_ = true; }
  Step next(std::string& text) override {
    ++pulls_;
    if (next_ == pieces_.size()) return Step::Done;
    const Piece& piece = pieces_[next_++];
    if (piece.step == Step::Failed && piece.text == "throw") throw std::runtime_error("thrown");
    text = piece.text;
    return piece.step;
  }

 private:
  std::vector<Piece> pieces_;
  std::size_t next_ = 0;
  int& pulls_;
  bool& destroyed_;
};

// Pieces of 64 KiB for ever.
class EndlessStream : public ResponseStream {
 public:
  EndlessStream(int& pulls, bool& destroyed) : pulls_(pulls), destroyed_(destroyed) {}
  ~EndlessStream() override { destroyed_ = true; }
  Step next(std::string& text) override {
    ++pulls_;
    text.assign(64 * 1024 - 1, 'x').push_back('\n');
    return Step::More;
  }

 private:
  int& pulls_;
  bool& destroyed_;
};

using Step = ResponseStream::Step;

class StreamTest : public ManagementServerTest {
 protected:
  std::unique_ptr<ManagementServer> make_streaming(std::vector<ScriptedStream::Piece> pieces,
                                                   ManagementLimits limits = {}) {
    auto server = make_server(limits);
    server->add_command("stream", "", [this, pieces](std::span<const std::string>) {
      return CommandResult{true, "head\n",
                           std::make_shared<ScriptedStream>(pieces, pulls_, destroyed_)};
    });
    return server;
  }
  int pulls_ = 0;
  bool destroyed_ = false;
};

TEST_F(StreamTest, StreamedAnswerIsWrittenPieceByPieceThenTheNextCommandIsServed) {
  auto server = make_streaming({{Step::More, ".dot\nline1\n"},
                                {Step::Wait, ""},
                                {Step::Wait, "waiting\n"},
                                {Step::More, ""},
                                {Step::More, "line2\n"},
                                {Step::Done, "last\n"}});
  const Socket client = connect_unix(socket_path_);
  send_all(client, "stream\necho after\n");
  const std::string raw = drive(*server, client, [](const std::string& got) {
    return got.find("after\n.\n") != std::string::npos;
  });
  EXPECT_EQ(raw, "ok\nhead\n..dot\nline1\nwaiting\nline2\nlast\n.\nok\nafter\n.\n");
  EXPECT_EQ(pulls_, 6);
  EXPECT_TRUE(destroyed_);
}

TEST_F(StreamTest, StreamThatFailsAfterItsStartEndsWithTheErrorTrailer) {
  auto server = make_streaming({{Step::More, "partial\n"}, {Step::Failed, "walk stopped\nmore"}});
  server->add_command("throwing", "", [this](std::span<const std::string>) {
    return CommandResult{
        true, "",
        std::make_shared<ScriptedStream>(
            std::vector<ScriptedStream::Piece>{{Step::More, "partial\n"}, {Step::Failed, "throw"}},
            pulls_, destroyed_)};
  });
  EXPECT_EQ(command(*server, "stream\n"), "ok\nhead\npartial\n.error: walk stopped\n");
  EXPECT_EQ(command(*server, "throwing\n"), "ok\npartial\n.error: thrown\n");
}

TEST_F(StreamTest, StreamIsPulledOnlyAsFastAsTheClientReadsAndDroppedWhenItStops) {
  ManagementLimits limits;
  limits.idle_timeout = 300ms;
  auto server = make_server(limits);
  int pulls = 0;
  bool destroyed = false;
  server->add_command("endless", "", [&](std::span<const std::string>) {
    return CommandResult{true, "", std::make_shared<EndlessStream>(pulls, destroyed)};
  });
  const Socket client = connect_unix(socket_path_);
  send_all(client, "endless\n");
  // The client reads a little, then nothing: pieces stop at what the socket holds.
  std::string got;
  const auto start = Clock::now();
  while (Clock::now() - start < 100ms) {
    server->poll(1);
    read_some(client, got);
  }
  EXPECT_GT(got.size(), 64u * 1024);
  const int pulled_while_reading = pulls;
  for (int i = 0; i < 50; ++i) server->poll(1);
  const int pulled_after = pulls - pulled_while_reading;
  int buffer = 0;
  socklen_t length = sizeof buffer;
  ::getsockopt(client.get(), SOL_SOCKET, SO_RCVBUF, &buffer, &length);
  EXPECT_LE(pulled_after, 2 * buffer / (64 * 1024) + 2) << "rcvbuf " << buffer;
  EXPECT_FALSE(destroyed);
  // No progress for the idle timeout: the connection and its stream go, counted.
  EXPECT_TRUE(poll_until(*server, [&] { return server->connections() == 0; }));
  EXPECT_TRUE(destroyed);
  EXPECT_EQ(server->stalled_clients(), 1u);
}

TEST_F(StreamTest, OthersAreServedAndPollStaysShortWhileAStreamWaits) {
  auto server = make_server();
  bool ready = false;
  server->add_command("slow", "", [&](std::span<const std::string>) {
    // Waits until the test says so.
    struct Slow : ResponseStream {
      explicit Slow(bool& ready) : ready_(ready) {}
      Step next(std::string& text) override {
        if (!ready_) return Step::Wait;
        text = "finally\n";
        return Step::Done;
      }
      bool& ready_;
    };
    return CommandResult{true, "", std::make_shared<Slow>(ready)};
  });
  const Socket slow = connect_unix(socket_path_);
  send_all(slow, "slow\n");
  std::string got;
  for (int i = 0; i < 20; ++i) {
    server->poll(10);
    read_some(slow, got);
  }
  EXPECT_EQ(got, "ok\n");
  // The wait is kept short while a stream has nothing ready for its client.
  const auto start = Clock::now();
  server->poll(1000);
  EXPECT_LT(Clock::now() - start, 200ms);
  EXPECT_EQ(status_line(http(*server, "GET /metrics HTTP/1.1\r\n\r\n")), "HTTP/1.1 200 OK");
  EXPECT_EQ(command(*server, "echo meanwhile\n"), "ok\nmeanwhile\n.\n");
  ready = true;
  EXPECT_EQ(drive(*server, slow, [](const std::string& more) { return more.ends_with(".\n"); }),
            "finally\n.\n");
}

}  // namespace
}  // namespace heimdall::control
