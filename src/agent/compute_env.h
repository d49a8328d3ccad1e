// The runtime's compute variables for a slice the pool allocated: how it takes its turns on the
// device, as its request asked (xpool run's flags, a pod's annotations). Shared by the task runner
// and the Kubernetes device plugin, which both start the slice's processes.
#pragma once

#include <map>
#include <string>

#include "xpool/v1/pool.pb.h"

namespace xpool::agent {

// XPOOL_COMPUTE_POLICY, XPOOL_PRIORITY and XPOOL_COMPUTE_PERIOD_MS, each only when asked for.
std::map<std::string, std::string> ComputeEnvironment(const v1::AllocateRequest& request);

}  // namespace xpool::agent
