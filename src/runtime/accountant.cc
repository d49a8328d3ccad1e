#include "runtime/accountant.h"

#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "runtime/log.h"
#include "runtime/symbol_table.h"

namespace xpool::runtime {
namespace {

constexpr int64_t kMiB = int64_t{1024} * 1024;
// Near the quota the context footprint is re-read from NVML before admitting more: lazy module
// loading and library workspaces grow it after the context exists.
constexpr int64_t kRefreshMargin = 256 * kMiB;

const char* GetEnv(const char* name) {
  return std::getenv(name);
}

template <typename Fn>
Fn Driver(const char* name) {
  return reinterpret_cast<Fn>(DriverSymbol(name));
}
template <typename Fn>
Fn Nvml(const char* name) {
  return reinterpret_cast<Fn>(NvmlSymbol(name));
}

std::string FormatUuid(const CUuuid& u) {
  const auto* b = reinterpret_cast<const unsigned char*>(u.bytes);
  char s[48];  // NOLINT(modernize-avoid-c-arrays): C string buffer
  std::snprintf(s, sizeof(s),
                "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
                b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
                b[14], b[15]);
  return s;
}

// CUDA_VISIBLE_DEVICES as a list of physical indices; empty if unset or not numeric.
std::vector<int> VisibleIndices() {
  std::vector<int> out;
  const char* v = std::getenv("CUDA_VISIBLE_DEVICES");
  if (v == nullptr) return out;
  const char* p = v;
  while (*p != '\0') {
    char* end = nullptr;
    const long n = std::strtol(p, &end, 10);
    if (end == p || n < 0) return {};
    out.push_back(static_cast<int>(n));
    p = *end == ',' ? end + 1 : end;
    if (*end != ',' && *end != '\0') return {};
  }
  return out;
}

}  // namespace

Accountant& Accountant::Get() {
  static auto* instance = new Accountant();
  return *instance;
}

Accountant::Accountant() : config_(LoadConfig(&GetEnv)) {
  physical_of_.fill(-2);
  SetLogLevel(config_.log_level);
  if (config_.error.empty() && config_.compute.enabled) {
    // Found out at the first launch, an unusable directory would leave the share unenforced.
    const std::string& dir = config_.compute.dir;
    struct stat st {};
    if (stat(dir.c_str(), &st) != 0) {
      config_.error = std::string(kEnvComputeDir) + ": '" + dir + "': " + std::strerror(errno);
    } else if (!S_ISDIR(st.st_mode)) {
      config_.error = std::string(kEnvComputeDir) + ": '" + dir + "' is not a directory";
    } else if (access(dir.c_str(), X_OK) != 0) {
      config_.error = std::string(kEnvComputeDir) + ": '" + dir + "': " + std::strerror(errno);
    }
  }
  if (config_.error.empty()) {
    auto segment = SliceSegment::Open(config_.slice_path);
    if (segment.ok()) {
      segment_ = std::move(*segment);
      pthread_atfork(nullptr, nullptr, [] { Accountant::Get().AfterFork(); });
    } else {
      config_.error = std::string(kEnvSlice) + ": " + segment.status().message();
    }
  }
  if (!config_.error.empty()) {
    // Printed whatever the log level: the program is about to be refused device memory.
    std::fprintf(stderr, "xpool-cuda: %s; refusing all device allocations\n",
                 config_.error.c_str());
  }
}

std::string Accountant::UuidOf(CUdevice dev) {
  using GetUuid = CUresult (*)(CUuuid*, CUdevice);
  static auto get_uuid = [] {
    auto f = Driver<GetUuid>("cuDeviceGetUuid_v2");
    return f != nullptr ? f : Driver<GetUuid>("cuDeviceGetUuid");
  }();
  CUuuid u{};
  if (get_uuid == nullptr || get_uuid(&u, dev) != CUDA_SUCCESS) return {};
  return FormatUuid(u);
}

int Accountant::Physical(CUdevice dev) {
  if (dev < 0 || dev >= 64) return -1;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (physical_of_[dev] != -2) return physical_of_[dev];
  }
  const std::string uuid = UuidOf(dev);
  int physical = -1;
  using ByUuid = nvmlReturn_t (*)(const char*, nvmlDevice_t*);
  using GetIndex = nvmlReturn_t (*)(nvmlDevice_t, unsigned int*);
  auto by_uuid = Nvml<ByUuid>("nvmlDeviceGetHandleByUUID");
  auto get_index = Nvml<GetIndex>("nvmlDeviceGetIndex");
  nvmlDevice_t handle = nullptr;
  unsigned int index = 0;
  if (!uuid.empty() && by_uuid != nullptr && get_index != nullptr &&
      by_uuid(uuid.c_str(), &handle) == NVML_SUCCESS && get_index(handle, &index) == NVML_SUCCESS) {
    physical = static_cast<int>(index);
  } else {
    // No NVML: CUDA_VISIBLE_DEVICES, when numeric, says which physical device ordinal dev is.
    const std::vector<int> visible = VisibleIndices();
    physical = dev < static_cast<int>(visible.size()) ? visible[dev] : dev;
  }
  if (physical >= kMaxSliceDevices) physical = -1;
  Log(LogLevel::kDebug, "CUDA device %d is physical device %d (%s)", dev, physical, uuid.c_str());
  std::lock_guard<std::mutex> lock(mu_);
  physical_of_[dev] = physical;
  uuid_of_[dev] = uuid;
  return physical;
}

int Accountant::CurrentPhysical() {
  using GetDevice = CUresult (*)(CUdevice*);
  static auto get_device = Driver<GetDevice>("cuCtxGetDevice");
  CUdevice dev = -1;
  if (get_device == nullptr || get_device(&dev) != CUDA_SUCCESS) return -1;
  return Physical(dev);
}

void Accountant::CheckQuotaDevices() {
  using ByUuid = nvmlReturn_t (*)(const char*, nvmlDevice_t*);
  using GetCount = nvmlReturn_t (*)(unsigned int*);
  auto by_uuid = Nvml<ByUuid>("nvmlDeviceGetHandleByUUID");
  auto get_count = Nvml<GetCount>("nvmlDeviceGetCount_v2");
  if (get_count == nullptr) get_count = Nvml<GetCount>("nvmlDeviceGetCount");
  std::string unknown;
  for (const std::string& uuid : config_.quotas.Uuids()) {
    nvmlDevice_t handle = nullptr;
    if (by_uuid != nullptr && by_uuid(uuid.c_str(), &handle) == NVML_ERROR_NOT_FOUND) {
      unknown = uuid;
    }
  }
  unsigned int count = 0;
  if (get_count != nullptr && get_count(&count) == NVML_SUCCESS) {
    for (int index : config_.quotas.Indices()) {
      if (index >= static_cast<int>(count)) unknown = std::to_string(index);
    }
  }
  if (unknown.empty()) return;
  std::fprintf(stderr,
               "xpool-cuda: %s: device '%s' is not a device of this machine; refusing all device "
               "allocations\n",
               kEnvGpuMemory, unknown.c_str());
  unknown_quota_device_.store(true, std::memory_order_relaxed);
}

std::optional<int64_t> Accountant::QuotaBytes(int physical) {
  std::call_once(quota_devices_checked_, [this] { CheckQuotaDevices(); });
  std::string uuid;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int d = 0; d < 64; ++d) {
      if (physical_of_[d] == physical) {
        uuid = uuid_of_[d];
        break;
      }
    }
  }
  auto q = config_.quotas.For(physical, uuid);
  if (!q) return std::nullopt;
  return q->value() * kMiB;
}

std::string Accountant::DeviceName(int physical) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int d = 0; d < 64; ++d) {
    if (physical_of_[d] == physical && !uuid_of_[d].empty()) return uuid_of_[d];
  }
  return "gpu" + std::to_string(physical);
}

bool Accountant::Charge(int physical, int64_t bytes, bool resident) {
  if (refusing()) return false;
  if (physical < 0) return true;
  const std::optional<int64_t> quota = QuotaBytes(physical);
  if (refusing()) return false;
  if (!quota) return segment_->TryCharge(physical, bytes, -1, resident);
  const int64_t margin = std::min(kRefreshMargin, *quota / 8);
  if (segment_->TryCharge(physical, bytes, *quota - margin, resident)) return true;
  RefreshFootprint(physical);
  if (segment_->TryCharge(physical, bytes, *quota, resident)) return true;
  Log(LogLevel::kInfo, "refused %lld bytes on device %d: slice uses %lld of %lld",
      static_cast<long long>(bytes), physical, static_cast<long long>(SliceUsage(physical)),
      static_cast<long long>(*quota));
  return false;
}

void Accountant::Uncharge(int physical, int64_t bytes, bool resident) {
  if (physical >= 0 && segment_) segment_->Uncharge(physical, bytes, resident);
}

bool Accountant::Settle(int physical, int64_t estimated, int64_t actual) {
  if (actual > estimated && !Charge(physical, actual - estimated)) {
    Uncharge(physical, estimated);
    return false;
  }
  if (actual < estimated) Uncharge(physical, estimated - actual);
  return true;
}

void Accountant::Track(ObjectKind kind, uint64_t key, int physical, int64_t bytes, bool resident) {
  std::lock_guard<std::mutex> lock(mu_);
  objects_[MapKey(kind, key)] = Charged{physical, bytes, resident};
}

void Accountant::Untrack(ObjectKind kind, uint64_t key) {
  Charged c{-1, 0, true};
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = objects_.find(MapKey(kind, key));
    if (it == objects_.end()) return;
    c = it->second;
    objects_.erase(it);
  }
  Uncharge(c.physical, c.bytes, c.resident);
}

void Accountant::RefreshFootprint(int physical) {
  if (physical < 0 || !segment_) return;
  using ByIndex = nvmlReturn_t (*)(unsigned int, nvmlDevice_t*);
  using Processes = nvmlReturn_t (*)(nvmlDevice_t, unsigned int*, nvmlProcessInfo_t*);
  auto by_index = Nvml<ByIndex>("nvmlDeviceGetHandleByIndex_v2");
  auto processes = Nvml<Processes>("nvmlDeviceGetComputeRunningProcesses_v3");
  nvmlDevice_t device = nullptr;
  if (by_index == nullptr || processes == nullptr ||
      by_index(static_cast<unsigned int>(physical), &device) != NVML_SUCCESS) {
    return;
  }
  nvmlProcessInfo_t infos[kMaxSliceProcesses];  // NOLINT(modernize-avoid-c-arrays): C API buffer
  unsigned int count = kMaxSliceProcesses;
  if (processes(device, &count, infos) != NVML_SUCCESS) return;
  std::vector<SliceSegment::DriverUsage> usage;
  for (unsigned int i = 0; i < count; ++i) {
    usage.push_back(
        {static_cast<pid_t>(infos[i].pid), static_cast<int64_t>(infos[i].usedGpuMemory)});
  }
  segment_->SetFootprintsFromDriver(physical, usage);
}

int64_t Accountant::SliceUsage(int physical) {
  return segment_ ? segment_->Usage(physical) : 0;
}

void Accountant::NoteExport(uint64_t key) {
  if (segment_) segment_->NoteExport(key);
}

bool Accountant::IsExportedHere(uint64_t key) {
  return segment_ && segment_->IsExported(key);
}

bool Accountant::AnyExportHere(const std::function<bool(uint64_t)>& match) {
  return segment_ && segment_->AnyExport(match);
}

void Accountant::NoteForeignHandle(CUmemGenericAllocationHandle handle) {
  std::lock_guard<std::mutex> lock(mu_);
  foreign_handles_.insert(handle);
}

bool Accountant::IsForeignHandle(CUmemGenericAllocationHandle handle) {
  std::lock_guard<std::mutex> lock(mu_);
  return foreign_handles_.count(handle) != 0;
}

void Accountant::KeepExportDescriptor(CUmemGenericAllocationHandle handle, int fd) {
  std::lock_guard<std::mutex> lock(mu_);
  export_descriptors_.emplace(handle, fd);
}

void Accountant::ForgetHandle(CUmemGenericAllocationHandle handle) {
  std::lock_guard<std::mutex> lock(mu_);
  foreign_handles_.erase(handle);
  auto [first, last] = export_descriptors_.equal_range(handle);
  for (auto it = first; it != last; ++it) close(it->second);
  export_descriptors_.erase(first, last);
}

}  // namespace xpool::runtime
