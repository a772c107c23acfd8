// Configuration loading, its error messages, the command line, and endpoints.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "heimdall/control/command_line.hpp"
#include "heimdall/control/config.hpp"

namespace heimdall::control {
namespace {

class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    char name[] = "/tmp/heimdall-test-XXXXXX";
    const int fd = mkstemp(name);
    path_ = name;
    std::ofstream(path_) << text;
    close(fd);
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

const TempFile& resolv_conf() {
  static const TempFile file(
      "# generated\nsearch example\nnameserver 192.0.2.53\n"
      "nameserver 2001:db8::53\nnameserver fe80::1%eth0\n");
  return file;
}

Config parse(const std::string& text) {
  return parse_config(text, "test.yaml", resolv_conf().path());
}

// Parsing must fail, and the message must name the file, line, key and reason.
void expect_error(const std::string& text, int line, const std::string& key,
                  const std::string& reason) {
  try {
    parse(text);
    ADD_FAILURE() << "accepted:\n" << text;
  } catch (const ConfigError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("test.yaml:" + std::to_string(line) + ":"), std::string::npos)
        << message;
    EXPECT_NE(message.find(key), std::string::npos) << message;
    EXPECT_NE(message.find(reason), std::string::npos) << message;
  }
}

TEST(Config, EmbeddedDevConfigListensOnLoopback5353AndUsesResolvConf) {
  const Config config = parse_config(embedded_dev_config(), "dev", resolv_conf().path());
  ASSERT_EQ(config.listen.udp.size(), 1u);
  EXPECT_EQ(config.listen.udp[0].to_string(), "127.0.0.1:5353");
  EXPECT_EQ(config.listen.tcp[0].to_string(), "127.0.0.1:5353");
  EXPECT_EQ(config.dataplane.backend, Backend::Socket);
  EXPECT_TRUE(config.upstreams.servers_from_resolv_conf);
  ASSERT_EQ(config.upstreams.servers.size(), 2u) << "the scoped link-local server is skipped";
  EXPECT_EQ(config.upstreams.servers[0].address.to_string(), "192.0.2.53:53");
  EXPECT_EQ(config.upstreams.servers[1].address.to_string(), "[2001:db8::53]:53");
}

TEST(Config, ReferenceConfigParses) {
  const char* root = std::getenv("HEIMDALL_SOURCE_ROOT");
  ASSERT_NE(root, nullptr) << "meson sets HEIMDALL_SOURCE_ROOT for this test";
  const Config config =
      load_config_file(std::string(root) + "/conf/reference.yaml", resolv_conf().path());
  EXPECT_FALSE(config.upstreams.servers.empty());
  EXPECT_FALSE(config.inactive_sections.empty());
}

TEST(Config, ReadsEverySectionOfTheSocketBackend) {
  const Config config = parse(R"(
dataplane: {backend: socket, workers: 3}
edns: {max_udp: 1400}
listen:
  udp: ["127.0.0.1:53", "[::1]:53"]
  tcp: ["127.0.0.1:53"]
  tcp_idle_timeout_ms: 5000
  tcp_max_connections: 64
upstreams:
  strategy: failover
  timeout_ms: 900
  max_failures: 5
  probe_interval_ms: 2000
  servers:
    - address: 127.0.0.1:5400
    - "[::1]:5401"
    - 192.0.2.1
logging: {level: debug}
cache: {max_entries: 10}
)");
  EXPECT_EQ(config.dataplane.workers, 3u);
  EXPECT_EQ(config.edns.max_udp, 1400);
  EXPECT_EQ(config.listen.udp.size(), 2u);
  EXPECT_EQ(config.listen.tcp_idle_timeout_ms, 5000u);
  EXPECT_EQ(config.listen.tcp_max_connections, 64u);
  EXPECT_EQ(config.upstreams.strategy, Strategy::Failover);
  EXPECT_EQ(config.upstreams.timeout_ms, 900u);
  EXPECT_EQ(config.upstreams.max_failures, 5u);
  EXPECT_EQ(config.upstreams.probe_interval_ms, 2000u);
  ASSERT_EQ(config.upstreams.servers.size(), 3u);
  EXPECT_EQ(config.upstreams.servers[1].address.to_string(), "[::1]:5401");
  EXPECT_EQ(config.upstreams.servers[2].address.to_string(), "192.0.2.1:53");
  EXPECT_FALSE(config.upstreams.servers_from_resolv_conf);
  EXPECT_EQ(config.logging.level, LogLevel::Debug);
  EXPECT_EQ(config.inactive_sections, std::vector<std::string>{"cache"});
}

TEST(Config, ErrorsNameTheLineTheKeyAndTheReason) {
  expect_error("listen: {udp: [\"127.0.0.1:53\"]}\nupstreams:\n  timeout_ms: fast\n", 3,
               "upstreams.timeout_ms", "got 'fast'");
  expect_error("listen: {udp: [\"127.0.0.1:53\"]}\nupstreams:\n  timeout_ms: 10\n", 3,
               "upstreams.timeout_ms", "from 50 to 60000");
  expect_error("listen: {udp: [\"127.0.0.1:53\"]}\nedns:\n  max_udp: -1\n", 3, "edns.max_udp",
               "from 512 to 4096");
  expect_error("listen: {udp: [\"127.0.0.1:53\"]}\nupstreams:\n  strategy: fastest_first\n", 3,
               "upstreams.strategy", "round_robin | fastest | failover");
  expect_error("listen:\n  udp: [\"127.0.0.1:53\"]\n  tpc: [\"127.0.0.1:53\"]\n", 3, "listen.tpc",
               "unknown key");
  expect_error("listen: {udp: [\"127.0.0.1:53\"]}\nupstream: {}\n", 2, "upstream", "unknown key");
  expect_error("listen:\n  udp: [\"127.0.0.1:53\", \"localhost:53\"]\n", 2, "listen.udp[1]",
               "expected an address");
  expect_error("listen:\n  udp: [\"127.0.0.1:53\", \"127.0.0.1:53\"]\n", 2, "listen.udp[1]",
               "listed twice");
  expect_error("listen: {udp: [\"127.0.0.1:53\"]}\ndataplane:\n  workers: {n: 2}\n", 3,
               "dataplane.workers", "expected an integer");
  expect_error("listen: {udp: []}\n", 1, "listen", "at least one");
  expect_error("listen: {udp: [\"127.0.0.1:53\"]\n", 2, "YAML syntax", "");
  expect_error("", 1, "empty", "");
  expect_error(
      "listen: {udp: [\"127.0.0.1:53\"]}\nupstreams:\n  servers:\n    - address: 127.0.0.1:0\n", 4,
      "upstreams.servers[0].address", "expected an address");
}

TEST(Config, MissingUpstreamsAndNoResolvConfIsAnError) {
  try {
    parse_config("listen: {udp: [\"127.0.0.1:53\"]}\n", "test.yaml", "/nonexistent/resolv.conf");
    ADD_FAILURE() << "accepted";
  } catch (const ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("upstreams.servers: none configured"),
              std::string::npos)
        << error.what();
  }
  const Config config = parse_config("listen: {udp: [\"127.0.0.1:53\"]}\n", "test.yaml", "");
  EXPECT_TRUE(config.upstreams.servers.empty()) << "an empty path leaves them to the command line";
}

TEST(Config, UnreadableFileIsAnError) {
  EXPECT_THROW(load_config_file("/nonexistent/heimdall.yaml"), ConfigError);
}

TEST(ResolvConf, ReadsNameserversAndSkipsTheRest) {
  const TempFile file(
      "; comment\n#nameserver 10.0.0.1\noptions ndots:2\nnameserver 127.0.0.53 # stub\n");
  const auto servers = read_resolv_conf(file.path());
  ASSERT_EQ(servers.size(), 1u);
  EXPECT_EQ(servers[0].to_string(), "127.0.0.53:53");
  const TempFile none("search example.com\n");
  EXPECT_THROW(read_resolv_conf(none.path()), ConfigError);
}

// ---------------------------------------------------------------- command line

CommandLine parse_args(std::initializer_list<const char*> args) {
  std::vector<const char*> argv = {"heimdall"};
  argv.insert(argv.end(), args.begin(), args.end());
  return parse_command_line(static_cast<int>(argv.size()), argv.data());
}

TEST(CommandLine, ParsesFlagsInBothForms) {
  const CommandLine cl = parse_args({"--config", "x.yaml", "--listen=127.0.0.1:5300", "--listen",
                                     "[::1]:5300", "--upstream", "127.0.0.1:5400", "--workers=4",
                                     "--log-level", "warn", "--check-config"});
  EXPECT_EQ(cl.config_path, "x.yaml");
  EXPECT_EQ(cl.listen.size(), 2u);
  EXPECT_EQ(cl.upstreams.size(), 1u);
  EXPECT_EQ(cl.workers, 4u);
  EXPECT_EQ(cl.log_level, LogLevel::Warn);
  EXPECT_TRUE(cl.check_config);
  EXPECT_TRUE(parse_args({"-h"}).show_help);
  EXPECT_TRUE(parse_args({"--version"}).show_version);
}

TEST(CommandLine, RejectsUnknownFlagsMissingValuesAndBadValues) {
  EXPECT_THROW(parse_args({"--frobnicate"}), UsageError);
  EXPECT_THROW(parse_args({"--config"}), UsageError);
  EXPECT_THROW(parse_args({"--workers", "0"}), UsageError);
  EXPECT_THROW(parse_args({"--workers", "many"}), UsageError);
  EXPECT_THROW(parse_args({"--listen", "nowhere"}), UsageError);
  EXPECT_THROW(parse_args({"--log-level", "loud"}), UsageError);
  EXPECT_THROW(parse_args({"--version=1"}), UsageError);
}

TEST(CommandLine, OverridesReplaceWhatTheFileSays) {
  Config config =
      parse("listen: {udp: [\"127.0.0.1:53\"]}\nupstreams: {servers: [127.0.0.1:5400]}\n");
  apply_overrides(config, parse_args({"--listen", "127.0.0.1:5300", "--upstream", "127.0.0.2:53",
                                      "--upstream", "127.0.0.3:53", "--workers", "1"}));
  ASSERT_EQ(config.listen.udp.size(), 1u);
  EXPECT_EQ(config.listen.udp[0].to_string(), "127.0.0.1:5300");
  EXPECT_EQ(config.listen.tcp[0].to_string(), "127.0.0.1:5300");
  ASSERT_EQ(config.upstreams.servers.size(), 2u);
  EXPECT_EQ(config.upstreams.servers[1].address.to_string(), "127.0.0.3:53");
  EXPECT_EQ(config.dataplane.workers, 1u);
}

// ---------------------------------------------------------------- endpoints

TEST(Endpoint, ParsesAndPrintsIpv4AndIpv6) {
  EXPECT_EQ(net::Endpoint::parse("127.0.0.1:53")->to_string(), "127.0.0.1:53");
  EXPECT_EQ(net::Endpoint::parse("127.0.0.1", 5353)->to_string(), "127.0.0.1:5353");
  EXPECT_EQ(net::Endpoint::parse("[::1]:5300")->to_string(), "[::1]:5300");
  EXPECT_EQ(net::Endpoint::parse("2001:db8::1")->to_string(), "[2001:db8::1]:53");
  for (const char* bad : {"", "1.2.3.4:0", "1.2.3.4:70000", "1.2.3:53", "example.com:53", "[::1",
                          "[::1]x", "1.2.3.4:"}) {
    EXPECT_FALSE(net::Endpoint::parse(bad).has_value()) << bad;
  }
}

TEST(Endpoint, RoundTripsThroughSockaddr) {
  for (const char* text : {"192.0.2.7:4242", "[2001:db8::7]:4242"}) {
    const net::Endpoint endpoint = *net::Endpoint::parse(text);
    sockaddr_storage sa{};
    endpoint.to_sockaddr(sa);
    EXPECT_EQ(net::Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&sa)), endpoint)
        << text;
  }
}

}  // namespace
}  // namespace heimdall::control
