// PoolState's Kubernetes side: the scheduler extender's verdicts on nodes for a pod, and the
// device plugin's claims of the slice decided for the container the kubelet starts.
#include <algorithm>
#include <limits>
#include <ranges>

#include "controller/pool_state.h"

namespace xpool::controller {

Result<std::vector<PoolState::NodeVerdict>> PoolState::Evaluate(
    const v1::AllocateRequest& request, const std::vector<std::string>& names) {
  const DurableAnswer durable(*committer_);
  StateLock lock(mu_, *committer_);
  return EvaluateLocked(request, names);
}

Result<std::vector<PoolState::NodeVerdict>> PoolState::EvaluateLocked(
    const v1::AllocateRequest& request, const std::vector<std::string>& names) {
  Refusal refusal = Refusal::kNone;
  auto demand = DemandOf(request, models_, pool_, shapes_, &refusal);
  std::vector<NodeVerdict> out(names.size());
  if (!demand.ok() && refusal == Refusal::kNeverFits) {
    // Well formed, but nothing in the pool could ever hold it (no model has the rating asked):
    // every node says why.
    for (auto& v : out) {
      v.never = true;
      v.reason = demand.status().message();
    }
    return out;
  }
  if (!demand.ok()) return demand.status();
  // The tenants file holds for pods too: a namespace that is no tenant never fits; a tenant at
  // its limit fits nowhere now (the bind would be refused).
  v1::AllocateRequest checked = request;
  std::string refused;
  bool never = false;
  if (Status s = ApplyTenancyLocked(checked, &refusal); !s.ok()) {
    refused = s.message();
    never = true;
  } else if (options_.tenancy.configured()) {
    refused = OverLimitLocked(checked.tenant(), *demand, HeldByLocked(checked.tenant()));
  }
  if (!refused.empty()) {
    for (auto& v : out) {
      v.never = never;
      v.reason = refused;
    }
    return out;
  }
  std::vector<int64_t> raw(names.size(), 0);
  int64_t lo = std::numeric_limits<int64_t>::max(), hi = std::numeric_limits<int64_t>::min();
  constexpr int64_t kDoesNotFit = std::numeric_limits<int64_t>::min();
  constexpr int64_t kUnjudged = kDoesNotFit + 1;
  std::vector<int64_t> by_class(pool_.class_count(), kUnjudged);  // score, or kDoesNotFit
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string& name = names[i];
    NodeVerdict& v = out[i];
    auto it = node_index_.find(name);
    if (it == node_index_.end()) {
      v.never = true;
      v.reason = "no xpool agent serves node " + name;
      continue;
    }
    const NodeEntry& entry = *it->second;
    const sched::NodeIndex n = entry.index;
    if (entry.cordoned) {
      v.reason = "node " + name + " stopped heartbeating";
      continue;
    }
    const sched::NodeState& state = pool_.state(n);
    if (!sched::FitsEmpty(pool_.spec(n), state.model, *demand)) {
      v.never = true;
      const sched::NodeSpec& spec = pool_.spec(n);
      v.reason = "node " + name + " has no device that could ever hold this (" + spec.model +
                 " × " + std::to_string(spec.device_count) +
                 (spec.device_memory.value() > 0
                      ? ", " + std::to_string(spec.device_memory.value()) + " MiB each"
                      : std::string()) +
                 "; asked " + std::to_string(demand->device_count) + " × " +
                 (demand->dev_mem > 0 ? std::to_string(demand->dev_mem) + " MiB" : "any memory") +
                 ")";
      continue;
    }
    // Nodes of one class are in one state: each class is judged and scored once.
    const sched::ClassId cls = pool_.class_of(n);
    int64_t& judged = by_class[cls];
    if (judged == kUnjudged) {
      judged = sched::Fits(state, *demand) ? 0 : kDoesNotFit;
      for (const auto& wp : scheduler_->profile()) {
        if (judged != kDoesNotFit) judged += wp.weight * wp.policy->Score(state, cls, *demand);
      }
    }
    if (judged == kDoesNotFit) {
      v.reason = "node " + name + " has no free device share or memory for this now";
      continue;
    }
    v.fits = true;
    raw[i] = judged;
    lo = std::min(lo, raw[i]);
    hi = std::max(hi, raw[i]);
  }
  for (size_t i = 0; i < names.size(); ++i) {
    if (!out[i].fits) continue;
    out[i].score = hi == lo ? 10 : static_cast<int>((raw[i] - lo) * 10 / (hi - lo));
  }
  return out;
}

Result<std::vector<PoolState::NodeVerdict>> PoolState::EvaluatePod(
    const std::vector<v1::AllocateRequest>& requests, const std::vector<std::string>& names) {
  if (requests.empty()) return Status::InvalidArgument("a pod with no slice to evaluate");
  const DurableAnswer durable(*committer_);
  StateLock lock(mu_, *committer_);
  auto verdicts = EvaluateLocked(requests.front(), names);
  if (!verdicts.ok() || requests.size() == 1) return verdicts;
  // Several containers with slices: a node fits when all of them fit there together, placed
  // as Allocate would place them one after another.
  std::vector<sched::Demand> demands;
  for (const auto& r : requests) {
    Refusal refusal = Refusal::kNone;
    auto demand = DemandOf(r, models_, pool_, shapes_, &refusal);
    if (!demand.ok()) {
      for (auto& v : *verdicts) {
        v = NodeVerdict{false, refusal == Refusal::kNeverFits,
                        "container " + r.container() + ": " + demand.status().message(), 0};
      }
      return verdicts;
    }
    demands.push_back(*demand);
  }
  sched::Rng rng = rng_;  // trial placements leave the pool's own sequence alone
  for (size_t i = 0; i < names.size(); ++i) {
    NodeVerdict& v = (*verdicts)[i];
    if (!v.fits) continue;
    const sched::NodeIndex n = node_index_.at(names[i])->index;
    std::vector<std::pair<const sched::Demand*, sched::Placement>> placed;
    for (const auto& d : demands) {
      auto p = scheduler_->PlaceOn(pool_, n, d, rng);
      if (!p) break;
      sched::Scheduler::Commit(pool_, d, *p);
      placed.emplace_back(&d, *p);
    }
    if (placed.size() < demands.size()) {
      v.fits = false;
      v.score = 0;
      v.reason = "node " + names[i] + " has no room for all " + std::to_string(demands.size()) +
                 " containers' slices of the pod now";
    }
    for (const auto& [demand, placement] : std::ranges::reverse_view(placed)) {
      sched::Scheduler::Release(pool_, *demand, placement);
    }
  }
  return verdicts;
}

Result<PoolState::PodClaim> PoolState::PeekPodSlices(const std::string& node, int devices) const {
  const DurableAnswer durable(*committer_);
  StateLock lock(mu_, *committer_);
  // The kubelet admits a node's pods about in the order they were bound: the oldest first.
  const v1::Allocation* oldest = nullptr;
  for (const std::string& id : LiveOnLocked(node)) {
    const v1::Allocation& a = allocations_.at(id);
    if (a.request().pod_uid().empty() || a.claimed_devices() > 0 || a.slices_size() < devices) {
      continue;
    }
    if (oldest == nullptr || a.created_unix_ms() < oldest->created_unix_ms()) oldest = &a;
  }
  if (oldest == nullptr) {
    return Status::NotFound("no pod allocation on node " + node + " waits for " +
                            std::to_string(devices) + " device(s)");
  }
  return PodClaim{*oldest, oldest->slices()};
}

Result<PoolState::PodClaim> PoolState::ClaimContainerSlice(const v1::ClaimPodSlicesRequest& r,
                                                           int64_t now_ms) {
  const DurableAnswer durable(*committer_);
  Result<PodClaim> claim = Status::Internal("unset");
  {
    StateLock lock(mu_, *committer_);
    claim = ClaimContainerSliceLocked(r, now_ms);
  }
  return claim;
}

Result<PoolState::PodClaim> PoolState::ClaimContainerSliceLocked(const v1::ClaimPodSlicesRequest& r,
                                                                 int64_t now_ms) {
  const std::string pod = r.pod_namespace() + "/" + r.pod_name();
  // The pod's allocations on the node; of a pod recreated under the same name, the newest's.
  std::vector<const v1::Allocation*> of_pod;
  for (const std::string& id : LiveOnLocked(r.node())) {
    const v1::Allocation& a = allocations_.at(id);
    if (a.request().pod_uid().empty() || a.owner() != pod) continue;
    if (!of_pod.empty() && of_pod.front()->request().pod_uid() != a.request().pod_uid()) {
      if (a.created_unix_ms() <= of_pod.front()->created_unix_ms()) continue;
      of_pod.clear();
    }
    of_pod.push_back(&a);
  }
  if (of_pod.empty()) {
    return Status::NotFound("the extender placed no slice of pod " + pod + " on node " + r.node());
  }
  std::vector<const v1::Allocation*> inits;
  const v1::Allocation* app = nullptr;
  for (const v1::Allocation* a : of_pod) {
    if (a->request().init_container()) {
      inits.push_back(a);
    } else if (!r.container().empty() &&
               (a->request().container() == r.container() || a->request().container().empty())) {
      app = a;  // an allocation made before containers were named serves the pod's one container
    }
  }
  std::sort(inits.begin(), inits.end(), [](const v1::Allocation* x, const v1::Allocation* y) {
    return x->request().container_index() < y->request().container_index();
  });
  const auto started = [](const v1::Allocation* a) {
    return a->slices_size() > 0 && a->claimed_devices() >= a->slices_size();
  };
  const v1::Allocation* first_waiting_init = nullptr;
  for (const v1::Allocation* a : inits) {
    if (!started(a)) {
      first_waiting_init = a;
      break;
    }
  }
  const v1::Allocation* chosen = nullptr;
  if (!r.container().empty()) {
    if (app == nullptr) {
      return Status::NotFound("pod " + pod + " has no slice for container " + r.container());
    }
    // Init containers run to completion before any app container starts.
    chosen = r.may_be_init_container() && !started(app) && first_waiting_init != nullptr
                 ? first_waiting_init
                 : app;
  } else {
    if (inits.empty()) return Status::NotFound("pod " + pod + " has no init container slice");
    // A retried init container: the last one that started.
    chosen = first_waiting_init != nullptr ? first_waiting_init : inits.back();
  }
  v1::Allocation a = *chosen;
  if (r.device_uuids_size() > 0) {
    if (Status s = MoveToDevicesLocked(a, {r.device_uuids().begin(), r.device_uuids().end()});
        !s.ok()) {
      return s;
    }
  }
  a.set_claimed_devices(a.slices_size());
  a.set_updated_unix_ms(now_ms);
  if (Status s = SaveAllocationLocked(a); !s.ok()) return s;
  allocations_[a.id()] = a;
  return PodClaim{a, a.slices()};
}

Status PoolState::MoveToDevicesLocked(v1::Allocation& a, const std::vector<std::string>& uuids) {
  Live& live = live_.at(a.id());
  const NodeEntry& node = nodes_.at(a.node());
  std::vector<int> target;
  for (const std::string& uuid : uuids) {
    int found = -1;
    for (int i = 0; i < node.node.devices_size(); ++i) {
      if (node.node.devices(i).uuid() == uuid) found = i;
    }
    if (found < 0) {
      return Status::FailedPrecondition("node " + a.node() + " has no device " + uuid);
    }
    target.push_back(found);
  }
  std::sort(target.begin(), target.end());
  target.erase(std::unique(target.begin(), target.end()), target.end());
  std::vector<int> now = live.placement.devices;
  std::sort(now.begin(), now.end());
  if (target == now) return Status::Ok();
  const std::string where = "allocation " + a.id() + " (pod " + a.owner() + ", container " +
                            a.request().container() + ")";
  if (target.size() != now.size()) {
    return Status::FailedPrecondition(where + " holds " + std::to_string(now.size()) +
                                      " device(s), but the kubelet gave the container " +
                                      std::to_string(target.size()));
  }
  // The kubelet chose other GPUs than the extender: the slice follows where it fits there.
  sched::Scheduler::Release(pool_, live.demand, live.placement);
  const sched::NodeState& state = pool_.state(live.placement.node);
  bool fits = true;
  for (int d : target) {
    fits = fits && state.milli_free[d] >= live.demand.milli &&
           (state.dev_mem_free.empty() || state.dev_mem_free[d] >= live.demand.dev_mem);
  }
  if (!fits) {
    sched::Scheduler::Commit(pool_, live.demand, live.placement);
    return Status::FailedPrecondition(where +
                                      " cannot move to the GPUs the kubelet gave the "
                                      "container: they have no room for it");
  }
  live.placement.devices = target;
  sched::Scheduler::Commit(pool_, live.demand, live.placement);
  for (int i = 0; i < a.slices_size() && i < static_cast<int>(target.size()); ++i) {
    const v1::Device& d = node.node.devices(target[i]);
    v1::Slice* s = a.mutable_slices(i);
    s->set_device_id(d.id());
    s->set_device_uuid(d.uuid());
    s->set_device_index(d.index());
  }
  return Status::Ok();
}

}  // namespace xpool::controller
