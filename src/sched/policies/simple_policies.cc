// The artifact's heuristic baselines. Each scores 0..100 in whole steps, as the artifact does;
// their integer truncation decides which nodes tie, and ties are broken at random.
#include <algorithm>

#include "sched/policies/baselines.h"

namespace xpool::sched {
namespace {

// Every feasible node scores the same, so the framework's tie-break picks one uniformly.
class RandomPolicy final : public Policy {
 public:
  std::string_view name() const override { return "random"; }
  bool random_ties() const override { return true; }
  int64_t Score(const NodeState&, ClassId, const Demand&) override { return 0; }
  // A sharing pod lands on a uniformly random device that fits (the artifact's "random" GPU
  // selection); whole devices are taken in index order.
  std::vector<int> ChooseDevices(const NodeState& n, const Demand& d, Rng& rng) override {
    if (!d.sharing()) return BestFitDevices(n, d);
    int chosen = -1;
    uint64_t fitting = 0;
    for (size_t i = 0; i < n.milli_free.size(); ++i) {
      if (n.milli_free[i] >= d.milli &&
          (n.dev_mem_free.empty() || n.dev_mem_free[i] >= d.dev_mem) && rng.Below(++fitting) == 0) {
        chosen = static_cast<int>(i);
      }
    }
    return {chosen};
  }
};

// Tetris-style alignment of [cpu, device] free and request vectors, normalised by the largest
// node; the artifact ranks the *smallest* product highest.
class DotProductPolicy final : public Policy {
 public:
  std::string_view name() const override { return "dot-product"; }
  int64_t Score(const NodeState& n, ClassId, const Demand& d) override {
    const double dot = (static_cast<double>(n.cpu_free) / kArtifactMaxCpu) *
                           (static_cast<double>(d.cpu) / kArtifactMaxCpu) +
                       (static_cast<double>(n.milli_free_total()) / kArtifactMaxMilli) *
                           (static_cast<double>(d.total_milli()) / kArtifactMaxMilli);
    return static_cast<int64_t>(100.0 * (1.0 - dot / 2.0)) * kStep;
  }
};

// Groups pods of the same shape class (sharing, k whole devices) on the same nodes.
class GpuClusteringPolicy final : public Policy {
 public:
  std::string_view name() const override { return "gpu-clustering"; }
  int64_t Score(const NodeState& n, ClassId, const Demand& d) override {
    if (d.device_count == 0) return 0;
    const int64_t fullness = 25 * (8000 - n.milli_free_total()) / 8000;
    int64_t tier = 0;
    if ((n.affinity_mask & d.affinity_bit) != 0) {
      tier = n.affinity_mask == d.affinity_bit ? 75 : 50;
    } else if (n.affinity_mask == 0) {
      tier = 25;
    }
    return (fullness + tier) * kStep;
  }
};

// Prefers, in order: shared devices already in use, free devices of a used node, a free node.
class GpuPackingPolicy final : public Policy {
 public:
  std::string_view name() const override { return "gpu-packing"; }
  int64_t Score(const NodeState& n, ClassId, const Demand& d) override {
    if (d.device_count == 0) return 0;
    const int whole = n.whole_free_devices();
    if (whole == n.device_count) return std::max<int64_t>(33 - whole, whole) * kStep;
    std::vector<int> order(n.milli_free.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return n.milli_free[a] < n.milli_free[b]; });
    int wanted = d.device_count;
    int whole_used = 0;
    int64_t free_pct_on_used = 0;
    for (int i : order) {
      if (wanted == 0) break;
      if (n.milli_free[i] >= d.milli) {
        --wanted;
        whole_used += n.milli_free[i] == 1000 ? 1 : 0;
        free_pct_on_used += n.milli_free[i] * 100 / 1000;
      }
    }
    if (whole_used > 0) return std::max<int64_t>(50 - whole_used, 33) * kStep;
    return std::max<int64_t>(100 - free_pct_on_used / 10, 50) * kStep;
  }
};

// Least leftover CPU and device share after placement, half weight each, min-max normalised.
class BestFitPolicy final : public Policy {
 public:
  std::string_view name() const override { return "best-fit"; }
  bool normalizes_scores() const override { return true; }
  int64_t Score(const NodeState& n, ClassId, const Demand& d) override {
    const double left =
        0.5 * static_cast<double>(n.cpu_free - d.cpu) / kArtifactMaxCpu +
        0.5 * static_cast<double>(n.milli_free_total() - d.total_milli()) / kArtifactMaxMilli;
    return static_cast<int64_t>((1.0 - left) * 100.0);
  }
};

}  // namespace

std::unique_ptr<Policy> MakeRandomPolicy() {
  return std::make_unique<RandomPolicy>();
}
std::unique_ptr<Policy> MakeDotProductPolicy() {
  return std::make_unique<DotProductPolicy>();
}
std::unique_ptr<Policy> MakeGpuClusteringPolicy() {
  return std::make_unique<GpuClusteringPolicy>();
}
std::unique_ptr<Policy> MakeGpuPackingPolicy() {
  return std::make_unique<GpuPackingPolicy>();
}
std::unique_ptr<Policy> MakeBestFitPolicy() {
  return std::make_unique<BestFitPolicy>();
}

}  // namespace xpool::sched
