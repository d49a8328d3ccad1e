// Time-slice arbitration of one physical device between the slices on it. Every process that
// launches work under a compute share maps the device's arbitration segment (a file, by default
// /dev/shm/xpool-compute-v5-<device>) and takes an exclusive *lease* on the device before it
// launches: one holder at a time, so the wall time a lease is held, from grant until the holder's
// work has drained, is exactly the device time its slice used. Who gets the next lease, and for how
// long, is the policy:
//
//   fixed        a slice earns its share of wall time as credit and may hold the device only
//                while it has credit, even when the device is otherwise idle (a hard cap); what
//                it earns while kept waiting by another slice's lease is not lost;
//   weighted     the waiting slice with the least device time per unit of share goes next
//                (idle time is redistributed: a lone slice keeps the device);
//   equal        the same with equal weights;
//   best-effort  waiting processes take turns (round robin); a lone one keeps the device.
//   shared       no exclusive lease: every slice launches while it is not ahead of the others,
//                so the device interleaves their work and never idles while one of them has
//                some. A slice is charged the wall time its processes have work queued on the
//                device, divided among the slices that have work queued at the same time; one
//                whose charge per unit of share leads the least of the slices using or wanting
//                the device by more than a quantum drains its queue and waits until it no
//                longer does. Priority is not honoured under shared.
//
// A high-priority waiter goes before every normal one and makes a normal holder yield at its next
// launch. A holder that dies, or stops launching while others wait, loses the lease.
#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "runtime/config.h"

namespace xpool::runtime {

inline constexpr int kMaxComputeMembers = 64;  // processes per device
inline constexpr int kMaxComputeSlices = 64;   // slices per device

// Where arbitration reads the time and waits for the lease to change hands: the host's monotonic
// clock and the segment's shared futex (HostComputeClock), or, in tests, a simulated device's
// virtual clock, on which a share can be checked exactly and in no time.
class ComputeClock {
 public:
  virtual ~ComputeClock() = default;
  virtual int64_t NowNs() = 0;
  // Returns once `word` differs from `seen` or `timeout_ns` has passed (or earlier), waiting as
  // `how` says (never kAuto).
  virtual void Wait(std::atomic<uint32_t>& word, uint32_t seen, int64_t timeout_ns,
                    ComputeWait how) = 0;
  // Wakes every waiter on `word`, in every process.
  virtual void WakeAll(std::atomic<uint32_t>& word) = 0;
};
ComputeClock& HostComputeClock();

struct ArbiterTiming {
  int64_t quantum_ns = 10'000'000;  // lease length under weighted, equal and best-effort
  // Device time one process may keep queued while it holds the lease (ComputeLimiter).
  int64_t queue_ns = 1'000'000;
  // Under fixed, a slice holds share × period per period. Each slice keeps the period of the
  // process that joined it last (SliceRecord::period_ns).
  int64_t fixed_period_ns = int64_t{kDefaultComputePeriodMs} * 1'000'000;
  // No fixed lease is shorter than this: a slice under 20 % waits longer between leases instead.
  // Each lease costs the holder a drain and a cold first launch (~60 us on an H100 after a wait),
  // a loss that 2 ms leases at 10 % made 5 % of the share.
  int64_t min_lease_ns = 4'000'000;
  int64_t idle_revoke_ns = 1'000'000;    // a holder silent this long loses the lease to a waiter
  int64_t dead_waiter_ns = 100'000'000;  // a waiter unseen this long is gone
  // How a waiter waits for its turn: sleeping on the segment's futex (kBlock: a wake-up takes tens
  // of microseconds), polling the segment with sched_yield (kYield: it takes a freed device at
  // once, and its core stays busy unless another thread wants it), or polling without entering
  // the kernel (kSpin: the core is busy throughout). kAuto chooses at each wait
  // (arbiter_policy::WaitFor).
  ComputeWait wait = ComputeWait::kAuto;
  // The CPUs this process may keep busy (UsableCpus()); kAuto polls only when one is spare.
  int usable_cpus = 1;
  ComputeClock* clock = nullptr;  // null: HostComputeClock()
  // The process id this member is recorded under, which others check is alive; 0: getpid(). A
  // test that simulates several processes in one gives each the id of a thread of its own.
  pid_t member_pid = 0;
};

// The per-slice and per-process records of the segment, and the policy decisions on them. The
// decisions are pure functions of the records and the time, so tests drive them with a clock.
struct SliceRecord {
  uint64_t key = 0;  // 0: free
  int32_t share = 100;
  int32_t high = 0;
  int64_t credit_ns = 0;  // fixed: device time the slice may still use
  int64_t credit_at_ns = 0;
  int64_t vtime = 0;            // weighted and equal: device time per unit of weight
  int64_t active_ns = 0;        // when the slice last waited or held the device
  int64_t period_ns = 0;        // fixed: its period; 0: ArbiterTiming's
  int64_t used_ns = 0;          // device time charged to the slice, in all
  std::array<char, 48> name{};  // for reports: its segment's file name, or "pid N"
};

struct MemberRecord {
  // 0: free. For reports only, as the process sees itself (in a container, in its own PID
  // namespace); whether a member lives is told by a lock it holds on the segment.
  int32_t pid = 0;
  int32_t slice = -1;
  int64_t seen_ns = 0;
  int64_t waiting_since_ns = 0;  // 0: not waiting
  int64_t last_grant_ns = 0;
};

namespace arbiter_policy {
// A slice's weight under `policy`: its share under weighted, equal weights otherwise.
int64_t Weight(ComputePolicy policy, const SliceRecord& slice);
// Whether a member is waiting for the device.
bool Waiting(const MemberRecord& m);
// Credit a fixed slice holds the device for at a time: share × period, at least the shortest lease.
int64_t FullCredit(const SliceRecord& slice, const ArbiterTiming& timing);
// Since when, and beside how long leases, a fixed slice has wanted the device (for Refill).
struct Wanting {
  int64_t since = INT64_MAX;     // waiting for the device or holding it since; INT64_MAX: not
  int64_t longest_lease_ns = 0;  // the longest full credit of another slice using the device
};
// The longest full credit among the slices other than `except_slice` that used the device lately;
// 0 when none did.
int64_t LongestLease(const SliceRecord* slices, int64_t now, const ArbiterTiming& timing,
                     int except_slice);
// Credit a fixed slice has earned by `now`. What it earned while it did not want the device for
// longer than one of its leases is capped at one lease, so that a pause buys no burst after it.
// From `wanting.since` on (waiting for the device, or holding it) it keeps what it earns, up to a
// second lease, or up to what it earns behind two of the longest leases on the device where another
// slice's are longer (a longer XPOOL_COMPUTE_PERIOD_MS): a slice kept waiting by another slice's
// lease would otherwise lose that part of its share to the cap. With no other slice using the
// device (`wanting.longest_lease_ns` 0) nothing keeps it waiting but its own credit, and it keeps
// one lease at most.
void Refill(SliceRecord& slice, int64_t now, const ArbiterTiming& timing, Wanting wanting = {});
// Device time used by a slice.
void Charge(ComputePolicy policy, SliceRecord& slice, int64_t ns);
// Whether `slice` may be granted the device now: under fixed, once its credit is whole again
// (refilled as Refill says).
bool MayHoldNow(ComputePolicy policy, SliceRecord& slice, int64_t now, const ArbiterTiming& timing,
                Wanting wanting = {});
// The member to grant the device to next, or -1 when no waiter may hold it now.
int ChooseNext(ComputePolicy policy, MemberRecord* members, SliceRecord* slices, int64_t now,
               const ArbiterTiming& timing);
// How long a lease granted to `slice` now lasts.
int64_t LeaseLength(ComputePolicy policy, const SliceRecord& slice, const ArbiterTiming& timing);
// A slice that starts waiting after an idle spell joins at the least virtual time of the busy
// ones, so that idleness earns no credit under weighted and equal.
void CatchUp(SliceRecord& slice, const SliceRecord* slices, int64_t now);
// How a waiter waits under `configured`, while `waiters` processes (itself included) wait for the
// device. kAuto spins while every waiter and the holder can have a CPU of this process's budget,
// as a CUDA context spins on its GPU while it has the CPUs for it: a launcher bound by its CPU
// that sleeps between leases runs slower in the next one (docs/benchmarks.md). Otherwise it
// sleeps, or polls with sched_yield at high priority (a freed device is taken at once).
ComputeWait WaitFor(ComputeWait configured, bool high, int waiters, int usable_cpus);
}  // namespace arbiter_policy

// What a device's segment says, read without joining it (`xpool shares`).
struct ComputeSliceUse {
  uint64_t key = 0;  // tells a slice apart between two readings
  std::string name;
  int share = 0;
  bool high = false;
  int64_t period_ns = 0;  // fixed: the slice's period
  int64_t used_ns = 0;    // device time charged to it, in all
  std::vector<int> pids;  // its live processes
  bool holding = false;   // one of them holds the device
  int waiting = 0;        // how many of them wait for it
  int64_t idle_ns = 0;    // since it last waited for or held the device
};
struct ComputeDeviceUse {
  std::string device;  // from the segment's file name
  ComputePolicy policy = ComputePolicy::kFixed;
  std::vector<ComputeSliceUse> slices;
};

// The file name of a device's segment. It carries the layout's version, so that runtimes of two
// versions on one node (a rolling upgrade) never map each other's segments.
std::string ComputeSegmentName(const std::string& device_name);
// The name reports give the slice of `slice_path` (XPOOL_SLICE): its file name, or its last 47
// characters when longer (allocation ids end it). A process without a slice: "pid N on HOST",
// with `host` its host name (a pod's name, in Kubernetes: the pid alone is often 1 there), cut to
// 47 characters; "pid N" without one.
std::string ComputeSliceName(std::string_view slice_path, int pid, std::string_view host = {});

class ComputeArbiter {
 public:
  // What a holder should do at its next launch.
  enum class Verdict { kKeep, kYield, kLost };

  // Maps (creating if needed) the segment at `path` and joins it. The device's policy is the one
  // asked for by the first process to join while no other process is a member; policy() says
  // which one holds.
  // `slice_name` labels the slice in reports.
  static Result<std::unique_ptr<ComputeArbiter>> Open(const std::string& path, ComputePolicy policy,
                                                      uint64_t slice_key, int share_percent,
                                                      bool high, const ArbiterTiming& timing = {},
                                                      std::string_view slice_name = {});
  // Reads the segment at `path` without joining it or taking its lock: a snapshot that may be a
  // lease apart. Slices no process has used since the segment was made are left out.
  static Result<ComputeDeviceUse> Read(const std::string& path);
  // Every segment of this layout version in `dir`, by device name. A segment that cannot be read
  // fails the whole reading, unless `unreadable` is given: it is then skipped and its error
  // added there.
  static Result<std::vector<ComputeDeviceUse>> ReadAll(const std::string& dir,
                                                       std::vector<Status>* unreadable = nullptr);
  ~ComputeArbiter();
  ComputeArbiter(const ComputeArbiter&) = delete;
  ComputeArbiter& operator=(const ComputeArbiter&) = delete;

  ComputePolicy policy() const;
  const ArbiterTiming& timing() const { return timing_; }
  // Blocks until this process holds the device.
  void Acquire();
  // For the holder, at each launch: whether to keep launching, give the device up (quantum over
  // with others waiting, credit spent, or a high-priority waiter), or whether it was taken away.
  // `now` may include the expected drain time of work already queued. Renews the lease when
  // nobody else waits.
  Verdict Check(int64_t now);
  // The holder gives the device up once its work has drained, at `drained_ns`, and waits for its
  // next turn (Acquire).
  void Release(int64_t drained_ns);
  // The holder launched nothing from `idle_from` to `now` and kept the lease (nobody else wanted
  // it): its slice is charged up to `idle_from` only, and the lease goes on from `now` with what
  // was left of it.
  void ResumeAfterIdle(int64_t idle_from, int64_t now);
  // Whether a high-priority slice other than this one uses the device and may take it over
  // within `within_ns` (under fixed, once its credit is whole): normal-priority holders then keep
  // little work queued, so that it can take over quickly.
  bool HighPriorityMayTakeOver(int64_t now, int64_t within_ns) const;
  // The holder launched, or is waiting on its own queued work, at `now`, and the work it has
  // queued should end at `busy_until_ns`: it is not silent.
  void NoteActive(int64_t now, int64_t busy_until_ns);
  // Sleeps `ns` on this arbiter's clock.
  void Sleep(int64_t ns);

  // The time on this arbiter's clock.
  int64_t NowNs() const { return clock_->NowNs(); }
  // The host's monotonic clock.
  static int64_t Now();
  // Whether this process was forked from one that was a member of a segment (and did not exec):
  // it inherited the parent's mappings and records but not its membership, so it must not
  // arbitrate through the arbiters it inherited.
  static bool ForkedFromMember();

 private:
  struct Layout;
  ComputeArbiter(int lock_fd, Layout* layout, const ArbiterTiming& timing);
  // Whether `layout` (mapped from `path`) is a segment of this layout version.
  static Status CheckHeader(const Layout& layout, const std::string& path);
  void Lock();
  void Unlock();
  Status JoinLocked(uint64_t slice_key, int share_percent, bool high, int64_t now,
                    std::string_view slice_name);
  // Until when, for this waiter, the holder counts as at work (it is silent idle_revoke_ns later).
  int64_t HolderAtWorkUntilLocked() const;
  // Takes the lease from a dead or silent holder; charges it for its time.
  void ReclaimLocked(int64_t now);
  void EndLeaseLocked(int64_t end_ns);
  bool AnyLiveMemberLocked() const;
  bool SharedPolicy() const { return policy() == ComputePolicy::kShared; }
  // Under shared: charges every slice for the time its members had work queued since their last
  // charge, each stretch divided among the slices busy in it.
  void ChargeSharedLocked(int64_t now);
  // Under shared: whether this member's slice leads the least charged slice that uses or wants
  // the device by no more than `lead_ns` (of charge per unit of share).
  bool MayRunSharedLocked(int64_t now, int64_t lead_ns) const;
  // This member waits for the device (marked so, and seen now); waiters unseen for long are gone.
  void NoteWaitingLocked(int64_t now);
  void AcquireShared();
  Verdict CheckShared();
  // Sleeps until the lease changes hands (the generation moves past `seen`) or the timeout.
  void Wait(uint32_t seen, int64_t timeout_ns);
  void WakeAll();
  // In a forked child: unmaps every inherited arbiter's segment and closes its lock descriptor,
  // whose open file description would otherwise keep the parent's member lock held after the
  // parent died.
  static void LetGoAfterFork();

  int lock_fd_ = -1;  // the member lock's description (the segment's mapping has its own)
  Layout* layout_ = nullptr;
  ArbiterTiming timing_;
  ComputeClock* clock_;
  int member_ = -1;
  int slice_ = -1;
  pid_t pid_ = 0;      // as recorded in the segment
  pid_t process_ = 0;  // getpid() when opened: a forked child leaves the parent's record alone
  bool high_ = false;
  std::atomic<uint32_t> sleep_word_{0};  // nobody moves it: Sleep waits out its timeout
  int64_t last_shared_check_ns_ = 0;     // under shared: the last locked Check
  Verdict last_shared_verdict_ = Verdict::kKeep;
};

}  // namespace xpool::runtime
