// Trace replays on the scheduler.
//  - Inflate (the FGD artifact's method): resample pods with the seed until the GPU request
//    reaches `tune` × cluster capacity (or drop random pods above it), shuffle, schedule one at a
//    time with no departures, drop what does not fit; record the allocation and FGD's
//    fragmentation against the share of demand that has arrived.
//  - Timed: pods arrive at their creation time and leave after their original run time; a pod
//    that does not fit waits in a FIFO queue and is retried whenever resources are released.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "sim/trace.h"

namespace xpool::sim {

inline constexpr int kMaxArrivedPct = 130;

struct ReplayOptions {
  std::string policy = "xpool";
  uint64_t seed = 42;
  double tune = 1.3;
  // Called now and then with the fraction of this replay done (0..1).
  std::function<void(double)> progress;
  // Inflate only: keep every arrived pod's shape and fate, in arrival order.
  bool record_arrivals = false;
  // Timed only: arrivals come `load` times as fast (the gaps between creation times divided by
  // it; run times unchanged), so that queues form on a trace whose own load is low.
  double load = 1;
  // Timed only: pods are dealt in arrival order to this many tenants, tenant t taking t + 1
  // parts of them, each tenant guaranteed an equal part of the cluster's GPUs; the queue serves
  // tenants below their guarantee first, then the one holding the smaller share, each tenant's pods
  // in arrival order (the controller's queue, docs/queue.md; no preemption). 0: one FIFO queue.
  int tenants = 0;
};

// One pod of an inflate replay, in arrival order.
struct Arrival {
  int32_t device_count = 0;
  int32_t milli = 0;  // per device
  bool placed = false;
};

struct InflateResult {
  int total_gpus = 0;
  // Mean allocation (% of cluster GPU share) and fragmentation (% of cluster GPUs, FGD's measure)
  // while arrived demand was k % of capacity, k = 0..130; NaN where no pod arrived near k.
  std::array<double, kMaxArrivedPct + 1> alloc_pct{};
  std::array<double, kMaxArrivedPct + 1> frag_pct{};
  int64_t pods = 0;
  int64_t scheduled = 0;
  double schedule_seconds = 0;    // time spent in scheduling decisions only
  std::vector<Arrival> arrivals;  // with ReplayOptions::record_arrivals
};

Result<InflateResult> ReplayInflate(const std::vector<TraceNode>& nodes,
                                    const std::vector<TracePod>& pods, const ReplayOptions& opts);

struct TimedResult {
  int total_gpus = 0;
  // GPU share allocated, averaged from the first arrival to the last (the whole span when they
  // coincide).
  double time_avg_alloc_pct = 0;
  double wait_p50_s = 0;  // queueing delay of pods that started
  double wait_p99_s = 0;
  double completion_mean_s = 0;  // arrival to end, of the pods that started
  double makespan_s = 0;         // first arrival to the last pod's end
  int64_t pods = 0;
  int64_t started = 0;
  int64_t queued = 0;         // pods that waited at least once
  int64_t never_started = 0;  // still queued at the end
  int64_t unschedulable = 0;  // fit no node even when empty
  int64_t decisions = 0;
  double schedule_seconds = 0;
  // With tenants: per tenant, the queueing delay of its pods that started (p50, p99).
  std::vector<double> tenant_wait_p50_s, tenant_wait_p99_s;
};

Result<TimedResult> ReplayTimed(const std::vector<TraceNode>& nodes,
                                const std::vector<TracePod>& pods, const ReplayOptions& opts);

}  // namespace xpool::sim
