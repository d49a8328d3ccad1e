// Factories of the FGD artifact's baseline policies (see each .cc for its rule).
#pragma once

#include <memory>

#include "sched/frag.h"
#include "sched/policy.h"

namespace xpool::sched {

std::unique_ptr<Policy> MakeRandomPolicy();
std::unique_ptr<Policy> MakeDotProductPolicy();
std::unique_ptr<Policy> MakeGpuClusteringPolicy();
std::unique_ptr<Policy> MakeGpuPackingPolicy();
std::unique_ptr<Policy> MakeBestFitPolicy();
std::unique_ptr<Policy> MakeFgdPolicy(FragMeasure measure);

// Node capacities the artifact normalises by: 128 cores and 8 devices.
inline constexpr double kArtifactMaxCpu = 128000;
inline constexpr double kArtifactMaxMilli = 8000;

}  // namespace xpool::sched
