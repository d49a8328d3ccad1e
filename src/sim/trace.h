// Loaders for the Alibaba "openb" GPU trace (cluster-trace-gpu-v2023) and the built-in
// synthetic workload. A malformed file is refused whole, with its name and line in the message.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/model.h"
#include "core/status.h"
#include "sched/policies.h"

namespace xpool::sim {

struct TraceNode {
  std::string name;
  int64_t cpu_milli = 0;
  int64_t memory_mib = 0;
  int gpus = 0;
  std::string model;
};

struct TracePod {
  std::string name;
  int64_t cpu_milli = 0;
  int64_t memory_mib = 0;
  int num_gpu = 0;
  int32_t gpu_milli = 0;   // per GPU
  std::string gpu_spec;    // '|'-separated allowed models; empty = any
  bool has_times = false;  // the 11-column format carries times, the 5-column one does not
  int64_t creation_time = 0;
  int64_t deletion_time = 0;
  int64_t scheduled_time = 0;
};

// `sn,cpu_milli,memory_mib,gpu,model`
Result<std::vector<TraceNode>> LoadNodes(const std::string& path);
// 11 columns `name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,
// deletion_time,scheduled_time` or 5 columns `name,cpu_milli,memory_mib,num_gpu,gpu_milli`.
Result<std::vector<TracePod>> LoadPods(const std::string& path);

// The same parsers over text already in memory (`origin` names it in messages).
Result<std::vector<TraceNode>> ParseNodes(const std::string& text, const std::string& origin);
Result<std::vector<TracePod>> ParsePods(const std::string& text, const std::string& origin);

// The scheduler's view of a trace pod: the request it makes, and its shape as the policies'
// workload knowledge holds it.
Request ToRequest(const TracePod& p);
sched::WorkloadShape ToWorkloadShape(const TracePod& p);

// A deterministic synthetic pool of mixed accelerators and a workload shaped like the trace's
// (sharing, whole, multi-device and CPU-only pods, with times), for runs without a trace.
struct Workload {
  std::string name;
  std::vector<TraceNode> nodes;
  std::vector<TracePod> pods;
};
Workload SyntheticWorkload();

}  // namespace xpool::sim
