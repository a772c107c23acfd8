// A blocklist source read from a file or downloaded with libcurl, with the last good
// download kept on disk for when the server is down.
#include "heimdall/control/list_fetch.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "heimdall/net/unique_fd.hpp"

namespace heimdall::control {
namespace {

constexpr long kMaxRedirects = 5;
constexpr std::size_t kReadChunk = 64 * 1024;

struct CurlEasyDeleter {
  void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
};
using CurlEasy = std::unique_ptr<CURL, CurlEasyDeleter>;

std::string too_big_text(std::uint64_t max_bytes) {
  return "larger than " + std::to_string(max_bytes) + " bytes";
}

// A file's content, or why it could not be had ("<path>: <reason>"); errno_value tells
// a missing file (no copy kept yet) from a broken one.
struct FileText {
  std::string text;
  std::string error;
  int errno_value = 0;
};

FileText fail_file(const std::string& path, int errno_value) {
  return {{}, path + ": " + std::strerror(errno_value), errno_value};
}

FileText read_file(const std::string& path, std::uint64_t max_bytes) {
  net::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return fail_file(path, errno);
  struct stat status {};
  if (::fstat(fd.get(), &status) != 0) return fail_file(path, errno);
  // read(2) on a directory fails with EISDIR anyway; saying it before reading is clearer
  // than relying on that.
  if (S_ISDIR(status.st_mode)) return fail_file(path, EISDIR);
  const auto size = static_cast<std::uint64_t>(status.st_size);
  if (size > max_bytes) return {{}, path + ": " + too_big_text(max_bytes), 0};
  FileText result;
  result.text.reserve(size + kReadChunk);  // the last read(2) needs room to return 0
  // st_size is only a hint: a pipe reports 0 and a file may grow while read.
  for (;;) {
    const std::size_t used = result.text.size();
    result.text.resize(used + kReadChunk);
    const ssize_t got = ::read(fd.get(), result.text.data() + used, kReadChunk);
    const int read_errno = errno;
    result.text.resize(used + static_cast<std::size_t>(std::max<ssize_t>(got, 0)));
    if (got == 0) return result;
    if (got < 0 && read_errno == EINTR) continue;
    if (got < 0) return fail_file(path, read_errno);
    if (result.text.size() > max_bytes) return {{}, path + ": " + too_big_text(max_bytes), 0};
  }
}

std::optional<std::int64_t> mtime_of(const std::string& path) {
  struct stat status {};
  if (::stat(path.c_str(), &status) != 0 || !S_ISREG(status.st_mode)) return std::nullopt;
  return status.st_mtim.tv_sec;
}

bool write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t wrote = ::write(fd, text.data() + done, text.size() - done);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote < 0) return false;
    done += static_cast<std::size_t>(wrote);
  }
  return true;
}

// Without it a crash right after the rename could lose the rename itself. Returns 0 or
// the errno value.
int sync_directory(const std::string& directory) {
  net::UniqueFd fd(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0 || ::fsync(fd.get()) != 0) return errno;
  return 0;
}

// Readers (this function on the next failure, an operator) see the old copy or the new
// one, never a half-written file. `mtime` < 0: none known, the write time stays.
// Returns "" or "<path>: <reason>".
std::string write_copy(const std::string& path, const std::string& text, std::int64_t mtime) {
  std::filesystem::path target(path);
  const std::string directory =
      target.has_parent_path() ? target.parent_path().string() : std::string(".");
  std::string temp = directory + "/." + target.filename().string() + ".XXXXXX";
  net::UniqueFd fd(::mkostemp(temp.data(), O_CLOEXEC));
  if (fd.get() < 0) return path + ": " + std::strerror(errno);
  const auto fail = [&](int errno_value) {
    ::unlink(temp.c_str());
    return path + ": " + std::strerror(errno_value);
  };
  // mkostemp makes the file 0600; a public list need not be hidden from the operator.
  if (::fchmod(fd.get(), 0644) != 0 || !write_all(fd.get(), text)) return fail(errno);
  if (mtime >= 0) {
    // The copy's mtime is what goes out as If-Modified-Since: the server's own
    // Last-Modified keeps that comparison on the server's clock.
    const timespec times[2] = {{0, UTIME_NOW}, {static_cast<time_t>(mtime), 0}};
    if (::futimens(fd.get(), times) != 0) return fail(errno);
  }
  if (::fsync(fd.get()) != 0 || !fd.close()) return fail(errno);
  if (::rename(temp.c_str(), path.c_str()) != 0) return fail(errno);
  if (const int error = sync_directory(directory); error != 0) {
    return path + ": " + std::strerror(error);
  }
  return {};
}

// Puts the last good copy in `result` when there is one. A copy that exists but cannot
// be read is worth a line in the error; one that does not exist is the normal first run.
void use_last_good(FetchedList& result, const std::string& path, const FetchLimits& limits) {
  if (path.empty()) return;
  FileText copy = read_file(path, limits.max_bytes);
  if (copy.error.empty()) {
    result.ok = true;
    result.from_last_good = true;
    result.text = std::move(copy.text);
  } else if (copy.errno_value != ENOENT) {
    result.error += "; last good copy " + copy.error;
  }
}

bool curl_ready() {
  // curl_global_init is not thread-safe and must run once per process; there is no
  // matching cleanup because the control thread may fetch until the process exits.
  static std::once_flag once;
  static CURLcode init = CURLE_FAILED_INIT;
  std::call_once(once, [] { init = curl_global_init(CURL_GLOBAL_DEFAULT); });
  return init == CURLE_OK;
}

struct Download {
  CURL* handle = nullptr;
  std::uint64_t max_bytes = 0;
  std::string body;
  bool too_big = false;
};

bool is_success(long status) { return status >= 200 && status <= 299; }

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto& download = *static_cast<Download*>(user);
  const std::size_t bytes = size * count;
  long status = 0;
  curl_easy_getinfo(download.handle, CURLINFO_RESPONSE_CODE, &status);
  // An error page is not a list, and its size must not turn a 404 into "too big".
  if (!is_success(status)) return bytes;
  // Servers may omit Content-Length (chunked, or close-delimited), and a gzip body grows
  // when decoded, so CURLOPT_MAXFILESIZE alone does not bound what reaches memory.
  if (download.body.size() + bytes > download.max_bytes) {
    download.too_big = true;
    return 0;  // makes libcurl abort with CURLE_WRITE_ERROR
  }
  if (download.body.empty()) {
    curl_off_t length = -1;
    curl_easy_getinfo(download.handle, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
    if (length > 0 && static_cast<std::uint64_t>(length) <= download.max_bytes) {
      download.body.reserve(static_cast<std::size_t>(length));
    }
  }
  download.body.append(data, bytes);
  return bytes;
}

// Every option is checked: a libcurl that refused CURLOPT_PROTOCOLS_STR would otherwise
// happily follow a redirect to file:// or worse.
class Options {
 public:
  explicit Options(CURL* handle) : handle_(handle) {}
  template <typename Value>
  Options& set(CURLoption option, Value value) {
    if (result_ == CURLE_OK) result_ = curl_easy_setopt(handle_, option, value);
    return *this;
  }
  CURLcode result() const { return result_; }

 private:
  CURL* handle_;
  CURLcode result_ = CURLE_OK;
};

CURLcode configure(CURL* handle, const std::string& url, const FetchLimits& limits,
                   Download& download, char* error_buffer, std::optional<std::int64_t> since) {
  const auto max_file = static_cast<curl_off_t>(std::min<std::uint64_t>(
      limits.max_bytes, static_cast<std::uint64_t>(std::numeric_limits<curl_off_t>::max())));
  Options options(handle);
  options.set(CURLOPT_ERRORBUFFER, error_buffer)
      .set(CURLOPT_URL, url.c_str())
      // Signals would reach other threads' handlers; timeouts must not rely on SIGALRM.
      .set(CURLOPT_NOSIGNAL, 1L)
      .set(CURLOPT_PROTOCOLS_STR, "http,https")
      .set(CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
      .set(CURLOPT_FOLLOWLOCATION, 1L)
      .set(CURLOPT_MAXREDIRS, kMaxRedirects)
      .set(CURLOPT_FAILONERROR, 0L)
      .set(CURLOPT_ACCEPT_ENCODING, "")
      .set(CURLOPT_USERAGENT, "heimdall")
      .set(CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(limits.connect_timeout_ms))
      .set(CURLOPT_TIMEOUT_MS, static_cast<long>(limits.timeout_ms))
      .set(CURLOPT_MAXFILESIZE_LARGE, max_file)
      .set(CURLOPT_FILETIME, 1L)
      .set(CURLOPT_WRITEFUNCTION, on_body)
      .set(CURLOPT_WRITEDATA, &download);
  if (since) {
    options.set(CURLOPT_TIMECONDITION, static_cast<long>(CURL_TIMECOND_IFMODSINCE))
        .set(CURLOPT_TIMEVALUE_LARGE, static_cast<curl_off_t>(*since));
  }
  return options.result();
}

// What a failed transfer reads as after "<url>: ".
std::string describe_failure(CURL* handle, CURLcode code, long status, const Download& download,
                             const char* error_buffer, const FetchLimits& limits) {
  // The server's own verdict explains more than what went wrong while reading its page.
  if (status >= 400) return "HTTP " + std::to_string(status);
  if (download.too_big || code == CURLE_FILESIZE_EXCEEDED) return too_big_text(limits.max_bytes);
  if (code == CURLE_OPERATION_TIMEDOUT) {
    curl_off_t connected_us = 0;
    curl_easy_getinfo(handle, CURLINFO_CONNECT_TIME_T, &connected_us);
    if (connected_us > 0) return "timed out after " + std::to_string(limits.timeout_ms) + " ms";
    const unsigned bound = std::min(limits.connect_timeout_ms, limits.timeout_ms);
    return "connect timed out after " + std::to_string(bound) + " ms";
  }
  if (code != CURLE_OK) return error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code);
  return "HTTP " + std::to_string(status);
}

FetchedList download(const std::string& url, const std::string& last_good_path,
                     const FetchLimits& limits) {
  FetchedList result;
  if (!curl_ready()) {
    result.error = url + ": libcurl could not be initialised";
    use_last_good(result, last_good_path, limits);
    return result;
  }
  CurlEasy handle(curl_easy_init());
  if (!handle) {
    result.error = url + ": libcurl could not create a transfer";
    use_last_good(result, last_good_path, limits);
    return result;
  }
  const std::optional<std::int64_t> since =
      last_good_path.empty() ? std::nullopt : mtime_of(last_good_path);
  Download body;
  body.handle = handle.get();
  body.max_bytes = limits.max_bytes;
  char error_buffer[CURL_ERROR_SIZE] = {};
  CURLcode code = configure(handle.get(), url, limits, body, error_buffer, since);
  if (code == CURLE_OK) code = curl_easy_perform(handle.get());
  curl_easy_getinfo(handle.get(), CURLINFO_RESPONSE_CODE, &result.http_status);

  long unmet = 0;
  curl_easy_getinfo(handle.get(), CURLINFO_CONDITION_UNMET, &unmet);
  // A server that ignores If-Modified-Since but sends a Last-Modified no newer than ours
  // gets its body skipped by libcurl, which reports the condition unmet (7.88 also turns
  // the status into a simulated 304).
  if (code == CURLE_OK && since && (result.http_status == 304 || unmet != 0)) {
    result.not_modified = true;
    FileText copy = read_file(last_good_path, limits.max_bytes);
    if (!copy.error.empty()) {
      result.error = url + ": not modified, but the last good copy is unusable: " + copy.error;
      return result;
    }
    result.ok = true;
    result.from_last_good = true;
    result.text = std::move(copy.text);
    return result;
  }
  if (code == CURLE_OK && is_success(result.http_status)) {
    result.ok = true;
    result.text = std::move(body.body);
    if (!last_good_path.empty()) {
      curl_off_t filetime = -1;
      curl_easy_getinfo(handle.get(), CURLINFO_FILETIME_T, &filetime);
      const std::string copy_error = write_copy(last_good_path, result.text, filetime);
      if (!copy_error.empty()) result.error = url + ": last good copy not kept: " + copy_error;
    }
    return result;
  }
  result.error =
      url + ": " +
      describe_failure(handle.get(), code, result.http_status, body, error_buffer, limits);
  use_last_good(result, last_good_path, limits);
  return result;
}

}  // namespace

bool is_url(std::string_view source) {
  const auto has_scheme = [source](std::string_view scheme) {
    return source.size() >= scheme.size() &&
           std::equal(scheme.begin(), scheme.end(), source.begin(), [](char want, char got) {
             return want == (got >= 'A' && got <= 'Z' ? got - 'A' + 'a' : got);
           });
  };
  return has_scheme("http://") || has_scheme("https://");
}

FetchedList fetch_list(const std::string& source, const std::string& last_good_path,
                       const FetchLimits& limits) {
  if (is_url(source)) return download(source, last_good_path, limits);
  FetchedList result;
  FileText file = read_file(source, limits.max_bytes);
  result.ok = file.error.empty();
  result.text = std::move(file.text);
  result.error = std::move(file.error);
  return result;
}

}  // namespace heimdall::control
