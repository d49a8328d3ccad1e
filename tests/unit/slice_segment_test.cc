#include "runtime/slice_segment.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace xpool::runtime {
namespace {

constexpr int64_t kMiB = 1024 * 1024;

class SliceSegmentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path() /
            ("xpool-segment-test-" + std::to_string(getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove(path_);
  }
  void TearDown() override { std::filesystem::remove(path_); }
  std::string path_;
};

TEST_F(SliceSegmentTest, ChargesStayWithinTheQuota) {
  auto s = SliceSegment::Open(path_);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_TRUE((*s)->TryCharge(0, 600 * kMiB, 1024 * kMiB));
  EXPECT_FALSE((*s)->TryCharge(0, 500 * kMiB, 1024 * kMiB));
  EXPECT_TRUE((*s)->TryCharge(0, 424 * kMiB, 1024 * kMiB));   // exactly to the MiB
  EXPECT_TRUE((*s)->TryCharge(1, 1024 * kMiB, 1024 * kMiB));  // devices are separate
  (*s)->Uncharge(0, 600 * kMiB);
  EXPECT_EQ((*s)->Usage(0), 424 * kMiB);
}

TEST_F(SliceSegmentTest, FootprintCountsTowardsTheQuota) {
  auto s = SliceSegment::Open(path_);
  ASSERT_TRUE(s.ok());
  (*s)->SetFootprintsFromDriver(0, {{getpid(), 300 * kMiB}});
  EXPECT_FALSE((*s)->TryCharge(0, 800 * kMiB, 1024 * kMiB));
  EXPECT_TRUE((*s)->TryCharge(0, 724 * kMiB, 1024 * kMiB));
}

TEST_F(SliceSegmentTest, DriverFiguresSetFootprintsLeavingManagedMemoryOut) {
  auto s = SliceSegment::Open(path_);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->TryCharge(0, 100 * kMiB, -1));
  ASSERT_TRUE((*s)->TryCharge(0, 50 * kMiB, -1, /*resident=*/false));
  // The driver sees 400 MiB for this process: 100 charged and resident, so 300 is footprint.
  (*s)->SetFootprintsFromDriver(0, {{getpid(), 400 * kMiB}});
  EXPECT_EQ((*s)->Usage(0), 450 * kMiB);
}

TEST_F(SliceSegmentTest, ProcessesShareTheSliceAndTheDeadAreReaped) {
  auto parent = SliceSegment::Open(path_);
  ASSERT_TRUE(parent.ok());
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  if (child == 0) {
    auto s = SliceSegment::Open(path_);
    const bool ok = s.ok() && (*s)->TryCharge(0, 700 * kMiB, 1024 * kMiB);
    char c = ok ? 'y' : 'n';
    (void)!write(ready[1], &c, 1);
    pause();
    _exit(0);
  }
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  ASSERT_EQ(c, 'y');
  EXPECT_EQ((*parent)->Usage(0), 700 * kMiB);
  EXPECT_FALSE((*parent)->TryCharge(0, 400 * kMiB, 1024 * kMiB));
  EXPECT_EQ((*parent)->Processes().size(), 2u);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  // The kernel dropped the child's liveness lock with it: its 700 MiB come back at once.
  EXPECT_TRUE((*parent)->TryCharge(0, 1000 * kMiB, 1024 * kMiB));
  EXPECT_EQ((*parent)->Processes().size(), 1u);
}

TEST_F(SliceSegmentTest, ForeignFilesAreRefused) {
  {
    FILE* f = std::fopen(path_.c_str(), "w");
    std::fputs("not a segment", f);
    std::fclose(f);
  }
  EXPECT_FALSE(SliceSegment::Open(path_).ok());
}

TEST_F(SliceSegmentTest, ObserversReadWithoutJoining) {
  auto member = SliceSegment::Open(path_);
  ASSERT_TRUE(member.ok());
  ASSERT_TRUE((*member)->TryCharge(2, 64 * kMiB, -1));
  auto observer = SliceSegment::OpenReadOnlyObserver(path_);
  ASSERT_TRUE(observer.ok());
  EXPECT_EQ((*observer)->Usage(2), 64 * kMiB);
  EXPECT_EQ((*observer)->Processes().size(), 1u);
}

TEST_F(SliceSegmentTest, AnObserverIsNotStoppedByALockWordAProcessSet) {
  // A slice's process can write its whole segment: here it sets the table's lock word to the id
  // of a live process that will never unlock it, as a hostile or broken task could (issue 28).
  auto member = SliceSegment::Open(path_);
  ASSERT_TRUE(member.ok());
  ASSERT_TRUE((*member)->TryCharge(0, 96 * kMiB, -1));
  const pid_t sleeper = fork();
  if (sleeper == 0) {
    pause();
    _exit(0);
  }
  {
    const int fd = open(path_.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    const int32_t owner = sleeper;
    ASSERT_EQ(pwrite(fd, &owner, sizeof owner, SliceSegment::kTableLockOffset),
              static_cast<ssize_t>(sizeof owner));
    close(fd);
  }
  // Unlocked again when the test is done, so that the member can leave.
  const auto release = [this] {
    const int fd = open(path_.c_str(), O_RDWR);
    const int32_t none = 0;
    (void)!pwrite(fd, &none, sizeof none, SliceSegment::kTableLockOffset);
    close(fd);
  };
  // The observer reads in a child so that a wait on the lock shows as a timeout, not a hang.
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  const pid_t reader = fork();
  if (reader == 0) {
    auto observer = SliceSegment::OpenReadOnlyObserver(path_);
    const int64_t usage = observer.ok() ? (*observer)->Usage(0) : -1;
    (void)!write(out[1], &usage, sizeof usage);
    _exit(0);
  }
  close(out[1]);
  pollfd wait_for{out[0], POLLIN, 0};
  const int ready = poll(&wait_for, 1, 5000);
  int64_t usage = -2;
  if (ready == 1) (void)!read(out[0], &usage, sizeof usage);
  kill(reader, SIGKILL);
  kill(sleeper, SIGKILL);
  waitpid(reader, nullptr, 0);
  waitpid(sleeper, nullptr, 0);
  close(out[0]);
  release();
  ASSERT_EQ(ready, 1) << "the observer waited on a lock the slice's process holds";
  EXPECT_EQ(usage, 96 * kMiB);
}

TEST_F(SliceSegmentTest, IpcExportsAreRemembered) {
  auto s = SliceSegment::Open(path_);
  ASSERT_TRUE(s.ok());
  (*s)->NoteExport(42);
  EXPECT_TRUE((*s)->IsExported(42));
  EXPECT_FALSE((*s)->IsExported(43));
}

}  // namespace
}  // namespace xpool::runtime
