#include <algorithm>

#include "sched/policies.h"
#include "sched/policies/baselines.h"
#include "sched/policies/xpool_policy.h"

namespace xpool::sched {

const std::vector<std::string>& PolicyNames() {
  static const std::vector<std::string> kNames = {
      "random", "dot-product", "gpu-clustering", "gpu-packing", "best-fit", "fgd", "xpool"};
  return kNames;
}

bool IsPolicyName(std::string_view name) {
  const auto& names = PolicyNames();
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::vector<TypicalShape> ArtifactTypicalShapes(const std::vector<WorkloadShape>& workload) {
  std::vector<PodShape> shapes;
  shapes.reserve(workload.size());
  for (const auto& w : workload) shapes.push_back(w.shape);
  return TypicalShapesByCount(shapes, 0.95);
}

Result<std::unique_ptr<Policy>> MakePolicy(std::string_view name, const PolicyContext& ctx) {
  if (name == "random") return MakeRandomPolicy();
  if (name == "dot-product") return MakeDotProductPolicy();
  if (name == "gpu-clustering") return MakeGpuClusteringPolicy();
  if (name == "gpu-packing") return MakeGpuPackingPolicy();
  if (name == "best-fit") return MakeBestFitPolicy();
  if (name == "fgd" || name == "xpool") {
    if (ctx.pool == nullptr)
      return Status::InvalidArgument("policy '" + std::string(name) + "' needs the pool");
    if (name == "fgd")
      return MakeFgdPolicy(FragMeasure(*ctx.pool, ArtifactTypicalShapes(ctx.workload)));
    std::vector<PodShape> shapes;
    std::vector<int64_t> memory;
    double cpu = 0, milli = 0;
    for (const auto& w : ctx.workload) {
      shapes.push_back(w.shape);
      memory.push_back(w.host_memory);
      if (w.shape.device_count > 0) {
        cpu += static_cast<double>(w.shape.cpu);
        milli += static_cast<double>(w.shape.milli) * w.shape.device_count;
      }
    }
    // Which models a constrained pod needs is the model pressure's to weigh, not the measure's.
    return MakeXpoolPolicy(FragMeasure(*ctx.pool, DemandWeightedShapes(shapes, memory),
                                       /*mismatch_is_fragment=*/false),
                           milli > 0 ? cpu / milli : 0, ModelPressure(*ctx.pool, shapes));
  }
  std::string known;
  for (const auto& n : PolicyNames()) known += (known.empty() ? "" : ", ") + n;
  return Status::InvalidArgument("unknown policy '" + std::string(name) + "' (known: " + known +
                                 ")");
}

}  // namespace xpool::sched
