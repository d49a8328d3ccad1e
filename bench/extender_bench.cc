// The scheduler extender's verbs in process, without HTTP: filter and prioritize for one pod
// against N node names of a pool of N nodes (8 H100s each), to separate the verbs' own cost from
// the transport's in bench/pool_bench.sh's end-to-end figure.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <string>

#include "controller/extender.h"
#include "store/store.h"

namespace {

using xpool::controller::PoolState;

std::unique_ptr<PoolState> PoolOf(int nodes, std::string* names) {
  const std::string dir =
      std::filesystem::temp_directory_path() / ("xpool-extender-bench-" + std::to_string(nodes));
  std::filesystem::remove_all(dir);
  auto store = xpool::store::OpenSqliteStore(dir);
  auto state = PoolState::Open(std::move(*store), {}, 0);
  for (int i = 0; i < nodes; ++i) {
    xpool::v1::Node node;
    node.set_name("gpu-node-" + std::to_string(i));
    node.set_cpu_milli(128000);
    node.set_memory_mib(1024 * 1024);
    node.set_agent_address("127.0.0.1:1");
    for (int d = 0; d < 8; ++d) {
      auto* dev = node.add_devices();
      dev->set_id(node.name() + "/" + std::to_string(d));
      dev->set_uuid(node.name() + "-" + std::to_string(d));
      dev->set_type("gpu");
      dev->set_model("H100-SXM");
      dev->set_index(d);
      dev->set_memory_mib(80 * 1024);
      dev->set_healthy(true);
    }
    (void)(*state)->Register(node, 0);
    *names += (i ? ",\"" : "\"") + node.name() + "\"";
  }
  return std::move(*state);
}

void BM_FilterAndPrioritize(benchmark::State& bench) {
  const int nodes = static_cast<int>(bench.range(0));
  std::string names;
  auto state = PoolOf(nodes, &names);
  const std::string body =
      R"({"Pod":{"metadata":{"name":"p","namespace":"bench"},"spec":{"containers":[{"name":"c",)"
      R"("resources":{"limits":{"xpool.io/gpu":"1","xpool.io/gpu-memory":"8192",)"
      R"("xpool.io/gpu-core":"30"}}}]}},"NodeNames":[)" +
      names + "]}";
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
