// The project's own policy (default): see xpool_policy.cc and docs/scheduling.md.
#pragma once

#include <memory>
#include <vector>

#include "sched/frag.h"
#include "sched/policy.h"
#include "sched/pool.h"

namespace xpool::sched {

// Shapes weighted by the device share they bring (count × devices × share), every shape kept,
// host memory included: what the xpool policy measures fragmentation against.
std::vector<TypicalShape> DemandWeightedShapes(const std::vector<PodShape>& shapes,
                                               const std::vector<int64_t>& host_memory);

// `cpu_per_milli`: millicores the workload's device pods bring per milli-device they use (0: CPU
// is not weighed against free devices).
// How much of each model's capacity (by ModelId) the pods that name models would take: each such
// pod's device demand spread over the models it accepts in proportion to their capacity, summed,
// over the model's capacity. 0 for a model no pod names.
std::vector<double> ModelPressure(const Pool& pool, const std::vector<PodShape>& shapes);

std::unique_ptr<Policy> MakeXpoolPolicy(FragMeasure measure, double cpu_per_milli = 0,
                                        std::vector<double> model_pressure = {});

}  // namespace xpool::sched
