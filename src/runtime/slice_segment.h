// The shared-memory segment of one slice: every process of the slice maps the same file and
// records, per physical device, the bytes it has charged and its context footprint. The slice's
// usage is the sum over live processes; a process that died, even by SIGKILL, is found by a
// per-process file lock that the kernel drops with the process, and its usage is reaped the next
// time anyone reads or charges the slice.
//
// Concurrency: one process-shared robust mutex guards the table, so a holder killed mid-update
// cannot wedge the slice. Observers (the agent) never take it: the slice's own processes can write
// the whole file, so a lock word they set would otherwise stop the observer; an observer maps the
// file read-only and reads a snapshot that may be torn but is never waited for. Liveness locks are
// open-file-description locks (F_OFD_SETLK), which work across PID namespaces and need no thread to
// hold them.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace xpool::runtime {

inline constexpr int kMaxSliceDevices = 16;
inline constexpr int kMaxSliceProcesses = 256;

struct ProcessUsage {
  pid_t pid = 0;
  std::array<int64_t, kMaxSliceDevices> charged{};   // bytes of counted allocations
  std::array<int64_t, kMaxSliceDevices> overhead{};  // bytes of context footprint
};

class SliceSegment {
 public:
  // Maps the segment at `path`, creating and initialising it if absent, and registers the calling
  // process. An empty path makes a private segment (a slice of one process).
  static Result<std::unique_ptr<SliceSegment>> Open(const std::string& path);
  // Maps an existing segment read-only to read it, without registering or ever taking its lock
  // (for observers such as the agent). Only Usage and Processes answer on an observer.
  static Result<std::unique_ptr<SliceSegment>> OpenReadOnlyObserver(const std::string& path);
  // Where the table's lock lives in the file (a test scribbles it as a hostile process would).
  static constexpr size_t kTableLockOffset = 16;
  ~SliceSegment();
  SliceSegment(const SliceSegment&) = delete;
  SliceSegment& operator=(const SliceSegment&) = delete;

  // Charges `bytes` on `device` to this process if the slice's usage of that device, after
  // reaping dead processes if needed, stays within `quota_bytes` (negative: no quota).
  // `resident` is false for memory the driver does not report per process (managed memory), so
  // that footprints derived from the driver's figures leave it out.
  bool TryCharge(int device, int64_t bytes, int64_t quota_bytes, bool resident = true);
  void Uncharge(int device, int64_t bytes, bool resident = true);
  // Derives every listed process's footprint on `device` (context, module code, workspaces: it
  // counts towards the slice like charges) from the driver's per-process usage: what the driver
  // reports beyond the resident memory the process charged.
  struct DriverUsage {
    pid_t pid;
    int64_t bytes;
  };
  void SetFootprintsFromDriver(int device, const std::vector<DriverUsage>& usage);

  // The slice's usage of `device` (charges plus footprints of live processes), reaping first.
  int64_t Usage(int device);
  // Releases the usage of processes that died; returns how many were reaped.
  int ReapDead();
  std::vector<ProcessUsage> Processes();

  // Memory exported by IPC from this slice: an importer in the same slice must not pay for it
  // twice. Keys are digests of the IPC handle; the table keeps the most recent exports.
  void NoteExport(uint64_t key);
  bool IsExported(uint64_t key);
  // True when `match` accepts any recorded export.
  bool AnyExport(const std::function<bool(uint64_t)>& match);

  // In a child after fork(): drops the parent's registration and registers the child.
  void AfterFork();

 private:
  struct Layout;
  SliceSegment(int fd, Layout* layout, bool observer);
  // Maps the file behind `fd`, initialising it when asked, and checks it is a segment of this
  // version; on failure `fd` is closed.
  static Result<Layout*> MapLayout(int fd, const std::string& path, bool initialise,
                                   bool writable = true);
  Status Register();
  int LockTable();
  void UnlockTable();
  int64_t SumLocked(int device) const;
  // The live slots as an observer sees them, without the lock.
  std::vector<ProcessUsage> Snapshot() const;
  int ReapLocked();
  bool SlotAlive(int slot) const;
  bool IsExportedLocked(uint64_t key) const;

  int fd_ = -1;
  int lock_fd_ = -1;  // the open file description whose lock marks this process alive
  Layout* layout_ = nullptr;
  bool observer_ = false;
  int slot_ = -1;
  pid_t pid_ = 0;
};

}  // namespace xpool::runtime
