// The arbitration policies, driven with a hand-set clock: who goes next and for how long.
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <csignal>
#include <filesystem>
#include <optional>
#include <string>

#include "runtime/compute_arbiter.h"
#include "runtime/config.h"
#include "runtime/cpu_budget.h"

namespace xpool::runtime {
namespace {

constexpr int64_t kMs = 1'000'000;

struct Table {
  std::array<MemberRecord, kMaxComputeMembers> members{};
  std::array<SliceRecord, kMaxComputeSlices> slices{};
  // Adds a waiting process of a new slice; returns its member index.
  int Waiter(int share, bool high, int64_t waiting_since, int64_t last_grant = 0) {
    const int i = count++;
    slices[i].key = 100 + i;
    slices[i].share = share;
    slices[i].high = high ? 1 : 0;
    members[i] = MemberRecord{1000 + i, i, waiting_since, waiting_since, last_grant};
    return i;
  }
  int Next(ComputePolicy p, int64_t now) {
    return arbiter_policy::ChooseNext(p, members.data(), slices.data(), now, timing);
  }
  int count = 0;
  ArbiterTiming timing;
};

TEST(ComputePolicyTest, WeightedGivesTheDeviceInProportionToShares) {
  Table t;
  const int a = t.Waiter(30, false, 1);
  const int b = t.Waiter(70, false, 1);
  std::array<int64_t, 2> held{};
  int64_t now = 10 * kMs;
  for (int round = 0; round < 1000; ++round) {
    const int next = t.Next(ComputePolicy::kWeighted, now);
    ASSERT_TRUE(next == a || next == b);
    arbiter_policy::Charge(ComputePolicy::kWeighted, t.slices[t.members[next].slice], 10 * kMs);
    held[next] += 10 * kMs;
    t.members[next].last_grant_ns = now;
    now += 10 * kMs;
  }
  const double ratio = static_cast<double>(held[a]) / static_cast<double>(held[b]);
  EXPECT_NEAR(ratio, 30.0 / 70.0, 0.01);
}

TEST(ComputePolicyTest, EqualIgnoresShares) {
  Table t;
  const int a = t.Waiter(10, false, 1);
  const int b = t.Waiter(90, false, 1);
  std::array<int, 2> grants{};
  for (int round = 0; round < 100; ++round) {
    const int next = t.Next(ComputePolicy::kEqual, round * 10 * kMs);
    arbiter_policy::Charge(ComputePolicy::kEqual, t.slices[t.members[next].slice], 10 * kMs);
    t.members[next].last_grant_ns = round * 10 * kMs;
    ++grants[next];
  }
  EXPECT_EQ(grants[a], 50);
  EXPECT_EQ(grants[b], 50);
}

// A lone fixed slice of `share` %: it starts with one lease's credit, holds `lease`, and, though
// nobody else wants the device, gets it again only once `period` has earned that credit back.
void ExpectFixedLeaseEvery(int share, int64_t lease, int64_t period, int64_t slice_period = 0) {
  Table t;
  const int a = t.Waiter(share, false, 1);
  t.slices[0].period_ns = slice_period;
  ASSERT_EQ(t.Next(ComputePolicy::kFixed, 1 * kMs), a);
  SliceRecord& s = t.slices[0];
  EXPECT_EQ(arbiter_policy::LeaseLength(ComputePolicy::kFixed, s, t.timing), lease);
  arbiter_policy::Charge(ComputePolicy::kFixed, s, lease);
  EXPECT_EQ(t.Next(ComputePolicy::kFixed, 1 * kMs + lease), -1);
  EXPECT_EQ(t.Next(ComputePolicy::kFixed, period), -1);
  EXPECT_EQ(t.Next(ComputePolicy::kFixed, period + 1 * kMs + 1), a);
}

TEST(ComputePolicyTest, FixedWaitsForCreditEvenOnAnIdleDevice) {
  // 25 % of 20 ms.
  ExpectFixedLeaseEvery(25, 5 * kMs, 20 * kMs);
}

TEST(ComputePolicyTest, SmallFixedSharesHoldFewLongLeases) {
  // Every lease costs a drain and a cold first launch: a 10 % slice holds 4 ms every 40 ms,
  // not 2 ms every 20 ms.
  ExpectFixedLeaseEvery(10, 4 * kMs, 40 * kMs);
}

TEST(ComputePolicyTest, AFixedSliceKeepsItsOwnPeriod) {
  // 50 % of a 500 ms period (XPOOL_COMPUTE_PERIOD_MS=500), whatever the deciding process's own.
  ExpectFixedLeaseEvery(50, 250 * kMs, 500 * kMs, 500 * kMs);
}

TEST(ComputePolicyTest, FixedOverrunIsPaidBack) {
  Table t;
  t.Waiter(50, false, 1);
  SliceRecord& s = t.slices[0];
  arbiter_policy::Refill(s, 1 * kMs, t.timing);
  // A 10 ms lease that took 14 ms to drain leaves 4 ms of debt: 28 ms until the next lease.
  arbiter_policy::Charge(ComputePolicy::kFixed, s, 14 * kMs);
  EXPECT_EQ(t.Next(ComputePolicy::kFixed, 28 * kMs), -1);
  EXPECT_EQ(t.Next(ComputePolicy::kFixed, 29 * kMs + 1), 0);
}

TEST(ComputePolicyTest, HighPriorityGoesFirstWhateverThePolicy) {
  for (auto p : {ComputePolicy::kWeighted, ComputePolicy::kEqual, ComputePolicy::kBestEffort}) {
    Table t;
    t.Waiter(90, false, 1);
    const int high = t.Waiter(10, true, 5 * kMs, 4 * kMs);
    t.slices[1].vtime = 1'000'000 * kMs;  // far behind on any fairness count
    EXPECT_EQ(t.Next(p, 6 * kMs), high) << ComputePolicyName(p);
  }
}

TEST(ComputePolicyTest, BestEffortTakesTurns) {
  Table t;
  const int a = t.Waiter(100, false, 1, 3 * kMs);
  const int b = t.Waiter(100, false, 1, 2 * kMs);
  EXPECT_EQ(t.Next(ComputePolicy::kBestEffort, 4 * kMs), b);
  t.members[b].last_grant_ns = 4 * kMs;
  EXPECT_EQ(t.Next(ComputePolicy::kBestEffort, 5 * kMs), a);
}

TEST(ComputePolicyTest, AnIdleSliceBanksNoCredit) {
  Table t;
  t.Waiter(50, false, 1);
  t.Waiter(50, false, 1);
  t.slices[0].vtime = 500 * kMs;
  t.slices[0].active_ns = 1000 * kMs;
  t.slices[1].vtime = 0;  // idle for a long time
  t.slices[1].active_ns = 0;
  arbiter_policy::CatchUp(t.slices[1], t.slices.data(), 1000 * kMs);
  EXPECT_EQ(t.slices[1].vtime, 500 * kMs);
}

// Every policy adds what it charges to the slice's total, which `xpool shares` reports.
TEST(ComputePolicyTest, ChargesAddUpToTheDeviceTimeUsed) {
  for (ComputePolicy p : {ComputePolicy::kFixed, ComputePolicy::kWeighted, ComputePolicy::kEqual,
                          ComputePolicy::kBestEffort}) {
    SliceRecord s;
    s.share = 30;
    arbiter_policy::Charge(p, s, 6 * kMs);
    arbiter_policy::Charge(p, s, 4 * kMs);
    arbiter_policy::Charge(p, s, -1);  // a clock that went back charges nothing
    EXPECT_EQ(s.used_ns, 10 * kMs) << ComputePolicyName(p);
  }
}

// Under fixed, what a slice earns while it wants the device (waits for it, or holds it) beside
// another slice using it is kept up to a second lease, or beside longer leases up to what it earns
// behind two of them; what it earns idle only refills the first.
TEST(ComputePolicyTest, AFixedSliceKeepsWhatItEarnsWaitingButNotWhatItEarnsIdle) {
  ArbiterTiming timing;
  SliceRecord s;
  s.share = 50;                               // 10 ms of each 20 ms
  constexpr int64_t kOthersLease = 10 * kMs;  // another slice's, of the default period
  arbiter_policy::Refill(s, 1000 * kMs, timing);
  EXPECT_EQ(s.credit_ns, 10 * kMs);  // a new slice starts with one lease
  arbiter_policy::Refill(s, 1008 * kMs, timing, {1000 * kMs, kOthersLease});
  EXPECT_EQ(s.credit_ns, 14 * kMs);  // kept waiting 8 ms behind another slice's lease
  arbiter_policy::Refill(s, 1100 * kMs, timing, {1100 * kMs, kOthersLease});
  EXPECT_EQ(s.credit_ns, 10 * kMs);  // idle: back to one lease
  arbiter_policy::Refill(s, 1150 * kMs, timing, {1120 * kMs, kOthersLease});
  EXPECT_EQ(s.credit_ns, 20 * kMs);  // idle 20 ms, then waiting 30 ms: at most two leases
  arbiter_policy::Charge(ComputePolicy::kFixed, s, 20 * kMs);
  arbiter_policy::Refill(s, 1160 * kMs, timing);  // idle 10 ms after spending it all
  EXPECT_EQ(s.credit_ns, 5 * kMs);
  // Kept waiting 300 ms behind a slice whose leases last 250 ms (50 % of 500 ms): it keeps what it
  // earned, up to 10 ms + 2 × 250 ms × 50 %.
  arbiter_policy::Refill(s, 1460 * kMs, timing, {1160 * kMs, 250 * kMs});
  EXPECT_EQ(s.credit_ns, 155 * kMs);
  arbiter_policy::Refill(s, 1960 * kMs, timing, {1160 * kMs, 250 * kMs});
  EXPECT_EQ(s.credit_ns, 260 * kMs);
  // Giving a lease up and asking again a few microseconds later is not idleness: nothing is lost.
  arbiter_policy::Charge(ComputePolicy::kFixed, s, 100 * kMs);
  arbiter_policy::Refill(s, 1960 * kMs + 20'000, timing, {1960 * kMs + 10'000, 250 * kMs});
  EXPECT_EQ(s.credit_ns, 160 * kMs + 10'000);
}

// Alone on the device, a fixed slice only ever waits for its own credit: whether it waited or
// paused briefly (a program starting up), it keeps one lease at most, so no burst follows.
TEST(ComputePolicyTest, AFixedSliceAloneKeepsOneLeaseAtMost) {
  ArbiterTiming timing;
  SliceRecord s;
  s.share = 30;
  s.period_ns = 500 * kMs;  // leases of 150 ms
  arbiter_policy::Refill(s, 1000 * kMs, timing);
  EXPECT_EQ(s.credit_ns, 150 * kMs);
  arbiter_policy::Charge(ComputePolicy::kFixed, s, 30 * kMs);
  arbiter_policy::Refill(s, 1100 * kMs, timing);  // a pause of 100 ms, shorter than a lease
  EXPECT_EQ(s.credit_ns, 150 * kMs);
  arbiter_policy::Refill(s, 1900 * kMs, timing, {1100 * kMs, 0});  // waiting, no other slice
  EXPECT_EQ(s.credit_ns, 150 * kMs);
  arbiter_policy::Refill(s, 1950 * kMs, timing, {1100 * kMs, 100 * kMs});  // another slice came
  EXPECT_EQ(s.credit_ns, 165 * kMs);
}

// A high-priority slice under fixed may take the device over only once its credit is whole.
TEST(ComputePolicyTest, UnderFixedASliceMayHoldTheDeviceOnlyWithItsWholeCredit) {
  ArbiterTiming timing;
  SliceRecord s;
  s.share = 50;  // 10 ms of each 20 ms
  arbiter_policy::Refill(s, 1000 * kMs, timing);
  EXPECT_TRUE(arbiter_policy::MayHoldNow(ComputePolicy::kFixed, s, 1000 * kMs, timing));
  arbiter_policy::Charge(ComputePolicy::kFixed, s, 10 * kMs);
  EXPECT_FALSE(arbiter_policy::MayHoldNow(ComputePolicy::kFixed, s, 1010 * kMs, timing));
  EXPECT_TRUE(arbiter_policy::MayHoldNow(ComputePolicy::kFixed, s, 1020 * kMs, timing));
  SliceRecord spent = s;
  arbiter_policy::Charge(ComputePolicy::kWeighted, spent, 50 * kMs);
  EXPECT_TRUE(arbiter_policy::MayHoldNow(ComputePolicy::kWeighted, spent, 1020 * kMs, timing));
}

// auto polls while the waiters and the holder each have a CPU of the process's budget, and sleeps
// (or yields, at high priority) once they would not; a way asked for is kept.
TEST(ComputeWaitTest, AutoSpinsOnlyWithACpuToSpare) {
  using arbiter_policy::WaitFor;
  EXPECT_EQ(WaitFor(ComputeWait::kAuto, false, 1, 16), ComputeWait::kSpin);
  EXPECT_EQ(WaitFor(ComputeWait::kAuto, false, 1, 2), ComputeWait::kSpin);
  EXPECT_EQ(WaitFor(ComputeWait::kAuto, false, 2, 2), ComputeWait::kBlock);
  EXPECT_EQ(WaitFor(ComputeWait::kAuto, true, 2, 2), ComputeWait::kYield);
  EXPECT_EQ(WaitFor(ComputeWait::kAuto, false, 1, 1), ComputeWait::kBlock);
  EXPECT_EQ(WaitFor(ComputeWait::kAuto, false, 0, 1), ComputeWait::kBlock);
  EXPECT_EQ(WaitFor(ComputeWait::kBlock, false, 1, 16), ComputeWait::kBlock);
  EXPECT_EQ(WaitFor(ComputeWait::kYield, false, 1, 16), ComputeWait::kYield);
  EXPECT_EQ(WaitFor(ComputeWait::kSpin, true, 8, 1), ComputeWait::kSpin);
}

TEST(ComputeWaitTest, CgroupQuotaInWholeCpus) {
  EXPECT_EQ(CpusFromCpuMax("200000 100000\n"), 2);
  EXPECT_EQ(CpusFromCpuMax("250000 100000"), 2);
  EXPECT_EQ(CpusFromCpuMax("50000 100000"), 1);  // half a CPU still runs one thread
  EXPECT_EQ(CpusFromCpuMax("max 100000\n"), std::nullopt);
  for (const char* bad : {"", "200000", "abc 100000", "200000 0", "-1 100000"}) {
    EXPECT_EQ(CpusFromCpuMax(bad), std::nullopt) << bad;
  }
  EXPECT_GE(UsableCpus(), 1);
}

TEST(ComputeConfigTest, SharesPoliciesAndPriorities) {
  EXPECT_EQ(*ParseComputeShare("30"), 30);
  EXPECT_EQ(*ParseComputeShare("1%"), 1);
  EXPECT_EQ(*ParseComputeShare("100"), 100);
  for (const char* bad : {"0", "101", "30.5", "", "abc", "-5"}) {
    EXPECT_FALSE(ParseComputeShare(bad).ok()) << bad;
  }
  EXPECT_EQ(*ParseComputePolicy("best-effort"), ComputePolicy::kBestEffort);
  EXPECT_FALSE(ParseComputePolicy("fair").ok());
}

const char* BadCore(const char* name) {
  return std::string(name) == kEnvGpuCore ? "150" : nullptr;
}

TEST(ComputeConfigTest, ABadShareIsAnErrorNotUnlimited) {
  const RuntimeConfig c = LoadConfig(&BadCore);
  EXPECT_NE(c.error.find("XPOOL_GPU_CORE"), std::string::npos) << c.error;
}

}  // namespace
}  // namespace xpool::runtime

namespace xpool::runtime {
namespace {

// Processes that died without leaving (killed) hold no lock on the segment any more: their
// records are free again, and the next process to join alone chooses the device's policy.
TEST(ComputeArbiterTest, RecordsOfProcessesThatDiedAreFreeAgain) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("xpool-arbiter-dead-" + std::to_string(getpid())))
          .string();
  std::filesystem::remove(path);
  for (int i = 0; i < kMaxComputeMembers; ++i) {
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      auto joined = ComputeArbiter::Open(path, ComputePolicy::kWeighted, 2 * i + 2, 50, false);
      _exit(joined.ok() ? 0 : 1);  // no destructor: the record stays, as after a SIGKILL
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child " << i;
  }
  auto survivor = ComputeArbiter::Open(path, ComputePolicy::kEqual, 1, 50, false);
  ASSERT_TRUE(survivor.ok()) << survivor.status().message();
  EXPECT_EQ((*survivor)->policy(), ComputePolicy::kEqual);
  auto use = ComputeArbiter::Read(path);
  ASSERT_TRUE(use.ok()) << use.status().message();
  size_t live = 0;
  for (const ComputeSliceUse& s : use->slices) live += s.pids.size();
  EXPECT_EQ(live, 1u);  // the dead are not shown
  survivor->reset();
  std::filesystem::remove(path);
}

// Reports name a process without a slice by its pid and host (in a pod, the pod's name: the pid
// alone is often 1), within the 47 characters a slice record holds.
TEST(ComputeSliceNameTest, NamesSlicesByFileAndLoneProcessesByPidAndHost) {
  EXPECT_EQ(ComputeSliceName("/dev/shm/xpool-slice-alloc-7", 0), "xpool-slice-alloc-7");
  EXPECT_EQ(ComputeSliceName("", 1, "trainer-7f9c6"), "pid 1 on trainer-7f9c6");
  EXPECT_EQ(ComputeSliceName("", 4242), "pid 4242");
  const std::string long_host(80, 'h');
  const std::string name = ComputeSliceName("", 1, long_host);
  EXPECT_EQ(name.size(), 47u);
  EXPECT_TRUE(name.starts_with("pid 1 on hhh")) << name;
}

// What the process a dead member left behind tells the test.
struct LeftBehind {
  pid_t pid = -1;
  bool forked_from_member = false;  // ComputeArbiter::ForkedFromMember() in it
};

// Forks a member of the segment at `path` that runs `leave_behind(report_fd)`, which starts a
// process that outlives the member and writes its LeftBehind to report_fd, then dies without
// leaving (no destructor: the record stays, as after a SIGKILL). Returns, once the member died,
// what that process reported.
template <typename LeaveBehind>
std::optional<LeftBehind> MemberDiesLeaving(const std::string& path, LeaveBehind leave_behind) {
  std::array<int, 2> to_test{};
  if (pipe(to_test.data()) != 0) return std::nullopt;
  const pid_t member = fork();
  if (member < 0) return std::nullopt;
  if (member == 0) {
    auto joined = ComputeArbiter::Open(path, ComputePolicy::kWeighted, 2, 50, false);
    if (!joined.ok()) _exit(1);
    leave_behind(to_test[1]);
    _exit(ComputeArbiter::ForkedFromMember() ? 1 : 0);
  }
  close(to_test[1]);
  int status = 0;
  LeftBehind report;
  const bool died =
      waitpid(member, &status, 0) == member && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  const bool read_all =
      read(to_test[0], &report, sizeof(report)) == static_cast<ssize_t>(sizeof(report));
  close(to_test[0]);
  if (!died || !read_all) return std::nullopt;
  return report;
}

std::string SegmentPath(const std::string& tag) {
  return (std::filesystem::temp_directory_path() /
          ("xpool-arbiter-" + tag + "-" + std::to_string(getpid())))
      .string();
}

// No live member is left: a newcomer alone chooses the device's policy.
void ExpectNoLiveMember(const std::string& path) {
  auto use = ComputeArbiter::Read(path);
  ASSERT_TRUE(use.ok()) << use.status().message();
  size_t live = 0;
  for (const ComputeSliceUse& s : use->slices) live += s.pids.size();
  EXPECT_EQ(live, 0u);
  auto next = ComputeArbiter::Open(path, ComputePolicy::kEqual, 4, 50, false);
  ASSERT_TRUE(next.ok()) << next.status().message();
  EXPECT_EQ((*next)->policy(), ComputePolicy::kEqual);
}

// A member's forked child (a data-loader worker: no exec) does not keep the member's lock: once the
// member dies, its record is free although the child lives on.
TEST(ComputeArbiterTest, AForkedChildDoesNotKeepADeadMembersRecordAlive) {
  const std::string path = SegmentPath("fork");
  std::filesystem::remove(path);
  const auto child = MemberDiesLeaving(path, [](int report_fd) {
    if (fork() == 0) {
      const LeftBehind report{getpid(), ComputeArbiter::ForkedFromMember()};
      (void)!write(report_fd, &report, sizeof(report));
      pause();  // outlives the member; killed by the test
      _exit(0);
    }
  });
  ASSERT_TRUE(child.has_value());
  ASSERT_EQ(kill(child->pid, 0), 0);  // lives on
  EXPECT_TRUE(child->forked_from_member);
  ExpectNoLiveMember(path);
  kill(child->pid, SIGKILL);  // not our child: init reaps it
  std::filesystem::remove(path);
}

// Shares the address space of the process that made it, without its descriptors (it closes its
// copies, then reports to the test through `report_fd`), and waits: as the NVIDIA driver's files,
// held by a child a CUDA program forked, keep the program's address space, and so its mappings,
// after it died.
int KeepAddressSpace(void* report_fd) {
  const int report = *static_cast<const int*>(report_fd);
  for (int fd = 3; fd < 1024; ++fd) {
    if (fd != report) close(fd);
  }
  const LeftBehind me{getpid(), false};
  (void)!write(report, &me, sizeof(me));
  close(report);
  pause();
  return 0;
}

// A member whose mappings outlive it (above) is still seen dead: its mapping holds no lock.
TEST(ComputeArbiterTest, AMemberWhoseMappingOutlivesItIsSeenDead) {
  const std::string path = SegmentPath("mm");
  std::filesystem::remove(path);
  const auto keeper = MemberDiesLeaving(path, [](int report_fd) {
    static std::array<char, size_t{64} * 1024> stack;
    static int keeper_report_fd = -1;  // in the address space the keeper shares
    keeper_report_fd = report_fd;
    clone(KeepAddressSpace, stack.data() + stack.size(), CLONE_VM | SIGCHLD, &keeper_report_fd);
  });
  ASSERT_TRUE(keeper.has_value());
  ASSERT_EQ(kill(keeper->pid, 0), 0);  // the address space lives on
  ExpectNoLiveMember(path);
  kill(keeper->pid, SIGKILL);  // not our child: init reaps it
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace xpool::runtime
