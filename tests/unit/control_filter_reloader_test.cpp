// Reloads through the control path with real list files: what stays in force when
// a list cannot be read, and that one missing list does not freeze the others.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "heimdall/control/filter_reloader.hpp"
#include "wire_builder.hpp"

namespace heimdall::control {
namespace {

class FilterReloaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/heimdall-reloader-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    directory_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(directory_); }

  std::string path(const std::string& name) const { return directory_ + "/" + name; }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(path(name)) << text;
  }

  Config config() const {
    Config config = parse_config(
        "listen: {udp: [\"127.0.0.1:53\"]}\n"
        "upstreams: {servers: [\"127.0.0.1:5300\"]}\n"
        "filter:\n"
        "  state_dir: " +
            directory_ +
            "/state\n"
            "  lists:\n"
            "    - {name: a, source: " +
            path("a.txt") +
            ", format: domains}\n"
            "    - {name: b, source: " +
            path("b.txt") + ", format: domains}\n",
        "test.yaml", "");
    return config;
  }

  static bool blocks(const FilterReloader& reloader, const char* name) {
    const filter::Snapshot* snapshot = reloader.published().read();
    net::Endpoint client;
    client.family = AF_INET;
    return snapshot != nullptr &&
           snapshot->decide(client, heimdall::testing::folded_key(name), 0).verdict ==
               filter::Decision::Verdict::Block;
  }

  std::string directory_;
};

TEST_F(FilterReloaderTest, AMissingListIsLeftOutWithoutFreezingTheOthers) {
  write("a.txt", "one.example\n");
  FilterReloader reloader(config(), 1);
  ASSERT_TRUE(reloader.active());
  ASSERT_TRUE(reloader.reload("start-up")) << "b.txt is missing: left out, not fatal";
  EXPECT_TRUE(blocks(reloader, "one.example"));
  ASSERT_EQ(reloader.stats().lists.size(), 2u);
  EXPECT_FALSE(reloader.stats().lists[1].read);
  EXPECT_NE(reloader.stats().lists[1].error.find("No such file"), std::string::npos);

  write("a.txt", "two.example\n");
  EXPECT_TRUE(reloader.reload("test")) << "b was not in force: a's change still applies";
  EXPECT_TRUE(blocks(reloader, "two.example"));
  EXPECT_FALSE(blocks(reloader, "one.example"));

  write("b.txt", "three.example\n");
  EXPECT_TRUE(reloader.reload("test"));
  EXPECT_TRUE(blocks(reloader, "three.example"));
  EXPECT_EQ(reloader.stats().reloads, 3u);
}

TEST_F(FilterReloaderTest, AListInForceThatCannotBeReadKeepsThePreviousFilter) {
  write("a.txt", "one.example\n");
  write("b.txt", "three.example\n");
  FilterReloader reloader(config(), 1);
  ASSERT_TRUE(reloader.reload("start-up"));
  std::filesystem::remove(path("b.txt"));
  write("a.txt", "two.example\n");
  EXPECT_FALSE(reloader.reload("test"));
  EXPECT_TRUE(blocks(reloader, "one.example")) << "the whole previous filter stays";
  EXPECT_TRUE(blocks(reloader, "three.example"));
  EXPECT_FALSE(blocks(reloader, "two.example"));
  EXPECT_EQ(reloader.stats().failed_reloads, 1u);
  EXPECT_EQ(reloader.stats().lists[0].rules, 1u) << "the stats of the filter in force";
  EXPECT_TRUE(reloader.stats().lists[1].read);
}

TEST_F(FilterReloaderTest, AChangedFileIsReloadedOnceItHasSettled) {
  write("a.txt", "one.example\n");
  write("b.txt", "");
  FilterReloader reloader(config(), 1);
  ASSERT_TRUE(reloader.reload("start-up"));
  const auto now = std::chrono::steady_clock::now();
  reloader.tick(now);
  EXPECT_EQ(reloader.stats().reloads, 1u) << "nothing changed";
  write("b.txt", "four.example\nfive.example\n");
  reloader.tick(now);
  EXPECT_EQ(reloader.stats().reloads, 1u) << "changed, not yet settled";
  reloader.tick(now);
  EXPECT_EQ(reloader.stats().reloads, 2u);
  EXPECT_TRUE(blocks(reloader, "five.example"));
}

}  // namespace
}  // namespace heimdall::control
