// The scheduler extender's verbs in process, without HTTP: filter and prioritize for one pod
// against N node names of a pool of N nodes (8 H100s each), to separate the verbs' own cost from
// the transport's in bench/pool_bench.sh's end-to-end figure.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <string>

#include "controller/extender.h"
#include "sim_nodes.h"
#include "store/store.h"

namespace {

using xpool::controller::PoolState;

std::unique_ptr<PoolState> PoolOf(int nodes) {
  const std::string dir =
      std::filesystem::temp_directory_path() / ("xpool-extender-bench-" + std::to_string(nodes));
  std::filesystem::remove_all(dir);
  auto store = xpool::store::OpenSqliteStore(dir);
  auto state = PoolState::Open(std::move(*store), {}, 0);
  for (int i = 0; i < nodes; ++i) (void)(*state)->Register(xpool::bench::SimNode(i), 0);
  return std::move(*state);
}

void BM_FilterAndPrioritize(benchmark::State& bench) {
  const int nodes = static_cast<int>(bench.range(0));
  auto state = PoolOf(nodes);
  const std::string body = xpool::bench::ExtenderArgsForSimNodes(nodes);
  const xpool::controller::ResourceNames resources;
  for (auto _ : bench) {
    int status = 0;
    benchmark::DoNotOptimize(xpool::controller::ExtenderFilter(*state, body, resources, &status));
    benchmark::DoNotOptimize(
        xpool::controller::ExtenderPrioritize(*state, body, resources, &status));
  }
}
BENCHMARK(BM_FilterAndPrioritize)->Arg(1000)->Arg(5000)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
