// Device health for the device plugin: a watcher that asks a probe about each GPU at an interval
// and reports every change. Thread-safe: the probe and the callback run on the watcher's thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace xpool::agent {

// Whether NVML still answers for the GPU of this UUID (its handle and its memory). A GPU that
// fell off the bus, or whose driver state is lost, answers an error; the probe is then false.
// Null when NVML cannot be opened.
std::function<bool(const std::string& uuid)> NvmlHealthProbe();

class HealthWatcher {
 public:
  using Probe = std::function<bool(const std::string& uuid)>;
  using OnChange = std::function<void(const std::string& uuid, bool healthy)>;
  // Starts watching `uuids`, each taken as healthy at first.
  HealthWatcher(std::vector<std::string> uuids, Probe probe, OnChange on_change,
                std::chrono::milliseconds interval);
  ~HealthWatcher();  // stops the thread
  HealthWatcher(const HealthWatcher&) = delete;
  HealthWatcher& operator=(const HealthWatcher&) = delete;

 private:
  void Loop();

  std::map<std::string, bool> healthy_;
  Probe probe_;
  OnChange on_change_;
  std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable stop_signal_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace xpool::agent
