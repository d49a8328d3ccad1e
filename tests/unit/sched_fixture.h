// Helpers for the scheduler tests: small hand-made pools and demands.
#pragma once

#include <string>
#include <vector>

#include "sched/demand.h"
#include "sched/pool.h"

namespace xpool::sched::testing {

inline NodeIndex AddNode(Pool& pool, const std::string& model, int gpus, int64_t cpu_milli = 64000,
                         int64_t mem_mib = 262144) {
  NodeSpec s;
  s.name = "node" + std::to_string(pool.node_count());
  s.model = model;
  s.device_count = gpus;
  s.cpu = MilliCpu(cpu_milli);
  s.host_memory = MiB(mem_mib);
  return pool.AddNode(s);
}

inline Demand MakeDemand(const Pool& pool, ShapeTable& shapes, int gpus, int32_t milli,
                         int64_t cpu_milli = 1000, int64_t mem_mib = 1024,
                         std::vector<std::string> models = {}) {
  Request r;
  r.device_count = gpus;
  r.compute = MilliDevice(gpus > 0 ? milli : 0);
  r.cpu = MilliCpu(cpu_milli);
  r.host_memory = MiB(mem_mib);
  r.selector.models = std::move(models);
  return CompileDemand(pool, r, shapes).value();
}

// Takes `milli` of device `device` on node `n` (a sharing pod already running there).
inline void Occupy(Pool& pool, NodeIndex n, int device, int32_t milli, int64_t cpu_milli = 0) {
  pool.Take(n, cpu_milli, 0, {device}, MilliDevice(milli), MiB(0),
            AffinityBit(1, MilliDevice(milli)));
}

}  // namespace xpool::sched::testing
