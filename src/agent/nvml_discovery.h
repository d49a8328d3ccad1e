// Discovery of a node's NVIDIA GPUs through NVML, opened at run time (libnvidia-ml.so.1; nothing
// links it): UUID, model (the catalog's name when it knows the GPU), memory, PCI bus id, NUMA
// node, NVLink or PCIe links between the GPUs, and health (whether NVML answers for the device).
#pragma once

#include <string>

#include "core/status.h"
#include "xpool/v1/pool.pb.h"

namespace xpool::agent {

// The node `node_name` with its GPUs, CPU count and memory. NotFound when NVML cannot be opened or
// sees no GPU.
Result<v1::Node> DiscoverNvidiaNode(const std::string& node_name);

}  // namespace xpool::agent
