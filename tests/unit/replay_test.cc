#include "sim/replay.h"

#include <gtest/gtest.h>

#include <cmath>

#include "sim/report.h"

namespace xpool::sim {
namespace {

std::vector<TraceNode> Nodes() {
  return {
      {"a", 64000, 262144, 8, "G2"}, {"b", 64000, 262144, 8, "G2"}, {"c", 32000, 131072, 2, "T4"}};
}

std::vector<TracePod> Pods() {
  std::vector<TracePod> pods;
  const int32_t shares[] = {1000, 500, 300, 1000, 700};
  for (int i = 0; i < 20; ++i) {
    TracePod p;
    p.name = "p" + std::to_string(i);
    p.num_gpu = i % 7 == 6 ? 2 : (i % 9 == 8 ? 0 : 1);
    p.gpu_milli = p.num_gpu == 0 ? 0 : (p.num_gpu > 1 ? 1000 : shares[i % 5]);
    p.cpu_milli = 2000 + 1000 * (i % 4);
    p.memory_mib = 4096;
    p.has_times = true;
    p.creation_time = i * 10;
    p.scheduled_time = p.creation_time;
    p.deletion_time = p.creation_time + 100;
    pods.push_back(p);
  }
  return pods;
}

TEST(ReplayInflate, IsDeterministicForASeed) {
  for (const auto& policy : {"random", "fgd", "xpool"}) {
    ReplayOptions o;
    o.policy = policy;
    o.seed = 5;
    auto a = ReplayInflate(Nodes(), Pods(), o), b = ReplayInflate(Nodes(), Pods(), o);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->pods, b->pods) << policy;
    EXPECT_EQ(a->scheduled, b->scheduled) << policy;
    for (int k = 0; k <= kMaxArrivedPct; ++k) {
      EXPECT_TRUE((std::isnan(a->alloc_pct[k]) && std::isnan(b->alloc_pct[k])) ||
                  a->alloc_pct[k] == b->alloc_pct[k]);
    }
  }
}

TEST(ReplayInflate, InflatesToTheTuneTargetAndNeverAllocatesMoreThanArrived) {
  ReplayOptions o;
  o.policy = "best-fit";
  o.tune = 1.3;
  auto r = ReplayInflate(Nodes(), Pods(), o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->total_gpus, 18);
  EXPECT_GT(r->pods, 20) << "resampled up to 1.3 x 18 GPUs of demand";
  int last = 0;
  for (int k = 0; k <= kMaxArrivedPct; ++k) {
    if (std::isnan(r->alloc_pct[k])) continue;
    last = k;
    // A bucket holds events whose arrived share rounds to k (or, when empty, its neighbours').
    EXPECT_LE(r->alloc_pct[k], k + 1.5) << k;
    EXPECT_LE(r->alloc_pct[k], 100.0) << k;
  }
  EXPECT_GE(last, 115) << "arrived demand reaches about 1.3 x capacity (one pod is 5 % of it here)";
  EXPECT_LT(r->scheduled, r->pods) << "a 1.3x workload cannot all fit";
}

TEST(ReplayInflate, DifferentSeedsShuffleDifferently) {
  ReplayOptions a, b;
  a.policy = b.policy = "random";
  a.seed = 1;
  b.seed = 2;
  auto ra = ReplayInflate(Nodes(), Pods(), a), rb = ReplayInflate(Nodes(), Pods(), b);
  ASSERT_TRUE(ra.ok() && rb.ok());
  bool differ = ra->pods != rb->pods;
  for (int k = 0; k <= kMaxArrivedPct && !differ; ++k) {
    differ = !std::isnan(ra->alloc_pct[k]) && ra->alloc_pct[k] != rb->alloc_pct[k];
  }
  EXPECT_TRUE(differ);
}

TEST(ReplayInflate, RefusesUnknownPoliciesAndGpulessClusters) {
  ReplayOptions o;
  o.policy = "nope";
  EXPECT_FALSE(ReplayInflate(Nodes(), Pods(), o).ok());
  o.policy = "fgd";
  EXPECT_FALSE(ReplayInflate({{"cpu", 64000, 1024, 0, ""}}, Pods(), o).ok());
}

TEST(ReplayTimed, QueuesPodsThatDoNotFitUntilResourcesFree) {
  // One 1-GPU node; three 1-GPU pods arrive at 0, 10, 20 and run 100 s each.
  std::vector<TraceNode> nodes = {{"a", 64000, 262144, 1, "G2"}};
  std::vector<TracePod> pods;
  for (int i = 0; i < 3; ++i)
    pods.push_back(
        {"p" + std::to_string(i), 1000, 1024, 1, 1000, "", true, i * 10, i * 10 + 100, i * 10});
  TracePod never{"huge", 1000, 1024, 2, 1000, "", true, 5, 50, 5};
  pods.push_back(never);
  ReplayOptions o;
  o.policy = "xpool";
  auto r = ReplayTimed(nodes, pods, o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->started, 3);
  EXPECT_EQ(r->queued, 2);
  EXPECT_EQ(r->unschedulable, 1);
  EXPECT_EQ(r->never_started, 0);
  // Waits: 0, 90 (starts at 100), 180 (starts at 200); the device is busy from 0 to 300.
  EXPECT_DOUBLE_EQ(r->wait_p50_s, 90);
  EXPECT_DOUBLE_EQ(r->wait_p99_s, 180);
  EXPECT_NEAR(r->time_avg_alloc_pct, 100.0, 1e-9);
}

TEST(ReplayTimed, ALoadFactorBringsArrivalsCloserAndReportsCompletionTimes) {
  // One 1-GPU node; two 1-GPU pods arrive at 0 and 40 and run 100 s each.
  std::vector<TraceNode> nodes = {{"a", 64000, 262144, 1, "G2"}};
  std::vector<TracePod> pods = {{"p0", 1000, 1024, 1, 1000, "", true, 0, 100, 0},
                                {"p1", 1000, 1024, 1, 1000, "", true, 40, 140, 40}};
  ReplayOptions o;
  auto once = ReplayTimed(nodes, pods, o);
  ASSERT_TRUE(once.ok());
  // p1 waits 60 s (0 to 100): completions 100 and 160, makespan 200.
  EXPECT_DOUBLE_EQ(once->wait_p99_s, 60);
  EXPECT_DOUBLE_EQ(once->completion_mean_s, 130);
  EXPECT_DOUBLE_EQ(once->makespan_s, 200);
  // Four times the load: p1 arrives at 10 and waits 90 s; completions 100 and 190.
  o.load = 4;
  auto busy = ReplayTimed(nodes, pods, o);
  ASSERT_TRUE(busy.ok());
  EXPECT_DOUBLE_EQ(busy->wait_p99_s, 90);
  EXPECT_DOUBLE_EQ(busy->completion_mean_s, 145);
  EXPECT_DOUBLE_EQ(busy->makespan_s, 200);
  o.load = 0;
  EXPECT_FALSE(ReplayTimed(nodes, pods, o).ok());
}

TEST(ReplayTimed, TenantsBelowTheirGuaranteeAreServedFirst) {
  // One 2-GPU node; four 1-GPU pods of 100 s arrive at 0, 1, 2, 3. With two tenants, dealt
  // 1 : 2 in arrival order, p0 and p3 are tenant 0's, p1 and p2 tenant 1's; each is guaranteed
  // one GPU.
  std::vector<TraceNode> nodes = {{"a", 64000, 262144, 2, "G2"}};
  std::vector<TracePod> pods;
  for (int i = 0; i < 4; ++i) {
    pods.push_back({"p" + std::to_string(i), 1000, 1024, 1, 1000, "", true, i, i + 100, i});
  }
  ReplayOptions o;
  auto fifo = ReplayTimed(nodes, pods, o);
  ASSERT_TRUE(fifo.ok());
  // One queue: p2 takes the GPU p0 frees at 100 (waits 98), p3 the one p1 frees at 101 (98).
  EXPECT_DOUBLE_EQ(fifo->wait_p99_s, 98);
  EXPECT_TRUE(fifo->tenant_wait_p50_s.empty());
  o.tenants = 2;
  auto fair = ReplayTimed(nodes, pods, o);
  ASSERT_TRUE(fair.ok());
  // At 100 tenant 0 holds nothing (below its guarantee), tenant 1 its one GPU: p3 goes first
  // (waits 97), then p2 at 101 (waits 99).
  ASSERT_EQ(fair->tenant_wait_p99_s.size(), 2u);
  EXPECT_DOUBLE_EQ(fair->tenant_wait_p99_s[0], 97);
  EXPECT_DOUBLE_EQ(fair->tenant_wait_p99_s[1], 99);
  EXPECT_DOUBLE_EQ(fair->time_avg_alloc_pct, fifo->time_avg_alloc_pct);
  o.tenants = -1;
  EXPECT_FALSE(ReplayTimed(nodes, pods, o).ok());
}

TEST(ReplayTimed, NeedsTimes) {
  auto pods = Pods();
  pods[3].has_times = false;
  ReplayOptions o;
  EXPECT_FALSE(ReplayTimed(Nodes(), pods, o).ok());
}

TEST(Report, JsonHasTheDocumentedShape) {
  ReplayOptions o;
  o.policy = "fgd";
  auto r = ReplayInflate(Nodes(), Pods(), o);
  ASSERT_TRUE(r.ok());
  std::vector<InflateResult> runs = {*r};
  auto s = Summarize("fgd", {42}, runs, 0.5);
  auto j = ToJson(std::vector<InflateSummary>{s});
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 1u);
  const auto& row = j[0];
  EXPECT_EQ(row["policy"], "fgd");
  EXPECT_EQ(row["seeds"], nlohmann::json::array({42}));
  for (const char* k : {"90", "100", "130"})
    EXPECT_TRUE(row["alloc_pct_at_arrived"][k].is_number()) << k;
  for (const char* k :
       {"unallocated_gpus_at_100", "frag_pct_at_90", "decisions_per_second", "wall_seconds"}) {
    EXPECT_TRUE(row[k].is_number()) << k;
  }
  if (!std::isnan(s.alloc_pct_100)) {
    EXPECT_DOUBLE_EQ(row["unallocated_gpus_at_100"].get<double>(),
                     18 * (1 - s.alloc_pct_100 / 100));
  }
}

}  // namespace
}  // namespace xpool::sim
