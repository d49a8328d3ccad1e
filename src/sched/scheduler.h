// Scheduler: the framework pipeline — filter nodes, score them with weighted policies, choose the
// devices on the winning node — as a pure function of (pool, demand, rng). Committing the
// decision to the pool is a separate step, so the same code serves replay, controller and
// extender. Ties between equally scored nodes go to the earliest node (by index), or, for a policy
// that asks for it, to a uniformly random one.
//
// Thread-safety: a Scheduler is used by one thread at a time (policies keep caches).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sched/demand.h"
#include "sched/policy.h"
#include "sched/pool.h"
#include "sched/rng.h"

namespace xpool::sched {

struct Placement {
  NodeIndex node = -1;
  std::vector<int> devices;
};

struct WeightedPolicy {
  std::unique_ptr<Policy> policy;
  int64_t weight = 1;
};

class Scheduler {
 public:
  explicit Scheduler(std::vector<WeightedPolicy> profile);

  // The placement the profile chooses, or nullopt when no node fits.
  std::optional<Placement> Schedule(const Pool& pool, const Demand& d, Rng& rng);
  // The placement on one given node (its devices chosen as Schedule would), or nullopt when the
  // node cannot hold the demand now.
  std::optional<Placement> PlaceOn(const Pool& pool, NodeIndex node, const Demand& d, Rng& rng);

  static void Commit(Pool& pool, const Demand& d, const Placement& p);
  static void Release(Pool& pool, const Demand& d, const Placement& p);

  const std::vector<WeightedPolicy>& profile() const { return profile_; }

 private:
  std::vector<WeightedPolicy> profile_;
  size_t device_chooser_ = 0;  // the policy with the largest weight chooses devices
  // Scratch space reused across decisions.
  std::vector<ClassId> feasible_;
  std::vector<int64_t> raw_;
  std::vector<int64_t> total_;
};

}  // namespace xpool::sched
