// Policy: a scoring plugin of the scheduling framework (Kubernetes-style score extension point).
// A policy sees a node's state and the demand, never the node's identity, so the framework may
// score a whole class of identical nodes at once. Scores are integers in [0, kMaxScore].
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "sched/demand.h"
#include "sched/pool.h"
#include "sched/rng.h"

namespace xpool::sched {

// Scores are integers in [0, kMaxScore]. The FGD artifact's policies score 0..100 in whole steps
// (and its ties are part of their behaviour); they return multiples of kStep so that ties stay
// ties while finer-grained policies can use the whole range.
inline constexpr int64_t kMaxScore = 1'000'000;
inline constexpr int64_t kStep = kMaxScore / 100;

class Policy {
 public:
  virtual ~Policy() = default;
  virtual std::string_view name() const = 0;

  // Score of placing `d` on a node in state `node` (which Fits). `cls` identifies the node's
  // class: equal classes are equal states, so a policy may cache on (cls, d.shape).
  virtual int64_t Score(const NodeState& node, ClassId cls, const Demand& d) = 0;

  // Ties between equally scored nodes go to the earliest node of the pool (as the FGD artifact's
  // scheduler breaks them, which packs), unless the policy asks for uniformly random ties.
  virtual bool random_ties() const { return false; }

  // When true the policy returns 0..100 and the framework rescales its scores over the feasible
  // nodes to 0..100 with integer arithmetic, then to kStep units (a NormalizeScore extension).
  virtual bool normalizes_scores() const { return false; }

  // Devices of the chosen node the demand should take. The default is best fit: a sharing demand
  // goes to the fullest device that still fits it, whole devices are taken in index order.
  virtual std::vector<int> ChooseDevices(const NodeState& node, const Demand& d, Rng& rng);
};

// The default device choice, available to every policy.
std::vector<int> BestFitDevices(const NodeState& node, const Demand& d);

}  // namespace xpool::sched
