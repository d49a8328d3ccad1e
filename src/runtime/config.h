// Runtime configuration, read from the environment once per process.
//
//   XPOOL_GPU_MEMORY  memory quota: "8Gi" for every device, "0=8Gi,1=512Mi" per physical device
//                     index (as nvidia-smi numbers them), "GPU-<uuid>=4Gi" per device UUID; a bare
//                     size and per-device entries combine ("8Gi,1=4Gi"). Unset: no quota.
//   XPOOL_SLICE       path of the slice's shared segment (all processes of a slice name the same
//                     file). Unset: the process is a slice of its own.
//   XPOOL_LOG_LEVEL   error | warn (default) | info | debug.
//   XPOOL_GPU_CORE    compute share of each device, 1..100 (percent). Unset: 100.
//   XPOOL_COMPUTE_POLICY  fixed (default) | equal | weighted | best-effort | shared: how the
//   device's time
//                     is shared between the slices on it (docs/runtime.md).
//   XPOOL_PRIORITY    normal (default) | high: a high-priority slice takes the device first.
//   XPOOL_COMPUTE_DIR where the per-device arbitration segments live (default /dev/shm).
//   XPOOL_COMPUTE_PERIOD_MS  under fixed, the period over which a slice earns its share, 10..10000
//                     (default 20): a slice holds the device share × period at a time. Longer
//                     periods suit power-bound work (the GPU's clocks settle within a lease) at the
//                     cost of longer waits between leases.
//   XPOOL_COMPUTE_WAIT auto (default) | yield | block | spin: how a process waits for its turn on
//                     the device. yield polls, giving the core to any other thread that wants it,
//                     and takes a freed device at once; block sleeps until the turn may come; spin
//                     polls without a system call (the core stays busy; a launcher bound by its
//                     CPU resumes fastest). auto spins while the device's waiters and holder each
//                     have a CPU of the process's budget, and otherwise yields for a high-priority
//                     slice and blocks for the rest (arbiter_policy::WaitFor).
//   XPOOL_COMPUTE_QUEUE_US  device time (microseconds, 100..100000, default 1000) one process may
//                     keep queued on the device while it holds the lease: deeper queues ride over
//                     host pauses of the holder, shallower ones hand the device over sooner.
//   XPOOL_COMPUTE_QUANTUM_MS  lease length under weighted, equal and best-effort, 1..1000
//                     (default 10).
//   Compute is arbitrated only when one of the first three is set; otherwise launches reach the
//   driver untouched.
//   XPOOL_SLICE_SETTINGS  a file of NAME=VALUE lines ('#' starts a comment line) that gives the
//                     slice's variables (kSliceSettingNames) in place of the environment. The
//                     Kubernetes device plugin writes it when the container starts, once the
//                     kubelet has said which pod and container it is. A missing, empty or
//                     malformed file refuses every allocation, as a malformed variable does.
//
// A malformed value does not fall back to "unlimited": the configuration carries the error and the
// runtime refuses every device allocation.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/quantity.h"
#include "core/status.h"

namespace xpool::runtime {

inline constexpr const char* kEnvGpuMemory = "XPOOL_GPU_MEMORY";
inline constexpr const char* kEnvSlice = "XPOOL_SLICE";
inline constexpr const char* kEnvLogLevel = "XPOOL_LOG_LEVEL";
inline constexpr const char* kEnvGpuCore = "XPOOL_GPU_CORE";
inline constexpr const char* kEnvComputePolicy = "XPOOL_COMPUTE_POLICY";
inline constexpr const char* kEnvPriority = "XPOOL_PRIORITY";
inline constexpr const char* kEnvComputeDir = "XPOOL_COMPUTE_DIR";
inline constexpr const char* kEnvComputeWait = "XPOOL_COMPUTE_WAIT";
inline constexpr const char* kEnvComputePeriod = "XPOOL_COMPUTE_PERIOD_MS";
inline constexpr const char* kEnvComputeQueue = "XPOOL_COMPUTE_QUEUE_US";
inline constexpr const char* kEnvComputeQuantum = "XPOOL_COMPUTE_QUANTUM_MS";
inline constexpr const char* kEnvSliceSettings = "XPOOL_SLICE_SETTINGS";
// The pool's allocation the slice belongs to: informational (logs, `xpool allocs`).
inline constexpr const char* kEnvAllocation = "XPOOL_ALLOCATION";

// What a settings file may set (XPOOL_SLICE_SETTINGS).
inline constexpr std::array<const char*, 9> kSliceSettingNames = {
    kEnvGpuMemory,    kEnvGpuCore,        kEnvComputePolicy, kEnvPriority,  kEnvComputePeriod,
    kEnvComputeQueue, kEnvComputeQuantum, kEnvComputeWait,   kEnvAllocation};
using SliceSettings = std::map<std::string, std::string, std::less<>>;
// NAME=VALUE lines; names outside kSliceSettingNames, repeated names, lines without '=' and an
// input with no setting at all are refused with the line that is wrong.
Result<SliceSettings> ParseSliceSettings(std::string_view text);
// The file ParseSliceSettings reads back.
std::string FormatSliceSettings(const SliceSettings& settings);

class MemoryQuotas {
 public:
  bool empty() const { return !all_ && by_index_.empty() && by_uuid_.empty(); }
  // The quota of the device with this physical index and UUID; nullopt when it has none.
  std::optional<MiB> For(int physical_index, std::string_view uuid) const;

  void SetAll(MiB m) { all_ = m; }
  void SetIndex(int index, MiB m) { by_index_[index] = m; }
  void SetUuid(std::string uuid, MiB m) { by_uuid_[std::move(uuid)] = m; }
  // The devices entries name, for checking that each exists.
  std::vector<std::string> Uuids() const;
  std::vector<int> Indices() const;

 private:
  std::optional<MiB> all_;
  std::map<int, MiB> by_index_;
  std::map<std::string, MiB, std::less<>> by_uuid_;
};

Result<MemoryQuotas> ParseMemoryQuotas(std::string_view text);

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };
Result<LogLevel> ParseLogLevel(std::string_view text);

enum class ComputePolicy { kFixed = 0, kEqual = 1, kWeighted = 2, kBestEffort = 3, kShared = 4 };
Result<ComputePolicy> ParseComputePolicy(std::string_view text);
const char* ComputePolicyName(ComputePolicy policy);
// A share in whole percent, 1..100.
Result<int> ParseComputeShare(std::string_view text);
// normal | high: whether the slice has high priority.
Result<bool> ParseComputePriority(std::string_view text);
// The fixed policy's period in whole milliseconds, kMinComputePeriodMs..kMaxComputePeriodMs.
inline constexpr int kMinComputePeriodMs = 10;
inline constexpr int kMaxComputePeriodMs = 10'000;
inline constexpr int kDefaultComputePeriodMs = 20;
Result<int> ParseComputePeriod(std::string_view text);

// How a process waits for its turn on a device (XPOOL_COMPUTE_WAIT).
enum class ComputeWait { kAuto, kYield, kBlock, kSpin };

struct ComputeConfig {
  bool enabled = false;  // any of the compute variables set
  int share_percent = 100;
  ComputePolicy policy = ComputePolicy::kFixed;
  bool high_priority = false;
  ComputeWait wait = ComputeWait::kAuto;
  int period_ms = kDefaultComputePeriodMs;
  int queue_us = 1000;
  int quantum_ms = 10;
  std::string dir = "/dev/shm";
};

struct RuntimeConfig {
  MemoryQuotas quotas;
  std::string slice_path;  // empty: a private slice
  LogLevel log_level = LogLevel::kWarn;
  ComputeConfig compute;
  // Non-empty when a variable was malformed: every device allocation is then refused.
  std::string error;
};

// Reads the variables above through `lookup` (getenv in the runtime; a map in tests).
RuntimeConfig LoadConfig(const char* (*lookup)(const char* name));
// Where this process's environment puts the compute arbitration segments ($XPOOL_COMPUTE_DIR, or
// the default): where `xpool shares` looks, as a runtime started from the same shell would write.
std::string ComputeDirFromEnvironment();

}  // namespace xpool::runtime
