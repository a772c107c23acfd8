// The little of HTTP/1.1 the metrics endpoint speaks (docs/architecture.md §13.3):
// find the end of a request head, tell a well-formed request from a malformed one
// (RFC 9112 §3 and §5), and write a whole response with Connection: close. No
// bodies are read: nothing served takes one, and the connection closes after the
// answer. Pure functions over strings, apart from the sockets that carry them.
// Private to control.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace heimdall::control {

// `line` without the CR of a CRLF line end (also the control socket's lines).
std::string_view without_cr(std::string_view line);

// The end of the request head (just past the blank line, CRLF or bare LF), or
// npos while it has not arrived.
std::size_t head_end(std::string_view in);

struct RequestLine {
  std::string_view method;
  std::string_view path;  // the target without its query string
};

// The request line of `head`, or nothing when the line or any header field is
// malformed (method or field name not a token, target not a path, not HTTP/1.x).
std::optional<RequestLine> parse_request(std::string_view head);

// A whole response: status line, Content-Type, Content-Length (of `body` even
// when the body is left out, as HEAD wants), Connection: close, `extra` header
// lines (each ending in CRLF), then the body if `with_body`.
std::string http_response(std::string_view status, std::string_view content_type,
                          std::string_view body, bool with_body, std::string_view extra = {});

// An error response whose plain-text body is the status itself.
std::string http_error(std::string_view status, std::string_view extra = {});

}  // namespace heimdall::control
