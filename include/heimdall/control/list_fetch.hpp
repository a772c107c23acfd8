// Reading a blocklist source (docs/architecture.md §10.2): a local file, or
// an http(s) URL downloaded with libcurl, with a last good copy on disk so that a dead
// server at start-up or on a refresh leaves the previous list in force instead of none.
// Runs in the control thread (or at start-up): it blocks, allocates and does I/O, and
// is never called from the packet path. Safe to call from several threads at once.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace heimdall::control {

// The timeouts must be > 0: libcurl reads 0 as "no limit".
struct FetchLimits {
  unsigned connect_timeout_ms = 5000;
  unsigned timeout_ms = 30000;  // whole transfer; a dead URL never blocks start-up longer
  std::uint64_t max_bytes = 256ull << 20;  // a larger body (after gzip decoding) is refused, not
                                           // truncated; applies to local files too
};

struct FetchedList {
  bool ok = false;              // `text` is usable: fresh, or the last good copy
  bool from_last_good = false;  // the source failed (or said 304) and `text` is the kept copy
  bool not_modified = false;    // HTTP 304 to our If-Modified-Since (text = last good copy,
                                // ok = true, error empty)
  std::string text;
  // Why the source failed, "" when it did not. Names the source, e.g.
  // "http://127.0.0.1:8080/ads.txt: HTTP 404", "...: timed out after 300 ms",
  // "...: larger than 1048576 bytes", "/etc/lists/x.txt: No such file or directory".
  // Also set, with ok and fresh text, when the download worked but the last good copy
  // could not be written ("<url>: last good copy not kept: <path>: <reason>").
  std::string error;
  long http_status = 0;  // the final response's status (after redirects), also when the copy is
                         // used; 0 for files and for transfers that got no status
};

// True for "http://" and "https://" (scheme case-insensitive). Any other scheme
// ("ftp://", "file://") is not a URL: fetch_list treats it as a local path, so it
// fails as a missing file rather than reaching a protocol we do not mean to speak.
bool is_url(std::string_view source);

// A local path is read whole (`last_good_path` unused; errors are "<path>: <strerror>").
//
// A URL is downloaded in the calling thread: redirects are followed (at most 5, http and
// https only), gzip/deflate bodies are decoded, the User-Agent is "heimdall", and the
// usual proxy environment variables (http_proxy, https_proxy, no_proxy) apply. On success
// the body is written to `last_good_path` atomically (a temporary file in the same
// directory, fsync, rename, fsync of the directory; directories are not created here)
// with the server's Last-Modified as its mtime when the server sent one.
//
// When a copy exists its mtime is sent as If-Modified-Since; a 304 (or a 200 whose
// Last-Modified is not newer, which libcurl turns into the same answer) returns the copy
// with not_modified set. On any failure (connect, timeout, non-2xx, too big, TLS, ...)
// the copy is returned when it exists (ok, from_last_good, error says why the source
// failed), else ok is false. An empty `last_good_path` keeps and uses no copy.
FetchedList fetch_list(const std::string& source, const std::string& last_good_path,
                       const FetchLimits& limits);

}  // namespace heimdall::control
