// Summaries of replays over seeds, the FGD artifact's published figures to compare with, and
// their renderings: a table for people, JSON and CSV for programs.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "sim/replay.h"

namespace xpool::sim {

struct PublishedFigures {
  double alloc_pct_90 = 0, alloc_pct_100 = 0, alloc_pct_130 = 0, frag_pct_90 = 0;
  int total_gpus = 0;
};

// Reads the artifact's summary_by_workload_policy.csv; returns figures for `workload` (the pod
// file's stem, e.g. "openb_pod_list_default") keyed by our policy names. Missing file: empty map.
Result<std::map<std::string, PublishedFigures>> LoadPublished(const std::string& path,
                                                              const std::string& workload);

struct InflateSummary {
  std::string policy;
  std::vector<uint64_t> seeds;
  int total_gpus = 0;
  double alloc_pct_90 = 0, alloc_pct_100 = 0, alloc_pct_130 = 0;
  double unallocated_gpus_100 = 0;
  double frag_pct_90 = 0;
  double decisions_per_second = 0;
  double wall_seconds = 0;
  std::optional<PublishedFigures> published;
  std::vector<InflateResult> runs;  // one per seed, in seed order
};
InflateSummary Summarize(const std::string& policy, const std::vector<uint64_t>& seeds,
                         std::vector<InflateResult> runs, double wall_seconds);

struct TimedSummary {
  std::string policy;
  std::vector<uint64_t> seeds;
  double time_avg_alloc_pct = 0, wait_p50_s = 0, wait_p99_s = 0;
  double completion_mean_s = 0, makespan_s = 0;
  double started = 0, never_started = 0, unschedulable = 0;  // means over seeds
  double decisions_per_second = 0;
  double wall_seconds = 0;
  std::vector<double> tenant_wait_p50_s, tenant_wait_p99_s;  // per tenant, means over seeds
};
TimedSummary Summarize(const std::string& policy, const std::vector<uint64_t>& seeds,
                       const std::vector<TimedResult>& runs, double wall_seconds);

nlohmann::json ToJson(const std::vector<InflateSummary>& rows);
nlohmann::json ToJson(const std::vector<TimedSummary>& rows);
std::string FormatTable(const std::vector<InflateSummary>& rows);
std::string FormatTable(const std::vector<TimedSummary>& rows);
// One row per (policy, seed): allocation % at arrived 0..130 %, the artifact's column layout.
std::string CurvesCsv(const std::string& workload, const std::vector<InflateSummary>& rows);
std::string TimedCsv(const std::vector<TimedSummary>& rows);
// Every arrived pod of every run, in arrival order (runs replayed with record_arrivals):
// policy,seed,index,num_gpu,gpu_milli,placed.
std::string ArrivalsCsv(const std::vector<InflateSummary>& rows);

}  // namespace xpool::sim
