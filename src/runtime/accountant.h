// The process-wide bookkeeping behind the memory hooks: which physical device a CUDA device is,
// each device's quota, what every live allocation charged, and the slice segment that sums the
// charges of all processes of the slice.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "runtime/config.h"
#include "runtime/driver_abi.h"
#include "runtime/slice_segment.h"

namespace xpool::runtime {

// What kind of driver object a charge belongs to; keys of different kinds may collide.
enum class ObjectKind {
  kPointer,
  kVmmHandle,
  kArray,
  kMipmappedArray,
  kIpcImport,
  kImportedMapping,  // a mapping of VMM memory imported from another slice
};

class Accountant {
 public:
  // The process's accountant, built on first use from the environment. Never destroyed, so
  // hooks that run during exit still find it.
  static Accountant& Get();

  const RuntimeConfig& config() const { return config_; }
  // A name for a physical device that holds across containers: its UUID, else its index.
  std::string DeviceName(int physical);

  // True when the configuration was malformed: every device allocation is refused.
  // So is a quota for a device this machine does not have (checked at the first charge).
  bool refusing() const {
    return !config_.error.empty() || unknown_quota_device_.load(std::memory_order_relaxed);
  }

  // The physical index (as NVML numbers devices) of CUDA device `dev`, or of the calling
  // thread's current context; -1 when unknown.
  int Physical(CUdevice dev);
  int CurrentPhysical();
  // Quota of a physical device in bytes; nullopt when it has none.
  std::optional<int64_t> QuotaBytes(int physical);

  // Admits `bytes` on `physical` against the quota (every process of the slice counted).
  // `resident` is false for managed memory, which the driver's per-process figures leave out.
  bool Charge(int physical, int64_t bytes, bool resident = true);
  void Uncharge(int physical, int64_t bytes, bool resident = true);
  // Replaces a charge made on an estimate by the actual size. When the difference does not fit,
  // the estimate's charge is returned too and the result is false.
  bool Settle(int physical, int64_t estimated, int64_t actual);
  // Records a successful allocation's charge against the object that holds it, and takes it back.
  void Track(ObjectKind kind, uint64_t key, int physical, int64_t bytes, bool resident = true);
  void Untrack(ObjectKind kind, uint64_t key);

  // Re-reads the context footprints of the slice's processes on `physical` from NVML's
  // per-process usage (those NVML can see: the same PID namespace).
  void RefreshFootprint(int physical);
  // The slice's usage of `physical`, dead processes reaped.
  int64_t SliceUsage(int physical);

  // In a child after fork(): the child registers in the slice as a process of its own.
  void AfterFork() {
    if (segment_) segment_->AfterFork();
  }

  // Memory this slice exported (IPC handles, VMM shareable handles), by a digest of the handle:
  // an importer in the same slice must not pay for it twice.
  void NoteExport(uint64_t key);
  bool IsExportedHere(uint64_t key);
  bool AnyExportHere(const std::function<bool(uint64_t)>& match);

  // The duplicate of an exported descriptor that identifies the export until `handle` is released.
  void KeepExportDescriptor(CUmemGenericAllocationHandle handle, int fd);

  // VMM handles imported from another slice: their memory is charged when mapped.
  void NoteForeignHandle(CUmemGenericAllocationHandle handle);
  bool IsForeignHandle(CUmemGenericAllocationHandle handle);
  // On release: forgets the handle and closes the descriptors kept for its exports.
  void ForgetHandle(CUmemGenericAllocationHandle handle);

 private:
  Accountant();
  std::string UuidOf(CUdevice dev);
  // Once: refuses allocations when a per-device quota names a device NVML does not know.
  void CheckQuotaDevices();

  struct Charged {
    int physical;
    int64_t bytes;
    bool resident;
  };
  static uint64_t MapKey(ObjectKind kind, uint64_t key) {
    return key ^ (static_cast<uint64_t>(kind) << 60);
  }

  RuntimeConfig config_;
  std::unique_ptr<SliceSegment> segment_;
  std::mutex mu_;
  std::unordered_map<uint64_t, Charged> objects_;
  std::unordered_set<CUmemGenericAllocationHandle> foreign_handles_;
  std::unordered_multimap<CUmemGenericAllocationHandle, int> export_descriptors_;
  std::array<int, 64> physical_of_{};  // -2: not looked up yet
  std::array<std::string, 64> uuid_of_;
  std::once_flag quota_devices_checked_;
  std::atomic<bool> unknown_quota_device_{false};
};

}  // namespace xpool::runtime
