// The command line: flags in both forms, the errors that name the bad flag, and how
// the overrides replace what the configuration file says.
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "heimdall/control/command_line.hpp"
#include "heimdall/control/config.hpp"

namespace heimdall::control {
namespace {

CommandLine parse_args(std::initializer_list<const char*> args) {
  std::vector<const char*> argv = {"heimdall"};
  argv.insert(argv.end(), args.begin(), args.end());
  return parse_command_line(static_cast<int>(argv.size()), argv.data());
}

std::string usage_error(std::initializer_list<const char*> args) {
  try {
    parse_args(args);
  } catch (const UsageError& error) {
    return error.what();
  }
  return "(accepted)";
}

std::vector<std::string> strings(const std::vector<net::Endpoint>& endpoints) {
  std::vector<std::string> result;
  for (const auto& endpoint : endpoints) result.push_back(endpoint.to_string());
  return result;
}

Config file_config() {
  return parse_config(
      "listen: {udp: [\"127.0.0.1:53\"], tcp: [\"127.0.0.1:54\"]}\n"
      "upstreams: {servers: [192.0.2.1]}\n"
      "dataplane: {workers: 4}\n"
      "logging: {level: info}\n",
      "test.yaml", "");
}

// ------------------------------------------------------------------ parsing

TEST(CommandLine, NoArgumentsMeansTheEmbeddedConfigAndNoOverrides) {
  const CommandLine cl = parse_args({});
  EXPECT_TRUE(cl.config_path.empty());
  EXPECT_FALSE(cl.check_config);
  EXPECT_FALSE(cl.show_help);
  EXPECT_FALSE(cl.show_version);
  EXPECT_TRUE(cl.listen.empty());
  EXPECT_TRUE(cl.upstreams.empty());
  EXPECT_FALSE(cl.workers);
  EXPECT_FALSE(cl.log_level);
}

TEST(CommandLine, ParsesEveryFlagWithSeparateValues) {
  const CommandLine cl =
      parse_args({"--config", "x.yaml", "--check-config", "--listen", "127.0.0.1:5300",
                  "--upstream", "192.0.2.1:53", "--workers", "4", "--log-level", "warn"});
  EXPECT_EQ(cl.config_path, "x.yaml");
  EXPECT_TRUE(cl.check_config);
  EXPECT_EQ(strings(cl.listen), std::vector<std::string>{"127.0.0.1:5300"});
  EXPECT_EQ(strings(cl.upstreams), std::vector<std::string>{"192.0.2.1:53"});
  EXPECT_EQ(cl.workers, 4u);
  EXPECT_EQ(cl.log_level, LogLevel::Warn);
}

TEST(CommandLine, ParsesEveryFlagWithEqualsValues) {
  const CommandLine cl = parse_args({"--config=x.yaml", "--listen=[::1]:5300",
                                     "--upstream=192.0.2.1", "--workers=64", "--log-level=off"});
  EXPECT_EQ(cl.config_path, "x.yaml");
  EXPECT_EQ(strings(cl.listen), std::vector<std::string>{"[::1]:5300"});
  EXPECT_EQ(strings(cl.upstreams), std::vector<std::string>{"192.0.2.1:53"}) << "port 53 default";
  EXPECT_EQ(cl.workers, 64u);
  EXPECT_EQ(cl.log_level, LogLevel::Off);
}

TEST(CommandLine, EqualsValueMayItselfContainEqualsOrLookLikeAFlag) {
  EXPECT_EQ(parse_args({"--config=a=b.yaml"}).config_path, "a=b.yaml");
  EXPECT_EQ(parse_args({"--config=--odd.yaml"}).config_path, "--odd.yaml");
}

TEST(CommandLine, ShortFormsOfHelpAndConfig) {
  EXPECT_TRUE(parse_args({"-h"}).show_help);
  EXPECT_TRUE(parse_args({"--help"}).show_help);
  EXPECT_EQ(parse_args({"-c", "x.yaml"}).config_path, "x.yaml");
  EXPECT_TRUE(parse_args({"--version"}).show_version);
}

TEST(CommandLine, RepeatedListenAndUpstreamAccumulateInOrder) {
  const CommandLine cl = parse_args({"--listen", "127.0.0.1:5300", "--listen=[::1]:5300",
                                     "--upstream", "192.0.2.1", "--upstream", "192.0.2.2:5353"});
  EXPECT_EQ(strings(cl.listen), (std::vector<std::string>{"127.0.0.1:5300", "[::1]:5300"}));
  EXPECT_EQ(strings(cl.upstreams), (std::vector<std::string>{"192.0.2.1:53", "192.0.2.2:5353"}));
}

TEST(CommandLine, EveryLogLevelIsAccepted) {
  const std::pair<const char*, LogLevel> levels[] = {
      {"trace", LogLevel::Trace}, {"debug", LogLevel::Debug}, {"info", LogLevel::Info},
      {"warn", LogLevel::Warn},   {"error", LogLevel::Error}, {"critical", LogLevel::Critical},
      {"off", LogLevel::Off}};
  for (const auto& [name, level] : levels) {
    EXPECT_EQ(parse_args({"--log-level", name}).log_level, level) << name;
  }
}

// ------------------------------------------------------------------ errors

TEST(CommandLine, UnknownFlagIsNamed) {
  EXPECT_EQ(usage_error({"--frobnicate"}), "unknown option '--frobnicate'");
  EXPECT_EQ(usage_error({"--frobnicate=1"}), "unknown option '--frobnicate'");
  EXPECT_EQ(usage_error({"-x"}), "unknown option '-x'");
}

TEST(CommandLine, PositionalArgumentIsRefused) {
  EXPECT_NE(usage_error({"heimdall.yaml"}).find("unexpected argument 'heimdall.yaml'"),
            std::string::npos);
}

TEST(CommandLine, MissingValueNamesTheFlag) {
  for (const char* flag :
       {"--config", "-c", "--listen", "--upstream", "--workers", "--log-level"}) {
    EXPECT_EQ(usage_error({flag}), std::string(flag) + ": missing value");
  }
  EXPECT_EQ(usage_error({"--config="}), "--config: missing value");
}

TEST(CommandLine, FlagIsNotTakenAsThePreviousFlagsValue) {
  EXPECT_EQ(usage_error({"--config", "--check-config"}), "--config: missing value");
  EXPECT_EQ(usage_error({"--listen", "-h"}), "--listen: missing value");
}

TEST(CommandLine, FlagWithoutValueRefusesOne) {
  for (const char* arg : {"--version=1", "--check-config=yes", "--help=x"}) {
    const std::string flag = std::string(arg).substr(0, std::string(arg).find('='));
    EXPECT_EQ(usage_error({arg}), flag + ": takes no value");
  }
}

TEST(CommandLine, WorkersMustBeAnIntegerFrom1To64) {
  for (const char* bad : {"0", "65", "many", "-1", "+2", "2x", "", "99999999999"}) {
    const std::string message = usage_error({(std::string("--workers=") + bad).c_str()});
    EXPECT_EQ(message,
              std::string("--workers: expected an integer from 1 to 64, got '") + bad + "'");
  }
  EXPECT_EQ(parse_args({"--workers", "1"}).workers, 1u);
}

TEST(CommandLine, LogLevelMustBeKnown) {
  EXPECT_EQ(usage_error({"--log-level", "loud"}),
            "--log-level: expected trace|debug|info|warn|error|critical|off, got 'loud'");
}

TEST(CommandLine, ListenAndUpstreamMustBeAddresses) {
  for (const char* flag : {"--listen", "--upstream"}) {
    for (const char* bad : {"nowhere", "localhost:53", "127.0.0.1:0", "127.0.0.1:65536", "[::1"}) {
      const std::string message = usage_error({flag, bad});
      EXPECT_EQ(message.rfind(std::string(flag) + ": expected ADDR:PORT", 0), 0u) << message;
      EXPECT_NE(message.find(std::string("got '") + bad + "'"), std::string::npos) << message;
    }
  }
}

TEST(CommandLine, SameAddressGivenTwiceIsRefused) {
  EXPECT_EQ(usage_error({"--listen", "127.0.0.1:53", "--listen", "127.0.0.1"}),
            "--listen: 127.0.0.1:53 given twice");
  EXPECT_EQ(usage_error({"--upstream", "::1", "--upstream", "[::1]:53"}),
            "--upstream: [::1]:53 given twice");
}

TEST(CommandLine, MoreThan32UpstreamsIsRefused) {
  std::vector<std::string> values;
  for (int i = 1; i <= 33; ++i) values.push_back("--upstream=192.0.2." + std::to_string(i));
  std::vector<const char*> argv = {"heimdall"};
  for (const auto& value : values) argv.push_back(value.c_str());
  EXPECT_EQ(parse_command_line(32 + 1, argv.data()).upstreams.size(), 32u);
  try {
    parse_command_line(static_cast<int>(argv.size()), argv.data());
    ADD_FAILURE() << "accepted 33 upstreams";
  } catch (const UsageError& error) {
    EXPECT_EQ(std::string(error.what()), "--upstream: at most 32 servers");
  }
}

// ------------------------------------------------------------------ overrides

TEST(ApplyOverrides, NoFlagsLeaveTheFileAlone) {
  Config config = file_config();
  apply_overrides(config, parse_args({"--config", "x.yaml", "--check-config"}));
  EXPECT_EQ(strings(config.listen.udp), std::vector<std::string>{"127.0.0.1:53"});
  EXPECT_EQ(strings(config.listen.tcp), std::vector<std::string>{"127.0.0.1:54"});
  ASSERT_EQ(config.upstreams.servers.size(), 1u);
  EXPECT_EQ(config.dataplane.workers, 4u);
  EXPECT_EQ(config.logging.level, LogLevel::Info);
}

TEST(ApplyOverrides, ListenReplacesBothUdpAndTcp) {
  Config config = file_config();
  apply_overrides(config, parse_args({"--listen", "127.0.0.1:5300", "--listen", "[::1]:5300"}));
  const std::vector<std::string> expected = {"127.0.0.1:5300", "[::1]:5300"};
  EXPECT_EQ(strings(config.listen.udp), expected);
  EXPECT_EQ(strings(config.listen.tcp), expected);
}

TEST(ApplyOverrides, UpstreamReplacesTheServersAndTheResolvConfFallback) {
  Config config = file_config();
  config.upstreams.servers_from_resolv_conf = true;
  apply_overrides(config, parse_args({"--upstream", "192.0.2.2", "--upstream", "192.0.2.3:5353"}));
  ASSERT_EQ(config.upstreams.servers.size(), 2u);
  EXPECT_EQ(config.upstreams.servers[0].address.to_string(), "192.0.2.2:53");
  EXPECT_EQ(config.upstreams.servers[1].address.to_string(), "192.0.2.3:5353");
  EXPECT_FALSE(config.upstreams.servers_from_resolv_conf);
}

TEST(ApplyOverrides, WorkersAndLogLevelReplaceTheFileValues) {
  Config config = file_config();
  apply_overrides(config, parse_args({"--workers", "1", "--log-level", "debug"}));
  EXPECT_EQ(config.dataplane.workers, 1u);
  EXPECT_EQ(config.logging.level, LogLevel::Debug);
}

// ------------------------------------------------------------------ help

TEST(UsageText, NamesTheProgramAndEveryFlag) {
  const std::string text = usage_text();
  EXPECT_EQ(text.rfind("usage: heimdall", 0), 0u);
  for (const char* flag : {"--config FILE", "-c,", "--check-config", "--version", "--help", "-h,",
                           "--listen ADDR:PORT", "--upstream ADDR:PORT", "--workers N",
                           "--log-level LEVEL", "--flag=value"}) {
    EXPECT_NE(text.find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace heimdall::control
