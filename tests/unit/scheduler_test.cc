#include "sched/scheduler.h"

#include <gtest/gtest.h>

#include <set>

#include "sched/policies.h"
#include "sched/policies/baselines.h"
#include "sched/policies/xpool_policy.h"
#include "sched_fixture.h"

namespace xpool::sched {
namespace {

using testing::AddNode;
using testing::MakeDemand;
using testing::Occupy;

Scheduler Single(std::unique_ptr<Policy> p) {
  std::vector<WeightedPolicy> profile;
  profile.push_back({std::move(p), 1});
  return Scheduler(std::move(profile));
}

TEST(Scheduler, MultiDevicePodsNeedWholeFreeDevicesOnOneNode) {
  Pool pool;
  ShapeTable shapes;
  AddNode(pool, "G2", 4);
  AddNode(pool, "G2", 4);
  Occupy(pool, 0, 0, 100);
  Occupy(pool, 1, 1, 100);
  auto s = Single(MakeBestFitPolicy());
  Rng rng(1);
  // Each node has 3 whole free devices and a partly used one: 4 whole devices fit nowhere.
  EXPECT_FALSE(s.Schedule(pool, MakeDemand(pool, shapes, 4, 1000), rng).has_value());
  auto p = s.Schedule(pool, MakeDemand(pool, shapes, 3, 1000), rng);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->devices.size(), 3u);
  for (int d : p->devices) EXPECT_EQ(pool.state(p->node).milli_free[d], 1000);
}

TEST(Scheduler, HonoursModelListsCpuAndMemory) {
  Pool pool;
  ShapeTable shapes;
  AddNode(pool, "T4", 2, 8000, 16384);
  AddNode(pool, "G2", 8, 96000, 393216);
  auto s = Single(MakeBestFitPolicy());
  Rng rng(1);
  EXPECT_EQ(s.Schedule(pool, MakeDemand(pool, shapes, 1, 500, 1000, 1024, {"G2"}), rng)->node, 1);
  EXPECT_EQ(s.Schedule(pool, MakeDemand(pool, shapes, 1, 500, 1000, 1024, {"T4"}), rng)->node, 0);
  EXPECT_FALSE(
      s.Schedule(pool, MakeDemand(pool, shapes, 1, 500, 1000, 1024, {"A100"}), rng).has_value());
  // 16 cores or 32 GiB only fit the G2 node, whatever the policy prefers.
  EXPECT_EQ(s.Schedule(pool, MakeDemand(pool, shapes, 1, 100, 16000), rng)->node, 1);
  EXPECT_EQ(s.Schedule(pool, MakeDemand(pool, shapes, 1, 100, 1000, 32768), rng)->node, 1);
  EXPECT_FALSE(s.Schedule(pool, MakeDemand(pool, shapes, 0, 0, 200000), rng).has_value());
}

TEST(Scheduler, SharingPodsNeedOneDeviceWithEnoughFreeShare) {
  Pool pool;
  ShapeTable shapes;
  AddNode(pool, "G2", 2);
  Occupy(pool, 0, 0, 700);
  Occupy(pool, 0, 1, 700);
  auto s = Single(MakeBestFitPolicy());
  Rng rng(1);
  // 600 free in total, but only 300 on any one device.
  EXPECT_FALSE(s.Schedule(pool, MakeDemand(pool, shapes, 1, 400), rng).has_value());
  EXPECT_TRUE(s.Schedule(pool, MakeDemand(pool, shapes, 1, 300), rng).has_value());
}

TEST(Scheduler, TiesGoToTheEarliestNode) {
  Pool pool;
  ShapeTable shapes;
  for (int i = 0; i < 6; ++i) AddNode(pool, "G2", 8);
  auto s = Single(MakeGpuPackingPolicy());
  Rng rng(7);
  const Demand d = MakeDemand(pool, shapes, 1, 1000);
  auto p = s.Schedule(pool, d, rng);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->node, 0);
  Scheduler::Commit(pool, d, *p);
  // Node 0 now scores higher (a used node) and stays the choice.
  EXPECT_EQ(s.Schedule(pool, d, rng)->node, 0);
}

TEST(RandomPolicy, SpreadsOverFeasibleNodesAndRepeatsForASeed) {
  Pool pool;
  ShapeTable shapes;
  for (int i = 0; i < 8; ++i) AddNode(pool, "G2", 8);
  auto s = Single(MakeRandomPolicy());
  const Demand d = MakeDemand(pool, shapes, 1, 1000);
  std::set<NodeIndex> seen;
  std::vector<NodeIndex> first_run;
  for (int run = 0; run < 2; ++run) {
    Rng rng(99);
    for (int i = 0; i < 40; ++i) {
      const NodeIndex n = s.Schedule(pool, d, rng)->node;
      seen.insert(n);
      if (run == 0)
        first_run.push_back(n);
      else
        EXPECT_EQ(n, first_run[i]);
    }
  }
  EXPECT_GE(seen.size(), 6u);
}

TEST(BestFitPolicy, ChoosesTheNodeLeftWithLeastFreeResources) {
  Pool pool;
  ShapeTable shapes;
  AddNode(pool, "G2", 8);
  AddNode(pool, "G2", 8);
  Occupy(pool, 1, 0, 1000, 32000);
  auto s = Single(MakeBestFitPolicy());
  Rng rng(1);
  EXPECT_EQ(s.Schedule(pool, MakeDemand(pool, shapes, 1, 1000), rng)->node, 1);
}

TEST(BestFitPolicy, SharingPodGoesToTheFullestDeviceThatFits) {
  Pool pool;
  ShapeTable shapes;
  AddNode(pool, "G2", 4);
  Occupy(pool, 0, 0, 500);  // 500 free
  Occupy(pool, 0, 2, 800);  // 200 free
  Occupy(pool, 0, 3, 650);  // 350 free
  auto s = Single(MakeBestFitPolicy());
  Rng rng(1);
  EXPECT_EQ(s.Schedule(pool, MakeDemand(pool, shapes, 1, 300), rng)->devices, std::vector<int>{3});
}

TEST(GpuPackingPolicy, ScoresUsedDevicesThenUsedNodesThenFreeNodes) {
  Pool pool;
  ShapeTable shapes;
  AddNode(pool, "G2", 8);  // free node
  AddNode(pool, "G2", 8);
  Occupy(pool, 1, 0, 1000);  // used node, no shared device
  AddNode(pool, "G2", 8);
  Occupy(pool, 2, 0, 500);  // a shared device with 500 free
  auto p = MakeGpuPackingPolicy();
  const Demand share = MakeDemand(pool, shapes, 1, 400);
  EXPECT_EQ(p->Score(pool.state(0), 0, share), 25 * kStep);  // 33 - 8
  EXPECT_EQ(p->Score(pool.state(1), 0, share), 49 * kStep);  // 50 - 1 whole device used
  EXPECT_EQ(p->Score(pool.state(2), 0, share),
            (100 - 50 / 10) * kStep);  // 50 % free on the used device
}

TEST(GpuClusteringPolicy, PrefersNodesRunningTheSameKindOfPod) {
  Pool pool;
  ShapeTable shapes;
  AddNode(pool, "G2", 8);
  AddNode(pool, "G2", 8);
  Occupy(pool, 1, 0, 300);  // runs a sharing pod
  AddNode(pool, "G2", 8);
  pool.Take(2, 0, 0, {0}, MilliDevice(1000), MiB(0),
            AffinityBit(1, kWholeDevice));  // runs a 1-GPU pod
  auto p = MakeGpuClusteringPolicy();
  const Demand share = MakeDemand(pool, shapes, 1, 200);
  EXPECT_EQ(p->Score(pool.state(1), 0, share), (75 + 25 * 300 / 8000) * kStep);
  EXPECT_EQ(p->Score(pool.state(0), 0, share), 25 * kStep);
  EXPECT_EQ(p->Score(pool.state(2), 0, share), (25 * 1000 / 8000) * kStep);
}

TEST(DotProductPolicy, MatchesTheHandComputedScore) {
  Pool pool;
  ShapeTable shapes;
  AddNode(pool, "G2", 8, 96000);
  auto p = MakeDotProductPolicy();
  // node [96000/128000, 8000/8000], pod [8000/128000, 1000/8000]: dot = 0.046875 + 0.125
  const double dot = (96.0 / 128) * (8.0 / 128) + 1.0 * (1.0 / 8);
  EXPECT_EQ(p->Score(pool.state(0), 0, MakeDemand(pool, shapes, 1, 1000, 8000)),
            static_cast<int64_t>(100 * (1 - dot / 2)) * kStep);
}

TEST(FgdPolicy, PutsASharingPodWhereItLeavesTheLeastFragment) {
  Pool pool;
  ShapeTable shapes;
  AddNode(pool, "G2", 2);
  AddNode(pool, "G2", 2);
  Occupy(pool, 1, 0, 500);  // node 1 has a device with exactly 500 free
  // Typical pods: 500-milli sharing pods only.
  auto fgd = MakeFgdPolicy(FragMeasure(pool, {{{1000, 500, 1, ""}, 1.0}}));
  const Demand d = MakeDemand(pool, shapes, 1, 500);
  // On node 1 the pod fills the half-used device: fragment stays 0. On node 0 it halves a
  // device, which still fits a 500 pod: fragment stays 0 too, so both are sigmoid(0) = 50.
  EXPECT_EQ(fgd->Score(pool.state(0), pool.class_of(0), d), 50 * kStep);
  // A 600-milli pod on node 0 leaves 400 (< 500): fragment grows by 400, sigmoid(-0.4) = 40.1.
  const Demand big = MakeDemand(pool, shapes, 1, 600);
  EXPECT_EQ(fgd->Score(pool.state(0), pool.class_of(0), big), 40 * kStep);
}

TEST(XpoolPolicy, KeepsWholeNodesFreeForLargePods) {
  Pool pool;
  ShapeTable shapes;
  AddNode(pool, "G2", 8);
  AddNode(pool, "G2", 8);
  pool.Take(1, 0, 0, {0, 1, 2, 3}, kWholeDevice, MiB(0), AffinityBit(4, kWholeDevice));
  PolicyContext ctx{&pool, {}};
  for (int i = 0; i < 10; ++i) ctx.workload.push_back({{8000, 1000, 1, ""}, 16384});
  ctx.workload.push_back({{64000, 1000, 8, ""}, 131072});
  auto s = Single(MakePolicy("xpool", ctx).value());
  Rng rng(1);
  // A 1-GPU pod goes to the half-used node so that the empty one still takes an 8-GPU pod.
  EXPECT_EQ(s.Schedule(pool, MakeDemand(pool, shapes, 1, 1000, 8000, 16384), rng)->node, 1);
}

TEST(XpoolPolicy, KeepsCoresBesideFreeDevices) {
  Pool pool;
  ShapeTable shapes;
  // The workload's GPU pods bring 10 cores per GPU. Node 0: 2 free GPUs and 24 cores; node 1:
  // 2 free GPUs and 40 cores.
  AddNode(pool, "T4", 2, 24000);
  AddNode(pool, "T4", 2, 40000);
  PolicyContext ctx{&pool, {}};
  for (int i = 0; i < 10; ++i) ctx.workload.push_back({{10000, 1000, 1, ""}, 1024});
  ctx.workload.push_back({{8000, 0, 0, ""}, 1024});
  auto s = Single(MakePolicy("xpool", ctx).value());
  Rng rng(1);
  // An 8-core CPU pod on node 0 would leave 16 cores for 2 GPUs that need 20; on node 1, 32 for
  // 20. Every GPU shape still fits either node once, so only the cores tell them apart.
  EXPECT_EQ(s.Schedule(pool, MakeDemand(pool, shapes, 0, 0, 8000), rng)->node, 1);
  // FGD, which checks each typical pod alone, sees no difference and takes the first node.
  PolicyContext fgd_ctx = ctx;
  auto fgd = Single(MakePolicy("fgd", fgd_ctx).value());
  EXPECT_EQ(fgd.Schedule(pool, MakeDemand(pool, shapes, 0, 0, 8000), rng)->node, 0);
}

TEST(XpoolPolicy, LeavesFreeShareThatCommonPodsFill) {
  Pool pool;
  ShapeTable shapes;
  // One node; device 0 has 900 milli free, device 1 has 800. The workload shares devices in
  // 300- and 400-milli pods.
  AddNode(pool, "G2", 2);
  Occupy(pool, 0, 0, 100);
  Occupy(pool, 0, 1, 200);
  PolicyContext ctx{&pool, {}};
  for (int i = 0; i < 5; ++i) ctx.workload.push_back({{1000, 300, 1, ""}, 1024});
  for (int i = 0; i < 5; ++i) ctx.workload.push_back({{1000, 400, 1, ""}, 1024});
  auto xpool = Single(MakePolicy("xpool", ctx).value());
  Rng rng(1);
  // A 300-milli pod on device 0 leaves 600, two more 300s; on device 1 it leaves 500, a 400 and
  // 100 lost. Both leave room for every shape, so fragmentation alone cannot tell them apart, and
  // best fit takes the fuller device 1.
  const Demand d = MakeDemand(pool, shapes, 1, 300);
  EXPECT_EQ(xpool.Schedule(pool, d, rng)->devices, std::vector<int>{0});
  auto best_fit = Single(MakeBestFitPolicy());
  EXPECT_EQ(best_fit.Schedule(pool, d, rng)->devices, std::vector<int>{1});
}

// A scarce model kept for the pods that need it: two T4 GPUs that the workload's T4-only pods will
// want, beside eight G2 GPUs anyone may use. Six pods that could run anywhere come first, then two
// that name T4. The measure alone packs the first ones onto the small T4 node (it leaves the least
// free share) and the T4 pods then find no GPU; the model pressure sends them to the G2 node.
TEST(XpoolPolicy, KeepsAScarceModelForThePodsThatNameIt) {
  Pool pool;
  ShapeTable shapes;
  AddNode(pool, "T4", 2);
  AddNode(pool, "G2", 8);
  PolicyContext ctx{&pool, {}};
  for (int i = 0; i < 6; ++i) ctx.workload.push_back({{4000, 1000, 1, ""}, 1024});
  for (int i = 0; i < 2; ++i) ctx.workload.push_back({{4000, 1000, 1, "T4"}, 1024});
  const auto place_all = [&](Scheduler s) {
    Pool copy = pool;
    Rng rng(1);
    int placed = 0;
    for (const auto& w : ctx.workload) {
      const Demand d = MakeDemand(
          copy, shapes, 1, 1000, 4000, 1024,
          w.shape.models.empty() ? std::vector<std::string>{} : std::vector<std::string>{"T4"});
      if (auto p = s.Schedule(copy, d, rng)) {
        Scheduler::Commit(copy, d, *p);
        ++placed;
      }
    }
    return placed;
  };
  EXPECT_EQ(place_all(Single(MakePolicy("xpool", ctx).value())), 8);
  EXPECT_LT(place_all(Single(MakeBestFitPolicy())), 8);
  // Pressure: the T4 pods' 2,000 milli over the T4s' 2,000; none on G2.
  const auto pressure =
      ModelPressure(pool, {{4000, 1000, 1, "T4"}, {4000, 1000, 1, "T4"}, {4000, 500, 1, ""}});
  EXPECT_DOUBLE_EQ(pressure[pool.FindModelId("T4")], 1.0);
  EXPECT_DOUBLE_EQ(pressure[pool.FindModelId("G2")], 0.0);
  // A pod that accepts either model spreads over both by capacity: 1,000 / 10,000 on each.
  const auto either = ModelPressure(pool, {{4000, 1000, 1, "T4|G2"}});
  EXPECT_DOUBLE_EQ(either[pool.FindModelId("T4")], 0.1);
  EXPECT_DOUBLE_EQ(either[pool.FindModelId("G2")], 0.1);
}

TEST(PolicyRegistry, KnowsEveryPolicyAndRefusesOthers) {
  Pool pool;
  AddNode(pool, "G2", 8);
  PolicyContext ctx{&pool, {{{1000, 500, 1, ""}, 1024}}};
  for (const auto& name : PolicyNames()) {
    auto p = MakePolicy(name, ctx);
    ASSERT_TRUE(p.ok()) << name;
    EXPECT_EQ((*p)->name(), name);
  }
  auto bad = MakePolicy("tetris", ctx);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("tetris"), std::string::npos);
  EXPECT_EQ(kDefaultPolicy, "xpool");
}

TEST(CompileDemand, RefusesImpossibleRequests) {
  Pool pool;
  ShapeTable shapes;
  Request r;
  r.device_count = 2;
  r.compute = MilliDevice(500);
  EXPECT_FALSE(CompileDemand(pool, r, shapes).ok()) << "multi-device sharing";
  r.device_count = 1;
  r.compute = MilliDevice(1500);
  EXPECT_FALSE(CompileDemand(pool, r, shapes).ok());
  r.compute = MilliDevice(500);
  r.cpu = MilliCpu(-1);
  EXPECT_FALSE(CompileDemand(pool, r, shapes).ok());
}

}  // namespace
}  // namespace xpool::sched
