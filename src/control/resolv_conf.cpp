// The nameservers of a resolv.conf(5), used as upstreams when the configuration
// names none.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "heimdall/control/config.hpp"
#include "heimdall/net/address.hpp"

namespace heimdall::control {
namespace {

// resolv.conf addresses carry no port (the resolver always uses 53), so the text is
// an address alone: "192.0.2.1:5353" or "[::1]" is not a valid line and is skipped,
// as glibc skips it.
std::optional<net::Endpoint> parse_nameserver(const std::string& text) {
  std::optional<net::Endpoint> endpoint = net::parse_ip(text);
  if (endpoint) endpoint->port = 53;
  return endpoint;
}

}  // namespace

std::vector<net::Endpoint> read_resolv_conf(const std::string& path) {
  std::ifstream file(path);
  if (!file) throw ConfigError(path + ": cannot be read: " + std::strerror(errno));
  std::vector<net::Endpoint> servers;
  std::string line;
  while (std::getline(file, line)) {
    // '#' and ';' start a comment, at the start of a line or after a value.
    line = line.substr(0, line.find_first_of("#;"));
    std::istringstream words(line);
    std::string keyword, address;
    if (!(words >> keyword >> address) || keyword != "nameserver") continue;
    // A link-local server with a zone ("fe80::1%eth0") needs a scope id that an
    // Endpoint cannot hold, and without it the address is unreachable: skipped. A NUL
    // would cut the text short for inet_pton.
    if (address.find_first_of(std::string("%\0", 2)) != std::string::npos) continue;
    const auto endpoint = parse_nameserver(address);
    if (!endpoint) continue;
    if (std::find(servers.begin(), servers.end(), *endpoint) == servers.end()) {
      servers.push_back(*endpoint);
    }
  }
  if (servers.empty()) throw ConfigError(path + ": names no usable nameserver");
  return servers;
}

}  // namespace heimdall::control
