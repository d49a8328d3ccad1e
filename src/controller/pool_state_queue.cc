// PoolState's queue: requests that wait for capacity (pool_state.h, docs/queue.md).
#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "controller/pool_state.h"

namespace xpool::controller {

Result<v1::Allocation> PoolState::EnqueueLocked(const v1::AllocateRequest& request,
                                                int64_t now_ms) {
  v1::Allocation a;
  a.set_id(NewIdLocked(now_ms));
  a.set_owner(request.owner());
  a.set_tenant(request.tenant());
  a.set_state("queued");
  a.set_created_unix_ms(now_ms);
  a.set_updated_unix_ms(now_ms);
  a.set_queued_unix_ms(now_ms);
  a.set_reason("waiting for capacity");
  *a.mutable_request() = request;
  if (Status s = SaveAllocationLocked(a); !s.ok()) return s;
  allocations_[a.id()] = a;
  if (!request.request_id().empty())
    by_request_[request.owner() + "\n" + request.request_id()] = a.id();
  queue_.Add(a.id(), request.queue_priority(), request.tenant(), now_ms);
  // It may go ahead of others (priority, fair share) or run ahead where the head cannot use.
  PlaceQueuedLocked(now_ms);
  capacity_freed_ = false;
  v1::Allocation now = allocations_.at(a.id());
  DescribeQueuedLocked(now);
  return now;
}

PoolAmounts PoolState::HeldByLocked(const std::string& tenant) const {
  auto it = held_by_tenant_.find(tenant);
  return it == held_by_tenant_.end() ? PoolAmounts{} : it->second;
}

std::map<std::string, double> PoolState::FairShareKeysLocked() const {
  int64_t total_mib = 0;
  for (sched::NodeIndex n = 0; n < pool_.node_count(); ++n) {
    total_mib += pool_.spec(n).device_memory.value() * pool_.spec(n).device_count;
  }
  const auto fraction = [](int64_t part, int64_t whole) {
    return whole > 0 ? static_cast<double>(part) / static_cast<double>(whole) : 0.0;
  };
  std::map<std::string, double> keys;
  for (const auto& [tenant, amounts] : held_by_tenant_) {
    keys[tenant] = std::max(fraction(amounts.milli, pool_.total_device_milli()),
                            fraction(amounts.memory_mib, total_mib));
  }
  // A tenant below its guarantee goes first.
  for (const auto& [name, tenant] : options_.tenancy.tenants) {
    if (tenant.BelowGuarantee(HeldByLocked(name))) keys[name] -= 1.0;
  }
  return keys;
}

Status PoolState::ApplyTenancyLocked(v1::AllocateRequest& request, Refusal* refusal) const {
  const TenancyConfig& tenancy = options_.tenancy;
  if (!request.priority_class().empty()) {
    auto it = tenancy.priority_classes.find(request.priority_class());
    if (it == tenancy.priority_classes.end()) {
      *refusal = Refusal::kInvalid;
      std::string known;
      for (const auto& [name, value] : tenancy.priority_classes) {
        known += (known.empty() ? "" : ", ") + name;
      }
      return Status::InvalidArgument(
          "no priority class '" + request.priority_class() + "'" +
          (known.empty() ? " (the pool defines none)" : " (known: " + known + ")"));
    }
    request.set_queue_priority(it->second);
  }
  if (!tenancy.configured()) return Status::Ok();
  auto tenant = tenancy.TenantFor(request.tenant(), request.owner(),
                                  /*check_members=*/request.pod_uid().empty());
  if (!tenant.ok()) {
    *refusal = Refusal::kInvalid;
    return tenant.status();
  }
  request.set_tenant((*tenant)->name);
  return Status::Ok();
}

std::string PoolState::OverLimitLocked(const std::string& tenant, const sched::Demand& demand,
                                       const PoolAmounts& already) const {
  auto policy = options_.tenancy.tenants.find(tenant);
  if (policy == options_.tenancy.tenants.end()) return "";
  PoolAmounts after = already;
  after += AmountsOf(demand);
  if (after.Within(policy->second.limit)) return "";
  const PoolAmounts& limit = policy->second.limit;
  return after.milli > limit.milli
             ? fmt::format("tenant {} is at its limit of {:g} GPUs (it would hold {:g})", tenant,
                           static_cast<double>(limit.milli) / 1000,
                           static_cast<double>(after.milli) / 1000)
             : fmt::format("tenant {} is at its limit of {} MiB of GPU memory (it would hold {})",
                           tenant, limit.memory_mib, after.memory_mib);
}

void PoolState::SetTenancy(TenancyConfig tenancy, int64_t now_ms) {
  const DurableAnswer durable(*committer_);
  StateLock lock(mu_, *committer_);
  options_.tenancy = std::move(tenancy);
  capacity_freed_ = true;  // limits may have grown
  MaybePlaceQueuedLocked(now_ms);
}

sched::NodeIndex PoolState::NodeToHoldLocked(const sched::Demand& demand,
                                             const std::string& pinned) const {
  sched::NodeIndex best = -1;
  int64_t best_free = -1;
  for (const auto& [name, entry] : nodes_) {
    if (entry.cordoned || (!pinned.empty() && name != pinned)) continue;
    const sched::NodeState& state = pool_.state(entry.index);
    if (!sched::FitsEmpty(pool_.spec(entry.index), state.model, demand)) continue;
    const int64_t free = state.milli_free_total();
    if (free > best_free) {
      best = entry.index;
      best_free = free;
    }
  }
  return best;
}

std::optional<sched::Placement> PoolState::ScheduleAvoidingHeldLocked(const sched::Demand& demand) {
  auto anywhere = scheduler_->Schedule(pool_, demand, rng_);
  if (held_node_ < 0 || !anywhere || anywhere->node != held_node_) return anywhere;
  // The held node's free capacity is taken out of the pool for this one decision, so that the
  // policy chooses among the other nodes as it would, then given back as it was.
  const sched::NodeState before = pool_.state(held_node_);
  const auto each_device = [&](auto&& change) {
    for (int i = 0; i < before.device_count; ++i) {
      const int64_t memory = before.dev_mem_free.empty() ? 0 : before.dev_mem_free[i];
      if (before.milli_free[i] == 0 && memory == 0) continue;
      change(held_node_, 0, 0, std::vector<int>{i}, MilliDevice(before.milli_free[i]), MiB(memory),
             0);
    }
  };
  pool_.Take(held_node_, before.cpu_free, before.mem_free, {}, MilliDevice(0), MiB(0), 0);
  each_device([&](auto... args) { pool_.Take(args...); });
  auto placement = scheduler_->Schedule(pool_, demand, rng_);
  each_device([&](auto... args) { pool_.Give(args...); });
  pool_.Give(held_node_, before.cpu_free, before.mem_free, {}, MilliDevice(0), MiB(0), 0);
  return placement;
}

void PoolState::PlaceQueuedLocked(int64_t now_ms) {
  held_node_ = -1;
  held_for_.clear();
  if (queue_.empty() || scheduler_ == nullptr) return;
  // Placing one changes its tenant's share; the order is kept for this pass (the next one,
  // at the next release, sees the new shares). Limits see each placement at once.
  const std::vector<QueuedRequest*> order = queue_.Ordered(FairShareKeysLocked());
  std::vector<std::pair<QueuedRequest*, v1::Allocation*>> waiting;
  waiting.reserve(order.size());
  for (QueuedRequest* q : order) waiting.emplace_back(q, &allocations_.at(q->id));
  // A shape that found no room in this pass finds none again (pinned requests aside).
  std::set<int32_t> no_room;
  int position = 0;
  for (auto [queued, allocation] : waiting) {
    v1::Allocation& a = *allocation;
    const v1::AllocateRequest& request = a.request();
    auto cached = queued_demand_.find(a.id());
    if (cached == queued_demand_.end()) {
      Refusal refusal = Refusal::kNone;
      auto compiled = DemandOf(request, models_, pool_, shapes_, &refusal);
      if (!compiled.ok()) {
        (void)ReleaseLocked(a.id(), "no longer valid: " + compiled.status().message(), now_ms);
        continue;
      }
      cached = queued_demand_.emplace(a.id(), std::move(*compiled)).first;
    }
    const sched::Demand& demand = cached->second;
    // A tenant at its limit waits for its own allocations to end, whatever the pool has free;
    // it holds no node meanwhile.
    queued->held_by_limit = OverLimitLocked(a.tenant(), demand, HeldByLocked(a.tenant()));
    if (!queued->held_by_limit.empty()) {
      queued->position = ++position;
      continue;
    }
    std::optional<sched::Placement> placement;
    const bool pinned = !request.node().empty();
    if (pinned) {
      auto node = node_index_.find(request.node());
      if (node != node_index_.end() && !node->second->cordoned) {
        placement = scheduler_->PlaceOn(pool_, node->second->index, demand, rng_);
      }
    } else if (no_room.count(demand.shape) == 0) {
      placement = ScheduleAvoidingHeldLocked(demand);
    }
    // The first request that does not fit keeps the node it comes closest to fitting on; those
    // behind it run ahead only elsewhere, so they never delay it.
    if (placement && held_node_ >= 0 && placement->node == held_node_) placement.reset();
    if (placement && AdmitLocked(a, demand, *placement, now_ms).ok()) {
      const std::string id = a.id();
      queue_.Remove(id);  // `queued` is gone
      queued_demand_.erase(id);
      continue;
    }
    // Not placed (or the store refused: tried again at the next release).
    if (!pinned) no_room.insert(demand.shape);
    queued->position = ++position;
    if (held_node_ < 0) {
      const sched::NodeIndex freed =
          pinned ? sched::NodeIndex{-1} : PreemptForLocked(a, demand, now_ms);
      held_node_ = freed >= 0 ? freed : NodeToHoldLocked(demand, request.node());
      held_for_ = a.id();
    }
  }
}

void PoolState::DescribeQueuedLocked(v1::Allocation& a) const {
  const QueuedRequest* queued = queue_.Find(a.id());
  if (queued == nullptr) return;
  a.set_queue_position(queued->position);
  if (!queued->held_by_limit.empty()) {
    a.set_reason("waiting: " + queued->held_by_limit);
  } else if (a.id() != held_for_) {
    a.set_reason("waiting behind " + held_for_);
  } else if (held_node_ >= 0) {
    a.set_reason("waiting for capacity; node " + node_names_[held_node_] + " is held for it");
  } else {
    a.set_reason("waiting for a node that can hold it to come back");
  }
}

std::vector<v1::Allocation> PoolState::Queue() const {
  const DurableAnswer durable(*committer_);
  StateLock lock(mu_, *committer_);
  std::vector<v1::Allocation> out;
  queue_.ForEach([&](const QueuedRequest& q) {
    out.push_back(allocations_.at(q.id));
    DescribeQueuedLocked(out.back());
  });
  std::sort(out.begin(), out.end(), [](const v1::Allocation& a, const v1::Allocation& b) {
    return a.queue_position() < b.queue_position();
  });
  return out;
}

}  // namespace xpool::controller
