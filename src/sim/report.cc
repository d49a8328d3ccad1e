#include "sim/report.h"

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <sstream>

namespace xpool::sim {
namespace {

const std::map<std::string, std::string>& ArtifactNames() {
  static const std::map<std::string, std::string> kNames = {{"01-Random", "random"},
                                                            {"02-DotProd", "dot-product"},
                                                            {"03-GpuClustering", "gpu-clustering"},
                                                            {"04-GpuPacking", "gpu-packing"},
                                                            {"05-BestFit", "best-fit"},
                                                            {"06-FGD", "fgd"}};
  return kNames;
}

double Mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / static_cast<double>(v.size());
}

std::string Fixed(double v, int digits) {
  return std::isnan(v) ? "-" : fmt::format("{:.{}f}", v, digits);
}

}  // namespace

Result<std::map<std::string, PublishedFigures>> LoadPublished(const std::string& path,
                                                              const std::string& workload) {
  std::map<std::string, PublishedFigures> out;
  std::ifstream in(path);
  if (!in) return out;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string cell; std::getline(ss, cell, ',');) f.push_back(cell);
    if (f.size() < 9 || f[0] != workload) continue;
    auto it = ArtifactNames().find(f[1]);
    if (it == ArtifactNames().end()) continue;
    PublishedFigures p;
    try {
      p.total_gpus = std::stoi(f[3]);
      p.alloc_pct_90 = std::stod(f[4]);
      p.alloc_pct_100 = std::stod(f[5]);
      p.alloc_pct_130 = std::stod(f[6]);
      p.frag_pct_90 = std::stod(f[8]);
    } catch (const std::exception&) {
      return Status::InvalidArgument(path + ": malformed row '" + line + "'");
    }
    out[it->second] = p;
  }
  return out;
}

InflateSummary Summarize(const std::string& policy, const std::vector<uint64_t>& seeds,
                         std::vector<InflateResult> runs, double wall_seconds) {
  InflateSummary s;
  s.policy = policy;
  s.seeds = seeds;
  s.wall_seconds = wall_seconds;
  std::vector<double> a90, a100, a130, f90;
  int64_t decisions = 0;
  double sched_seconds = 0;
  for (const auto& r : runs) {
    s.total_gpus = r.total_gpus;
    a90.push_back(r.alloc_pct[90]);
    a100.push_back(r.alloc_pct[100]);
    a130.push_back(r.alloc_pct[130]);
    f90.push_back(r.frag_pct[90]);
    decisions += r.pods;
    sched_seconds += r.schedule_seconds;
  }
  s.alloc_pct_90 = Mean(a90);
  s.alloc_pct_100 = Mean(a100);
  s.alloc_pct_130 = Mean(a130);
  s.frag_pct_90 = Mean(f90);
  s.unallocated_gpus_100 = s.total_gpus * (1.0 - s.alloc_pct_100 / 100.0);
  s.decisions_per_second = sched_seconds > 0 ? static_cast<double>(decisions) / sched_seconds : 0;
  s.runs = std::move(runs);
  return s;
}

TimedSummary Summarize(const std::string& policy, const std::vector<uint64_t>& seeds,
                       const std::vector<TimedResult>& runs, double wall_seconds) {
  TimedSummary s;
  s.policy = policy;
  s.seeds = seeds;
  s.wall_seconds = wall_seconds;
  std::vector<double> alloc, p50, p99, started, never, unsched, completion, makespan;
  int64_t decisions = 0;
  double sched_seconds = 0;
  for (const auto& r : runs) {
    alloc.push_back(r.time_avg_alloc_pct);
    p50.push_back(r.wait_p50_s);
    p99.push_back(r.wait_p99_s);
    completion.push_back(r.completion_mean_s);
    makespan.push_back(r.makespan_s);
    started.push_back(static_cast<double>(r.started));
    never.push_back(static_cast<double>(r.never_started));
    unsched.push_back(static_cast<double>(r.unschedulable));
    decisions += r.decisions;
    sched_seconds += r.schedule_seconds;
  }
  s.time_avg_alloc_pct = Mean(alloc);
  s.wait_p50_s = Mean(p50);
  s.wait_p99_s = Mean(p99);
  s.completion_mean_s = Mean(completion);
  s.makespan_s = Mean(makespan);
  s.started = Mean(started);
  s.never_started = Mean(never);
  s.unschedulable = Mean(unsched);
  s.decisions_per_second = sched_seconds > 0 ? static_cast<double>(decisions) / sched_seconds : 0;
  const size_t tenants = runs.empty() ? 0 : runs.front().tenant_wait_p50_s.size();
  for (size_t t = 0; t < tenants; ++t) {
    std::vector<double> t50, t99;
    for (const auto& r : runs) {
      t50.push_back(r.tenant_wait_p50_s[t]);
      t99.push_back(r.tenant_wait_p99_s[t]);
    }
    s.tenant_wait_p50_s.push_back(Mean(t50));
    s.tenant_wait_p99_s.push_back(Mean(t99));
  }
  return s;
}

nlohmann::json ToJson(const std::vector<InflateSummary>& rows) {
  auto out = nlohmann::json::array();
  for (const auto& r : rows) {
    nlohmann::json j;
    j["policy"] = r.policy;
    j["seeds"] = r.seeds;
    j["alloc_pct_at_arrived"] = {
        {"90", r.alloc_pct_90}, {"100", r.alloc_pct_100}, {"130", r.alloc_pct_130}};
    j["unallocated_gpus_at_100"] = r.unallocated_gpus_100;
    j["frag_pct_at_90"] = r.frag_pct_90;
    j["decisions_per_second"] = r.decisions_per_second;
    j["wall_seconds"] = r.wall_seconds;
    j["total_gpus"] = r.total_gpus;
    if (r.published) {
      j["published"] = {{"alloc_pct_at_arrived",
                         {{"90", r.published->alloc_pct_90},
                          {"100", r.published->alloc_pct_100},
                          {"130", r.published->alloc_pct_130}}},
                        {"frag_pct_at_90", r.published->frag_pct_90}};
    }
    out.push_back(std::move(j));
  }
  return out;
}

nlohmann::json ToJson(const std::vector<TimedSummary>& rows) {
  auto out = nlohmann::json::array();
  for (const auto& r : rows) {
    out.push_back({{"policy", r.policy},
                   {"seeds", r.seeds},
                   {"time_avg_alloc_pct", r.time_avg_alloc_pct},
                   {"queue_wait_p50_s", r.wait_p50_s},
                   {"queue_wait_p99_s", r.wait_p99_s},
                   {"completion_mean_s", r.completion_mean_s},
                   {"makespan_s", r.makespan_s},
                   {"started", r.started},
                   {"never_started", r.never_started},
                   {"unschedulable", r.unschedulable},
                   {"decisions_per_second", r.decisions_per_second},
                   {"wall_seconds", r.wall_seconds}});
    if (!r.tenant_wait_p50_s.empty()) {
      out.back()["tenant_queue_wait_p50_s"] = r.tenant_wait_p50_s;
      out.back()["tenant_queue_wait_p99_s"] = r.tenant_wait_p99_s;
    }
  }
  return out;
}

std::string FormatTable(const std::vector<InflateSummary>& rows) {
  std::string out =
      fmt::format("{:<15} {:>15} {:>15} {:>15} {:>13} {:>13} {:>11}\n", "policy", "alloc%@90",
                  "alloc%@100", "alloc%@130", "unalloc@100", "frag%@90", "decisions/s");
  auto cell = [](double ours, std::optional<double> published) {
    return published ? fmt::format("{} ({})", Fixed(ours, 2), Fixed(*published, 2))
                     : Fixed(ours, 2);
  };
  bool any_published = false;
  for (const auto& r : rows) {
    const auto& p = r.published;
    any_published |= p.has_value();
    out += fmt::format("{:<15} {:>15} {:>15} {:>15} {:>13} {:>13} {:>11.0f}\n", r.policy,
                       cell(r.alloc_pct_90, p ? std::optional(p->alloc_pct_90) : std::nullopt),
                       cell(r.alloc_pct_100, p ? std::optional(p->alloc_pct_100) : std::nullopt),
                       cell(r.alloc_pct_130, p ? std::optional(p->alloc_pct_130) : std::nullopt),
                       p ? fmt::format("{:.0f} ({:.0f})", r.unallocated_gpus_100,
                                       r.total_gpus * (1 - p->alloc_pct_100 / 100))
                         : Fixed(r.unallocated_gpus_100, 0),
                       cell(r.frag_pct_90, p ? std::optional(p->frag_pct_90) : std::nullopt),
                       r.decisions_per_second);
  }
  if (!rows.empty()) {
    out += fmt::format("mean of {} seed(s); cluster of {} GPUs", rows.front().seeds.size(),
                       rows.front().total_gpus);
    out += any_published ? "; (figures) = published by the FGD artifact\n" : "\n";
  }
  return out;
}

std::string FormatTable(const std::vector<TimedSummary>& rows) {
  std::string out = fmt::format("{:<15} {:>12} {:>10} {:>10} {:>12} {:>12} {:>9} {:>8} {:>11}\n",
                                "policy", "alloc%(time)", "wait p50 s", "wait p99 s",
                                "completion s", "makespan s", "started", "waiting", "decisions/s");
  for (const auto& r : rows) {
    out += fmt::format(
        "{:<15} {:>12.2f} {:>10.0f} {:>10.0f} {:>12.0f} {:>12.0f} {:>9.0f} {:>8.0f} {:>11.0f}\n",
        r.policy, r.time_avg_alloc_pct, r.wait_p50_s, r.wait_p99_s, r.completion_mean_s,
        r.makespan_s, r.started, r.never_started, r.decisions_per_second);
    if (!r.tenant_wait_p50_s.empty()) {
      out += "  wait p50/p99 s by tenant:";
      for (size_t t = 0; t < r.tenant_wait_p50_s.size(); ++t) {
        out += fmt::format(" t{} {:.0f}/{:.0f}", t, r.tenant_wait_p50_s[t], r.tenant_wait_p99_s[t]);
      }
      out += "\n";
    }
  }
  if (!rows.empty()) out += fmt::format("mean of {} seed(s)\n", rows.front().seeds.size());
  return out;
}

std::string CurvesCsv(const std::string& workload, const std::vector<InflateSummary>& rows) {
  std::string out = "workload,policy,seed,total_gpus,metric";
  for (int k = 0; k <= kMaxArrivedPct; ++k) out += fmt::format(",{}", k);
  out += "\n";
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.runs.size(); ++i) {
      for (const char* metric : {"alloc_pct", "frag_pct"}) {
        const auto& curve =
            std::string(metric) == "alloc_pct" ? r.runs[i].alloc_pct : r.runs[i].frag_pct;
        out += fmt::format("{},{},{},{},{}", workload, r.policy, r.seeds[i], r.total_gpus, metric);
        for (double v : curve)
          out += "," + (std::isnan(v) ? std::string() : fmt::format("{:.2f}", v));
        out += "\n";
      }
    }
  }
  return out;
}

std::string ArrivalsCsv(const std::vector<InflateSummary>& rows) {
  std::string out = "policy,seed,index,num_gpu,gpu_milli,placed\n";
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.runs.size(); ++i) {
      const auto& arrivals = r.runs[i].arrivals;
      for (size_t k = 0; k < arrivals.size(); ++k) {
        const Arrival& a = arrivals[k];
        out += fmt::format("{},{},{},{},{},{}\n", r.policy, r.seeds[i], k, a.device_count, a.milli,
                           a.placed ? 1 : 0);
      }
    }
  }
  return out;
}

std::string TimedCsv(const std::vector<TimedSummary>& rows) {
  std::string out =
      "policy,seeds,time_avg_alloc_pct,queue_wait_p50_s,queue_wait_p99_s,completion_mean_s,"
      "makespan_s,started,never_started,unschedulable\n";
  for (const auto& r : rows) {
    out +=
        fmt::format("{},{},{:.3f},{:.1f},{:.1f},{:.1f},{:.1f},{:.1f},{:.1f},{:.1f}\n", r.policy,
                    r.seeds.size(), r.time_avg_alloc_pct, r.wait_p50_s, r.wait_p99_s,
                    r.completion_mean_s, r.makespan_s, r.started, r.never_started, r.unschedulable);
  }
  return out;
}

}  // namespace xpool::sim
