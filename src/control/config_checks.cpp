#include "config_checks.hpp"

#include <algorithm>

#include "heimdall/net/address.hpp"
#include "heimdall/upstream/selector.hpp"

namespace heimdall::control {
namespace {

bool in_subnet(const filter::Prefix& subnet, const net::Endpoint& address) {
  return subnet.address.family == address.family &&
         net::same_prefix(net::address_bytes(subnet.address), net::address_bytes(address),
                          subnet.length);
}

// The DPDK fast path reaches an upstream only through its port: on the port's
// subnet, or through a gateway of the same family. Anything else would be counted
// and SERVFAILed at run time, query after query.
void check_reachable_from_port(const ConfigReader& reader, int line, const Config& config) {
  const PortConfig& port = config.dataplane.ports.front();
  for (const net::Endpoint& server : all_upstream_servers(config.upstreams)) {
    const bool v4 = server.family == AF_INET;
    const auto& address = v4 ? port.address : port.address6;
    const bool has_gateway = v4 ? port.gateway.has_value() : port.gateway6.has_value();
    std::string problem;
    if (server.family == AF_INET
            ? server.address[0] == 127
            : server.address[15] == 1 && std::all_of(server.address, server.address + 15,
                                                     [](std::uint8_t byte) { return byte == 0; })) {
      problem = "is a loopback address, which the DPDK port cannot reach";
    } else if (!address) {
      problem = std::string("needs the port's ") + (v4 ? "address" : "address6");
    } else if (!in_subnet(*address, server) && !has_gateway) {
      problem = std::string("is not on the port's subnet and the port has no ") +
                (v4 ? "gateway" : "gateway6");
    }
    if (!problem.empty()) {
      reader.fail(
          line, "upstreams",
          "server " + server.to_string() + " " + problem +
              (config.upstreams.servers_from_resolv_conf ? " (from /etc/resolv.conf)" : ""));
    }
  }
}

// With no servers in the file, the host's resolver configuration supplies them, as
// for any stub on the machine; with neither, the process could answer nothing.
void fill_from_resolv_conf(const ConfigReader& reader, int line, const std::string& path,
                           UpstreamsConfig& out) {
  std::vector<net::Endpoint> servers;
  try {
    servers = read_resolv_conf(path);
  } catch (const ConfigError& error) {
    reader.fail(line, "upstreams.servers",
                std::string("none configured, and resolv.conf could not supply one (") +
                    error.what() + ")");
  }
  if (servers.size() > upstream::kMaxServers) servers.resize(upstream::kMaxServers);
  for (const auto& endpoint : servers) out.servers.push_back(UpstreamServerConfig{endpoint});
  out.servers_from_resolv_conf = true;
}

}  // namespace

void check_across_sections(const ConfigReader& reader, const std::string& resolv_conf,
                           Config& config) {
  if (config.dataplane.backend == Backend::Socket && config.listen.udp.empty() &&
      config.listen.tcp.empty()) {
    reader.fail(reader.line_of_key("listen"), "listen",
                "the socket backend needs at least one udp or tcp address");
  }
  if (config.dataplane.backend == Backend::Dpdk && !config.listen.udp.empty()) {
    reader.fail(reader.line_of_key("listen"), "listen.udp",
                "the dpdk backend answers UDP on its ports' addresses; listen.udp is for the "
                "socket backend (listen.tcp is the exception path's)");
  }
  // Errors about the servers point at `servers` if given, else at `upstreams`.
  const int servers_line = reader.line_of_key("upstreams.servers");
  if (config.upstreams.servers.empty() && !resolv_conf.empty()) {
    fill_from_resolv_conf(reader, servers_line, resolv_conf, config.upstreams);
  }
  if (config.dataplane.backend == Backend::Dpdk) {
    check_reachable_from_port(reader, servers_line, config);
  }
  if (const std::size_t total = all_upstream_servers(config.upstreams).size();
      total > upstream::kMaxServers) {
    reader.fail(servers_line, "upstreams",
                "at most " + std::to_string(upstream::kMaxServers) +
                    " distinct servers with those of forward_zones, got " + std::to_string(total));
  }
}

}  // namespace heimdall::control
