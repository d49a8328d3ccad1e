#include "agent/health.h"

#include <dlfcn.h>

namespace xpool::agent {

std::function<bool(const std::string& uuid)> NvmlHealthProbe() {
  void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) return nullptr;
  // From NVIDIA's public NVML reference (no nvml.h here).
  using Init = int (*)();
  using ByUuid = int (*)(const char*, void**);
  struct Memory {
    unsigned long long total, free, used;
  };
  using GetMemory = int (*)(void*, Memory*);
  auto init = reinterpret_cast<Init>(dlsym(lib, "nvmlInit_v2"));
  auto by_uuid = reinterpret_cast<ByUuid>(dlsym(lib, "nvmlDeviceGetHandleByUUID"));
  auto memory = reinterpret_cast<GetMemory>(dlsym(lib, "nvmlDeviceGetMemoryInfo"));
  if (init == nullptr || by_uuid == nullptr || memory == nullptr || init() != 0) return nullptr;
  return [by_uuid, memory](const std::string& uuid) {
    void* handle = nullptr;
    Memory m{};
    return by_uuid(uuid.c_str(), &handle) == 0 && memory(handle, &m) == 0;
  };
}

HealthWatcher::HealthWatcher(std::vector<std::string> uuids, Probe probe, OnChange on_change,
                             std::chrono::milliseconds interval)
    : probe_(std::move(probe)), on_change_(std::move(on_change)), interval_(interval) {
  for (auto& uuid : uuids) healthy_[std::move(uuid)] = true;
  thread_ = std::thread([this] { Loop(); });
}

HealthWatcher::~HealthWatcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  stop_signal_.notify_all();
  thread_.join();
}

void HealthWatcher::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_signal_.wait_for(lock, interval_, [this] { return stop_; })) {
    for (auto& [uuid, healthy] : healthy_) {
      const bool now = probe_(uuid);
      if (now == healthy) continue;
      healthy = now;
      on_change_(uuid, now);
    }
  }
}

}  // namespace xpool::agent
