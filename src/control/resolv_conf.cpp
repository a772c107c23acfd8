#include <fstream>
#include <sstream>

#include "heimdall/control/config.hpp"

namespace heimdall::control {

std::vector<net::Endpoint> read_resolv_conf(const std::string& path) {
  std::ifstream file(path);
  if (!file) throw ConfigError(path + " cannot be read");
  std::vector<net::Endpoint> servers;
  std::string line;
  while (std::getline(file, line)) {
    std::istringstream words(line);
    std::string keyword, address;
    if (!(words >> keyword >> address) || keyword != "nameserver") continue;
    // A link-local address with a zone ("fe80::1%eth0") cannot be expressed in
    // our endpoints; such servers are skipped.
    if (address.find('%') != std::string::npos) continue;
    if (const auto endpoint = net::Endpoint::parse(address, 53)) servers.push_back(*endpoint);
  }
  if (servers.empty()) throw ConfigError(path + " names no usable nameserver");
  return servers;
}

}  // namespace heimdall::control
