// PoolState's preemption: slices taken back for a waiting request that outranks them
// (pool_state.h, docs/queue.md).
#include <fmt/format.h>

#include <algorithm>

#include "controller/pool_state.h"

namespace xpool::controller {

sched::NodeIndex PoolState::PreemptForLocked(const v1::Allocation& head,
                                             const sched::Demand& demand, int64_t now_ms) {
  if (!preempting_.empty()) {
    // One preemption at a time; the node it frees stays held for the request it was for.
    return head.id() == preempted_for_ ? preempted_node_ : -1;
  }
  const int32_t priority = head.request().queue_priority();
  const auto& tenants = options_.tenancy.tenants;
  auto head_tenant = tenants.find(head.tenant());
  const bool head_below = head_tenant != tenants.end() &&
                          head_tenant->second.BelowGuarantee(HeldByLocked(head.tenant()));
  // Why a live allocation may be taken for the head, or empty when it may not.
  const auto why_victim = [&](const v1::Allocation& a) -> std::string {
    if (!a.request().pod_uid().empty()) return "";  // Kubernetes preempts its own pods
    const int32_t theirs = a.request().queue_priority();
    if (theirs < priority) {
      return fmt::format("preempted by {} (queue priority {} over {})", head.id(), priority,
                         theirs);
    }
    auto tenant = tenants.find(a.tenant());
    if (head_below && theirs <= priority && tenant != tenants.end() &&
        a.tenant() != head.tenant() && tenant->second.PastGuarantee(HeldByLocked(a.tenant()))) {
      return fmt::format(
          "preempted by {}: capacity {} borrowed past its guarantee, taken back "
          "for tenant {} below its own",
          head.id(), a.tenant(), head.tenant());
    }
    return "";
  };
  struct Choice {
    sched::NodeIndex node = -1;
    std::vector<std::pair<std::string, std::string>> victims;  // id, why
  } best;
  for (const auto& [name, entry] : nodes_) {
    if (entry.cordoned) continue;
    sched::NodeState state = pool_.state(entry.index);
    if (!sched::FitsEmpty(pool_.spec(entry.index), state.model, demand)) continue;
    struct Candidate {
      const v1::Allocation* allocation;
      const Live* live;
      std::string why;
    };
    std::vector<Candidate> candidates;
    for (const std::string& id : LiveOnLocked(name)) {
      const v1::Allocation& a = allocations_.at(id);
      std::string why = why_victim(a);
      if (!why.empty()) candidates.push_back({&a, &live_.at(id), std::move(why)});
    }
    // The least important first, and of those the most recent (the least work lost).
    std::sort(candidates.begin(), candidates.end(), [](const Candidate& x, const Candidate& y) {
      const int32_t px = x.allocation->request().queue_priority();
      const int32_t py = y.allocation->request().queue_priority();
      if (px != py) return px < py;
      return x.allocation->created_unix_ms() > y.allocation->created_unix_ms();
    });
    Choice here;
    here.node = entry.index;
    for (const Candidate& c : candidates) {
      if (sched::Fits(state, demand)) break;
      const sched::Demand& d = c.live->demand;
      state.cpu_free += d.cpu;
      state.mem_free += d.mem;
      for (int device : c.live->placement.devices) {
        state.milli_free[device] += d.milli;
        if (!state.dev_mem_free.empty()) state.dev_mem_free[device] += d.dev_mem;
      }
      here.victims.emplace_back(c.allocation->id(), c.why);
    }
    if (here.victims.empty() || !sched::Fits(state, demand)) continue;
    if (best.node < 0 || here.victims.size() < best.victims.size()) best = std::move(here);
  }
  if (best.node < 0) return -1;
  preempted_for_ = head.id();
  preempted_node_ = best.node;
  for (const auto& [id, why] : best.victims) {
    v1::Allocation& a = allocations_.at(id);
    a.set_preempt_at_unix_ms(now_ms + options_.preemption_grace_ms);
    a.set_reason(why);
    a.set_updated_unix_ms(now_ms);
    if (!SaveAllocationLocked(a).ok()) continue;
    preempting_.insert(id);
    std::fprintf(stderr, "xpool-controller: %s: %s; released in %lld s unless its task ends\n",
                 id.c_str(), why.c_str(),
                 static_cast<long long>(options_.preemption_grace_ms / 1000));
  }
  return best.node;
}

void PoolState::EndGracePeriodsLocked(int64_t now_ms) {
  std::vector<std::string> due;
  for (const std::string& id : preempting_) {
    if (allocations_.at(id).preempt_at_unix_ms() <= now_ms) due.push_back(id);
  }
  for (const std::string& id : due) {
    (void)ReleaseLocked(id, "its grace period ended", now_ms);
  }
}

}  // namespace xpool::controller
