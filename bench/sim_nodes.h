// What the controller benches share: a simulated node of 8 H100s, and kube-scheduler's
// ExtenderArgs for a 30 % / 8 GiB pod against the first N of those nodes (nodeCacheCapable).
#pragma once

#include <string>

#include "xpool/v1/pool.pb.h"

namespace xpool::bench {

inline v1::Node SimNode(int i) {
  v1::Node node;
  node.set_name("bench-" + std::to_string(i));
  node.set_cpu_milli(128000);
  node.set_memory_mib(1024 * 1024);
  node.set_agent_address("127.0.0.1:1");
  for (int d = 0; d < 8; ++d) {
    auto* dev = node.add_devices();
    dev->set_id(node.name() + "/nvidia-" + std::to_string(d));
    dev->set_uuid("SIM-" + node.name() + "-" + std::to_string(d));
    dev->set_type("gpu");
    dev->set_vendor("nvidia");
    dev->set_model("H100-SXM");
    dev->set_index(d);
    dev->set_memory_mib(80 * 1024);
    dev->set_healthy(true);
  }
  return node;
}

inline std::string ExtenderArgsForSimNodes(int nodes) {
  std::string names;
  for (int i = 0; i < nodes; ++i) names += (i ? ",\"" : "\"") + SimNode(i).name() + "\"";
  return R"({"Pod":{"metadata":{"name":"p","namespace":"bench"},"spec":{"containers":[{"name":"c",)"
         R"("resources":{"limits":{"xpool.io/gpu":"1","xpool.io/gpu-memory":"8192",)"
         R"("xpool.io/gpu-core":"30"}}}]}},"NodeNames":[)" +
         names + "]}";
}

}  // namespace xpool::bench
