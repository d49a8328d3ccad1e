// The registry of scheduling policies. Names, in the order `--policy all` runs them:
//   random, dot-product, gpu-clustering, gpu-packing, best-fit, fgd  — the baselines of the FGD
//   artifact (hkust-adsl/kubernetes-scheduler-simulator), reimplemented from its description;
//   xpool — the project's own policy and the default (see docs/scheduling.md).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "sched/frag.h"
#include "sched/policy.h"
#include "sched/pool.h"

namespace xpool::sched {

inline constexpr std::string_view kDefaultPolicy = "xpool";

// What policies may know about the workload besides the pool: the shapes of the pods it is
// made of (for the fragmentation measures) with their host memory and count.
struct WorkloadShape {
  PodShape shape;
  int64_t host_memory = 0;  // MiB
};
struct PolicyContext {
  const Pool* pool = nullptr;
  std::vector<WorkloadShape> workload;  // one entry per pod of the workload (repeats allowed)
};

const std::vector<std::string>& PolicyNames();
bool IsPolicyName(std::string_view name);

Result<std::unique_ptr<Policy>> MakePolicy(std::string_view name, const PolicyContext& ctx);

// The FGD artifact's typical-pod set for a workload: 95 % of pods by count, CPU-only pods in.
std::vector<TypicalShape> ArtifactTypicalShapes(const std::vector<WorkloadShape>& workload);

}  // namespace xpool::sched
