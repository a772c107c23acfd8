// HTTP request heads in, responses out (RFC 9110, RFC 9112); see http_message.hpp.
#include "http_message.hpp"

#include <algorithm>

namespace heimdall::control {
namespace {

// RFC 9110 §5.6.2: tchar.
bool is_token(std::string_view text) {
  constexpr std::string_view kSpecials = "!#$%&'*+-.^_`|~";
  return !text.empty() && std::all_of(text.begin(), text.end(), [&](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           kSpecials.find(c) != std::string_view::npos;
  });
}

}  // namespace

std::string http_response(std::string_view status, std::string_view content_type,
                          std::string_view body, bool with_body, std::string_view extra) {
  std::string out = "HTTP/1.1 ";
  out.append(status).append("\r\nContent-Type: ").append(content_type);
  out.append("\r\nContent-Length: ").append(std::to_string(body.size()));
  out.append("\r\nConnection: close\r\n").append(extra).append("\r\n");
  if (with_body) out.append(body);
  return out;
}

std::string http_error(std::string_view status, std::string_view extra) {
  return http_response(status, "text/plain; charset=utf-8", std::string(status) + "\n", true,
                       extra);
}

std::string_view without_cr(std::string_view line) {
  if (line.ends_with('\r')) line.remove_suffix(1);
  return line;
}

std::optional<RequestLine> parse_request(std::string_view head) {
  const std::size_t line_end = head.find('\n');
  const std::string_view line = without_cr(head.substr(0, line_end));
  const std::size_t first = line.find(' ');
  const std::size_t second = line.find(' ', first + 1);
  if (first == std::string_view::npos || second == std::string_view::npos ||
      line.find(' ', second + 1) != std::string_view::npos) {
    return std::nullopt;
  }
  const std::string_view method = line.substr(0, first);
  const std::string_view target = line.substr(first + 1, second - first - 1);
  const std::string_view version = line.substr(second + 1);
  if (!is_token(method) || !target.starts_with('/') ||
      (version != "HTTP/1.1" && version != "HTTP/1.0")) {
    return std::nullopt;
  }
  for (std::size_t start = line_end + 1; start < head.size();) {
    const std::size_t end = head.find('\n', start);
    const std::string_view field = without_cr(head.substr(start, end - start));
    start = end == std::string_view::npos ? head.size() : end + 1;
    if (field.empty()) break;
    const std::size_t colon = field.find(':');
    if (colon == std::string_view::npos || !is_token(field.substr(0, colon))) return std::nullopt;
  }
  return RequestLine{method, target.substr(0, target.find('?'))};
}

std::size_t head_end(std::string_view in) {
  const std::size_t crlf = in.find("\r\n\r\n");
  if (crlf != std::string_view::npos) return crlf + 4;
  const std::size_t lf = in.find("\n\n");
  return lf == std::string_view::npos ? lf : lf + 2;
}

}  // namespace heimdall::control
