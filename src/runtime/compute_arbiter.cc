#include "runtime/compute_arbiter.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstddef>
#include <cstring>
#include <ctime>

#include "runtime/compute_layout.h"
#include "runtime/own_description.h"
#include "runtime/robust_mutex.h"

namespace xpool::runtime {
namespace {

constexpr uint64_t kMagic = 0x31555043'4c4f4f50;  // "POOLCPU1"
// 2: SliceRecord::period_ns; 3: SliceRecord::used_ns and name; 4: Layout::holder_busy_until_ns;
// 5: Layout::shared (the shared policy).
constexpr uint32_t kVersion = 5;

// A spinning waiter tells the core so: it lets a hyperthread sibling run and saves power.
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

using arbiter_policy::Waiting;

// Who is alive is told by locks, not pids: a member holds a write lock (an open file description
// lock) on one byte of the segment, past its end, for as long as it is a member, and the kernel
// drops the lock when the process dies. Pids cannot tell: processes in two containers, each in a
// PID namespace of its own, may both be pid 1, and neither can signal the other.
constexpr off_t kMemberLockBase = off_t{1} << 20;

// The arbiters open in this process, for the fork handler. A fixed table: the handler runs in the
// child with no lock to take. Tests open many arbiters at once; a process has one per device.
constexpr int kMaxOpenArbiters = 256;
std::array<std::atomic<ComputeArbiter*>, kMaxOpenArbiters> g_open_arbiters{};
std::atomic<bool> g_forked_from_member{false};

void RegisterOpen(ComputeArbiter* arbiter) {
  for (auto& slot : g_open_arbiters) {
    ComputeArbiter* expected = nullptr;
    if (slot.compare_exchange_strong(expected, arbiter)) return;
  }
  // Full (only a test opens this many): children forked from here keep this arbiter's member
  // lock while they live.
}

void UnregisterOpen(const ComputeArbiter* arbiter) {
  for (auto& slot : g_open_arbiters) {
    if (slot.load(std::memory_order_relaxed) == arbiter) {
      slot.store(nullptr);
      return;
    }
  }
}

struct flock MemberLock(int member, short type) {
  struct flock lock {};
  lock.l_type = type;
  lock.l_whence = SEEK_SET;
  lock.l_start = kMemberLockBase + member;
  lock.l_len = 1;
  return lock;
}

// 0 when the lock is taken, else the errno: EAGAIN or EACCES when another member holds it.
int LockMember(int fd, int member) {
  struct flock lock = MemberLock(member, F_WRLCK);
  return fcntl(fd, F_OFD_SETLK, &lock) == 0 ? 0 : errno;
}

void UnlockMember(int fd, int member) {
  struct flock lock = MemberLock(member, F_UNLCK);
  (void)fcntl(fd, F_OFD_SETLK, &lock);
}

// 1 when another open file description holds member `member`'s lock (so its process lives), 0
// when none does, else -errno. A member's own description never conflicts with itself: callers
// check their own record apart.
int ProbeMember(int fd, int member) {
  struct flock lock = MemberLock(member, F_RDLCK);
  if (fcntl(fd, F_OFD_GETLK, &lock) != 0) return -errno;
  return lock.l_type != F_UNLCK ? 1 : 0;
}

bool MemberLockHeld(int fd, int member) {
  return ProbeMember(fd, member) != 0;  // an error cannot tell: the member stays counted
}

// Closes the file descriptor it owns when it goes out of scope.
class OwnedFd {
 public:
  explicit OwnedFd(int fd) : fd_(fd) {}
  ~OwnedFd() {
    if (fd_ >= 0) close(fd_);
  }
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

std::string ComputeSegmentName(const std::string& device_name) {
  return "xpool-compute-v" + std::to_string(kVersion) + "-" + device_name;
}

Status ComputeArbiter::CheckHeader(const Layout& layout, const std::string& path) {
  if (__atomic_load_n(&layout.magic, __ATOMIC_ACQUIRE) != kMagic || layout.version != kVersion) {
    return Status::FailedPrecondition("'" + path +
                                      "' is not an xpool compute segment of this version");
  }
  return Status::Ok();
}

std::string ComputeSliceName(std::string_view slice_path, int pid, std::string_view host) {
  constexpr size_t kMax = sizeof(SliceRecord::name) - 1;
  if (slice_path.empty()) {
    std::string name = "pid " + std::to_string(pid);
    if (!host.empty()) name += " on " + std::string(host);
    return name.substr(0, kMax);
  }
  std::string_view name = slice_path.substr(slice_path.find_last_of('/') + 1);
  if (name.size() > kMax) name.remove_prefix(name.size() - kMax);
  return std::string(name);
}

Result<ComputeDeviceUse> ComputeArbiter::Read(const std::string& path) {
  // Kept open while the members are read: their locks tell which of them live.
  const OwnedFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return Status::IoError("open '" + path + "': " + std::strerror(errno));
  struct stat st {};
  void* mem = MAP_FAILED;
  if (fstat(fd.get(), &st) == 0 && st.st_size >= static_cast<off_t>(sizeof(Layout))) {
    mem = mmap(nullptr, sizeof(Layout), PROT_READ, MAP_SHARED, fd.get(), 0);
  }
  if (mem == MAP_FAILED) {
    return Status::FailedPrecondition("'" + path + "' is not an xpool compute segment");
  }
  const auto unmap = [](void* p) { munmap(p, sizeof(Layout)); };
  const std::unique_ptr<void, decltype(unmap)> mapping(mem, unmap);
  const auto* layout = static_cast<const Layout*>(mem);
  if (Status s = CheckHeader(*layout, path); !s.ok()) return s;
  ComputeDeviceUse use;
  const std::string file = path.substr(path.find_last_of('/') + 1);
  const std::string prefix = ComputeSegmentName("");
  use.device = file.rfind(prefix, 0) == 0 ? file.substr(prefix.size()) : file;
  use.policy = static_cast<ComputePolicy>(layout->policy);
  const int64_t now = Now();
  std::array<int, kMaxComputeSlices> index{};
  index.fill(-1);
  for (int i = 0; i < kMaxComputeSlices; ++i) {
    const SliceRecord& s = layout->slices[i];
    if (s.key == 0) continue;
    index[i] = static_cast<int>(use.slices.size());
    ComputeSliceUse& out = use.slices.emplace_back();
    out.key = s.key;
    out.name.assign(s.name.data(), strnlen(s.name.data(), s.name.size()));
    out.share = s.share;
    out.high = s.high != 0;
    out.period_ns = s.period_ns;
    out.used_ns = s.used_ns;
    out.idle_ns = std::max<int64_t>(now - s.active_ns, 0);
  }
  const int holder = layout->holder.load();
  for (int i = 0; i < kMaxComputeMembers; ++i) {
    const MemberRecord& m = layout->members[i];
    if (m.pid == 0 || m.slice < 0 || m.slice >= kMaxComputeSlices || index[m.slice] < 0) continue;
    if (!MemberLockHeld(fd.get(), i)) continue;  // died without leaving
    ComputeSliceUse& out = use.slices[index[m.slice]];
    out.pids.push_back(m.pid);
    out.holding |= holder == i || layout->shared[i].admitted.load() != 0;
    out.waiting += Waiting(m) ? 1 : 0;
  }
  return use;
}

Result<std::vector<ComputeDeviceUse>> ComputeArbiter::ReadAll(const std::string& dir,
                                                              std::vector<Status>* unreadable) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return Status::IoError("read directory '" + dir + "': " + std::strerror(errno));
  std::vector<std::string> paths;
  const std::string prefix = ComputeSegmentName("");
  while (const dirent* entry = readdir(d)) {
    if (std::string_view(entry->d_name).rfind(prefix, 0) == 0) {
      paths.push_back(dir + "/" + entry->d_name);
    }
  }
  closedir(d);
  std::sort(paths.begin(), paths.end());
  std::vector<ComputeDeviceUse> devices;
  for (const std::string& path : paths) {
    // An empty file is one the agent made for a container to mount; no runtime has used the
    // device through it yet.
    struct stat st {};
    if (stat(path.c_str(), &st) == 0 && st.st_size == 0) continue;
    auto use = Read(path);
    if (use.ok()) {
      devices.push_back(std::move(*use));
    } else if (unreadable != nullptr) {
      unreadable->push_back(use.status());
    } else {
      return use.status();
    }
  }
  return devices;
}

namespace {

class HostClock final : public ComputeClock {
 public:
  int64_t NowNs() override { return ComputeArbiter::Now(); }
  void Wait(std::atomic<uint32_t>& word, uint32_t seen, int64_t timeout_ns,
            ComputeWait how) override {
    if (how == ComputeWait::kYield || how == ComputeWait::kSpin) {
      const int64_t until = NowNs() + timeout_ns;
      while (word.load(std::memory_order_acquire) == seen && NowNs() < until) {
        if (how == ComputeWait::kYield) {
          sched_yield();
        } else {
          CpuRelax();
        }
      }
      return;
    }
    timespec ts{static_cast<time_t>(timeout_ns / 1'000'000'000),
                static_cast<long>(timeout_ns % 1'000'000'000)};
    // A shared (not process-private) futex: waiters in every process of the device wake.
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT, seen, &ts, nullptr, 0);
  }
  void WakeAll(std::atomic<uint32_t>& word) override {
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE, INT_MAX, nullptr, nullptr,
            0);
  }
};

}  // namespace

ComputeClock& HostComputeClock() {
  static HostClock clock;
  return clock;
}

int64_t ComputeArbiter::Now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

ComputeArbiter::ComputeArbiter(int lock_fd, Layout* layout, const ArbiterTiming& timing)
    : lock_fd_(lock_fd),
      layout_(layout),
      timing_(timing),
      clock_(timing.clock != nullptr ? timing.clock : &HostComputeClock()),
      pid_(timing.member_pid != 0 ? timing.member_pid : getpid()),
      process_(getpid()) {
  static const bool fork_handler = [] {
    return pthread_atfork(nullptr, nullptr, &ComputeArbiter::LetGoAfterFork) == 0;
  }();
  (void)fork_handler;
  RegisterOpen(this);
  // bench/gpu/lib/compute_segment.py reads the segment by these offsets.
  static_assert(offsetof(Layout, holder) == 56 && offsetof(Layout, members) == 120 &&
                offsetof(Layout, slices) == 2168);
  static_assert(sizeof(MemberRecord) == 32 && sizeof(SliceRecord) == 112);
}

ComputeArbiter::~ComputeArbiter() {
  UnregisterOpen(this);
  if (layout_ != nullptr) {
    if (member_ >= 0 && getpid() == process_) {
      Lock();
      if (layout_->holder.load() == member_) EndLeaseLocked(NowNs());
      if (SharedPolicy()) ChargeSharedLocked(NowNs());
      layout_->shared[member_].admitted.store(0);
      layout_->shared[member_].active_ns.store(0);
      layout_->members[member_] = MemberRecord{};
      UnlockMember(lock_fd_, member_);
      Unlock();
      WakeAll();
    }
    munmap(layout_, sizeof(Layout));
  }
  if (lock_fd_ >= 0) close(lock_fd_);
}

void ComputeArbiter::LetGoAfterFork() {
  for (auto& slot : g_open_arbiters) {
    ComputeArbiter* arbiter = slot.load(std::memory_order_relaxed);
    if (arbiter == nullptr || arbiter->layout_ == nullptr) continue;
    g_forked_from_member.store(true, std::memory_order_relaxed);
    munmap(arbiter->layout_, sizeof(Layout));
    arbiter->layout_ = nullptr;
    close(arbiter->lock_fd_);  // the inherited copy shares the parent's description, and its lock
    arbiter->lock_fd_ = -1;
  }
}

bool ComputeArbiter::ForkedFromMember() {
  return g_forked_from_member.load(std::memory_order_relaxed);
}

Result<std::unique_ptr<ComputeArbiter>> ComputeArbiter::Open(const std::string& path,
                                                             ComputePolicy policy,
                                                             uint64_t slice_key, int share_percent,
                                                             bool high, const ArbiterTiming& timing,
                                                             std::string_view slice_name) {
  const OwnedFd fd(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666));
  if (fd.get() < 0) {
    return Status::IoError("open compute segment '" + path + "': " + std::strerror(errno));
  }
  fchmod(fd.get(), 0666);  // slices of different users share the device
  flock(fd.get(), LOCK_EX);
  struct stat st {};
  fstat(fd.get(), &st);
  const bool fresh = st.st_size == 0;
  if ((fresh && ftruncate(fd.get(), sizeof(Layout)) != 0) ||
      (!fresh && st.st_size < static_cast<off_t>(sizeof(Layout)))) {
    return Status::FailedPrecondition("compute segment '" + path + "' cannot be sized");
  }
  void* mem = mmap(nullptr, sizeof(Layout), PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (mem == MAP_FAILED) {
    return Status::IoError("map compute segment '" + path + "': " + std::strerror(errno));
  }
  auto* layout = static_cast<Layout*>(mem);
  if (fresh) {
    // ftruncate filled the new file with zeros: every record starts free.
    InitSharedRobustMutex(&layout->mutex);
    layout->holder.store(-1);
    layout->version = kVersion;
    layout->policy = static_cast<int32_t>(policy);
    __atomic_store_n(&layout->magic, kMagic, __ATOMIC_RELEASE);
  }
  flock(fd.get(), LOCK_UN);
  // The member lock is taken on a description of its own, never mapped (ReopenOwnDescription):
  // a lock on the mapped description would keep a dead member alive for as long as a child it
  // forked lives (seen on an H100).
  const int lock_fd = ReopenOwnDescription(fd.get());
  if (lock_fd < 0) {
    const int error = errno;
    munmap(mem, sizeof(Layout));
    return Status::IoError("reopen compute segment '" + path + "': " + std::strerror(error));
  }
  std::unique_ptr<ComputeArbiter> arbiter(new ComputeArbiter(lock_fd, layout, timing));
  if (Status s = CheckHeader(*layout, path); !s.ok()) return s;
  arbiter->Lock();
  if (!arbiter->AnyLiveMemberLocked()) {
    // Nobody uses the device: the policy is the newcomer's to choose.
    layout->policy = static_cast<int32_t>(policy);
  }
  Status s = arbiter->JoinLocked(slice_key, share_percent, high, arbiter->NowNs(), slice_name);
  arbiter->Unlock();
  if (!s.ok()) return s;
  return arbiter;
}

ComputePolicy ComputeArbiter::policy() const {
  return static_cast<ComputePolicy>(layout_->policy);
}

void ComputeArbiter::Lock() {
  // The records stay meaningful whatever a dead holder was doing: each is updated whole.
  LockSharedRobustMutex(&layout_->mutex);
}

void ComputeArbiter::Unlock() {
  pthread_mutex_unlock(&layout_->mutex);
}

Status ComputeArbiter::JoinLocked(uint64_t slice_key, int share_percent, bool high, int64_t now,
                                  std::string_view slice_name) {
  auto& slices = layout_->slices;
  slice_ = -1;
  for (int i = 0; i < kMaxComputeSlices && slice_ < 0; ++i) {
    if (slices[i].key == slice_key) slice_ = i;
  }
  if (slice_ < 0) {
    // A free record, else the one idle longest.
    int oldest = 0;
    for (int i = 0; i < kMaxComputeSlices; ++i) {
      if (slices[i].key == 0) {
        oldest = i;
        break;
      }
      if (slices[i].active_ns < slices[oldest].active_ns) oldest = i;
    }
    slice_ = oldest;
    slices[slice_] = SliceRecord{};
    slices[slice_].key = slice_key;
    slices[slice_].active_ns = now;
  }
  slices[slice_].share = share_percent;
  slices[slice_].period_ns = timing_.fixed_period_ns;
  if (!slice_name.empty()) {
    auto& name = slices[slice_].name;
    const size_t n = std::min(slice_name.size(), name.size() - 1);
    std::memcpy(name.data(), slice_name.data(), n);
    name[n] = '\0';
  }
  slices[slice_].high = high ? 1 : 0;
  high_ = high;
  auto& members = layout_->members;
  // A record nobody holds the lock of: free, or left by a process that died. A dead holder's
  // record stays until its lease is reclaimed. Ours is ours until we leave: nobody else can take
  // it while we hold its lock.
  for (int i = 0; i < kMaxComputeMembers && member_ < 0; ++i) {
    if (layout_->holder.load() == i) continue;
    const int probe = ProbeMember(lock_fd_, i);
    if (probe > 0) continue;
    const int error = probe < 0 ? -probe : LockMember(lock_fd_, i);
    if (error == 0) {
      member_ = i;
    } else if (error != EAGAIN && error != EACCES) {
      return Status::FailedPrecondition(std::string("the compute segment's file system refuses "
                                                    "the locks that tell members apart: ") +
                                        std::strerror(error));
    }
  }
  if (member_ < 0) return Status::FailedPrecondition("too many processes share this device");
  if (Waiting(members[member_])) layout_->waiters.fetch_sub(1);
  members[member_] = MemberRecord{pid_, slice_, now, 0, 0};
  layout_->shared[member_].active_ns.store(now - timing_.idle_revoke_ns);
  layout_->shared[member_].charged_to_ns = now;
  layout_->shared[member_].admitted.store(0);
  return Status::Ok();
}

bool ComputeArbiter::AnyLiveMemberLocked() const {
  for (int i = 0; i < kMaxComputeMembers; ++i) {
    if (i != member_ && layout_->members[i].pid != 0 && MemberLockHeld(lock_fd_, i)) return true;
  }
  return false;
}

void ComputeArbiter::EndLeaseLocked(int64_t end_ns) {
  const int holder = layout_->holder.load();
  if (holder < 0) return;
  const MemberRecord& m = layout_->members[holder];
  if (m.slice >= 0) {
    SliceRecord& s = layout_->slices[m.slice];
    arbiter_policy::Charge(policy(), s, end_ns - layout_->lease_start_ns.load());
    // What a fixed slice earned while it held the device is its own, beyond the cap of an idle
    // slice's credit.
    if (policy() == ComputePolicy::kFixed) {
      const int64_t longest =
          arbiter_policy::LongestLease(layout_->slices.data(), end_ns, timing_, m.slice);
      arbiter_policy::Refill(s, end_ns, timing_, {s.credit_at_ns, longest});
    }
    s.active_ns = end_ns;
  }
  layout_->holder.store(-1);
  layout_->preempt.store(0);
  layout_->generation.fetch_add(1);
}

int64_t ComputeArbiter::HolderAtWorkUntilLocked() const {
  const int64_t active = layout_->holder_active_ns.load();
  // A high-priority waiter goes by the last sign of work alone: the end of the queued work is an
  // estimate, which a descheduled holder inflates, and it would keep the waiter that long.
  return high_ ? active : std::max(active, layout_->holder_busy_until_ns.load());
}

void ComputeArbiter::ReclaimLocked(int64_t now) {
  const int holder = layout_->holder.load();
  if (holder < 0 || holder == member_) return;
  const MemberRecord& m = layout_->members[holder];
  const bool dead = m.pid == 0 || !MemberLockHeld(lock_fd_, holder);
  const int64_t at_work_until = HolderAtWorkUntilLocked();
  if (dead || now - at_work_until > timing_.idle_revoke_ns) {
    // Charged to its last sign of work plus the silence allowed: its queued work ran about then.
    EndLeaseLocked(std::min(now, at_work_until + timing_.idle_revoke_ns));
    return;
  }
  // A high-priority slice takes the device from a normal one only when it may hold it: under
  // fixed, one still earning its credit back would otherwise end the other's leases for nothing.
  if (high_ && layout_->slices[m.slice].high == 0 &&
      arbiter_policy::MayHoldNow(
          policy(), layout_->slices[slice_], now, timing_,
          {layout_->members[member_].waiting_since_ns,
           arbiter_policy::LongestLease(layout_->slices.data(), now, timing_, slice_)})) {
    layout_->preempt.store(1);
  }
}

void ComputeArbiter::Acquire() {
  if (SharedPolicy()) {
    AcquireShared();
    return;
  }
  Lock();
  int64_t now = NowNs();
  MemberRecord& me = layout_->members[member_];
  if (layout_->holder.load() == member_) {
    Unlock();
    return;
  }
  arbiter_policy::CatchUp(layout_->slices[slice_], layout_->slices.data(), now);
  while (true) {
    NoteWaitingLocked(now);
    if (high_) {
      layout_->high_seen_ns.store(now);
      layout_->high_slice_key.store(layout_->slices[slice_].key);
    }
    ReclaimLocked(now);
    int64_t wait_ns = 1'000'000;
    if (layout_->holder.load() < 0) {
      const int next = arbiter_policy::ChooseNext(policy(), layout_->members.data(),
                                                  layout_->slices.data(), now, timing_);
      if (next == member_) {
        const SliceRecord& s = layout_->slices[slice_];
        me.waiting_since_ns = 0;
        me.last_grant_ns = now;
        layout_->waiters.fetch_sub(1);
        layout_->lease_start_ns.store(now);
        layout_->lease_end_ns.store(now + arbiter_policy::LeaseLength(policy(), s, timing_));
        layout_->holder_active_ns.store(now);
        layout_->holder_busy_until_ns.store(now);
        layout_->preempt.store(0);
        layout_->holder.store(member_);
        Unlock();
        return;
      }
      if (next < 0 && policy() == ComputePolicy::kFixed) {
        // Nobody has credit: sleep until ours is back.
        const SliceRecord& s = layout_->slices[slice_];
        const int64_t full = arbiter_policy::FullCredit(s, timing_);
        wait_ns = std::clamp<int64_t>((full - s.credit_ns) * 100 / std::max(s.share, 1), 10'000,
                                      1'000'000);
      }
      if (next >= 0 && next != member_) wait_ns = 200'000;  // it should take the lease soon
    } else {
      // Until the holder's lease ends or it falls silent.
      const int64_t until = std::min(layout_->lease_end_ns.load(),
                                     HolderAtWorkUntilLocked() + timing_.idle_revoke_ns);
      wait_ns = std::clamp<int64_t>(until - now + 10'000, 10'000, 1'000'000);
    }
    const uint32_t seen = layout_->generation.load();
    Unlock();
    Wait(seen, wait_ns);
    Lock();
    now = NowNs();
  }
}

ComputeArbiter::Verdict ComputeArbiter::Check(int64_t now) {
  if (SharedPolicy()) return CheckShared();
  if (layout_->holder.load(std::memory_order_acquire) != member_) return Verdict::kLost;
  if (layout_->preempt.load(std::memory_order_relaxed) != 0) return Verdict::kYield;
  if (now < layout_->lease_end_ns.load(std::memory_order_relaxed)) return Verdict::kKeep;
  const SliceRecord& s = layout_->slices[slice_];
  if (policy() == ComputePolicy::kFixed && s.share < 100) return Verdict::kYield;
  if (layout_->waiters.load(std::memory_order_relaxed) > 0) return Verdict::kYield;
  // Nobody else wants the device: renew, charging the lease so far.
  Lock();
  Verdict v = Verdict::kLost;
  if (layout_->holder.load() == member_) {
    const int64_t t = NowNs();
    arbiter_policy::Charge(policy(), layout_->slices[slice_], t - layout_->lease_start_ns.load());
    layout_->slices[slice_].active_ns = t;
    layout_->lease_start_ns.store(t);
    layout_->lease_end_ns.store(t + timing_.quantum_ns);
    v = Verdict::kKeep;
  }
  Unlock();
  return v;
}

void ComputeArbiter::Release(int64_t drained_ns) {
  Lock();
  if (layout_->holder.load() == member_) EndLeaseLocked(drained_ns);
  if (SharedPolicy()) {
    SharedMemberRecord& mine = layout_->shared[member_];
    // Its work ended when it drained: no more is charged after that.
    mine.active_ns.store(std::min(mine.active_ns.load(), drained_ns - timing_.idle_revoke_ns));
    ChargeSharedLocked(NowNs());
    mine.admitted.store(0);
    layout_->generation.fetch_add(1);
  }
  // Waiting again in the same breath: a waiter that sees the lease free before this process is
  // back in Acquire must still find it in the running, or it would take every other turn
  // whatever the policy says.
  MemberRecord& me = layout_->members[member_];
  if (!Waiting(me)) {
    const int64_t now = NowNs();
    me.waiting_since_ns = now;
    me.seen_ns = now;
    layout_->waiters.fetch_add(1);
  }
  Unlock();
  WakeAll();
}

void ComputeArbiter::ResumeAfterIdle(int64_t idle_from, int64_t now) {
  if (SharedPolicy()) return;  // only the time with work queued is charged
  Lock();
  if (layout_->holder.load() == member_) {
    const int64_t start = layout_->lease_start_ns.load();
    const int64_t end = layout_->lease_end_ns.load();
    idle_from = std::clamp(idle_from, start, now);
    SliceRecord& s = layout_->slices[slice_];
    arbiter_policy::Charge(policy(), s, idle_from - start);
    s.active_ns = now;
    layout_->lease_start_ns.store(now);
    if (policy() == ComputePolicy::kFixed && s.share < 100) {
      // A fixed slice earns its share through the pause too, up to the cap Refill sets, and the
      // lease goes on for the credit it has now (none when the work before the pause overran it).
      // Going on for what the lease had left instead, on top of that credit, gave a lone slice
      // that paused now and then (a program starting up) a short lease and a full one soon after.
      arbiter_policy::Refill(s, now, timing_);
      layout_->lease_end_ns.store(now + std::max<int64_t>(s.credit_ns, 0));
    } else {
      layout_->lease_end_ns.store(now + std::max<int64_t>(end - idle_from, 0));
    }
    layout_->holder_active_ns.store(now);
    layout_->holder_busy_until_ns.store(now);
  }
  Unlock();
}

bool ComputeArbiter::HighPriorityMayTakeOver(int64_t now, int64_t within_ns) const {
  constexpr int64_t kRecentNs = 1'000'000'000;
  if (SharedPolicy()) return false;
  if (high_ || now - layout_->high_seen_ns.load(std::memory_order_relaxed) >= kRecentNs) {
    return false;
  }
  if (policy() != ComputePolicy::kFixed) return true;
  for (const SliceRecord& s : layout_->slices) {
    if (s.key == 0 || s.high == 0 || now - s.active_ns >= kRecentNs) continue;
    SliceRecord later = s;  // read without the lock: a hint, as the caller uses it
    if (arbiter_policy::MayHoldNow(policy(), later, now + within_ns, timing_)) return true;
  }
  return false;
}

void ComputeArbiter::NoteActive(int64_t now, int64_t busy_until_ns) {
  if (SharedPolicy()) {
    (void)busy_until_ns;  // an estimate, which interleaved work makes wrong; signs of work are not
    layout_->shared[member_].active_ns.store(now, std::memory_order_relaxed);
    return;
  }
  layout_->holder_active_ns.store(now, std::memory_order_relaxed);
  layout_->holder_busy_until_ns.store(std::max(now, busy_until_ns), std::memory_order_relaxed);
  if (high_) layout_->high_seen_ns.store(now, std::memory_order_relaxed);
}

void ComputeArbiter::NoteWaitingLocked(int64_t now) {
  MemberRecord& me = layout_->members[member_];
  if (!Waiting(me)) {
    // Also after a stall long enough for the others to have counted us as gone.
    me.waiting_since_ns = now;
    layout_->waiters.fetch_add(1);
  }
  me.seen_ns = now;
  layout_->slices[slice_].active_ns = now;
  // Waiters that vanished without a word stop counting.
  for (auto& m : layout_->members) {
    if (Waiting(m) && now - m.seen_ns > timing_.dead_waiter_ns) {
      m.waiting_since_ns = 0;
      layout_->waiters.fetch_sub(1);
    }
  }
}

void ComputeArbiter::Sleep(int64_t ns) {
  clock_->Wait(sleep_word_, 0, ns, ComputeWait::kBlock);
}

void ComputeArbiter::Wait(uint32_t seen, int64_t timeout_ns) {
  const ComputeWait wait = arbiter_policy::WaitFor(
      timing_.wait, high_, layout_->waiters.load(std::memory_order_relaxed), timing_.usable_cpus);
  clock_->Wait(layout_->generation, seen, timeout_ns, wait);
}

void ComputeArbiter::WakeAll() {
  clock_->WakeAll(layout_->generation);
}

}  // namespace xpool::runtime
