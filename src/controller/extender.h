// The Kubernetes scheduler extender's filter and prioritize verbs, in the extender wire format
// (PascalCase JSON: ExtenderArgs in; ExtenderFilterResult and HostPriorityList out), answered from
// the controller's PoolState. Both nodeCacheCapable modes: node names only, or whole Node objects.
// A pod that asks for none of xpool's resources passes every node with a neutral score.
#pragma once

#include <string>
#include <string_view>

#include "controller/kube_client.h"
#include "controller/pool_state.h"

namespace xpool::controller {

struct ResourceNames {
  std::string gpu = "xpool.io/gpu";            // devices (or slices of one)
  std::string memory = "xpool.io/gpu-memory";  // MiB per device
  std::string core = "xpool.io/gpu-core";      // percent of one device
};

// The bodies of the verbs' answers. `status` is the HTTP status to answer with: 200, or 400 for
// a body that is not ExtenderArgs (filter also says why in its Error field).
std::string ExtenderFilter(PoolState& state, const std::string& body, const ResourceNames& names,
                           int* status);
std::string ExtenderPrioritize(PoolState& state, const std::string& body,
                               const ResourceNames& names, int* status);

// The pod annotations bind writes: the allocation, and the slice it holds.
inline constexpr std::string_view kAllocationAnnotation = "xpool.io/allocation";
inline constexpr std::string_view kDevicesAnnotation =
    "xpool.io/devices";  // GPU UUIDs, comma-separated
inline constexpr std::string_view kMemoryAnnotation = "xpool.io/gpu-memory";  // MiB per device
inline constexpr std::string_view kCoreAnnotation = "xpool.io/gpu-core";  // percent of each device

// Annotations a pod may carry to say how its slice takes turns on the device; they reach its
// containers' runtime (XPOOL_COMPUTE_POLICY, XPOOL_PRIORITY, XPOOL_COMPUTE_PERIOD_MS).
inline constexpr std::string_view kComputePolicyAnnotation = "xpool.io/compute-policy";
inline constexpr std::string_view kPriorityAnnotation = "xpool.io/priority";
inline constexpr std::string_view kComputePeriodAnnotation = "xpool.io/compute-period-ms";
// A rating instead of model names: any model that has it (a number; a Kubernetes quantity).
inline constexpr std::string_view kMinBf16TflopsAnnotation = "xpool.io/min-bf16-tflops";
inline constexpr std::string_view kMinDeviceMemoryAnnotation = "xpool.io/min-device-memory";

// The bind verb: ExtenderBindingArgs in, ExtenderBindingResult out. It reads the pod from the API,
// allocates its slice on the node (again the same one when the same pod is bound again),
// annotates the pod with the decision and binds it (pods/binding). On any failure the allocation
// is released and Error says why. `kube` null: bind is refused (the controller runs without the
// Kubernetes API).
std::string ExtenderBind(PoolState& state, KubeClient* kube, const std::string& body,
                         const ResourceNames& names, int* status);

}  // namespace xpool::controller
