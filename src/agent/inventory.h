// A simulated node's inventory, read from YAML: for machines without accelerators, and for
// modelling other vendors' devices. The format (docs/standalone.md):
//
//   node: gpu-a              # default: the host name
//   cpu: 64                  # cores (default 8)
//   memory: 512Gi            # host memory (default 64Gi)
//   devices:
//     - model: H100-SXM      # a catalog model, or any name with type and memory given
//       count: 8
//       memory: 80Gi         # default: the catalog's
//       type: gpu            # default: the catalog's (gpu, npu, fpga, cpu)
//       vendor: nvidia       # default: the catalog's
#pragma once

#include <string>

#include "core/status.h"
#include "xpool/v1/pool.pb.h"

namespace xpool::agent {

// Parses an inventory; errors name the file and what is wrong.
Result<v1::Node> LoadInventory(const std::string& path, const std::string& default_node_name);
Result<v1::Node> ParseInventory(const std::string& yaml_text, const std::string& source,
                                const std::string& default_node_name);

// The inventory `xpool up` uses on a machine without GPUs and without --inventory.
std::string BuiltInInventory();

}  // namespace xpool::agent
