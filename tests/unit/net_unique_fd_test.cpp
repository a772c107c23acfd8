// net::UniqueFd: exactly one owner closes a descriptor, whether it goes out of
// scope, is reset, is moved over or is closed on purpose.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <utility>

#include "heimdall/net/unique_fd.hpp"

namespace heimdall::net {
namespace {

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

// Both ends of a new pipe; the test owns the write end.
int read_end_of_new_pipe(UniqueFd& write_end) {
  int ends[2];
  EXPECT_EQ(::pipe2(ends, O_CLOEXEC), 0);
  write_end.reset(ends[1]);
  return ends[0];
}

TEST(UniqueFd, ClosesItsDescriptorWhenItGoesOutOfScope) {
  UniqueFd keep;
  int fd = -1;
  {
    const UniqueFd owned(read_end_of_new_pipe(keep));
    fd = owned.get();
    EXPECT_TRUE(is_open(fd));
  }
  EXPECT_FALSE(is_open(fd));
}

TEST(UniqueFd, AMoveLeavesTheDescriptorOpenWithTheNewOwnerOnly) {
  UniqueFd keep;
  UniqueFd first(read_end_of_new_pipe(keep));
  const int fd = first.get();
  UniqueFd second(std::move(first));
  EXPECT_FALSE(first.valid());
  EXPECT_EQ(second.get(), fd);
  EXPECT_TRUE(is_open(fd));
  UniqueFd third;
  third = std::move(second);
  EXPECT_TRUE(is_open(fd));
  third.reset();
  EXPECT_FALSE(is_open(fd));
}

TEST(UniqueFd, MoveAssignmentClosesTheDescriptorItReplaces) {
  UniqueFd keep_a;
  UniqueFd keep_b;
  UniqueFd a(read_end_of_new_pipe(keep_a));
  UniqueFd b(read_end_of_new_pipe(keep_b));
  const int replaced = a.get();
  const int kept = b.get();
  a = std::move(b);
  EXPECT_FALSE(is_open(replaced));
  EXPECT_EQ(a.get(), kept);
  EXPECT_TRUE(is_open(kept));
}

TEST(UniqueFd, ReleaseHandsTheDescriptorOverUnclosed) {
  UniqueFd keep;
  int fd = -1;
  {
    UniqueFd owned(read_end_of_new_pipe(keep));
    fd = owned.release();
    EXPECT_FALSE(owned.valid());
  }
  EXPECT_TRUE(is_open(fd));
  ::close(fd);
}

TEST(UniqueFd, CloseReportsSuccessAndLeavesNothingToCloseTwice) {
  UniqueFd keep;
  UniqueFd owned(read_end_of_new_pipe(keep));
  const int fd = owned.get();
  EXPECT_TRUE(owned.close());
  EXPECT_FALSE(owned.valid());
  EXPECT_FALSE(is_open(fd));
  EXPECT_TRUE(owned.close());  // nothing held
}

TEST(UniqueFd, ANegativeDescriptorIsNone) {
  const UniqueFd none(-1);
  EXPECT_FALSE(none.valid());
  EXPECT_FALSE(UniqueFd().valid());
}

}  // namespace
}  // namespace heimdall::net
