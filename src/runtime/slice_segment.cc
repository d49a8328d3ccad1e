#include "runtime/slice_segment.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>

#include "runtime/own_description.h"
#include "runtime/robust_mutex.h"

namespace xpool::runtime {
namespace {

constexpr uint64_t kMagic = 0x31534c43'4c4f4f50;  // "POOLCLS1"
constexpr uint32_t kVersion = 1;
// Liveness locks sit far past the end of the file, one byte per slot, so they never overlap data.
constexpr off_t kLivenessLockBase = off_t{1} << 30;

constexpr int kExportTable = 1024;

enum SlotState : uint32_t { kFree = 0, kLive = 1 };

struct Slot {
  uint32_t state;
  pid_t pid;
  std::array<int64_t, kMaxSliceDevices> charged;
  std::array<int64_t, kMaxSliceDevices> overhead;
  std::array<int64_t, kMaxSliceDevices> unresident;  // part of `charged` the driver does not report
};

Status Errno(const std::string& what) {
  return Status::IoError(what + ": " + std::strerror(errno));
}

bool SetLivenessLock(int fd, int slot, short type, int cmd) {
  struct flock lk {};
  lk.l_type = type;
  lk.l_whence = SEEK_SET;
  lk.l_start = kLivenessLockBase + slot;
  lk.l_len = 1;
  return fcntl(fd, cmd, &lk) == 0;
}

}  // namespace

struct SliceSegment::Layout {
  uint64_t magic;
  uint32_t version;
  uint32_t slot_count;
  pthread_mutex_t mutex;
  uint32_t export_next;
  std::array<uint64_t, kExportTable> exports;
  std::array<Slot, kMaxSliceProcesses> slots;
};

SliceSegment::SliceSegment(int fd, Layout* layout, bool observer)
    : fd_(fd), layout_(layout), observer_(observer) {}

SliceSegment::~SliceSegment() {
  if (!observer_ && slot_ >= 0 && getpid() == pid_) {
    LockTable();
    layout_->slots[slot_] = Slot{};
    UnlockTable();
  }
  if (layout_ != nullptr) munmap(layout_, sizeof(Layout));
  if (lock_fd_ >= 0) close(lock_fd_);
  if (fd_ >= 0) close(fd_);
}

Result<SliceSegment::Layout*> SliceSegment::MapLayout(int fd, const std::string& path,
                                                      bool initialise, bool writable) {
  static_assert(offsetof(Layout, mutex) == kTableLockOffset);
  struct stat st {};
  fstat(fd, &st);
  if (st.st_size < static_cast<off_t>(sizeof(Layout))) {
    close(fd);
    return Status::FailedPrecondition("slice segment '" + path + "' is truncated or foreign");
  }
  void* mem = mmap(nullptr, sizeof(Layout), writable ? PROT_READ | PROT_WRITE : PROT_READ,
                   MAP_SHARED, fd, 0);
  if (mem == MAP_FAILED) {
    Status s = Errno("map slice segment '" + path + "'");
    close(fd);
    return s;
  }
  auto* layout = static_cast<Layout*>(mem);
  if (initialise) {
    std::memset(layout, 0, sizeof(Layout));
    InitSharedRobustMutex(&layout->mutex);
    layout->version = kVersion;
    layout->slot_count = kMaxSliceProcesses;
    __atomic_store_n(&layout->magic, kMagic, __ATOMIC_RELEASE);
  }
  if (__atomic_load_n(&layout->magic, __ATOMIC_ACQUIRE) != kMagic || layout->version != kVersion) {
    munmap(mem, sizeof(Layout));
    close(fd);
    return Status::FailedPrecondition("slice segment '" + path +
                                      "' is not an xpool slice segment of this version");
  }
  return layout;
}

Result<std::unique_ptr<SliceSegment>> SliceSegment::Open(const std::string& path) {
  int fd = -1;
  if (path.empty()) {
    fd = memfd_create("xpool-slice", MFD_CLOEXEC);
    if (fd < 0) return Errno("memfd_create");
  } else {
    fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0660);
    if (fd < 0) return Errno("open slice segment '" + path + "'");
  }
  // Whoever finds the file empty initialises it; flock keeps two first-comers apart (closing the
  // descriptor on an error path drops it too).
  if (flock(fd, LOCK_EX) != 0) {
    Status s = Errno("lock slice segment '" + path + "'");
    close(fd);
    return s;
  }
  struct stat st {};
  fstat(fd, &st);
  const bool fresh = st.st_size == 0;
  if (fresh && ftruncate(fd, sizeof(Layout)) != 0) {
    Status s = Errno("size slice segment '" + path + "'");
    close(fd);
    return s;
  }
  auto layout = MapLayout(fd, path, fresh);
  if (!layout.ok()) return layout.status();
  flock(fd, LOCK_UN);
  std::unique_ptr<SliceSegment> segment(new SliceSegment(fd, *layout, false));
  Status s = segment->Register();
  if (!s.ok()) return s;
  return segment;
}

Result<std::unique_ptr<SliceSegment>> SliceSegment::OpenReadOnlyObserver(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno("open slice segment '" + path + "'");
  auto layout = MapLayout(fd, path, /*initialise=*/false, /*writable=*/false);
  if (!layout.ok()) return layout.status();
  return std::unique_ptr<SliceSegment>(new SliceSegment(fd, *layout, true));
}

Status SliceSegment::Register() {
  pid_ = getpid();
  lock_fd_ = ReopenOwnDescription(fd_);
  if (lock_fd_ < 0) return Errno("reopen slice segment");
  LockTable();
  ReapLocked();
  for (int i = 0; i < kMaxSliceProcesses; ++i) {
    Slot& s = layout_->slots[i];
    if (s.state != kFree) continue;
    if (!SetLivenessLock(lock_fd_, i, F_WRLCK, F_OFD_SETLK)) continue;
    s = Slot{};
    s.state = kLive;
    s.pid = pid_;
    slot_ = i;
    break;
  }
  UnlockTable();
  if (slot_ < 0) {
    return Status::FailedPrecondition(
        "slice segment is full: " + std::to_string(kMaxSliceProcesses) + " live processes");
  }
  return Status::Ok();
}

void SliceSegment::AfterFork() {
  if (observer_ || getpid() == pid_) return;
  // The inherited description still carries the parent's lock; the child must not keep it.
  if (lock_fd_ >= 0) close(lock_fd_);
  lock_fd_ = -1;
  slot_ = -1;
  (void)Register();
}

int SliceSegment::LockTable() {
  // A holder that died mid-update leaves its slot to be reaped by the liveness check.
  return LockSharedRobustMutex(&layout_->mutex);
}

void SliceSegment::UnlockTable() {
  pthread_mutex_unlock(&layout_->mutex);
}

bool SliceSegment::SlotAlive(int slot) const {
  if (slot == slot_ && getpid() == pid_) return true;
  struct flock lk {};
  lk.l_type = F_WRLCK;
  lk.l_whence = SEEK_SET;
  lk.l_start = kLivenessLockBase + slot;
  lk.l_len = 1;
  if (fcntl(fd_, F_OFD_GETLK, &lk) != 0) return true;  // cannot tell: keep it counted
  return lk.l_type != F_UNLCK;
}

int SliceSegment::ReapLocked() {
  int reaped = 0;
  for (int i = 0; i < kMaxSliceProcesses; ++i) {
    Slot& s = layout_->slots[i];
    if (s.state == kFree || SlotAlive(i)) continue;
    s = Slot{};
    ++reaped;
  }
  return reaped;
}

int64_t SliceSegment::SumLocked(int device) const {
  int64_t sum = 0;
  for (const Slot& s : layout_->slots) {
    if (s.state == kFree) continue;
    sum += s.charged[device] + s.overhead[device];
  }
  return sum;
}

bool SliceSegment::TryCharge(int device, int64_t bytes, int64_t quota_bytes, bool resident) {
  if (device < 0 || device >= kMaxSliceDevices || slot_ < 0) return quota_bytes < 0;
  LockTable();
  bool ok = quota_bytes < 0 || SumLocked(device) + bytes <= quota_bytes;
  if (!ok && ReapLocked() > 0) ok = SumLocked(device) + bytes <= quota_bytes;
  if (ok) {
    layout_->slots[slot_].charged[device] += bytes;
    if (!resident) layout_->slots[slot_].unresident[device] += bytes;
  }
  UnlockTable();
  return ok;
}

void SliceSegment::Uncharge(int device, int64_t bytes, bool resident) {
  if (device < 0 || device >= kMaxSliceDevices || slot_ < 0) return;
  LockTable();
  Slot& s = layout_->slots[slot_];
  s.charged[device] = s.charged[device] > bytes ? s.charged[device] - bytes : 0;
  if (!resident) {
    s.unresident[device] = s.unresident[device] > bytes ? s.unresident[device] - bytes : 0;
  }
  UnlockTable();
}

void SliceSegment::SetFootprintsFromDriver(int device, const std::vector<DriverUsage>& usage) {
  if (device < 0 || device >= kMaxSliceDevices) return;
  if (observer_) return;  // read-only: it never writes or locks
  LockTable();
  for (Slot& s : layout_->slots) {
    if (s.state == kFree) continue;
    for (const DriverUsage& u : usage) {
      if (u.pid != s.pid) continue;
      const int64_t footprint = u.bytes - (s.charged[device] - s.unresident[device]);
      s.overhead[device] = footprint > 0 ? footprint : 0;
    }
  }
  UnlockTable();
}

int64_t SliceSegment::Usage(int device) {
  if (device < 0 || device >= kMaxSliceDevices) return 0;
  if (observer_) {
    int64_t sum = 0;
    for (const ProcessUsage& p : Snapshot()) sum += p.charged[device] + p.overhead[device];
    return sum;
  }
  LockTable();
  ReapLocked();
  const int64_t sum = SumLocked(device);
  UnlockTable();
  return sum;
}

int SliceSegment::ReapDead() {
  if (observer_) return 0;  // read-only: it never writes or locks
  LockTable();
  const int n = ReapLocked();
  UnlockTable();
  return n;
}

void SliceSegment::NoteExport(uint64_t key) {
  if (observer_) return;  // read-only: it never writes or locks
  LockTable();
  if (!IsExportedLocked(key)) layout_->exports[layout_->export_next++ % kExportTable] = key;
  UnlockTable();
}

bool SliceSegment::IsExported(uint64_t key) {
  if (observer_) return false;
  LockTable();
  const bool found = IsExportedLocked(key);
  UnlockTable();
  return found;
}

bool SliceSegment::AnyExport(const std::function<bool(uint64_t)>& match) {
  std::vector<uint64_t> keys;
  if (observer_) return false;
  LockTable();
  for (uint64_t k : layout_->exports) {
    if (k != 0) keys.push_back(k);
  }
  UnlockTable();
  // Matched outside the lock: a match may make system calls.
  for (uint64_t k : keys) {
    if (match(k)) return true;
  }
  return false;
}

bool SliceSegment::IsExportedLocked(uint64_t key) const {
  for (uint64_t k : layout_->exports) {
    if (k == key && key != 0) return true;
  }
  return false;
}

std::vector<ProcessUsage> SliceSegment::Snapshot() const {
  std::vector<ProcessUsage> out;
  const auto read = [](const auto& field) { return __atomic_load_n(&field, __ATOMIC_RELAXED); };
  for (int i = 0; i < kMaxSliceProcesses; ++i) {
    const Slot& s = layout_->slots[i];
    if (read(s.state) == kFree || !SlotAlive(i)) continue;
    ProcessUsage p;
    p.pid = read(s.pid);
    // What the slice's processes wrote, kept in range: a negative figure is nobody's usage.
    for (int d = 0; d < kMaxSliceDevices; ++d) {
      p.charged[d] = std::max<int64_t>(read(s.charged[d]), 0);
      p.overhead[d] = std::max<int64_t>(read(s.overhead[d]), 0);
    }
    out.push_back(p);
  }
  return out;
}

std::vector<ProcessUsage> SliceSegment::Processes() {
  if (observer_) return Snapshot();
  std::vector<ProcessUsage> out;
  LockTable();
  ReapLocked();
  for (const Slot& s : layout_->slots) {
    if (s.state == kFree) continue;
    ProcessUsage p;
    p.pid = s.pid;
    p.charged = s.charged;
    p.overhead = s.overhead;
    out.push_back(p);
  }
  UnlockTable();
  return out;
}

}  // namespace xpool::runtime
