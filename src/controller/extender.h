// The Kubernetes scheduler extender's filter and prioritize verbs, in the extender wire format
// (PascalCase JSON: ExtenderArgs in; ExtenderFilterResult and HostPriorityList out), answered from
// the controller's PoolState. Both nodeCacheCapable modes: node names only, or whole Node objects.
// A pod that asks for none of xpool's resources passes every node with a neutral score.
#pragma once

#include <string>

#include "controller/pool_state.h"

namespace xpool::controller {

struct ResourceNames {
  std::string gpu = "xpool.io/gpu";            // devices (or slices of one)
  std::string memory = "xpool.io/gpu-memory";  // MiB per device
  std::string core = "xpool.io/gpu-core";      // percent of one device
};

// The slice of a GPU a pod object asks for (limits, else requests, summed over its containers);
// nullopt when it asks for none of ours. InvalidArgument for values that are not whole numbers in
// range.
Result<std::optional<v1::AllocateRequest>> RequestOfPod(const std::string& pod_json,
                                                        const ResourceNames& names);

// The bodies of the verbs' answers. `status` is the HTTP status to answer with: 200, or 400 for
// a body that is not ExtenderArgs (filter also says why in its Error field).
std::string ExtenderFilter(PoolState& state, const std::string& body, const ResourceNames& names,
                           int* status);
std::string ExtenderPrioritize(PoolState& state, const std::string& body,
                               const ResourceNames& names, int* status);

}  // namespace xpool::controller
