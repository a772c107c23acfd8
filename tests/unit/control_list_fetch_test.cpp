// Reading a list source: local files, and URLs against a small HTTP/1.1 server run on a
// thread of this process; the last good copy kept on disk and used when the source fails.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "heimdall/control/list_fetch.hpp"

namespace heimdall::control {
namespace {

namespace fs = std::filesystem;

const std::string kAds = "0.0.0.0 ads.example\n0.0.0.0 tracker.example\n";
// 2001-09-09 01:46:40 UTC: Unix time 1000000000.
constexpr std::int64_t kOldTime = 1000000000;
const std::string kOldDate = "Sun, 09 Sep 2001 01:46:40 GMT";
constexpr std::uint64_t kSmallMax = 1024;

// gzip of "0.0.0.0 gz.example\n" and of 65536 '#': the second is 97 bytes on the wire.
constexpr unsigned char kGzipList[] = {0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
                                       0x03, 0x33, 0xd0, 0x33, 0x00, 0x41, 0x85, 0xf4, 0x2a,
                                       0xbd, 0xd4, 0x8a, 0xc4, 0xdc, 0x82, 0x9c, 0x54, 0x2e,
                                       0x00, 0xa8, 0xc6, 0x66, 0x95, 0x13, 0x00, 0x00, 0x00};
constexpr unsigned char kGzipBomb[] = {
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xed, 0xc1, 0x81, 0x00, 0x00, 0x00,
    0x00, 0x80, 0x20, 0x98, 0xfd, 0x1d, 0x17, 0xa9, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x6a, 0x6a, 0xf4, 0xd1, 0xbf, 0x00, 0x00, 0x01, 0x00};

template <std::size_t N>
std::string bytes(const unsigned char (&data)[N]) {
  return std::string(reinterpret_cast<const char*>(data), N);
}

struct Request {
  std::string path;
  std::string head;  // the request line and headers

  // The value of a header, matched case-insensitively by name.
  std::optional<std::string> header(const std::string& name) const {
    std::istringstream lines(head);
    std::string line;
    while (std::getline(lines, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      const auto colon = line.find(':');
      if (colon != name.size()) continue;
      if (!std::equal(name.begin(), name.end(), line.begin(), [](unsigned char a, unsigned char b) {
            return std::tolower(a) == std::tolower(b);
          })) {
        continue;
      }
      return line.substr(line.find_first_not_of(' ', colon + 1));
    }
    return std::nullopt;
  }
};

// Returns the raw response, or nullopt to read the request and never answer.
using Handler = std::function<std::optional<std::string>(const Request&)>;

std::string response(const std::string& status, const std::string& body,
                     const std::string& headers = "") {
  return "HTTP/1.1 " + status + "\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n" + headers + "\r\n" + body;
}

// The body runs to the end of the connection: no Content-Length to check up front.
std::string close_delimited(const std::string& body) {
  return "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body;
}

std::string chunked(const std::string& body) {
  std::ostringstream text;
  text << "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
  const std::size_t half = body.size() / 2;
  for (const std::string& part : {body.substr(0, half), body.substr(half)}) {
    text << std::hex << part.size() << "\r\n" << part << "\r\n";
  }
  text << "0\r\n\r\n";
  return text.str();
}

std::string redirect(const std::string& location) {
  return response("302 Found", "", "Location: " + location + "\r\n");
}

// One connection at a time is enough: fetch_list makes one request at a time. Every wait
// also watches a pipe written by the destructor, so the server stops whatever it is in
// the middle of, including a request it was told never to answer.
class TestServer {
 public:
  explicit TestServer(std::map<std::string, Handler> routes) : routes_(std::move(routes)) {
    if (::pipe(stop_) != 0) throw std::runtime_error("pipe failed");
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        ::listen(listener_, 8) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error("test server: cannot listen");
    }
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~TestServer() {
    const char byte = 0;
    (void)!::write(stop_[1], &byte, 1);
    thread_.join();
    ::close(listener_);
    ::close(stop_[0]);
    ::close(stop_[1]);
  }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  std::vector<Request> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  std::size_t count(const std::string& path) const {
    const auto all = requests();
    return std::count_if(all.begin(), all.end(),
                         [&](const Request& request) { return request.path == path; });
  }

 private:
  // False when the server is being stopped.
  bool wait_readable(int fd) const {
    pollfd fds[2] = {{fd, POLLIN, 0}, {stop_[0], POLLIN, 0}};
    while (::poll(fds, 2, -1) < 0) {
      if (errno != EINTR) return false;
    }
    return fds[1].revents == 0;
  }

  void run() {
    while (wait_readable(listener_)) {
      const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      serve(client);
      ::close(client);
    }
  }

  void serve(int client) {
    std::string head;
    char buffer[4096];
    while (head.find("\r\n\r\n") == std::string::npos) {
      if (!wait_readable(client)) return;
      const ssize_t got = ::recv(client, buffer, sizeof buffer, 0);
      if (got <= 0) return;
      head.append(buffer, static_cast<std::size_t>(got));
    }
    Request request;
    request.head = head.substr(0, head.find("\r\n\r\n"));
    std::istringstream(request.head) >> request.path >> request.path;  // "GET /path HTTP/1.1"
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(request);
    }
    const auto route = routes_.find(request.path);
    const std::optional<std::string> answer =
        route == routes_.end() ? response("404 Not Found", "") : route->second(request);
    if (!answer) {
      // Hold the connection until the client gives up (or the test ends).
      while (wait_readable(client) && ::recv(client, buffer, sizeof buffer, 0) > 0) {
      }
      return;
    }
    // The client may abort mid-body (too big): no SIGPIPE, and the rest is dropped.
    std::size_t sent = 0;
    while (sent < answer->size()) {
      const ssize_t wrote =
          ::send(client, answer->data() + sent, answer->size() - sent, MSG_NOSIGNAL);
      if (wrote <= 0) return;
      sent += static_cast<std::size_t>(wrote);
    }
  }

  std::map<std::string, Handler> routes_;
  int stop_[2] = {-1, -1};
  int listener_ = -1;
  std::uint16_t port_ = 0;
  mutable std::mutex mutex_;
  std::vector<Request> requests_;
  std::thread thread_;
};

Handler answer(std::string raw) {
  return [raw = std::move(raw)](const Request&) { return raw; };
}

std::map<std::string, Handler> routes() {
  const std::string just_over(kSmallMax + 1, '#');
  return {
      {"/ads.txt", answer(response("200 OK", kAds))},
      {"/dated.txt", answer(response("200 OK", kAds, "Last-Modified: " + kOldDate + "\r\n"))},
      {"/fresh.txt",
       [](const Request& request) {
         return request.header("If-Modified-Since") ? response("304 Not Modified", "")
                                                    : response("200 OK", "new list\n");
       }},
      // Ignores If-Modified-Since but says its document is as old as our copy.
      {"/ignores-ims.txt",
       answer(response("200 OK", "same list\n", "Last-Modified: " + kOldDate + "\r\n"))},
      {"/missing", answer(response("404 Not Found", "no such list\n"))},
      {"/missing-big", answer(response("404 Not Found", std::string(4 * kSmallMax, '.')))},
      {"/slow", [](const Request&) { return std::optional<std::string>(); }},
      {"/big", answer(response("200 OK", just_over))},
      {"/big-close", answer(close_delimited(just_over))},
      {"/big-chunked", answer(chunked(just_over))},
      {"/exact", answer(close_delimited(std::string(kSmallMax, '#')))},
      {"/gzip", answer(response("200 OK", bytes(kGzipList), "Content-Encoding: gzip\r\n"))},
      {"/gzip-bomb", answer(response("200 OK", bytes(kGzipBomb), "Content-Encoding: gzip\r\n"))},
      {"/moved", answer(redirect("/ads.txt"))},
      {"/loop", answer(redirect("/loop"))},
      {"/to-file", answer(redirect("file:///etc/hostname"))},
  };
}

class TempDir {
 public:
  TempDir() {
    char name[] = "/tmp/heimdall-list-fetch-test-XXXXXX";
    if (::mkdtemp(name) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = name;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(path_)) {
      names.push_back(entry.path().filename());
    }
    return names;
  }

 private:
  std::string path_;
};

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::string read_whole(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

std::int64_t mtime_of(const std::string& path) {
  struct stat status {};
  if (::stat(path.c_str(), &status) != 0) return -1;
  return status.st_mtim.tv_sec;
}

void set_mtime(const std::string& path, std::int64_t seconds) {
  const timespec times[2] = {{static_cast<time_t>(seconds), 0}, {static_cast<time_t>(seconds), 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
}

// Bounds on every transfer, so no test can hang on a server that stopped answering.
FetchLimits quick(std::uint64_t max_bytes = 1 << 20) {
  return {.connect_timeout_ms = 2000, .timeout_ms = 10000, .max_bytes = max_bytes};
}

class ListFetchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A proxy from the environment must not stand between the test and its server.
    ::setenv("no_proxy", "127.0.0.1", 1);
  }

  FetchedList fetch(const std::string& path, const std::string& copy,
                    const FetchLimits& limits = quick()) {
    return fetch_list(server_.url(path), copy, limits);
  }

  TempDir dir_;
  TestServer server_{routes()};
  const std::string copy_ = dir_ / "ads.txt";
};

TEST(IsUrl, AcceptsHttpAndHttpsInAnyCase) {
  EXPECT_TRUE(is_url("http://example.com/list.txt"));
  EXPECT_TRUE(is_url("https://example.com/list.txt"));
  EXPECT_TRUE(is_url("HTTP://example.com/"));
  EXPECT_TRUE(is_url("HtTpS://example.com/"));
}

TEST(IsUrl, RejectsOtherSchemesAndPaths) {
  EXPECT_FALSE(is_url("ftp://example.com/list.txt"));
  EXPECT_FALSE(is_url("file:///etc/hosts"));
  EXPECT_FALSE(is_url("/etc/heimdall/lists/ads.txt"));
  EXPECT_FALSE(is_url("lists/http://x"));
  EXPECT_FALSE(is_url("http:/example.com"));
  EXPECT_FALSE(is_url("https:"));
  EXPECT_FALSE(is_url(""));
}

TEST_F(ListFetchTest, ReadsLocalFileWhole) {
  const std::string path = dir_ / "local.txt";
  const std::string text = kAds + std::string("with a \0 inside\n", 16);
  write_file(path, text);
  const FetchedList list = fetch_list(path, copy_, quick());
  EXPECT_TRUE(list.ok);
  EXPECT_EQ(list.text, text);
  EXPECT_EQ(list.error, "");
  EXPECT_FALSE(list.from_last_good);
  EXPECT_EQ(list.http_status, 0);
  EXPECT_FALSE(fs::exists(copy_));  // a local file needs no copy
}

TEST_F(ListFetchTest, MissingLocalFileFailsWithErrnoText) {
  const std::string path = dir_ / "absent.txt";
  const FetchedList list = fetch_list(path, "", quick());
  EXPECT_FALSE(list.ok);
  EXPECT_EQ(list.error, path + ": No such file or directory");
}

TEST_F(ListFetchTest, DirectoryIsNotAList) {
  const std::string path = dir_ / "lists";
  fs::create_directory(path);
  const FetchedList list = fetch_list(path, "", quick());
  EXPECT_FALSE(list.ok);
  EXPECT_EQ(list.error, path + ": Is a directory");
}

TEST_F(ListFetchTest, LocalFileLargerThanMaxBytesIsRefused) {
  const std::string path = dir_ / "big.txt";
  write_file(path, std::string(kSmallMax + 1, '#'));
  const FetchedList list = fetch_list(path, "", quick(kSmallMax));
  EXPECT_FALSE(list.ok);
  EXPECT_EQ(list.text, "");
  EXPECT_EQ(list.error, path + ": larger than 1024 bytes");
}

TEST_F(ListFetchTest, OtherSchemesAreReadAsPaths) {
  // The file exists, but "file://..." names a path under a directory "file:", so it is
  // not read through the URL.
  write_file(dir_ / "list.txt", kAds);
  const std::string file_url = "file://" + (dir_ / "list.txt");
  FetchedList list = fetch_list(file_url, copy_, quick());
  EXPECT_FALSE(list.ok);
  EXPECT_EQ(list.error, file_url + ": No such file or directory");

  const std::string ftp_url = "ftp://127.0.0.1/ads.txt";
  list = fetch_list(ftp_url, copy_, quick());
  EXPECT_FALSE(list.ok);
  EXPECT_EQ(list.error, ftp_url + ": No such file or directory");
}

TEST_F(ListFetchTest, DownloadsAndKeepsTheBodyAsLastGoodCopy) {
  const FetchedList list = fetch("/ads.txt", copy_);
  EXPECT_TRUE(list.ok);
  EXPECT_EQ(list.text, kAds);
  EXPECT_EQ(list.error, "");
  EXPECT_EQ(list.http_status, 200);
  EXPECT_FALSE(list.from_last_good);
  EXPECT_FALSE(list.not_modified);
  EXPECT_EQ(read_whole(copy_), kAds);
  // The temporary file was renamed, not left behind.
  EXPECT_EQ(dir_.entries(), std::vector<std::string>{"ads.txt"});
}

TEST_F(ListFetchTest, IdentifiesItselfAndAsksOnlyWhenItHasACopy) {
  fetch("/ads.txt", copy_);
  const auto requests = server_.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].header("User-Agent"), "heimdall");
  EXPECT_TRUE(requests[0].header("Accept-Encoding").has_value());
  EXPECT_FALSE(requests[0].header("If-Modified-Since").has_value());
}

TEST_F(ListFetchTest, CopyCarriesTheServersLastModified) {
  ASSERT_TRUE(fetch("/dated.txt", copy_).ok);
  EXPECT_EQ(mtime_of(copy_), kOldTime);
}

TEST_F(ListFetchTest, NotModifiedReturnsTheCopy) {
  write_file(copy_, "old list\n");
  set_mtime(copy_, kOldTime);
  const FetchedList list = fetch("/fresh.txt", copy_);
  EXPECT_TRUE(list.ok);
  EXPECT_TRUE(list.not_modified);
  EXPECT_TRUE(list.from_last_good);
  EXPECT_EQ(list.text, "old list\n");
  EXPECT_EQ(list.error, "");
  EXPECT_EQ(list.http_status, 304);
  const auto requests = server_.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].header("If-Modified-Since"), kOldDate);
  EXPECT_EQ(read_whole(copy_), "old list\n");
}

TEST_F(ListFetchTest, BodyNoNewerThanTheCopyCountsAsNotModified) {
  write_file(copy_, "same list\n");
  set_mtime(copy_, kOldTime);
  const FetchedList list = fetch("/ignores-ims.txt", copy_);
  EXPECT_TRUE(list.ok);
  EXPECT_TRUE(list.not_modified);
  EXPECT_EQ(list.text, "same list\n");
  EXPECT_EQ(list.error, "");
}

TEST_F(ListFetchTest, NotFoundWithoutCopyFails) {
  const FetchedList list = fetch("/missing", copy_);
  EXPECT_FALSE(list.ok);
  EXPECT_FALSE(list.from_last_good);
  EXPECT_EQ(list.text, "");
  EXPECT_EQ(list.error, server_.url("/missing") + ": HTTP 404");
  EXPECT_EQ(list.http_status, 404);
  EXPECT_FALSE(fs::exists(copy_));  // an error page is not kept
}

TEST_F(ListFetchTest, NotFoundFallsBackToTheCopy) {
  write_file(copy_, "kept list\n");
  const FetchedList list = fetch("/missing", copy_);
  EXPECT_TRUE(list.ok);
  EXPECT_TRUE(list.from_last_good);
  EXPECT_FALSE(list.not_modified);
  EXPECT_EQ(list.text, "kept list\n");
  EXPECT_EQ(list.error, server_.url("/missing") + ": HTTP 404");
  EXPECT_EQ(list.http_status, 404);
  EXPECT_EQ(read_whole(copy_), "kept list\n");
}

TEST_F(ListFetchTest, LargeErrorPageIsReportedByItsStatus) {
  const FetchedList list = fetch("/missing-big", copy_, quick(kSmallMax));
  EXPECT_FALSE(list.ok);
  EXPECT_EQ(list.error, server_.url("/missing-big") + ": HTTP 404");
}

TEST_F(ListFetchTest, EmptyCopyPathKeepsNoCopy) {
  write_file(copy_, "kept list\n");
  EXPECT_FALSE(fetch("/missing", "").ok);  // the file at copy_ is not consulted
  const FetchedList list = fetch("/ads.txt", "");
  EXPECT_TRUE(list.ok);
  EXPECT_EQ(list.text, kAds);
  EXPECT_EQ(read_whole(copy_), "kept list\n");
  EXPECT_FALSE(server_.requests()[1].header("If-Modified-Since").has_value());
}

TEST_F(ListFetchTest, SilentServerTimesOut) {
  const FetchLimits limits{.connect_timeout_ms = 2000, .timeout_ms = 300};
  const FetchedList list = fetch("/slow", copy_, limits);
  EXPECT_FALSE(list.ok);
  EXPECT_EQ(list.error, server_.url("/slow") + ": timed out after 300 ms");
  EXPECT_EQ(list.http_status, 0);
}

TEST_F(ListFetchTest, SilentServerFallsBackToTheCopy) {
  write_file(copy_, "kept list\n");
  const FetchLimits limits{.connect_timeout_ms = 2000, .timeout_ms = 300};
  const FetchedList list = fetch("/slow", copy_, limits);
  EXPECT_TRUE(list.ok);
  EXPECT_TRUE(list.from_last_good);
  EXPECT_EQ(list.text, "kept list\n");
  EXPECT_EQ(list.error, server_.url("/slow") + ": timed out after 300 ms");
}

TEST_F(ListFetchTest, RefusedConnectionFails) {
  // A bound socket that does not listen refuses connections to its port.
  const int socket = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ASSERT_EQ(::bind(socket, reinterpret_cast<sockaddr*>(&address), length), 0);
  ASSERT_EQ(::getsockname(socket, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const std::string url =
      "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port)) + "/ads.txt";
  const FetchedList list = fetch_list(url, copy_, quick());
  ::close(socket);
  EXPECT_FALSE(list.ok);
  EXPECT_EQ(list.error.rfind(url + ": ", 0), 0u) << list.error;
  EXPECT_GT(list.error.size(), url.size() + 2);
}

class TooBigTest : public ListFetchTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(TooBigTest, BodyLargerThanMaxBytesIsRefused) {
  const FetchedList list = fetch(GetParam(), copy_, quick(kSmallMax));
  EXPECT_FALSE(list.ok);
  EXPECT_EQ(list.text, "");
  EXPECT_EQ(list.error, server_.url(GetParam()) + ": larger than 1024 bytes");
  EXPECT_FALSE(fs::exists(copy_));
}

TEST_P(TooBigTest, BodyLargerThanMaxBytesLeavesTheCopy) {
  write_file(copy_, "kept list\n");
  const FetchedList list = fetch(GetParam(), copy_, quick(kSmallMax));
  EXPECT_TRUE(list.ok);
  EXPECT_TRUE(list.from_last_good);
  EXPECT_EQ(list.text, "kept list\n");
  EXPECT_EQ(list.error, server_.url(GetParam()) + ": larger than 1024 bytes");
  EXPECT_EQ(read_whole(copy_), "kept list\n");
}

// With a Content-Length, without one (close-delimited and chunked), and gzip-encoded
// (97 bytes on the wire, 64 KiB decoded).
INSTANTIATE_TEST_SUITE_P(Framings, TooBigTest,
                         ::testing::Values("/big", "/big-close", "/big-chunked", "/gzip-bomb"));

TEST_F(ListFetchTest, BodyOfExactlyMaxBytesIsAccepted) {
  const FetchedList list = fetch("/exact", copy_, quick(kSmallMax));
  EXPECT_TRUE(list.ok);
  EXPECT_EQ(list.text, std::string(kSmallMax, '#'));
}

TEST_F(ListFetchTest, GzipBodyIsDecoded) {
  const FetchedList list = fetch("/gzip", copy_);
  EXPECT_TRUE(list.ok);
  EXPECT_EQ(list.text, "0.0.0.0 gz.example\n");
  EXPECT_EQ(read_whole(copy_), "0.0.0.0 gz.example\n");
}

TEST_F(ListFetchTest, FollowsRedirect) {
  const FetchedList list = fetch("/moved", copy_);
  EXPECT_TRUE(list.ok);
  EXPECT_EQ(list.text, kAds);
  EXPECT_EQ(list.http_status, 200);
  EXPECT_EQ(server_.count("/moved"), 1u);
  EXPECT_EQ(server_.count("/ads.txt"), 1u);
}

TEST_F(ListFetchTest, StopsAfterFiveRedirects) {
  const FetchedList list = fetch("/loop", copy_);
  EXPECT_FALSE(list.ok);
  EXPECT_EQ(list.error.rfind(server_.url("/loop") + ": ", 0), 0u) << list.error;
  EXPECT_NE(list.error.find("redirects"), std::string::npos) << list.error;
  EXPECT_EQ(server_.count("/loop"), 6u);  // the request and five redirects
}

TEST_F(ListFetchTest, RefusesRedirectToAnotherScheme) {
  const FetchedList list = fetch("/to-file", copy_);
  EXPECT_FALSE(list.ok);
  EXPECT_EQ(list.text, "");
  // libcurl's own words: the protocol was refused, not fetched and then judged.
  EXPECT_EQ(list.error.rfind(server_.url("/to-file") + ": Protocol \"file\"", 0), 0u) << list.error;
  EXPECT_FALSE(fs::exists(copy_));
}

TEST_F(ListFetchTest, CopyThatCannotBeWrittenIsReportedButTheListIsUsed) {
  const std::string copy = dir_ / "no-such-dir/ads.txt";
  const FetchedList list = fetch("/ads.txt", copy);
  EXPECT_TRUE(list.ok);
  EXPECT_FALSE(list.from_last_good);
  EXPECT_EQ(list.text, kAds);
  EXPECT_EQ(list.error, server_.url("/ads.txt") + ": last good copy not kept: " + copy +
                            ": No such file or directory");
}

TEST_F(ListFetchTest, NewDownloadReplacesTheCopy) {
  write_file(copy_, "old list\n");
  const FetchedList list = fetch("/ads.txt", copy_);
  EXPECT_TRUE(list.ok);
  EXPECT_FALSE(list.from_last_good);
  EXPECT_EQ(read_whole(copy_), kAds);
  EXPECT_EQ(dir_.entries(), std::vector<std::string>{"ads.txt"});
}

}  // namespace
}  // namespace heimdall::control
