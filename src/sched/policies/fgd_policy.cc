// FGD: place the pod where the node's expected fragmentation (against the workload's typical
// pods) grows least; score = sigmoid(decrease / 1000) in whole steps of 0..100, as published.
#include <cmath>
#include <limits>

#include "sched/policies/baselines.h"
#include "sched/policies/node_after.h"
#include "sched/policies/score_cache.h"

namespace xpool::sched {
namespace {

class FgdPolicy final : public Policy {
 public:
  explicit FgdPolicy(FragMeasure m) : measure_(std::move(m)) {}
  std::string_view name() const override { return "fgd"; }

  int64_t Score(const NodeState& n, ClassId cls, const Demand& d) override {
    return cache_.GetOrCompute(cls, d, [&] { return Evaluate(n, d, nullptr); });
  }

  std::vector<int> ChooseDevices(const NodeState& n, const Demand& d, Rng& /*rng*/) override {
    if (!d.sharing()) return BestFitDevices(n, d);
    int device = -1;
    Evaluate(n, d, &device);
    return {device};
  }

 private:
  static int64_t ToScore(double decrease) {
    return static_cast<int64_t>(100.0 / (1.0 + std::exp(-decrease / 1000.0))) * kStep;
  }

  // The node's score; for a sharing demand also the device that earns it (first best index).
  int64_t Evaluate(const NodeState& n, const Demand& d, int* device) const {
    const double before = measure_.Amount(n);
    std::vector<int32_t> after = n.milli_free;
    if (!d.sharing()) {
      PlaceOnLeastSufficient(after, d);
      return ToScore(before - measure_.Amount(n.model, n.cpu_free - d.cpu, 0, after));
    }
    int64_t best = std::numeric_limits<int64_t>::min();
    for (size_t i = 0; i < after.size(); ++i) {
      if (after[i] < d.milli) continue;
      if (!n.dev_mem_free.empty() && n.dev_mem_free[i] < d.dev_mem) continue;
      after[i] -= d.milli;
      const int64_t s = ToScore(before - measure_.Amount(n.model, n.cpu_free - d.cpu, 0, after));
      after[i] += d.milli;
      if (s > best) {
        best = s;
        if (device != nullptr) *device = static_cast<int>(i);
      }
    }
    return best;
  }

  FragMeasure measure_;
  ClassScoreCache cache_;
};

}  // namespace

std::unique_ptr<Policy> MakeFgdPolicy(FragMeasure measure) {
  return std::make_unique<FgdPolicy>(std::move(measure));
}

}  // namespace xpool::sched
