// PodWatcher: keeps the pool's pod allocations in step with the pods. It lists every pod, releases
// the allocations of pods that are gone or finished (Succeeded, Failed), then watches pods from
// the list's resourceVersion and releases an allocation as soon as its pod is deleted or finishes.
// When the watch breaks or expires (HTTP 410), it lists again.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "controller/kube_client.h"
#include "controller/pool_state.h"

namespace xpool::controller {

class PodWatcher {
 public:
  // Starts watching at once; `kube` and `state` outlive the watcher.
  PodWatcher(PoolState* state, KubeClient* kube);
  ~PodWatcher();  // stops
  PodWatcher(const PodWatcher&) = delete;
  PodWatcher& operator=(const PodWatcher&) = delete;

 private:
  void Run();
  // Releases the allocations whose pod is missing from the list or finished; only allocations made
  // before `listed_at_ms`, since a pod bound after the list began is not in it.
  void Reconcile(const nlohmann::json& pods, int64_t listed_at_ms);
  // A watch event; false when the watch must start over from a fresh list.
  bool OnEvent(const nlohmann::json& event, std::string* resource_version);
  void ReleasePod(const std::string& uid, const std::string& reason);

  PoolState* state_;
  KubeClient* kube_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable wake_;
  std::thread thread_;
};

}  // namespace xpool::controller
