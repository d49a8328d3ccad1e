// One scheduling decision (schedule + commit) on synthetic pools of 8-GPU nodes, with the pool
// kept between 50 % and 90 % allocated by a trace-like stream of pods. Reports the time per
// decision, the number of distinct node states (classes) the index holds, and peak RSS.
#include <benchmark/benchmark.h>

#include <fstream>
#include <memory>
#include <string>

#include "sched/policies.h"
#include "sched/scheduler.h"
#include "sim/trace.h"

namespace xpool::sched {
namespace {

int64_t PeakRssMiB() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) / 1024;
  }
  return -1;
}

struct Bench {
  Pool pool;
  ShapeTable shapes;
  std::vector<Demand> stream;
  std::unique_ptr<Scheduler> scheduler;
  size_t next = 0;

  Bench(int nodes, const std::string& policy) {
    const char* models[] = {"H100-SXM", "A100-80GB", "H200", "MI300X"};
    for (int i = 0; i < nodes; ++i) {
      NodeSpec s;
      s.name = "n" + std::to_string(i);
      s.model = models[i % 4];
      s.device_count = 8;
      s.cpu = MilliCpu(96000 + 32000 * (i % 3));
      s.host_memory = MiB(786432);
      pool.AddNode(s);
    }
    PolicyContext ctx{&pool, {}};
    for (const auto& p : sim::SyntheticWorkload().pods) {
      ctx.workload.push_back(sim::ToWorkloadShape(p));
      Request r = sim::ToRequest(p);
      r.selector.models.clear();  // the benchmark pool's models differ from the workload's specs
      stream.push_back(CompileDemand(pool, r, shapes).value());
    }
    std::vector<WeightedPolicy> profile;
    profile.push_back({MakePolicy(policy, ctx).value(), 1});
    scheduler = std::make_unique<Scheduler>(std::move(profile));
  }

  // Schedules and commits the next pod of the stream; true when it was placed.
  bool Step(Rng& rng) {
    const Demand& d = stream[next++ % stream.size()];
    auto p = scheduler->Schedule(pool, d, rng);
    if (p) Scheduler::Commit(pool, d, *p);
    return p.has_value();
  }
  double allocated() const {
    return static_cast<double>(pool.used_device_milli()) /
           static_cast<double>(pool.total_device_milli());
  }
};

void BM_Decision(benchmark::State& state, const std::string& policy) {
  const int nodes = static_cast<int>(state.range(0));
  Rng rng(42);
  auto bench = std::make_unique<Bench>(nodes, policy);
  while (bench->allocated() < 0.5) bench->Step(rng);
  int64_t placed = 0;
  size_t max_classes = 0;
  for (auto _ : state) {
    placed += bench->Step(rng) ? 1 : 0;
    if (bench->allocated() > 0.9) {
      state.PauseTiming();
      max_classes = std::max(max_classes, bench->pool.live_classes().size());
      bench = std::make_unique<Bench>(nodes, policy);
      while (bench->allocated() < 0.5) bench->Step(rng);
      state.ResumeTiming();
    }
  }
  max_classes = std::max(max_classes, bench->pool.live_classes().size());
  state.counters["placed_fraction"] =
      static_cast<double>(placed) / static_cast<double>(state.iterations());
  state.counters["node_classes"] = static_cast<double>(max_classes);
  state.counters["peak_rss_MiB"] = static_cast<double>(PeakRssMiB());
}

BENCHMARK_CAPTURE(BM_Decision, xpool, std::string("xpool"))
    ->Arg(1000)
    ->Arg(10000)
    ->Arg(50000)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Decision, fgd, std::string("fgd"))
    ->Arg(1000)
    ->Arg(10000)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Decision, best_fit, std::string("best-fit"))
    ->Arg(1000)
    ->Arg(10000)
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace xpool::sched

BENCHMARK_MAIN();
