// The limiter and the arbiter over a simulated GPU on a virtual clock (sim_gpu.h): shares, the
// policies between slices and priority, read exactly and deterministically, one simulated process
// per tenant, every tenant with the real limiter of its own slice in one shared segment.
#include "runtime/compute_limiter.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "sim_gpu.h"

namespace xpool::runtime {
namespace {

using sim::Arbitration;
using sim::kMs;
using sim::kS;
using sim::kUs;
using sim::Outcome;
using sim::Program;
using sim::Tenant;

// The GPU benchmarks' workloads (bench/gpu/lib/compute_bench.py), as the device sees them: large
// products (GPU-bound), many small kernels from an eager framework (bound by the CPU's launches),
// the same kernels replayed as one graph launch, and graph replays each waited for by the program
// (graph-sync: a training step that reads its loss), outside the runtime's own waits.
const std::map<std::string, Program> kWorkloads = {
    {"products", {5 * kUs, 500 * kUs}},
    {"small eager", {7 * kUs, 1 * kUs}},
    {"graph", {20 * kUs, 1200 * kUs}},
    {"graph waited for", {20 * kUs, 1200 * kUs, 1, 0}},
};

Arbitration Slice(ComputePolicy policy, int share, bool high = false) {
  return Arbitration{true, policy, share, high};
}

class ComputeLimiterSimTest : public ::testing::Test {
 protected:
  void TearDown() override { std::filesystem::remove(segment_); }

  std::vector<Outcome> Run(const std::vector<Tenant>& tenants, int seconds,
                           int64_t warm_up_ns = kS) {
    return sim::RunTenants(gpu_, segment_, tenants, seconds, warm_up_ns);
  }
  // The device time `program` gets alone and unlimited, per second.
  double Unlimited(const Program& program, int seconds = 5) {
    return Run({{program, {}}}, seconds)[0].Busy();
  }

  sim::SimGpu gpu_;
  std::string segment_ = (std::filesystem::temp_directory_path() /
                          ("xpool-sim-" + std::to_string(getpid()) + "-" +
                           ::testing::UnitTest::GetInstance()->current_test_info()->name()))
                             .string();
};

TEST_F(ComputeLimiterSimTest, FixedSharesHoldWithinAPointOnEveryWorkload) {
  for (const auto& [name, program] : kWorkloads) {
    const double unlimited = Unlimited(program, 10);
    ASSERT_GT(unlimited, 0.1) << name;
    for (int share : {1, 10, 25, 50, 75}) {
      const double achieved =
          Run({{program, Slice(ComputePolicy::kFixed, share)}}, 10)[0].Busy() / unlimited;
      EXPECT_NEAR(achieved, share / 100.0, 0.01) << name << " at " << share << " %";
    }
  }
}

TEST_F(ComputeLimiterSimTest, AFixedShareIsReachedInTheFirstSecondAndHoldsEverySecond) {
  for (const auto& [name, program] : kWorkloads) {
    const double unlimited = Unlimited(program);
    // Counted from the slice's start: its first second included.
    const auto seconds =
        Run({{program, Slice(ComputePolicy::kFixed, 30)}}, 30, 0)[0].busy_per_second;
    for (size_t i = 0; i < seconds.size(); ++i) {
      EXPECT_NEAR(seconds[i] / unlimited, 0.30, 0.30 * 0.02) << name << ", second " << i;
    }
  }
}

TEST_F(ComputeLimiterSimTest, LongKernelsWaitedForOneByOneArePaidFor) {
  // 5 ms kernels, each waited for: every lease overruns, and the overrun is paid back.
  const Program program{10 * kUs, 5 * kMs, 1};
  const double unlimited = Unlimited(program);
  EXPECT_NEAR(Run({{program, Slice(ComputePolicy::kFixed, 30)}}, 10)[0].Busy() / unlimited, 0.30,
              0.01);
}

TEST_F(ComputeLimiterSimTest, BestEffortAloneCostsTheDeviceNothing) {
  for (const auto& [name, program] : kWorkloads) {
    const double unlimited = Unlimited(program);
    const double achieved = Run({{program, Slice(ComputePolicy::kBestEffort, 100)}}, 5)[0].Busy();
    EXPECT_GE(achieved / unlimited, 0.995) << name;
  }
}

TEST_F(ComputeLimiterSimTest, AFixedSliceIsNotChargedForAPause) {
  // An inference server at 25 %: a burst of work, a second with nothing to do, then a request.
  // Charged for the pause, it would wait 4 s for the device; it may launch at once.
  int64_t asked = 0;
  int64_t admitted = 0;
  gpu_.Run({[&](int index) {
    auto limiter = sim::SimLimiter(gpu_, segment_, Slice(ComputePolicy::kFixed, 25), index);
    ASSERT_NE(limiter, nullptr);
    auto launch = [&] {
      gpu_.Launch(500 * kUs);
      return CUDA_SUCCESS;
    };
    const int64_t burst_end = gpu_.NowNs() + kS;
    while (gpu_.NowNs() < burst_end) {
      gpu_.Spend(5 * kUs);
      limiter->Run(nullptr, false, launch);
    }
    gpu_.Spend(kS);
    asked = gpu_.NowNs();
    limiter->Run(nullptr, false, [&] {
      admitted = gpu_.NowNs();
      return launch();
    });
  }});
  EXPECT_LT(admitted - asked, kMs);
}

// Between slices. On the GPU the targets are weighted 30 : 70 within 5 % of the ratio and equal
// thirds within 3 points (docs/benchmarks.md); here, with no noise, the bounds are tighter.

TEST_F(ComputeLimiterSimTest, WeightedSlicesSplitTheDeviceByTheirShares) {
  for (const auto& [name, program] : kWorkloads) {
    const double unlimited = Unlimited(program);
    const auto out = Run({{program, Slice(ComputePolicy::kWeighted, 30)},
                          {program, Slice(ComputePolicy::kWeighted, 70)}},
                         5);
    EXPECT_NEAR(out[0].Busy() / out[1].Busy(), 30.0 / 70.0, 30.0 / 70.0 * 0.02) << name;
    // Work-conserving: together they keep the device as busy as one tenant alone.
    EXPECT_GE((out[0].Busy() + out[1].Busy()) / unlimited, 0.98) << name;
  }
}

TEST_F(ComputeLimiterSimTest, AWeightedSliceAloneKeepsTheWholeDevice) {
  const Program& products = kWorkloads.at("products");
  const double unlimited = Unlimited(products);
  EXPECT_GE(Run({{products, Slice(ComputePolicy::kWeighted, 30)}}, 5)[0].Busy() / unlimited, 0.99);
}

TEST_F(ComputeLimiterSimTest, EqualSlicesTakeAThirdEach) {
  for (const auto& [name, program] : kWorkloads) {
    const double unlimited = Unlimited(program);
    const Tenant tenant{program, Slice(ComputePolicy::kEqual, 100)};
    const auto out = Run({tenant, tenant, tenant}, 5);
    for (size_t i = 0; i < out.size(); ++i) {
      EXPECT_NEAR(out[i].Busy() / unlimited, 1.0 / 3, 0.01) << name << ", tenant " << i;
    }
  }
}

TEST_F(ComputeLimiterSimTest, BestEffortTenantsTakeTurns) {
  for (const auto& [name, program] : kWorkloads) {
    const double unlimited = Unlimited(program);
    const Tenant tenant{program, Slice(ComputePolicy::kBestEffort, 100)};
    const auto out = Run({tenant, tenant}, 5);
    EXPECT_NEAR(out[0].Busy() / unlimited, 0.5, 0.02) << name;
    EXPECT_NEAR(out[1].Busy() / unlimited, 0.5, 0.02) << name;
  }
}

TEST_F(ComputeLimiterSimTest, FixedSlicesSideBySideKeepTheirCaps) {
  // A hard cap holds beside another slice as it does alone, and the device idles the rest.
  const Program& products = kWorkloads.at("products");
  const double unlimited = Unlimited(products);
  const auto out = Run(
      {{products, Slice(ComputePolicy::kFixed, 25)}, {products, Slice(ComputePolicy::kFixed, 50)}},
      10);
  EXPECT_NEAR(out[0].Busy() / unlimited, 0.25, 0.01);
  EXPECT_NEAR(out[1].Busy() / unlimited, 0.50, 0.01);
}

// Fixed slices whose shares fill the device each get their share: a slice kept waiting by
// another's lease keeps what it earns meanwhile. (When what a waiting slice earned beyond one
// lease was lost, a 30 % slice beside 10, 20 and 40 % ones got 24.6 % of the graph replays, and a
// 10 % slice beside a 90 % one 7.6 %.)
TEST_F(ComputeLimiterSimTest, FixedSlicesThatFillTheDeviceEachGetTheirShare) {
  const std::vector<std::vector<int>> fillings = {{10, 20, 30, 40}, {10, 90}};
  for (const auto& [name, program] : kWorkloads) {
    const double unlimited = Unlimited(program);
    for (const auto& shares : fillings) {
      std::vector<Tenant> tenants;
      for (int share : shares) tenants.push_back({program, Slice(ComputePolicy::kFixed, share)});
      const auto out = Run(tenants, 5);
      for (size_t i = 0; i < shares.size(); ++i) {
        EXPECT_NEAR(out[i].Busy() / unlimited, shares[i] / 100.0, 0.01)
            << name << ": the " << shares[i] << " % slice of " << shares.size();
      }
    }
  }
}

// A slice of the default period (20 ms) beside one of a long period (XPOOL_COMPUTE_PERIOD_MS=500,
// which bf16 products are run with to keep their clocks down) keeps what it earns behind the long
// leases. (When it kept no more than two leases of its own, a 30 % slice beside a 70 % one with
// 500 ms got 10.7 %.)
TEST_F(ComputeLimiterSimTest, FixedSlicesOfDifferentPeriodsEachGetTheirShare) {
  for (const char* name : {"products", "graph"}) {
    const Program& program = kWorkloads.at(name);
    const double unlimited = Unlimited(program);
    for (int long_share : {30, 50, 70}) {
      Arbitration long_period = Slice(ComputePolicy::kFixed, long_share);
      long_period.period_ns = 500 * kMs;
      const auto out = Run(
          {{program, long_period}, {program, Slice(ComputePolicy::kFixed, 100 - long_share)}}, 5);
      EXPECT_NEAR(out[0].Busy() / unlimited, long_share / 100.0, 0.01) << name << long_share;
      EXPECT_NEAR(out[1].Busy() / unlimited, (100 - long_share) / 100.0, 0.01)
          << name << long_share;
    }
  }
}

// A framework starting up launches in bursts with pauses between them (loading libraries, building
// its first tensors), shorter than a lease of a long period. A slice alone on the device banks none
// of what it earns meanwhile: the first second of the steady run after it gets its share, as the
// GPU benchmark's steadiness run checks (30 %, 500 ms). When such pauses kept up to two leases,
// that second got 0.46 of the device; when a holder resumed after a pause with what its lease had
// left on top of a full credit, 0.37.
TEST_F(ComputeLimiterSimTest, AFixedSliceAloneBanksNothingWhileItStartsUp) {
  const Program& products = kWorkloads.at("products");
  const double unlimited = Unlimited(products);
  constexpr int kSeconds = 3;
  Arbitration slice = Slice(ComputePolicy::kFixed, 30);
  slice.period_ns = 500 * kMs;
  gpu_.Run({[&](int index) {
    auto limiter = sim::SimLimiter(gpu_, segment_, slice, index);
    ASSERT_NE(limiter, nullptr);
    auto launch = [&] {
      gpu_.Launch(products.kernel_ns);
      return CUDA_SUCCESS;
    };
    for (int burst = 0; burst < 8; ++burst) {
      for (int k = 0; k < 20; ++k) {
        gpu_.Spend(products.cpu_ns);
        limiter->Run(nullptr, false, launch);
      }
      gpu_.Synchronize();
      gpu_.Spend(80 * kMs);
    }
    const int64_t end = gpu_.NowNs() + kSeconds * kS;
    gpu_.CountFrom(gpu_.NowNs(), kSeconds);
    while (gpu_.NowNs() < end) {
      gpu_.Spend(products.cpu_ns);
      limiter->Run(nullptr, false, launch);
    }
    gpu_.Synchronize();
  }});
  const auto seconds = gpu_.BusyPerSecond(0);
  ASSERT_EQ(seconds.size(), static_cast<size_t>(kSeconds));
  for (size_t i = 0; i < seconds.size(); ++i) {
    EXPECT_NEAR(seconds[i] / unlimited, 0.30, 0.30 * 0.05) << "second " << i;
  }
}

// The GPU benchmark's priority case: an inference step of a few milliseconds (56 kernels of 25 us,
// each after 8 us of the framework's CPU time, waited for, then 4 ms until the next request) beside
// a training tenant launching 500 us products back to back.
const Program kInference{8 * kUs, 25 * kUs, 56, 4 * kMs};
const Program kTraining{5 * kUs, 500 * kUs};

TEST_F(ComputeLimiterSimTest, HighPriorityInferenceKeepsItsLatencyBesideTraining) {
  constexpr int kSeconds = 5;
  const auto alone = Run({{kInference, Slice(ComputePolicy::kBestEffort, 100, true)}}, kSeconds)[0];
  const auto no_priority = Run({{kTraining, Slice(ComputePolicy::kBestEffort, 100)},
                                {kInference, Slice(ComputePolicy::kBestEffort, 100)}},
                               kSeconds);
  const auto high = Run({{kTraining, Slice(ComputePolicy::kBestEffort, 100)},
                         {kInference, Slice(ComputePolicy::kBestEffort, 100, true)}},
                        kSeconds);
  ASSERT_FALSE(alone.step_ns.empty());
  // The simulation has no jitter: every step of a run takes about as long, and p99 shows a step
  // the arbitration slowed now and then.
  const double p50 = sim::Percentile(alone.step_ns, 50);
  const double p99 = sim::Percentile(alone.step_ns, 99);
  EXPECT_LE(sim::Percentile(high[1].step_ns, 50) / p50, 1.2);
  EXPECT_LE(sim::Percentile(high[1].step_ns, 99) / p99, 1.5);
  // Without priority, the inference waits out the training tenant's turns (10 ms leases).
  EXPECT_GT(sim::Percentile(no_priority[1].step_ns, 50) / p50, 1.5);
  // The training tenant gets the time the inference leaves idle, less the silence (1 ms) after
  // each request before the lease changes hands.
  const double requests_per_second = static_cast<double>(high[1].step_ns.size()) / kSeconds;
  const double silence =
      requests_per_second * static_cast<double>(ArbiterTiming{}.idle_revoke_ns) / kS;
  EXPECT_GE(high[0].Busy(), 1 - high[1].Busy() - silence - 0.01);
}

TEST_F(ComputeLimiterSimTest, ASilentHolderIsWaitedOutUntilItsQueuedWorkEndsButNotByHighPriority) {
  // The holder says its queued work ends 5 ms on, then stalls (descheduled, say) for 8 ms. A
  // normal waiter takes the lease 1 ms after that work should have ended; a high-priority one,
  // 1 ms after the holder's last sign of work, since a stalled holder's estimate may be inflated.
  for (const bool high : {false, true}) {
    std::filesystem::remove(segment_);
    int64_t noted_at = 0;
    int64_t granted_at = 0;
    gpu_.Run({[&](int index) {
                auto holder =
                    sim::SimArbiter(gpu_, segment_, Slice(ComputePolicy::kBestEffort, 100), index);
                ASSERT_NE(holder, nullptr);
                holder->Acquire();
                noted_at = gpu_.NowNs();
                holder->NoteActive(noted_at, noted_at + 5 * kMs);
                gpu_.Spend(8 * kMs);
              },
              [&](int index) {
                gpu_.Spend(100 * kUs);
                auto waiter = sim::SimArbiter(gpu_, segment_,
                                              Slice(ComputePolicy::kBestEffort, 100, high), index);
                ASSERT_NE(waiter, nullptr);
                waiter->Acquire();
                granted_at = gpu_.NowNs();
              }});
    const int64_t expected = (high ? 1 : 6) * kMs;
    EXPECT_GE(granted_at - noted_at, expected) << (high ? "high" : "normal");
    EXPECT_LE(granted_at - noted_at, expected + 100 * kUs) << (high ? "high" : "normal");
  }
}

TEST_F(ComputeLimiterSimTest, AHighPrioritySliceUnderFixedLeavesANormalOneItsShare) {
  // Under fixed, priority orders the leases but buys no device time: the normal slice keeps its
  // 50 %, and the high one takes no more than its 30 %.
  const double unlimited = Unlimited(kTraining);
  const auto out = Run({{kTraining, Slice(ComputePolicy::kFixed, 50)},
                        {kTraining, Slice(ComputePolicy::kFixed, 30, true)}},
                       10);
  EXPECT_NEAR(out[0].Busy() / unlimited, 0.50, 0.01);
  EXPECT_NEAR(out[1].Busy() / unlimited, 0.30, 0.01);
}

// Training loops: many small kernels the host launches about as fast as the device runs them,
// large products every tenth launch during which the host runs ahead, a synchronisation and a
// host pause after each step (the loss read, the optimizer's bookkeeping). Side by side without a
// sharing layer, two of them keep the device busy; as 30/70 weighted slices they must too, each
// on its share. On the virtual device the leases lose 1.5-4.5 % here, with any queue depth
// from 1 to 20 ms (measured while writing this); the GPU's loss on real training is larger
// (docs/benchmarks.md) and not reproduced by this model.
TEST_F(ComputeLimiterSimTest, WeightedTrainingLoopsWithHostPausesKeepTheDeviceBusy) {
  const std::vector<std::pair<std::string, Program>> programs = {
      {"products among small kernels", {25 * kUs, 20 * kUs, 500, 2 * kMs, 10, 1000 * kUs}},
      {"host-heavy steps", {30 * kUs, 20 * kUs, 500, 3 * kMs, 10, 300 * kUs}},
  };
  for (const auto& [name, p] : programs) {
    const auto unshared = Run({{p, {}}, {p, {}}}, 4);
    const double base = unshared[0].Busy() + unshared[1].Busy();
    EXPECT_GE(base, 0.99) << name;
    const auto out = Run(
        {{p, Slice(ComputePolicy::kWeighted, 30)}, {p, Slice(ComputePolicy::kWeighted, 70)}}, 4);
    const double total = out[0].Busy() + out[1].Busy();
    EXPECT_GE(total / base, 0.95) << name;
    EXPECT_NEAR(out[0].Busy() / total, 0.30, 0.02) << name;
  }
}

// Under shared the slices' work is in flight together: the device does what the same programs
// do side by side unshared. The virtual device runs every process's kernels in one FIFO, where a
// slice let in again waits behind the others' whole queues; a GPU time-slices its contexts
// instead, and under shared a process keeps as much queued as it would unshared. So here the
// 30 % slice of training loops reads about 25 %, and the split is held to ±8 points, the GPU
// figures (docs/benchmarks.md) to the issue's ±3; launchers that keep thousands of launches
// queued are left to the GPU runs, the FIFO giving each a part by its queue's depth.
TEST_F(ComputeLimiterSimTest, SharedTrainingLoopsKeepTheDeviceBusyNearTheirShares) {
  const Program p = {25 * kUs, 20 * kUs, 500, 2 * kMs, 10, 1000 * kUs};
  const auto unshared = Run({{p, {}}, {p, {}}}, 4);
  const double base = unshared[0].Busy() + unshared[1].Busy();
  const auto out =
      Run({{p, Slice(ComputePolicy::kShared, 30)}, {p, Slice(ComputePolicy::kShared, 70)}}, 4);
  const double total = out[0].Busy() + out[1].Busy();
  EXPECT_GE(total / base, 0.98);
  EXPECT_NEAR(out[0].Busy() / total, 0.30, 0.08);
}

// A decoder paced by its host (tiny kernels, a step of many launches, then a wait) beside a
// trainer: under shared both have work in flight together, and the device does more than under
// weighted, whose exclusive leases idle it while the decoder holds them.
TEST_F(ComputeLimiterSimTest, SharedKeepsTheDeviceBusierThanLeasesBesideAHostPacedSlice) {
  const Program decode = {28 * kUs, 8 * kUs, 150, 500 * kUs};
  const Program train = {25 * kUs, 20 * kUs, 500, 2 * kMs, 10, 1000 * kUs};
  const auto leases = Run(
      {{decode, Slice(ComputePolicy::kWeighted, 50)}, {train, Slice(ComputePolicy::kWeighted, 50)}},
      4);
  const auto shared = Run(
      {{decode, Slice(ComputePolicy::kShared, 50)}, {train, Slice(ComputePolicy::kShared, 50)}}, 4);
  EXPECT_GE(shared[0].Busy() + shared[1].Busy(), 1.15 * (leases[0].Busy() + leases[1].Busy()));
  EXPECT_GE(shared[0].Busy(), 0.85 * leases[0].Busy());
  // Alone, a shared slice keeps the device whatever its share.
  const auto alone = Run({{train, Slice(ComputePolicy::kShared, 30)}}, 3);
  const auto free_run = Run({{train, {}}}, 3);
  EXPECT_GE(alone[0].Busy(), 0.97 * free_run[0].Busy());
}

}  // namespace
}  // namespace xpool::runtime
