#include "controller/pod_watcher.h"

#include <chrono>
#include <cstdio>
#include <set>

#include "core/clock.h"

namespace xpool::controller {
namespace {

using nlohmann::json;

constexpr int kWatchSeconds = 300;

std::string PodName(const json& pod) {
  return pod.value("/metadata/namespace"_json_pointer, std::string()) + "/" +
         pod.value("/metadata/name"_json_pointer, std::string());
}

bool Finished(const json& pod) {
  const std::string phase = pod.value("/status/phase"_json_pointer, std::string());
  return phase == "Succeeded" || phase == "Failed";
}

}  // namespace

PodWatcher::PodWatcher(PoolState* state, KubeClient* kube)
    : state_(state), kube_(kube), thread_([this] { Run(); }) {}

PodWatcher::~PodWatcher() {
  stop_ = true;
  kube_->Stop();
  {
    std::lock_guard<std::mutex> lock(mu_);
    wake_.notify_all();
  }
  thread_.join();
}

void PodWatcher::Run() {
  while (!stop_) {
    const int64_t listed_at = NowUnixMs();
    auto pods = kube_->ListPods();
    if (pods.ok()) {
      Reconcile(*pods, listed_at);
      std::string version = pods->value("/metadata/resourceVersion"_json_pointer, std::string());
      bool fresh = true;
      while (!stop_ && fresh) {
        Status s = kube_->WatchPods(version, kWatchSeconds, [&](const json& event) {
          fresh = OnEvent(event, &version);
          return fresh && !stop_;
        });
        if (!s.ok()) {
          std::fprintf(stderr, "xpool-controller: %s; listing pods again\n", s.message().c_str());
          break;
        }
      }
    } else {
      std::fprintf(stderr, "xpool-controller: %s\n", pods.status().message().c_str());
    }
    std::unique_lock<std::mutex> lock(mu_);
    wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_.load(); });
  }
}

void PodWatcher::Reconcile(const json& pods, int64_t listed_at_ms) {
  std::set<std::string> running;  // uids of pods that exist and have not finished
  for (const auto& pod : pods["items"]) {
    if (!Finished(pod)) running.insert(pod.value("/metadata/uid"_json_pointer, std::string()));
  }
  for (const auto& a : state_->Allocations(false)) {
    const std::string& uid = a.request().pod_uid();
    if (uid.empty() || running.count(uid) != 0 || a.created_unix_ms() >= listed_at_ms) continue;
    ReleasePod(uid, "pod " + a.owner() + " is gone or finished");
  }
}

bool PodWatcher::OnEvent(const json& event, std::string* resource_version) {
  const std::string type = event.value("type", std::string());
  const json& object = event.contains("object") ? event["object"] : json::object();
  if (type == "ERROR") {
    // 410 Gone: the version is too old to watch from; anything else: start over too.
    std::fprintf(stderr, "xpool-controller: pod watch: %s\n",
                 object.value("message", std::string("error")).c_str());
    return false;
  }
  const std::string version = object.value("/metadata/resourceVersion"_json_pointer, std::string());
  if (!version.empty()) *resource_version = version;
  const std::string uid = object.value("/metadata/uid"_json_pointer, std::string());
  if (type == "DELETED") {
    ReleasePod(uid, "pod " + PodName(object) + " was deleted");
  } else if ((type == "MODIFIED" || type == "ADDED") && Finished(object)) {
    ReleasePod(uid, "pod " + PodName(object) + " " +
                        object.value("/status/phase"_json_pointer, std::string()));
  }
  return true;
}

void PodWatcher::ReleasePod(const std::string& uid, const std::string& reason) {
  if (uid.empty()) return;
  for (const auto& id : state_->LiveOfPod(uid)) {
    if (state_->Release(id, reason, NowUnixMs()).ok()) {
      std::fprintf(stderr, "xpool-controller: released %s: %s\n", id.c_str(), reason.c_str());
    }
  }
}

}  // namespace xpool::controller
