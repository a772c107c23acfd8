// The configuration file: what it reads, its defaults, its resolv.conf fallback, and
// that every error names the file, the line, the dotted key and what is wrong.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "heimdall/control/config.hpp"

namespace heimdall::control {
namespace {

class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    char name[] = "/tmp/heimdall-config-test-XXXXXX";
    const int fd = mkstemp(name);
    if (fd < 0) throw std::runtime_error("mkstemp failed");
    close(fd);
    path_ = name;
    std::ofstream(path_) << text;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Every test that lets the upstreams fall back reads this file, never the host's.
const TempFile& test_resolv_conf() {
  static const TempFile file("nameserver 192.0.2.53\nnameserver 2001:db8::53\n");
  return file;
}

Config parse(const std::string& text) {
  return parse_config(text, "test.yaml", test_resolv_conf().path());
}

std::string error_of(const std::string& text,
                     const std::string& resolv_conf = test_resolv_conf().path()) {
  try {
    parse_config(text, "test.yaml", resolv_conf);
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "(accepted)";
}

// The message must be "test.yaml:<line>: <key>: ..." and contain the reason.
void expect_error(const std::string& text, int line, const std::string& key,
                  const std::string& reason) {
  SCOPED_TRACE("config:\n" + text);
  const std::string message = error_of(text);
  const std::string prefix = "test.yaml:" + std::to_string(line) + ": " + key + ": ";
  EXPECT_EQ(message.substr(0, prefix.size()), prefix) << message;
  EXPECT_NE(message.find(reason), std::string::npos) << "reason '" << reason << "' in: " << message;
}

std::string read_file(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

constexpr const char* kListen = "listen: {udp: [\"127.0.0.1:53\"]}\n";

// ------------------------------------------------------------------ what is read

TEST(ConfigFile, EmbeddedDevConfigRunsOnLoopbackWithResolvConfUpstreams) {
  const Config config =
      parse_config(embedded_dev_config(), "<embedded conf/dev.yaml>", test_resolv_conf().path());
  EXPECT_EQ(config.source, "<embedded conf/dev.yaml>");
  EXPECT_EQ(config.dataplane.backend, Backend::Socket);
  ASSERT_EQ(config.listen.udp.size(), 1u);
  ASSERT_EQ(config.listen.tcp.size(), 1u);
  EXPECT_EQ(config.listen.udp[0].to_string(), "127.0.0.1:5353");
  EXPECT_EQ(config.listen.tcp[0].to_string(), "127.0.0.1:5353");
  EXPECT_TRUE(config.upstreams.servers_from_resolv_conf);
  ASSERT_EQ(config.upstreams.servers.size(), 2u);
  EXPECT_EQ(config.upstreams.servers[0].address.to_string(), "192.0.2.53:53");
  EXPECT_EQ(config.upstreams.servers[1].address.to_string(), "[2001:db8::53]:53");
}

// conf/reference.yaml says its values are the defaults: hold it to that.
TEST(ConfigFile, ReferenceConfigParsesAndShowsTheDefaults) {
  const char* root = std::getenv("HEIMDALL_SOURCE_ROOT");
  ASSERT_NE(root, nullptr) << "HEIMDALL_SOURCE_ROOT is not set (meson test sets it)";
  const std::string path = std::string(root) + "/conf/reference.yaml";
  ASSERT_TRUE(std::filesystem::exists(path)) << path;
  const Config config = parse_config(read_file(path), path, "");
  const Config defaults;
  EXPECT_EQ(config.dataplane.backend, defaults.dataplane.backend);
  EXPECT_EQ(config.dataplane.workers, defaults.dataplane.workers);
  EXPECT_EQ(config.dataplane.eal_args, defaults.dataplane.eal_args);
  EXPECT_EQ(config.dataplane.exception.enabled, defaults.dataplane.exception.enabled);
  EXPECT_EQ(config.dataplane.exception.tap, defaults.dataplane.exception.tap);
  EXPECT_EQ(config.dataplane.upstream_port_min, defaults.dataplane.upstream_port_min);
  EXPECT_EQ(config.dataplane.upstream_port_max, defaults.dataplane.upstream_port_max);
  EXPECT_EQ(config.dataplane.mbufs, defaults.dataplane.mbufs);
  EXPECT_EQ(config.edns.max_udp, defaults.edns.max_udp);
  EXPECT_EQ(config.listen.tcp_idle_timeout_ms, defaults.listen.tcp_idle_timeout_ms);
  EXPECT_EQ(config.listen.tcp_query_timeout_ms, defaults.listen.tcp_query_timeout_ms);
  EXPECT_EQ(config.listen.tcp_max_connections, defaults.listen.tcp_max_connections);
  EXPECT_EQ(config.listen.tcp_max_connections_per_client,
            defaults.listen.tcp_max_connections_per_client);
  EXPECT_EQ(config.upstreams.strategy, defaults.upstreams.strategy);
  EXPECT_EQ(config.upstreams.timeout_ms, defaults.upstreams.timeout_ms);
  EXPECT_EQ(config.upstreams.max_failures, defaults.upstreams.max_failures);
  EXPECT_EQ(config.upstreams.probe_interval_ms, defaults.upstreams.probe_interval_ms);
  EXPECT_EQ(config.upstreams.max_attempts, defaults.upstreams.max_attempts);
  EXPECT_EQ(config.upstreams.source_port_low, 1024u);
  EXPECT_EQ(config.upstreams.source_port_high, 65535u);
  EXPECT_EQ(config.upstreams.max_udp_sockets_per_worker, 1024u);
  EXPECT_EQ(config.upstreams.attempts_per_udp_socket, 16u);
  EXPECT_TRUE(config.upstreams.case_randomisation);
  EXPECT_EQ(config.chaos.version, defaults.chaos.version);
  EXPECT_EQ(config.chaos.hostname, defaults.chaos.hostname);
  EXPECT_EQ(config.logging.level, defaults.logging.level);
  EXPECT_EQ(config.cache.enabled, defaults.cache.enabled);
  EXPECT_EQ(config.cache.max_entries, defaults.cache.max_entries);
  EXPECT_EQ(config.cache.max_bytes, defaults.cache.max_bytes);
  EXPECT_EQ(config.cache.min_ttl, defaults.cache.min_ttl);
  EXPECT_EQ(config.cache.max_ttl, defaults.cache.max_ttl);
  EXPECT_EQ(config.cache.negative_ttl_max, defaults.cache.negative_ttl_max);
  EXPECT_EQ(config.cache.servfail_ttl, defaults.cache.servfail_ttl);
  EXPECT_EQ(config.cache.serve_stale.enabled, defaults.cache.serve_stale.enabled);
  EXPECT_EQ(config.cache.serve_stale.ttl_s, defaults.cache.serve_stale.ttl_s);
  EXPECT_EQ(config.cache.serve_stale.max_stale_s, defaults.cache.serve_stale.max_stale_s);
  EXPECT_EQ(config.cache.serve_stale.client_timeout_ms,
            defaults.cache.serve_stale.client_timeout_ms);
  EXPECT_EQ(config.cache.prefetch.enabled, defaults.cache.prefetch.enabled);
  EXPECT_DOUBLE_EQ(config.cache.prefetch.threshold, defaults.cache.prefetch.threshold);
  EXPECT_EQ(config.upstreams.servers.size(), 2u) << "the two example servers";
  EXPECT_FALSE(config.upstreams.servers_from_resolv_conf);
  EXPECT_TRUE(config.acl.allow.empty());
  EXPECT_EQ(config.limits.client_qps, defaults.limits.client_qps);
  EXPECT_EQ(config.limits.slip, defaults.limits.slip);
  EXPECT_EQ(config.limits.any, defaults.limits.any);
  EXPECT_FALSE(config.management.metrics_listen);
  EXPECT_EQ(config.query_log.enabled, defaults.query_log.enabled);
  EXPECT_EQ(config.query_log.ring, defaults.query_log.ring);
  EXPECT_EQ(config.query_log.max_bytes, defaults.query_log.max_bytes);
  EXPECT_TRUE(config.filter.lists.empty());
  EXPECT_EQ(config.filter.response.mode, defaults.filter.response.mode);
  EXPECT_EQ(config.filter.response.ttl, defaults.filter.response.ttl);
  EXPECT_EQ(config.filter.state_dir, defaults.filter.state_dir);
  EXPECT_EQ(config.filter.download_timeout_ms, defaults.filter.download_timeout_ms);
}

TEST(ConfigFile, ReadsEveryImplementedKey) {
  const Config config = parse(R"(dataplane:
  backend: socket
  workers: 3
  eal_args: [--no-huge, "--vdev=net_memif0,role=server"]
  ports:
    - {device: net_memif0, address: 198.18.0.1/24}
edns: {max_udp: 1400}
listen:
  udp: ["127.0.0.1:53", "[::1]:53"]
  tcp: ["127.0.0.1:53"]
  tcp_idle_timeout_ms: 5000
  tcp_query_timeout_ms: 2000
  tcp_max_connections: 64
  tcp_max_connections_per_client: 8
upstreams:
  strategy: failover
  timeout_ms: 900
  max_failures: 5
  probe_interval_ms: 2000
  max_attempts: 3
  source_ports: 20000-39999
  max_udp_sockets_per_worker: 256
  attempts_per_udp_socket: 1
  case_randomisation: false
  servers:
    - address: 127.0.0.1:5400
    - "[::1]:5401"
logging: {level: debug}
chaos: {version: "heimdall", hostname: dns1.example}
)");
  EXPECT_EQ(config.source, "test.yaml");
  EXPECT_EQ(config.dataplane.backend, Backend::Socket);
  EXPECT_EQ(config.dataplane.workers, 3u);
  EXPECT_EQ(config.dataplane.eal_args,
            (std::vector<std::string>{"--no-huge", "--vdev=net_memif0,role=server"}));
  EXPECT_EQ(config.edns.max_udp, 1400);
  ASSERT_EQ(config.listen.udp.size(), 2u);
  EXPECT_EQ(config.listen.udp[1].to_string(), "[::1]:53");
  ASSERT_EQ(config.listen.tcp.size(), 1u);
  EXPECT_EQ(config.listen.tcp_idle_timeout_ms, 5000u);
  EXPECT_EQ(config.listen.tcp_query_timeout_ms, 2000u);
  EXPECT_EQ(config.listen.tcp_max_connections, 64u);
  EXPECT_EQ(config.listen.tcp_max_connections_per_client, 8u);
  EXPECT_EQ(config.upstreams.strategy, Strategy::Failover);
  EXPECT_EQ(config.upstreams.timeout_ms, 900u);
  EXPECT_EQ(config.upstreams.max_failures, 5u);
  EXPECT_EQ(config.upstreams.probe_interval_ms, 2000u);
  EXPECT_EQ(config.upstreams.max_attempts, 3u);
  EXPECT_EQ(config.upstreams.source_port_low, 20000u);
  EXPECT_EQ(config.upstreams.source_port_high, 39999u);
  EXPECT_EQ(config.upstreams.max_udp_sockets_per_worker, 256u);
  EXPECT_EQ(config.upstreams.attempts_per_udp_socket, 1u);
  EXPECT_FALSE(config.upstreams.case_randomisation);
  EXPECT_EQ(config.chaos.version, "heimdall");
  EXPECT_EQ(config.chaos.hostname, "dns1.example");
  ASSERT_EQ(config.upstreams.servers.size(), 2u);
  EXPECT_EQ(config.upstreams.servers[0].address.to_string(), "127.0.0.1:5400");
  EXPECT_EQ(config.upstreams.servers[1].address.to_string(), "[::1]:5401");
  EXPECT_FALSE(config.upstreams.servers_from_resolv_conf);
  EXPECT_EQ(config.logging.level, LogLevel::Debug);
}

TEST(ConfigFile, AbsentKeysKeepTheirDefaults) {
  const Config config = parse(kListen);
  const Config defaults;
  EXPECT_EQ(config.dataplane.backend, defaults.dataplane.backend);
  EXPECT_EQ(config.dataplane.workers, defaults.dataplane.workers);
  EXPECT_EQ(config.edns.max_udp, defaults.edns.max_udp);
  EXPECT_TRUE(config.listen.tcp.empty());
  EXPECT_EQ(config.listen.tcp_idle_timeout_ms, defaults.listen.tcp_idle_timeout_ms);
  EXPECT_EQ(config.upstreams.strategy, defaults.upstreams.strategy);
  EXPECT_EQ(config.upstreams.timeout_ms, defaults.upstreams.timeout_ms);
  EXPECT_EQ(config.logging.level, defaults.logging.level);
}

TEST(ConfigFile, ReadsEveryChoiceOfEachEnumeratedKey) {
  EXPECT_EQ(parse("dataplane: {backend: dpdk, ports: [{device: net_null0, address: "
                  "198.18.0.1/24}]}\nupstreams: {servers: [198.18.0.53]}\n")
                .dataplane.backend,
            Backend::Dpdk);
  const std::pair<const char*, Strategy> strategies[] = {{"round_robin", Strategy::RoundRobin},
                                                         {"fastest", Strategy::Fastest},
                                                         {"failover", Strategy::Failover}};
  for (const auto& [name, strategy] : strategies) {
    EXPECT_EQ(
        parse(std::string(kListen) + "upstreams: {strategy: " + name + "}\n").upstreams.strategy,
        strategy)
        << name;
  }
  const std::pair<const char*, LogLevel> levels[] = {
      {"trace", LogLevel::Trace}, {"debug", LogLevel::Debug}, {"info", LogLevel::Info},
      {"warn", LogLevel::Warn},   {"error", LogLevel::Error}, {"critical", LogLevel::Critical},
      {"off", LogLevel::Off}};
  for (const auto& [name, level] : levels) {
    EXPECT_EQ(parse(std::string(kListen) + "logging: {level: " + name + "}\n").logging.level, level)
        << name;
  }
}

TEST(ConfigFile, AcceptsTheEndsOfEveryRange) {
  const Config low = parse(R"(dataplane: {workers: 1}
edns: {max_udp: 512}
listen: {udp: ["127.0.0.1:53"], tcp_idle_timeout_ms: 100, tcp_query_timeout_ms: 100,
         tcp_max_connections: 1, tcp_max_connections_per_client: 0}
upstreams: {timeout_ms: 50, max_failures: 1, probe_interval_ms: 100, max_attempts: 1}
)");
  EXPECT_EQ(low.dataplane.workers, 1u);
  EXPECT_EQ(low.edns.max_udp, 512);
  EXPECT_EQ(low.listen.tcp_idle_timeout_ms, 100u);
  EXPECT_EQ(low.listen.tcp_query_timeout_ms, 100u);
  EXPECT_EQ(low.listen.tcp_max_connections, 1u);
  EXPECT_EQ(low.listen.tcp_max_connections_per_client, 0u);
  EXPECT_EQ(low.upstreams.timeout_ms, 50u);
  EXPECT_EQ(low.upstreams.max_failures, 1u);
  EXPECT_EQ(low.upstreams.probe_interval_ms, 100u);
  EXPECT_EQ(low.upstreams.max_attempts, 1u);
  const Config high = parse(R"(dataplane: {workers: 64}
edns: {max_udp: 4096}
listen: {udp: ["127.0.0.1:53"], tcp_idle_timeout_ms: 600000, tcp_query_timeout_ms: 600000,
         tcp_max_connections: 1000000, tcp_max_connections_per_client: 65535}
upstreams: {timeout_ms: 60000, max_failures: 100, probe_interval_ms: 3600000, max_attempts: 16}
)");
  EXPECT_EQ(high.dataplane.workers, 64u);
  EXPECT_EQ(high.edns.max_udp, 4096);
  EXPECT_EQ(high.listen.tcp_idle_timeout_ms, 600000u);
  EXPECT_EQ(high.listen.tcp_query_timeout_ms, 600000u);
  EXPECT_EQ(high.listen.tcp_max_connections, 1000000u);
  EXPECT_EQ(high.listen.tcp_max_connections_per_client, 65535u);
  EXPECT_EQ(high.upstreams.timeout_ms, 60000u);
  EXPECT_EQ(high.upstreams.max_failures, 100u);
  EXPECT_EQ(high.upstreams.probe_interval_ms, 3600000u);
  EXPECT_EQ(high.upstreams.max_attempts, 16u);
}

TEST(ConfigFile, TcpQueryTimeoutFollowsAShorterIdleTimeoutAndCannotExceedIt) {
  const Config shorter = parse("listen: {udp: [\"127.0.0.1:53\"], tcp_idle_timeout_ms: 2000}\n");
  EXPECT_EQ(shorter.listen.tcp_query_timeout_ms, 2000u) << "the default follows the idle timeout";
  const Config longer = parse("listen: {udp: [\"127.0.0.1:53\"], tcp_idle_timeout_ms: 20000}\n");
  EXPECT_EQ(longer.listen.tcp_query_timeout_ms, Config{}.listen.tcp_query_timeout_ms);
  expect_error(
      "listen:\n  udp: [\"127.0.0.1:53\"]\n  tcp_idle_timeout_ms: 2000\n"
      "  tcp_query_timeout_ms: 2500\n",
      4, "listen.tcp_query_timeout_ms",
      "expected at most listen.tcp_idle_timeout_ms (2000), got 2500");
  expect_error("listen:\n  udp: [\"127.0.0.1:53\"]\n  tcp_query_timeout_ms: 50\n", 3,
               "listen.tcp_query_timeout_ms", "expected an integer from 100 to 600000");
  expect_error("listen:\n  udp: [\"127.0.0.1:53\"]\n  tcp_max_connections_per_client: -1\n", 3,
               "listen.tcp_max_connections_per_client", "expected an integer from 0 to 65535");
}

TEST(ConfigFile, UpstreamServerMayBeABareStringAndDefaultsToPort53) {
  const Config config = parse(std::string(kListen) +
                              "upstreams:\n  servers: [192.0.2.1, {address: \"2001:db8::1\"}]\n");
  ASSERT_EQ(config.upstreams.servers.size(), 2u);
  EXPECT_EQ(config.upstreams.servers[0].address.to_string(), "192.0.2.1:53");
  EXPECT_EQ(config.upstreams.servers[1].address.to_string(), "[2001:db8::1]:53");
}

TEST(ConfigFile, ListenWithTcpOnlyIsEnough) {
  const Config config = parse("listen: {tcp: [\"[::1]:5353\"]}\n");
  EXPECT_TRUE(config.listen.udp.empty());
  ASSERT_EQ(config.listen.tcp.size(), 1u);
}

TEST(ConfigFile, SameAddressInUdpAndTcpIsAllowed) {
  const Config config = parse("listen: {udp: [\"127.0.0.1:53\"], tcp: [\"127.0.0.1:53\"]}\n");
  EXPECT_EQ(config.listen.udp, config.listen.tcp);
}

TEST(ConfigFile, DpdkBackendNeedsNoListenAddresses) {
  const Config config = parse(
      "dataplane: {backend: dpdk, eal_args: [--no-huge], ports: [{device: net_null0, address: "
      "198.18.0.1/24}]}\nupstreams: {servers: [198.18.0.53]}\n");
  EXPECT_EQ(config.dataplane.backend, Backend::Dpdk);
  EXPECT_TRUE(config.listen.udp.empty());
}

TEST(ConfigFile, ReadsADpdkPortAndTheExceptionPath) {
  const Config config = parse(R"(dataplane:
  backend: dpdk
  workers: 2
  upstream_ports: 10000-10999
  mbufs: 65535
  exception: {enabled: true, tap: hd-tap}
  ports:
    - device: "0000:03:00.0"
      address: 198.18.0.1/24
      address6: 2001:db8::1/64
      gateway: 198.18.0.254
      gateway6: 2001:db8::fe
      mac: 02:00:00:00:00:01
      vlan: 100
)");
  const DataplaneConfig& dataplane = config.dataplane;
  ASSERT_EQ(dataplane.ports.size(), 1u);
  const PortConfig& port = dataplane.ports[0];
  EXPECT_EQ(port.device, "0000:03:00.0");
  ASSERT_TRUE(port.address && port.address6 && port.gateway && port.gateway6);
  EXPECT_EQ(port.address->length, 24);
  EXPECT_EQ(port.address->address.address[3], 1);
  EXPECT_EQ(port.address6->length, 64);
  EXPECT_EQ(port.gateway->to_string(), "198.18.0.254:0");
  EXPECT_EQ(port.mac, "02:00:00:00:00:01");
  EXPECT_EQ(port.vlan, 100);
  EXPECT_EQ(dataplane.upstream_port_min, 10000);
  EXPECT_EQ(dataplane.upstream_port_max, 10999);
  EXPECT_EQ(dataplane.mbufs, 65535u);
  EXPECT_EQ(dataplane.exception.tap, "hd-tap");
}

TEST(ConfigFile, RefusesADpdkPortThatCannotWork) {
  const std::string dpdk = "dataplane:\n  backend: dpdk\n";
  expect_error(dpdk, 2, "dataplane.ports", "exactly one port");
  expect_error(dpdk + "  ports: [{address: 198.18.0.1/24}]\n", 3, "dataplane.ports[0]",
               "missing key 'device'");
  expect_error(dpdk + "  ports: [{device: net_null0}]\n", 3, "dataplane.ports[0]",
               "needs an address");
  expect_error(dpdk + "  ports: [{device: net_null0, address: 198.18.0.1}]\n", 3,
               "dataplane.ports[0].address", "with its subnet");
  expect_error(dpdk + "  ports: [{device: net_null0, address: 2001:db8::1/64}]\n", 3,
               "dataplane.ports[0].address", "198.18.0.1/24");
  expect_error(
      dpdk + "  ports: [{device: net_null0, address6: 2001:db8::1/64, gateway: 10.0.0.1}]\n", 3,
      "dataplane.ports[0].gateway", "needs the port's IPv4 address");
  expect_error(
      dpdk + "  ports: [{device: net_null0, address: 198.18.0.1/24, mac: ff:ff:ff:ff:ff:ff}]\n", 3,
      "dataplane.ports[0].mac", "unicast MAC");
  expect_error(dpdk + "  ports: [{device: net_null0, address: 198.18.0.1/24, vlan: 4095}]\n", 3,
               "dataplane.ports[0].vlan", "0 to 4094");
  const std::string port = "  ports: [{device: net_null0, address: 198.18.0.1/24}]\n";
  // RFC 5452: an upstream source range that is inverted, empty of valid ports or
  // reaches below 1024 is refused at --check-config.
  const std::string listen = "listen: {udp: [\"127.0.0.1:53\"]}\n";
  expect_error(listen + "upstreams: {source_ports: 40000-30000}\n", 2, "upstreams.source_ports",
               "low <= high");
  expect_error(listen + "upstreams: {source_ports: 53-65535}\n", 2, "upstreams.source_ports",
               "within 1024-65535");
  expect_error(listen + "upstreams: {source_ports: 1024-70000}\n", 2, "upstreams.source_ports",
               "within 1024-65535");
  expect_error(listen + "upstreams: {source_ports: 5000}\n", 2, "upstreams.source_ports",
               "such as 1024-65535");
  expect_error(listen + "upstreams: {max_udp_sockets_per_worker: 0}\n", 2,
               "upstreams.max_udp_sockets_per_worker", "");
  expect_error(dpdk + port + "  upstream_ports: 30000-20000\n", 4, "dataplane.upstream_ports",
               "such as 20000-29999");
  expect_error(dpdk + port + "  upstream_ports: 20000-20010\n", 2, "dataplane.upstream_ports",
               "at least 64 ports per worker");
  expect_error(dpdk + port + "  exception: {tap: a-very-long-interface-name}\n", 4,
               "dataplane.exception.tap", "at most 15 characters");
  expect_error(dpdk + port + "listen: {udp: [\"127.0.0.1:53\"]}\n", 4, "listen.udp",
               "answers UDP on its ports' addresses");
}

TEST(ConfigFile, RefusesUpstreamsTheDpdkPortCannotReach) {
  const std::string dpdk =
      "dataplane:\n  backend: dpdk\n  ports: [{device: net_null0, address: 198.18.0.1/24}]\n";
  expect_error(dpdk + "upstreams: {servers: [127.0.0.1]}\n", 4, "upstreams", "loopback");
  expect_error(dpdk + "upstreams: {servers: [\"[2001:db8::53]:53\"]}\n", 4, "upstreams",
               "needs the port's address6");
  expect_error(dpdk + "upstreams: {servers: [192.0.2.53]}\n", 4, "upstreams",
               "not on the port's subnet and the port has no gateway");
  // On the subnet, or anywhere with a gateway: accepted.
  EXPECT_EQ(parse(dpdk + "upstreams: {servers: [198.18.0.53]}\n").upstreams.servers.size(), 1u);
  EXPECT_EQ(parse("dataplane:\n  backend: dpdk\n  ports: [{device: net_null0, address: "
                  "198.18.0.1/24, gateway: 198.18.0.254}]\nupstreams: {servers: [192.0.2.53]}\n")
                .upstreams.servers.size(),
            1u);
}

TEST(ConfigFile, ReadsManagementAndTheQueryLog) {
  const Config config = parse(std::string(kListen) + R"(management:
  metrics_listen: 127.0.0.1:9153
  control_socket: /run/heimdall/control.sock
query_log: {enabled: true, path: /tmp/q.jsonl, sample: 10, ring: 1024, max_size: 10m, keep: 3}
)");
  ASSERT_TRUE(config.management.metrics_listen);
  EXPECT_EQ(config.management.metrics_listen->to_string(), "127.0.0.1:9153");
  EXPECT_EQ(config.management.control_socket, "/run/heimdall/control.sock");
  EXPECT_TRUE(config.query_log.enabled);
  EXPECT_EQ(config.query_log.path, "/tmp/q.jsonl");
  EXPECT_EQ(config.query_log.sample, 10u);
  EXPECT_EQ(config.query_log.ring, 1024u);
  EXPECT_EQ(config.query_log.max_bytes, 10u << 20);
  EXPECT_EQ(config.query_log.keep, 3u);
  expect_error(std::string(kListen) + "query_log: {ring: 1000}\n", 2, "query_log.ring",
               "power of two");
  expect_error(std::string(kListen) + "management: {metrics_listen: nowhere}\n", 2,
               "management.metrics_listen", "127.0.0.1:53");
}

TEST(ConfigFile, AttemptLimitAndChaosTextsAreBounded) {
  expect_error(std::string(kListen) + "upstreams: {max_attempts: 0}\n", 2, "upstreams.max_attempts",
               "expected an integer from 1 to 16, got '0'");
  expect_error(std::string(kListen) + "upstreams: {max_attempts: 17}\n", 2,
               "upstreams.max_attempts", "expected an integer from 1 to 16, got '17'");
  expect_error(std::string(kListen) + "chaos: {version: " + std::string(256, 'v') + "}\n", 2,
               "chaos.version", "expected at most 255 bytes (one TXT string), got 256");
  expect_error(std::string(kListen) + "chaos: {hostname: \"\"}\n", 2, "chaos.hostname",
               "expected a non-empty string");
  expect_error(std::string(kListen) + "chaos: {server: x}\n", 2, "chaos.server",
               "unknown key; expected one of: version, hostname");
  EXPECT_EQ(parse(std::string(kListen) + "chaos: {version: " + std::string(255, 'v') + "}\n")
                .chaos.version.size(),
            255u);
}

// ------------------------------------------------------------------ filter

TEST(ConfigFile, FilterListsGroupsAndLocalRecords) {
  const Config config = parse(std::string(kListen) + R"(filter:
  response: {addresses: [192.0.2.1, "2001:db8::1"]}
  ttl: 1m
  refresh_interval: 6h
  watch_files: false
  state_dir: /tmp/lists
  download_timeout: 10s
  download_max_size: 64m
  lists:
    - {name: ads, source: ads.txt}
    - {name: rpz, source: "http://127.0.0.1:8080/rpz.zone", format: rpz}
    - {name: kids, source: kids.txt, format: adblock, match: subtree, response: refused}
    - {name: exceptions, source: allow.txt, format: domains, action: allow}
  groups:
    - {name: children, clients: [10.1.0.0/16, "2001:db8:1::/48", 192.0.2.7], lists: [ads, kids, exceptions]}
local_records:
  - "router.lan. 300 IN A 192.168.1.1"
  - "router.lan. AAAA fd00::1"
upstreams:
  servers: ["127.0.0.1:5400"]
  forward_zones:
    - {zone: corp.example, servers: ["10.0.0.53", "127.0.0.1:5400"]}
)");
  const FilterConfig& filter = config.filter;
  EXPECT_EQ(filter.response.mode, filter::BlockMode::Addresses);
  EXPECT_EQ(filter.response.ipv4_count, 1);
  EXPECT_EQ(filter.response.ipv6_count, 1);
  EXPECT_EQ(filter.response.ttl, 60u);
  EXPECT_EQ(filter.refresh_interval_s, 6u * 3600);
  EXPECT_FALSE(filter.watch_files);
  EXPECT_EQ(filter.state_dir, "/tmp/lists");
  EXPECT_EQ(filter.download_timeout_ms, 10000u);
  EXPECT_EQ(filter.download_max_bytes, 64ull << 20);
  ASSERT_EQ(filter.lists.size(), 4u);
  EXPECT_EQ(filter.lists[1].kind, ListKind::Rpz);
  EXPECT_EQ(filter.lists[2].format, filter::ListFormat::Adblock);
  EXPECT_EQ(filter.lists[2].match, filter::Scope::Subtree);
  ASSERT_TRUE(filter.lists[2].response.has_value());
  EXPECT_EQ(filter.lists[2].response->mode, filter::BlockMode::Refused);
  EXPECT_EQ(filter.lists[2].response->ttl, 60u) << "the filter's ttl";
  EXPECT_EQ(filter.lists[3].action, filter::Action::Allow);
  ASSERT_EQ(filter.groups.size(), 1u);
  EXPECT_EQ(filter.groups[0].clients.size(), 3u);
  EXPECT_EQ(config.local_records.size(), 2u);
  ASSERT_EQ(config.upstreams.forward_zones.size(), 1u);
  const auto all = all_upstream_servers(config.upstreams);
  ASSERT_EQ(all.size(), 2u) << "127.0.0.1:5400 counted once";
  EXPECT_EQ(all[1].to_string(), "10.0.0.53:53");
}

TEST(ConfigErrors, FilterValuesAreChecked) {
  const std::string base(kListen);
  expect_error(base + "filter: {response: block}\n", 2, "filter.response",
               "expected nxdomain | nodata | null | refused");
  expect_error(base + "filter: {response: {addresses: [not-an-ip]}}\n", 2,
               "filter.response.addresses[0]", "expected an IPv4 or IPv6 address");
  expect_error(base + "filter: {refresh_interval: 10s}\n", 2, "filter.refresh_interval",
               "at least 1m");
  expect_error(base + "filter:\n  lists:\n    - {source: a.txt}\n", 4, "filter.lists[0]",
               "missing key 'name'");
  expect_error(base + "filter:\n  lists:\n    - {name: a, source: a.txt, format: csv}\n", 4,
               "filter.lists[0].format",
               "hosts | domains | adblock | wildcard | regex | dnsmasq | rpz");
  expect_error(base + "filter:\n  lists:\n    - {name: a, source: a}\n    - {name: a, source: b}\n",
               5, "filter.lists[1]", "list name given twice: a");
  expect_error(base + "filter:\n  lists:\n    - {name: z, source: z, format: rpz, match: exact}\n",
               4, "filter.lists[0]", "no 'action', 'match' or 'response'");
  expect_error(
      base + "filter:\n  lists:\n    - {name: z, source: z, format: rpz, response: nodata}\n", 4,
      "filter.lists[0]", "no 'action', 'match' or 'response'");
  expect_error(base +
                   "filter:\n  lists: [{name: a, source: a}]\n  groups:\n"
                   "    - {name: g, clients: [10.0.0.0/8], lists: [a]}\n"
                   "    - {name: h, clients: [10.1.2.3/8], lists: []}\n",
               6, "filter.groups[1].clients[0]", "already in group 'g'");
  expect_error(base + "local_records:\n  - \"a.lan. CNAME b.lan.\"\n  - \"A.LAN. A 192.0.2.1\"\n",
               4, "local_records[1]", "CNAME");
  std::string many = base + "filter:\n  lists:\n";
  for (int i = 0; i < 17; ++i) {
    many += "    - {name: r" + std::to_string(i) + ", source: r, format: rpz}\n";
  }
  expect_error(many, 20, "filter.lists[16]", "too many lists: at most 64");
  expect_error(base +
                   "filter:\n  lists: [{name: a, source: a}]\n  groups:\n"
                   "    - {name: g, clients: [10.0.0.0/33], lists: [a]}\n",
               5, "filter.groups[0].clients[0]", "expected a network");
  expect_error(base +
                   "filter:\n  lists: [{name: a, source: a}]\n  groups:\n"
                   "    - {name: g, clients: [10.0.0.0/8], lists: [b]}\n",
               5, "filter.groups[0].lists[0]", "no list named 'b' in filter.lists");
  expect_error(base + "local_records: [\"router.lan. 300 IN A 1.2.3\"]\n", 2, "local_records[0]",
               "bad IPv4 address");
  expect_error(base + "local_records: [\"lan. SOA a. b. 1 2 3 4 5\"]\n", 2, "local_records[0]",
               "not local records");
  expect_error(base + "local_records: [\"*. A 192.0.2.1\"]\n", 2, "local_records[0]",
               "a wildcard at the root would answer every name");
  expect_error(base + "local_records:\n  - \"*.lan. A 192.0.2.1\"\n  - \"*.LAN. CNAME x.\"\n", 4,
               "local_records[1]", "CNAME");
  expect_error(base +
                   "upstreams:\n  servers: [\"127.0.0.1:53\"]\n  forward_zones:\n"
                   "    - {zone: corp, servers: []}\n",
               5, "upstreams.forward_zones[0].servers", "a zone needs at least one server");
  expect_error(base + "upstreams:\n  forward_zones:\n    - {zone: ., servers: [\"10.0.0.1\"]}\n", 4,
               "upstreams.forward_zones[0].zone", "below the root");
}

// ------------------------------------------------------------------ cache

TEST(ConfigFile, CacheKeysWithUnitsAndNestedSections) {
  const Config config = parse(std::string(kListen) + R"(cache:
  max_entries: 200000
  max_bytes: 64m
  min_ttl: 5
  max_ttl: 1d
  negative_ttl_max: 15m
  servfail_ttl: 30
  serve_stale: {enabled: true, ttl: 20, max_stale: 2h, client_timeout_ms: 900}
  prefetch: {enabled: yes, threshold: 0.25}
)");
  const CacheSettings& cache = config.cache;
  EXPECT_TRUE(cache.enabled);
  EXPECT_EQ(cache.max_entries, 200000u);
  EXPECT_EQ(cache.max_bytes, 64ull << 20);
  EXPECT_EQ(cache.min_ttl, 5u);
  EXPECT_EQ(cache.max_ttl, 86400u);
  EXPECT_EQ(cache.negative_ttl_max, 900u);
  EXPECT_EQ(cache.servfail_ttl, 30u);
  EXPECT_TRUE(cache.serve_stale.enabled);
  EXPECT_EQ(cache.serve_stale.ttl_s, 20u);
  EXPECT_EQ(cache.serve_stale.max_stale_s, 7200u);
  EXPECT_EQ(cache.serve_stale.client_timeout_ms, 900u);
  EXPECT_TRUE(cache.prefetch.enabled);
  EXPECT_DOUBLE_EQ(cache.prefetch.threshold, 0.25);
}

TEST(ConfigFile, CacheCanBeTurnedOff) {
  EXPECT_FALSE(parse(std::string(kListen) + "cache: {enabled: false}\n").cache.enabled);
}

TEST(ConfigErrors, CacheValuesAreChecked) {
  const std::string base(kListen);
  expect_error(base + "cache: {max_entries: lots}\n", 2, "cache.max_entries",
               "expected an integer from 64 to 100000000, got 'lots'");
  expect_error(base + "cache: {max_bytes: 12q}\n", 2, "cache.max_bytes",
               "expected a number with an optional unit (bytes, or k, m, g such as 512m)");
  expect_error(base + "cache: {max_bytes: 1k}\n", 2, "cache.max_bytes", "from 1048576");
  expect_error(base + "cache: {servfail_ttl: 10m}\n", 2, "cache.servfail_ttl", "to 300");
  expect_error(base + "cache:\n  min_ttl: 600\n  max_ttl: 60\n", 3, "cache.min_ttl",
               "is above max_ttl (60)");
  expect_error(base + "cache: {serve_stale: {enabled: maybe}}\n", 2, "cache.serve_stale.enabled",
               "expected true or false, got 'maybe'");
  expect_error(base + "cache: {serve_stale: {max_stale: 1w}}\n", 2, "cache.serve_stale.max_stale",
               "s, m, h, d such as 1d");
  expect_error(base + "cache: {prefetch: {threshold: 1.5}}\n", 2, "cache.prefetch.threshold",
               "expected a number above 0 and below 1, got '1.5'");
  expect_error(base + "cache: {shards: 4}\n", 2, "cache.shards", "unknown key");
  expect_error(base + "cache: 1000\n", 2, "cache", "expected a mapping, got '1000'");
}

// ------------------------------------------------------------ resolv.conf fallback

TEST(ConfigFile, EmptyOrAbsentServersComeFromResolvConf) {
  for (const std::string& text :
       {std::string(kListen), std::string(kListen) + "upstreams: {servers: []}\n",
        std::string(kListen) + "upstreams: {strategy: failover}\n"}) {
    const Config config = parse(text);
    EXPECT_TRUE(config.upstreams.servers_from_resolv_conf) << text;
    ASSERT_EQ(config.upstreams.servers.size(), 2u) << text;
    EXPECT_EQ(config.upstreams.servers[0].address.to_string(), "192.0.2.53:53");
  }
}

TEST(ConfigFile, EmptyResolvConfPathLeavesServersToTheCommandLine) {
  const Config config = parse_config(kListen, "test.yaml", "");
  EXPECT_TRUE(config.upstreams.servers.empty());
  EXPECT_FALSE(config.upstreams.servers_from_resolv_conf);
}

TEST(ConfigFile, ConfiguredServersAreUsedWithoutReadingResolvConf) {
  const Config config = parse_config(std::string(kListen) + "upstreams: {servers: [192.0.2.9]}\n",
                                     "test.yaml", "/nonexistent/resolv.conf");
  ASSERT_EQ(config.upstreams.servers.size(), 1u);
  EXPECT_FALSE(config.upstreams.servers_from_resolv_conf);
}

TEST(ConfigFile, NoServersAndNoResolvConfIsAnError) {
  const std::string message = error_of(
      std::string(kListen) + "upstreams:\n  strategy: fastest\n  servers: []\n", "/nonexistent/rc");
  EXPECT_EQ(message.rfind("test.yaml:4: upstreams.servers: none configured", 0), 0u) << message;
  EXPECT_NE(message.find("resolv.conf could not supply one"), std::string::npos) << message;
  EXPECT_NE(message.find("/nonexistent/rc"), std::string::npos) << message;
}

TEST(ConfigFile, NoServersErrorPointsAtTheUpstreamsSectionWhenServersIsAbsent) {
  const std::string message =
      error_of(std::string(kListen) + "\nupstreams:\n  strategy: fastest\n", "/nonexistent/rc");
  EXPECT_EQ(message.rfind("test.yaml:3: upstreams.servers: none configured", 0), 0u) << message;
}

TEST(ConfigFile, NoServersAndAResolvConfWithoutNameserversIsAnError) {
  const TempFile empty("search example.com\n# nameserver 192.0.2.1\n");
  const std::string message = error_of(kListen, empty.path());
  EXPECT_EQ(message.rfind("test.yaml:1: upstreams.servers: none configured", 0), 0u) << message;
  EXPECT_NE(message.find("names no usable nameserver"), std::string::npos) << message;
}

// ------------------------------------------------------------------ the document

TEST(ConfigErrors, EmptyFileIsRefused) {
  expect_error("", 1, "(top level)", "empty");
  expect_error("# nothing but a comment\n\n", 1, "(top level)", "empty");
}

TEST(ConfigErrors, YamlSyntaxErrorCarriesTheParserLine) {
  expect_error("listen:\n  udp: [\"127.0.0.1:53\"\nlogging: {level: info}\n", 3, "YAML syntax",
               "end of sequence flow not found");
  expect_error("edns:\n  max_udp: 1232\n bad: indentation\n", 3, "YAML syntax", "");
}

TEST(ConfigErrors, MoreThanOneDocumentIsRefused) {
  expect_error(std::string(kListen) + "---\nlogging: {level: info}\n", 3, "(top level)",
               "more than one YAML document");
}

TEST(ConfigErrors, TopLevelMustBeAMapping) {
  expect_error("- listen\n- upstreams\n", 1, "(top level)", "expected a mapping of sections");
  expect_error("just words\n", 1, "(top level)", "got 'just words'");
}

TEST(ConfigErrors, UnknownTopLevelKeyIsNamedWithTheExpectedOnes) {
  expect_error(std::string(kListen) + "\nupstream: {}\n", 3, "upstream",
               "unknown key; expected one of: dataplane, edns, listen, upstreams, cache, filter, "
               "local_records, acl, limits, management, query_log, logging");
}

TEST(ConfigFile, ReadsTheAccessListAndTheLimits) {
  const Config config = parse(std::string(kListen) + R"(acl:
  allow: [10.0.0.0/8, "2001:db8::/32"]
  action: drop
limits:
  client_qps: 100
  client_burst: 200
  client_ipv4_prefix: 32
  client_ipv6_prefix: 64
  responses_per_second: 5
  slip: 3
  any: refuse
)");
  ASSERT_EQ(config.acl.allow.size(), 2u);
  EXPECT_EQ(config.acl.allow[0].length, 8);
  EXPECT_EQ(config.acl.allow[1].address.family, AF_INET6);
  EXPECT_EQ(config.acl.action, AclAction::Drop);
  EXPECT_EQ(config.limits.client_qps, 100u);
  EXPECT_EQ(config.limits.client_burst, 200u);
  EXPECT_EQ(config.limits.client_ipv4_prefix, 32u);
  EXPECT_EQ(config.limits.client_ipv6_prefix, 64u);
  EXPECT_EQ(config.limits.responses_per_second, 5u);
  EXPECT_EQ(config.limits.slip, 3u);
  EXPECT_EQ(config.limits.any, AnyPolicy::Refuse);
  const Config defaults = parse(kListen);
  EXPECT_TRUE(defaults.acl.allow.empty());
  EXPECT_EQ(defaults.limits.client_qps, 0u);
  EXPECT_EQ(defaults.limits.any, AnyPolicy::Minimal);
}

TEST(ConfigErrors, AccessListAndLimitsAreChecked) {
  const std::string base = std::string(kListen);
  expect_error(base + "acl: {allow: [10.0.0.0/33]}\n", 2, "acl.allow[0]", "10.0.0.0/8");
  expect_error(base + "acl: {action: ignore}\n", 2, "acl.action", "refuse | drop");
  expect_error(base + "limits: {client_ipv6_prefix: 65}\n", 2, "limits.client_ipv6_prefix",
               "from 1 to 64");
  expect_error(base + "limits: {any: none}\n", 2, "limits.any", "minimal | refuse | forward");
}

TEST(ConfigErrors, UnknownKeyInsideEachImplementedSectionIsNamed) {
  expect_error("dataplane:\n  backend: socket\n  worker: 2\n", 3, "dataplane.worker",
               "unknown key; expected one of: backend, workers, eal_args, ports");
  expect_error("edns:\n  max_udp_size: 1232\n", 2, "edns.max_udp_size",
               "unknown key; expected one of: max_udp");
  expect_error("listen:\n  udp: [\"127.0.0.1:53\"]\n  tpc: [\"127.0.0.1:53\"]\n", 3, "listen.tpc",
               "unknown key; expected one of: udp, tcp, tcp_idle_timeout_ms, tcp_query_timeout_ms, "
               "tcp_max_connections, tcp_max_connections_per_client");
  expect_error("upstreams:\n  timeout: 100\n", 2, "upstreams.timeout",
               "unknown key; expected one of: strategy, timeout_ms, max_failures, "
               "probe_interval_ms, servers");
  expect_error("upstreams:\n  servers:\n    - address: 192.0.2.1\n      port: 53\n", 4,
               "upstreams.servers[0].port", "unknown key; expected one of: address");
  expect_error("logging:\n  lvl: info\n", 2, "logging.lvl", "unknown key; expected one of: level");
}

TEST(ConfigErrors, MisspeltKeyIsAnsweredWithTheClosestKey) {
  EXPECT_EQ(error_of("dataplane:\n  worker: 2\n"),
            "test.yaml:2: dataplane.worker: unknown key; expected one of: backend, workers, "
            "eal_args, ports, exception, upstream_ports, mbufs; did you mean 'workers'?");
  expect_error(std::string(kListen) + "cache:\n  max_entires: 10\n", 3, "cache.max_entires",
               "did you mean 'max_entries'?");
  expect_error(std::string(kListen) + "upstream: {}\n", 2, "upstream", "did you mean 'upstreams'?");
  expect_error("filter:\n  lists:\n    - {name: a, sorce: a.txt}\n", 3, "filter.lists[0].sorce",
               "did you mean 'source'?");
  // More than two edits away is another word: no guess.
  EXPECT_EQ(error_of(std::string(kListen) + "cache: {shards: 4}\n").find("did you mean"),
            std::string::npos);
}

TEST(ConfigErrors, KeyGivenTwiceIsRefused) {
  expect_error("listen:\n  udp: [\"127.0.0.1:53\"]\n  udp: [\"127.0.0.1:54\"]\n", 3, "listen.udp",
               "given twice (first on line 2)");
  expect_error(std::string(kListen) + "logging: {level: info}\nlogging: {level: off}\n", 3,
               "logging", "given twice (first on line 2)");
  expect_error("upstreams:\n  timeout_ms: 100\nupstreams:\n  timeout_ms: 200\n", 3, "upstreams",
               "given twice (first on line 1)");
}

TEST(ConfigErrors, NonScalarKeyIsRefused) {
  expect_error("edns:\n  ? [max_udp]\n  : 1232\n", 2, "edns", "keys must be plain names");
}

// ------------------------------------------------------------------ wrong types

TEST(ConfigErrors, SectionThatIsNotAMappingIsRefused) {
  expect_error("dataplane: socket\n", 1, "dataplane", "expected a mapping, got 'socket'");
  expect_error("edns:\n  - 1232\n", 2, "edns", "expected a mapping, got a list");
  expect_error("listen:\nlogging: {level: info}\n", 1, "listen", "expected a mapping, got nothing");
  expect_error("upstreams: [192.0.2.1]\n", 1, "upstreams", "expected a mapping, got a list");
  expect_error("logging: info\n", 1, "logging", "expected a mapping, got 'info'");
}

TEST(ConfigErrors, IntegerKeysRefuseWords) {
  expect_error("upstreams:\n  timeout_ms: fast\n", 2, "upstreams.timeout_ms",
               "expected an integer from 50 to 60000, got 'fast'");
  expect_error("dataplane: {workers: two}\n", 1, "dataplane.workers",
               "expected an integer from 1 to 64, got 'two'");
}

TEST(ConfigErrors, IntegerKeysRefuseNegativeFractionalAndSignedNumbers) {
  expect_error("edns:\n  max_udp: -1\n", 2, "edns.max_udp",
               "expected an integer from 512 to 4096, got '-1'");
  expect_error("edns:\n  max_udp: 1232.5\n", 2, "edns.max_udp", "got '1232.5'");
  expect_error("edns:\n  max_udp: +1232\n", 2, "edns.max_udp", "got '+1232'");
  expect_error("edns:\n  max_udp: 99999999999999999999999\n", 2, "edns.max_udp",
               "got '99999999999999999999999'");
}

TEST(ConfigErrors, IntegerKeysRefuseMappingsListsAndNothing) {
  expect_error("dataplane:\n  workers: {n: 2}\n", 2, "dataplane.workers",
               "expected an integer from 1 to 64, got a mapping");
  expect_error("dataplane:\n  workers: [2]\n", 2, "dataplane.workers", "got a list");
  expect_error("dataplane:\n  workers:\n  backend: socket\n", 2, "dataplane.workers",
               "got nothing");
}

TEST(ConfigErrors, EveryIntegerKeyIsRangeChecked) {
  struct Case {
    const char* section;
    const char* key;
    unsigned min;
    unsigned max;
  };
  const Case cases[] = {
      {"dataplane", "workers", 1, 64},
      {"edns", "max_udp", 512, 4096},
      {"listen", "tcp_idle_timeout_ms", 100, 600000},
      {"listen", "tcp_max_connections", 1, 1000000},
      {"upstreams", "timeout_ms", 50, 60000},
      {"upstreams", "max_failures", 1, 100},
      {"upstreams", "probe_interval_ms", 100, 3600000},
  };
  for (const Case& c : cases) {
    const std::string key = std::string(c.section) + "." + c.key;
    const std::string range =
        "expected an integer from " + std::to_string(c.min) + " to " + std::to_string(c.max);
    for (const unsigned bad : {c.min - 1, c.max + 1}) {
      expect_error(std::string(c.section) + ":\n  " + c.key + ": " + std::to_string(bad) + "\n", 2,
                   key, range + ", got '" + std::to_string(bad) + "'");
    }
  }
}

TEST(ConfigErrors, EnumeratedKeysNameTheirChoices) {
  expect_error("dataplane:\n  backend: xdp\n", 2, "dataplane.backend",
               "expected socket | dpdk, got 'xdp'");
  expect_error("upstreams:\n  strategy: fastest_first\n", 2, "upstreams.strategy",
               "expected round_robin | fastest | failover, got 'fastest_first'");
  expect_error("logging:\n  level: verbose\n", 2, "logging.level",
               "expected trace | debug | info | warn | error | critical | off, got 'verbose'");
  expect_error("logging:\n  level: {name: info}\n", 2, "logging.level", "got a mapping");
  expect_error("logging:\n  level: INFO\n", 2, "logging.level", "got 'INFO'");
}

TEST(ConfigErrors, EalArgsMustBeAListOfStrings) {
  expect_error("dataplane:\n  eal_args: --no-huge\n", 2, "dataplane.eal_args",
               "expected a list of strings, got '--no-huge'");
  expect_error("dataplane:\n  eal_args:\n    - --no-huge\n    - {vdev: x}\n", 4,
               "dataplane.eal_args[1]", "expected a non-empty string, got a mapping");
  expect_error("dataplane:\n  eal_args: [--no-huge, \"\"]\n", 2, "dataplane.eal_args[1]",
               "expected a non-empty string, got ''");
}

TEST(ConfigErrors, PortsMustBeAListOfMappings) {
  expect_error("dataplane:\n  ports: {device: net_null0}\n", 2, "dataplane.ports",
               "expected a list of port mappings, got a mapping");
  expect_error(
      "dataplane:\n  ports:\n    - {device: net_null0, address: 198.18.0.1/24}\n    - net_null1\n",
      4, "dataplane.ports[1]", "expected a mapping, got 'net_null1'");
}

TEST(ConfigErrors, InactiveSectionsMustHaveTheirShape) {
  expect_error(std::string(kListen) + "filter: [ads]\n", 2, "filter",
               "expected a mapping, got a list");
  expect_error(std::string(kListen) + "management: on\n", 2, "management", "expected a mapping");
  expect_error(std::string(kListen) + "management: {anything: 1}\n", 2, "management.anything",
               "unknown key");
  expect_error(std::string(kListen) + "local_records: {a: b}\n", 2, "local_records",
               "expected a list of records, got a mapping");
}

// ------------------------------------------------------------------ listen

TEST(ConfigErrors, ListenListsMustBeListsOfAddresses) {
  expect_error("listen:\n  udp: 127.0.0.1:53\n", 2, "listen.udp",
               "expected a list of addresses, got '127.0.0.1:53'");
  expect_error("listen:\n  tcp:\n    - 127.0.0.1:53\n    - [127.0.0.1, 53]\n", 4, "listen.tcp[1]",
               "expected an address such as 127.0.0.1:53 or [::1]:53, got a list");
}

TEST(ConfigErrors, ListenAddressMustBeNumericWithAValidPort) {
  expect_error("listen:\n  udp: [\"127.0.0.1:53\", \"localhost:53\"]\n", 2, "listen.udp[1]",
               "expected an address such as 127.0.0.1:53 or [::1]:53 (port 1-65535), got "
               "'localhost:53'");
  expect_error("listen:\n  udp:\n    - 127.0.0.1:0\n", 3, "listen.udp[0]", "got '127.0.0.1:0'");
  expect_error("listen:\n  tcp:\n    - \"[::1]:65536\"\n", 3, "listen.tcp[0]", "got '[::1]:65536'");
}

TEST(ConfigErrors, EmptyListItemIsReportedOnItsOwnLine) {
  expect_error("listen:\n  udp:\n    - 127.0.0.1:53\n    -\n    - 127.0.0.1:54\n", 4,
               "listen.udp[1]", "got nothing");
  expect_error("listen:\n  udp:\n    - 127.0.0.1:53\n    -\n", 4, "listen.udp[1]", "got nothing");
  expect_error("listen:\n  udp:\n    -\n\n    - 127.0.0.1:54\n", 3, "listen.udp[0]", "got nothing");
  expect_error("listen:\n  udp: [127.0.0.1:53, ~]\n", 2, "listen.udp[1]", "got nothing");
}

TEST(ConfigErrors, ListenAddressListedTwiceIsRefused) {
  expect_error("listen:\n  udp:\n    - 127.0.0.1:53\n    - 127.0.0.1\n", 4, "listen.udp[1]",
               "listed twice: 127.0.0.1:53");
  expect_error("listen:\n  tcp: [\"[::1]:53\", \"::1\"]\n", 2, "listen.tcp[1]",
               "listed twice: [::1]:53");
}

TEST(ConfigErrors, SocketBackendWithoutListenAddressesIsRefused) {
  expect_error("logging: {level: info}\n", 1, "listen",
               "the socket backend needs at least one udp or tcp address");
  expect_error("logging: {level: info}\n\nlisten:\n  udp: []\n  tcp: []\n", 3, "listen",
               "the socket backend needs at least one udp or tcp address");
}

// ------------------------------------------------------------------ upstreams

TEST(ConfigErrors, ServersMustBeAList) {
  expect_error("upstreams:\n  servers: 192.0.2.1\n", 2, "upstreams.servers",
               "expected a list of servers, got '192.0.2.1'");
}

TEST(ConfigErrors, ServerMustBeAMappingWithAddressOrAString) {
  expect_error("upstreams:\n  servers:\n    - [192.0.2.1]\n", 3, "upstreams.servers[0]",
               "expected {address: ADDR[:PORT]} or an address string, got a list");
  expect_error("upstreams:\n  servers:\n    - 192.0.2.1\n    - {name: x}\n", 4,
               "upstreams.servers[1].name", "unknown key; expected one of: address");
  expect_error("upstreams:\n  servers:\n    - {}\n", 3, "upstreams.servers[0]",
               "missing key 'address'");
}

TEST(ConfigErrors, ServerAddressMustParse) {
  expect_error("upstreams:\n  servers:\n    - address: 127.0.0.1:0\n", 3,
               "upstreams.servers[0].address", "expected an address such as 127.0.0.1:53");
  expect_error("upstreams:\n  servers:\n    - address: dns.example\n", 3,
               "upstreams.servers[0].address", "got 'dns.example'");
  expect_error("upstreams:\n  servers:\n    - address:\n", 3, "upstreams.servers[0].address",
               "got nothing");
  expect_error("upstreams:\n  servers:\n    - 192.0.2.1:99999\n", 3, "upstreams.servers[0]",
               "got '192.0.2.1:99999'");
}

TEST(ConfigErrors, ServerListedTwiceIsRefused) {
  expect_error("upstreams:\n  servers:\n    - 192.0.2.1\n    - address: 192.0.2.1:53\n", 4,
               "upstreams.servers[1]", "listed twice: 192.0.2.1:53");
}

TEST(ConfigErrors, MoreThan32ServersIsRefused) {
  std::string text = "upstreams:\n  servers:\n";
  for (int i = 1; i <= 33; ++i) text += "    - 192.0.2." + std::to_string(i) + "\n";
  expect_error(text, 3, "upstreams.servers", "at most 32 servers, got 33");
}

// ------------------------------------------------------------------ files

TEST(ConfigFile, LoadsAFileAndNamesItInErrors) {
  const TempFile good(std::string(kListen) + "upstreams: {servers: [192.0.2.1]}\n");
  const Config config = load_config_file(good.path(), "");
  EXPECT_EQ(config.source, good.path());
  ASSERT_EQ(config.upstreams.servers.size(), 1u);

  const TempFile bad(std::string(kListen) + "edns:\n  max_udp: 100\n");
  try {
    load_config_file(bad.path(), "");
    ADD_FAILURE() << "accepted";
  } catch (const ConfigError& error) {
    EXPECT_EQ(std::string(error.what()).rfind(bad.path() + ":3: edns.max_udp: ", 0), 0u)
        << error.what();
  }
}

TEST(ConfigFile, UnreadableFileIsAnErrorNamingIt) {
  try {
    load_config_file("/nonexistent/heimdall.yaml", "");
    ADD_FAILURE() << "accepted";
  } catch (const ConfigError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("/nonexistent/heimdall.yaml: cannot read the configuration file"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("No such file"), std::string::npos) << message;
  }
}

TEST(ConfigFile, DirectoryIsAnErrorNotAnEmptyFile) {
  try {
    load_config_file("/tmp", "");
    ADD_FAILURE() << "accepted";
  } catch (const ConfigError& error) {
    EXPECT_NE(std::string(error.what())
                  .find("/tmp: cannot read the configuration file: it is a "
                        "directory"),
              std::string::npos)
        << error.what();
  }
}

// ------------------------------------------------------------------ resolv.conf

TEST(ResolvConf, ReadsIpv4AndIpv6NameserversOnPort53InOrder) {
  const TempFile file("nameserver 192.0.2.1\nnameserver 2001:db8::1\nnameserver 127.0.0.53\n");
  const auto servers = read_resolv_conf(file.path());
  ASSERT_EQ(servers.size(), 3u);
  EXPECT_EQ(servers[0].to_string(), "192.0.2.1:53");
  EXPECT_EQ(servers[1].to_string(), "[2001:db8::1]:53");
  EXPECT_EQ(servers[2].to_string(), "127.0.0.53:53");
}

TEST(ResolvConf, SkipsCommentsAndOtherKeywords) {
  const TempFile file(
      "# Generated by NetworkManager\n"
      "; nameserver 10.0.0.1\n"
      "#nameserver 10.0.0.2\n"
      "search example.com\n"
      "domain example.com\n"
      "options ndots:2 edns0\n"
      "\n"
      "  nameserver   192.0.2.7   # the office resolver\n"
      "nameserver 192.0.2.8;old\n"
      "\tnameserver\t2001:db8::8\n");
  const auto servers = read_resolv_conf(file.path());
  ASSERT_EQ(servers.size(), 3u);
  EXPECT_EQ(servers[0].to_string(), "192.0.2.7:53");
  EXPECT_EQ(servers[1].to_string(), "192.0.2.8:53");
  EXPECT_EQ(servers[2].to_string(), "[2001:db8::8]:53");
}

TEST(ResolvConf, SkipsScopedLinkLocalServers) {
  const TempFile file("nameserver fe80::1%eth0\nnameserver 192.0.2.1\n");
  const auto servers = read_resolv_conf(file.path());
  ASSERT_EQ(servers.size(), 1u);
  EXPECT_EQ(servers[0].to_string(), "192.0.2.1:53");
}

TEST(ResolvConf, SkipsAddressesWithPortsAndGarbage) {
  const TempFile file(
      "nameserver 192.0.2.1:5353\nnameserver [::1]:53\nnameserver [::1]\nnameserver dns.example\n"
      "nameserver\nnameserver 192.0.2.2\n");
  const auto servers = read_resolv_conf(file.path());
  ASSERT_EQ(servers.size(), 1u);
  EXPECT_EQ(servers[0].to_string(), "192.0.2.2:53");
}

TEST(ResolvConf, DropsRepeatedNameservers) {
  const TempFile file("nameserver 192.0.2.1\nnameserver 192.0.2.1\nnameserver ::1\n");
  EXPECT_EQ(read_resolv_conf(file.path()).size(), 2u);
}

TEST(ResolvConf, FileWithoutNameserverIsAnError) {
  const TempFile file("search example.com\n# nameserver 192.0.2.1\nnameserver fe80::1%eth0\n");
  try {
    read_resolv_conf(file.path());
    ADD_FAILURE() << "accepted";
  } catch (const ConfigError& error) {
    EXPECT_EQ(std::string(error.what()), file.path() + ": names no usable nameserver");
  }
}

TEST(ResolvConf, UnreadableFileIsAnErrorNamingIt) {
  try {
    read_resolv_conf("/nonexistent/resolv.conf");
    ADD_FAILURE() << "accepted";
  } catch (const ConfigError& error) {
    EXPECT_EQ(std::string(error.what()).rfind("/nonexistent/resolv.conf: cannot be read", 0), 0u)
        << error.what();
  }
}

}  // namespace
}  // namespace heimdall::control
