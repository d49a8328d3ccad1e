#include "controller/pool_state.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "pool_state_fixture.h"

namespace xpool::controller {
namespace {

using pool_testing::Ask;
using pool_testing::MakeNode;
using pool_testing::PoolStateTest;
using pool_testing::Report;

TEST_F(PoolStateTest, SelectorsChooseTheNodeAndSharesDivideADevice) {
  ASSERT_TRUE(state_->Register(MakeNode("g", "A100-80GB", "gpu", 2), 0).ok());
  ASSERT_TRUE(state_->Register(MakeNode("n", "Ascend-910B", "npu", 1), 0).ok());
  auto npu = state_->Allocate(Ask(1, 0, 0, "", "npu"), 1);
  ASSERT_TRUE(npu.ok()) << npu.status().message();
  EXPECT_EQ(npu->node(), "n");
  EXPECT_EQ(npu->slices(0).memory_mib(), 16 * 1024);  // a whole device: all its memory
  // Four 25 % slices of 4 GiB share one device before a second device is touched.
  std::set<std::string> devices;
  for (int i = 0; i < 8; ++i) {
    auto a = state_->Allocate(Ask(1, 250, 4096, "A100-80GB"), 2);
    ASSERT_TRUE(a.ok()) << a.status().message();
    devices.insert(a->slices(0).device_id());
  }
  EXPECT_EQ(devices.size(), 2u);
  Refusal refusal = Refusal::kNone;
  EXPECT_FALSE(state_->Allocate(Ask(1, 100, 1024, "A100-80GB"), 3, &refusal).ok());
  EXPECT_EQ(refusal, Refusal::kNoCapacityNow);
  EXPECT_FALSE(state_->Allocate(Ask(3, 0, 0, "A100-80GB"), 3, &refusal).ok());
  EXPECT_EQ(refusal, Refusal::kNeverFits);
  EXPECT_FALSE(state_->Allocate(Ask(1, 0, 0, "", "fpga"), 3, &refusal).ok());
  EXPECT_EQ(refusal, Refusal::kNeverFits);
}

TEST_F(PoolStateTest, BadRequestsAreRefusedAndChangeNothing) {
  ASSERT_TRUE(state_->Register(MakeNode("g", "H100-SXM", "gpu", 1), 0).ok());
  Refusal refusal = Refusal::kNone;
  for (const auto& r : {Ask(0), Ask(1, 5, 1024), Ask(1, 1001, 1024), Ask(2, 500, 1024),
                        Ask(1, 300, 0), Ask(1, 0, -1), Ask(1, 0, 0, "", "tpu")}) {
    EXPECT_FALSE(state_->Allocate(r, 1, &refusal).ok()) << r.DebugString();
    EXPECT_EQ(refusal, Refusal::kInvalid) << r.DebugString();
  }
  EXPECT_TRUE(state_->Allocations(true).empty());
  EXPECT_TRUE(state_->Allocate(Ask(1), 1).ok());
}

TEST_F(PoolStateTest, ComputeSettingsTheRuntimeWouldRefuseAreRefusedAtOnce) {
  ASSERT_TRUE(state_->Register(MakeNode("g", "H100-SXM", "gpu", 1), 0).ok());
  auto bad = [](auto set) {
    v1::AllocateRequest r = Ask(1, 300, 1024);
    set(r);
    return r;
  };
  const std::vector<std::pair<v1::AllocateRequest, std::string>> cases = {
      {bad([](auto& r) { r.set_compute_policy("fair"); }), "policy 'fair'"},
      {bad([](auto& r) { r.set_priority("urgent"); }), "priority 'urgent'"},
      {bad([](auto& r) { r.set_compute_period_ms(5); }), "from 10 to 10000"},
  };
  for (const auto& [r, reason] : cases) {
    Refusal refusal = Refusal::kNone;
    auto a = state_->Allocate(r, 1, &refusal);
    ASSERT_FALSE(a.ok()) << r.DebugString();
    EXPECT_EQ(refusal, Refusal::kInvalid);
    EXPECT_NE(a.status().message().find(reason), std::string::npos) << a.status().message();
  }
  EXPECT_TRUE(state_->Allocations(true).empty());
  auto good = bad([](auto& r) {
    r.set_compute_policy("weighted");
    r.set_priority("high");
    r.set_compute_period_ms(500);
  });
  auto a = state_->Allocate(good, 1);
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(a->request().compute_period_ms(), 500);
}

TEST_F(PoolStateTest, ARestartKeepsEveryAllocationAndHandsNoneOutTwice) {
  ASSERT_TRUE(state_->Register(MakeNode("g", "H100-SXM", "gpu", 2), 0).ok());
  auto held = state_->Allocate(Ask(1), 1);
  auto gone = state_->Allocate(Ask(1), 1);
  ASSERT_TRUE(held.ok() && gone.ok());
  ASSERT_TRUE(state_->Release(gone->id(), "done", 2).ok());
  Reopen(3);
  auto live = state_->Allocations(false);
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].id(), held->id());
  EXPECT_EQ(state_->Get(gone->id())->state(), "released");
  // One device is free, the other still held.
  auto next = state_->Allocate(Ask(1), 4);
  ASSERT_TRUE(next.ok());
  EXPECT_NE(next->slices(0).device_id(), held->slices(0).device_id());
  EXPECT_FALSE(state_->Allocate(Ask(1), 4).ok());
  EXPECT_NE(next->id(), held->id());
}

TEST_F(PoolStateTest, ASilentNodeLosesItsAllocationsUntilItRegistersAgain) {
  ASSERT_TRUE(state_->Register(MakeNode("g", "H100-SXM", "gpu", 1), 0).ok());
  auto a = state_->Allocate(Ask(1), 100);
  ASSERT_TRUE(a.ok());
  v1::HeartbeatRequest beat;
  beat.set_node("g");
  ASSERT_TRUE(state_->Heartbeat(beat, 900).ok());
  EXPECT_TRUE(state_->ExpireLeases(1800).empty());  // within the lease of the last heartbeat
  auto released = state_->ExpireLeases(2000);
  ASSERT_EQ(released.size(), 1u);
  EXPECT_EQ(released[0].id(), a->id());
  EXPECT_NE(released[0].reason().find("stopped heartbeating"), std::string::npos);
  EXPECT_FALSE(state_->Nodes()[0].ready());
  EXPECT_FALSE(state_->Allocate(Ask(1), 2001).ok());  // out of scheduling while silent
  EXPECT_TRUE(state_->Heartbeat(beat, 2002)->reregister());
  ASSERT_TRUE(state_->Register(MakeNode("g", "H100-SXM", "gpu", 1), 2003).ok());
  EXPECT_TRUE(state_->Allocate(Ask(1), 2004).ok());
}

TEST_F(PoolStateTest, AnEndedTaskReleasesItsAllocation) {
  ASSERT_TRUE(state_->Register(MakeNode("g", "H100-SXM", "gpu", 1), 0).ok());
  auto a = state_->Allocate(Ask(1), 1);
  ASSERT_TRUE(a.ok());
  v1::HeartbeatRequest beat;
  beat.set_node("g");
  auto* task = beat.add_tasks();
  task->set_allocation_id(a->id());
  task->set_running(true);
  auto r = state_->Heartbeat(beat, 2);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->live_allocations_size(), 1);
  EXPECT_EQ(state_->Get(a->id())->state(), "running");
  task->set_running(false);
  task->set_exit_code(3);
  r = state_->Heartbeat(beat, 3);
  EXPECT_EQ(r->live_allocations_size(), 0);
  EXPECT_EQ(state_->Get(a->id())->reason(), "task exited with code 3");
  EXPECT_TRUE(state_->Allocate(Ask(1), 4).ok());
}

// The compute a slice uses is the rate of the device time its agent reports, over 2 s or more.
TEST_F(PoolStateTest, ComputeInUseIsTheRateOfReportedDeviceTime) {
  v1::HeartbeatRequest beat;
  const auto allocations = AllocateForTenant("team-a", 1, &beat);
  ASSERT_EQ(allocations.size(), 1u);
  const std::string id = allocations[0].id();
  auto* task = Report(beat, id, true, 4.0);
  const auto beat_at = [&](double seconds, int64_t now_ms) {
    task->set_gpu_seconds_used(seconds);
    EXPECT_TRUE(state_->Heartbeat(beat, now_ms).ok());
    return state_->Get(id)->compute_used_percent();
  };
  EXPECT_EQ(beat_at(4.0, 1'000), 0.0);           // one report: no rate yet
  EXPECT_EQ(beat_at(4.2, 2'500), 0.0);           // 1.5 s: not yet a window
  EXPECT_NEAR(beat_at(4.6, 3'000), 30.0, 1e-9);  // 0.6 s over 2 s
  EXPECT_NEAR(beat_at(4.7, 4'000), 30.0, 1e-9);  // kept until the next window closes
  EXPECT_NEAR(beat_at(5.6, 5'000), 50.0, 1e-9);  // 1.0 s over 2 s
  // The task's count started again (its segment was made anew): a new window, no negative rate.
  EXPECT_NEAR(beat_at(0.1, 5'500), 50.0, 1e-9);
  EXPECT_NEAR(beat_at(0.1 + 0.5, 7'500), 25.0, 1e-9);
  ASSERT_TRUE(state_->Release(id, "done", 8'000).ok());
  EXPECT_NEAR(beat_at(2.0, 10'000), 25.0, 1e-9);  // released: no longer measured
}

// The device time agents report is a gauge of the live allocations per tenant, and a counter
// (live and released) that does not fall when an allocation ends.
TEST_F(PoolStateTest, DeviceTimeStaysCountedAfterItsAllocationIsReleased) {
  v1::HeartbeatRequest beat;
  const auto allocations = AllocateForTenant("team-a", 2, &beat);
  ASSERT_EQ(allocations.size(), 2u);
  const v1::Allocation& a = allocations[0];
  const v1::Allocation& b = allocations[1];
  auto* ta = Report(beat, a.id(), true, 2.5);
  auto* tb = Report(beat, b.id(), true, 1);
  ASSERT_TRUE(state_->Heartbeat(beat, 2).ok());
  std::string page = state_->Metrics();
  EXPECT_NE(page.find("xpool_tenant_gpu_seconds_used{tenant=\"team-a\"} 3.5\n"), std::string::npos)
      << page;
  EXPECT_NE(page.find("xpool_tenant_gpu_seconds_total{tenant=\"team-a\"} 3.5\n"), std::string::npos)
      << page;
  // a ends with 3 s used; b goes on to 1.5 s.
  ta->set_running(false);
  ta->set_gpu_seconds_used(3);
  tb->set_gpu_seconds_used(1.5);
  ASSERT_TRUE(state_->Heartbeat(beat, 3).ok());
  ASSERT_EQ(state_->Get(a.id())->state(), "released");
  page = state_->Metrics();
  EXPECT_NE(page.find("xpool_tenant_gpu_seconds_used{tenant=\"team-a\"} 1.5\n"), std::string::npos)
      << page;
  EXPECT_NE(page.find("xpool_tenant_gpu_seconds_total{tenant=\"team-a\"} 4.5\n"), std::string::npos)
      << page;
  // A heartbeat that still names the released allocation counts nothing twice.
  ASSERT_TRUE(state_->Heartbeat(beat, 4).ok());
  ASSERT_TRUE(state_->Release(b.id(), "done", 5).ok());
  page = state_->Metrics();
  EXPECT_EQ(page.find("xpool_tenant_gpu_seconds_used{tenant=\"team-a\"}"), std::string::npos)
      << page;
  EXPECT_NE(page.find("xpool_tenant_gpu_seconds_total{tenant=\"team-a\"} 4.5\n"), std::string::npos)
      << page;
  // Released from outside (xpool release), b's task is stopped; its last report, 0.25 s later than
  // the one counted, still counts, once.
  beat.clear_tasks();
  Report(beat, b.id(), false, 1.75);
  ASSERT_TRUE(state_->Heartbeat(beat, 6).ok());
  ASSERT_TRUE(state_->Heartbeat(beat, 7).ok());
  page = state_->Metrics();
  EXPECT_NE(page.find("xpool_tenant_gpu_seconds_total{tenant=\"team-a\"} 4.75\n"),
            std::string::npos)
      << page;
  EXPECT_EQ(state_->Get(b.id())->gpu_seconds_used(), 1.75);
}

// The counter is kept in the store: a restarted controller goes on from it, also once the
// released allocations behind it are pruned, so Prometheus never sees it fall.
TEST_F(PoolStateTest, TheDeviceTimeCounterOutlivesARestartAndPruning) {
  v1::HeartbeatRequest beat;
  const auto allocations = AllocateForTenant("team-a", 2, &beat);
  ASSERT_EQ(allocations.size(), 2u);
  const v1::Allocation& done = allocations[0];
  const v1::Allocation& running = allocations[1];
  Report(beat, done.id(), false, 3);
  Report(beat, running.id(), true, 1.25);
  ASSERT_TRUE(state_->Heartbeat(beat, 2).ok());
  ASSERT_NE(state_->Metrics().find("xpool_tenant_gpu_seconds_total{tenant=\"team-a\"} 4.25\n"),
            std::string::npos)
      << state_->Metrics();
  // The live reading grows; live readings are not stored, so a restarted controller has the
  // older one until the next heartbeat, and the counter must not fall meanwhile.
  beat.clear_tasks();
  Report(beat, running.id(), true, 2);
  ASSERT_TRUE(state_->Heartbeat(beat, 3).ok());
  const std::string total = "xpool_tenant_gpu_seconds_total{tenant=\"team-a\"} 5\n";
  ASSERT_NE(state_->Metrics().find(total), std::string::npos) << state_->Metrics();
  const int64_t keep = ControllerOptions().keep_released_ms;
  ASSERT_EQ(state_->PruneReleased(keep + 10), 1u);
  Reopen(keep + 11);
  EXPECT_NE(state_->Metrics().find(total), std::string::npos) << state_->Metrics();
  Reopen(keep + 12);
  EXPECT_NE(state_->Metrics().find(total), std::string::npos) << state_->Metrics();
}

// A store written before the totals were kept: they start from the released allocations it holds.
TEST_F(PoolStateTest, TheDeviceTimeCounterStartsFromAnOlderStoresReleasedAllocations) {
  v1::HeartbeatRequest beat;
  const auto allocations = AllocateForTenant("team-b", 1, &beat);
  ASSERT_EQ(allocations.size(), 1u);
  const v1::Allocation& done = allocations[0];
  Report(beat, done.id(), false, 2);
  ASSERT_TRUE(state_->Heartbeat(beat, 2).ok());
  state_.reset();
  {
    auto store = store::OpenSqliteStore(dir_.string());
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->Delete("released_gpu_seconds", "team-b").ok());
  }
  const std::string total = "xpool_tenant_gpu_seconds_total{tenant=\"team-b\"} 2\n";
  Reopen(3);
  EXPECT_NE(state_->Metrics().find(total), std::string::npos) << state_->Metrics();
  // Kept from then on: pruned and restarted, the counter holds.
  ASSERT_EQ(state_->PruneReleased(ControllerOptions().keep_released_ms + 10), 1u);
  Reopen(ControllerOptions().keep_released_ms + 11);
  EXPECT_NE(state_->Metrics().find(total), std::string::npos) << state_->Metrics();
}

TEST_F(PoolStateTest, AWatcherSeesTheLiveAllocationsThenEveryChange) {
  ASSERT_TRUE(state_->Register(MakeNode("g", "H100-SXM", "gpu", 2), 0).ok());
  auto before = state_->Allocate(Ask(1), 1);
  ASSERT_TRUE(before.ok());
  uint64_t seen = PoolState::kNotWatching;
  auto first = state_->Changes(&seen, 0);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].id(), before->id());
  EXPECT_TRUE(state_->Changes(&seen, 10).empty());  // nothing new: waits, then nothing
  auto a = state_->Allocate(Ask(1), 2);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(state_->Release(a->id(), "done", 3).ok());
  auto changes = state_->Changes(&seen, 0);
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].state(), "reserved");
  EXPECT_EQ(changes[1].state(), "released");
  EXPECT_EQ(changes[1].id(), a->id());
}

TEST_F(PoolStateTest, ReleasedAllocationsAreForgottenAfterTheRetention) {
  ASSERT_TRUE(state_->Register(MakeNode("a", "H100", "gpu", 3), 0).ok());
  auto old_one = state_->Allocate(Ask(1), 0);
  auto recent = state_->Allocate(Ask(1), 0);
  auto live = state_->Allocate(Ask(1, 500, 1024), 0);
  ASSERT_TRUE(old_one.ok() && recent.ok() && live.ok());
  const int64_t keep = ControllerOptions().keep_released_ms;
  ASSERT_TRUE(state_->Release(old_one->id(), "done", 1000).ok());
  ASSERT_TRUE(state_->Release(recent->id(), "done", keep).ok());
  EXPECT_EQ(state_->PruneReleased(keep + 1001), 1u);
  EXPECT_FALSE(state_->Get(old_one->id()).ok());
  EXPECT_TRUE(state_->Get(recent->id()).ok());
  EXPECT_TRUE(state_->Get(live->id()).ok());  // a live one, however old, stays
  // Gone from the store too: a restarted controller does not bring it back.
  Reopen(keep + 1002);
  EXPECT_FALSE(state_->Get(old_one->id()).ok());
  EXPECT_TRUE(state_->Get(recent->id()).ok());
  EXPECT_EQ(state_->Allocations(true).size(), 2u);
}

// A pod container's request, as the scheduler extender makes it.
v1::AllocateRequest PodAsk(const std::string& container, bool init, int index, int milli,
                           int64_t memory) {
  v1::AllocateRequest r = Ask(1, milli, memory);
  r.set_owner("ml/p");
  r.set_pod_uid("u-p");
  r.set_node("g");
  r.set_container(container);
  r.set_init_container(init);
  r.set_container_index(index);
  return r;
}

v1::ClaimPodSlicesRequest ClaimOf(const std::string& container, bool may_be_init = false,
                                  const std::string& gpu = "") {
  v1::ClaimPodSlicesRequest r;
  r.set_node("g");
  r.set_devices(1);
  r.set_pod_namespace("ml");
  r.set_pod_name("p");
  r.set_container(container);
  r.set_may_be_init_container(may_be_init);
  if (!gpu.empty()) r.add_device_uuids(gpu);
  return r;
}

TEST_F(PoolStateTest, EachContainerClaimsItsOwnSliceWhateverTheOrder) {
  ASSERT_TRUE(state_->Register(MakeNode("g", "H100-SXM", "gpu", 2), 0).ok());
  auto init = state_->Allocate(PodAsk("prep", true, 0, 100, 1024), 1);
  auto a = state_->Allocate(PodAsk("a", false, 0, 200, 2048), 1);
  auto b = state_->Allocate(PodAsk("b", false, 1, 300, 3072), 1);
  ASSERT_TRUE(init.ok() && a.ok() && b.ok());
  // b first, then the init container on a's devices, then a, then a again (a restart).
  auto got_b = state_->ClaimContainerSlice(ClaimOf("b"), 2);
  ASSERT_TRUE(got_b.ok()) << got_b.status().message();
  EXPECT_EQ(got_b->allocation.id(), b->id());
  auto got_init = state_->ClaimContainerSlice(ClaimOf("a", true), 3);
  ASSERT_TRUE(got_init.ok());
  EXPECT_EQ(got_init->allocation.id(), init->id());
  for (int i = 0; i < 2; ++i) {
    auto got_a = state_->ClaimContainerSlice(ClaimOf("a", true), 4);
    ASSERT_TRUE(got_a.ok());
    EXPECT_EQ(got_a->allocation.id(), a->id());
    EXPECT_EQ(got_a->slices[0].memory_mib(), 2048);
  }
  EXPECT_EQ(state_->ClaimContainerSlice(ClaimOf("c"), 5).status().code(), StatusCode::kNotFound);
  auto other_pod = ClaimOf("a");
  other_pod.set_pod_name("q");
  EXPECT_EQ(state_->ClaimContainerSlice(other_pod, 5).status().code(), StatusCode::kNotFound);
  // Peeking names only a pod allocation no container has started with.
  EXPECT_EQ(state_->PeekPodSlices("g", 1).status().code(), StatusCode::kNotFound);
}

TEST_F(PoolStateTest, ASliceMovesToTheGpuTheKubeletGaveOnlyWhereItFits) {
  const v1::Node node = MakeNode("g", "H100-SXM", "gpu", 2);
  ASSERT_TRUE(state_->Register(node, 0).ok());
  auto a = state_->Allocate(PodAsk("a", false, 0, 600, 1024), 1);
  ASSERT_TRUE(a.ok());
  const std::string placed = a->slices(0).device_uuid();
  const std::string other =
      node.devices(0).uuid() == placed ? node.devices(1).uuid() : node.devices(0).uuid();
  // Another pod fills 60 % of the other GPU: a (60 %) cannot move there.
  auto filler = Ask(1, 600, 1024);
  filler.set_node("g");
  auto f = state_->Allocate(filler, 1);
  ASSERT_TRUE(f.ok());
  ASSERT_EQ(f->slices(0).device_uuid(), other);
  auto refused = state_->ClaimContainerSlice(ClaimOf("a", false, other), 2);
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("no room"), std::string::npos);
  ASSERT_TRUE(state_->Release(f->id(), "done", 3).ok());
  auto moved = state_->ClaimContainerSlice(ClaimOf("a", false, other), 4);
  ASSERT_TRUE(moved.ok()) << moved.status().message();
  EXPECT_EQ(moved->slices[0].device_uuid(), other);
  // The pool holds it where it moved: 60 % more fits on the GPU it left, not on this one.
  auto on_left = Ask(1, 600, 1024);
  on_left.set_node("g");
  auto again = state_->Allocate(on_left, 5);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->slices(0).device_uuid(), placed);
  ASSERT_TRUE(state_->Get(a->id()).ok());
  EXPECT_EQ(state_->Get(a->id())->slices(0).device_uuid(), other);
}

TEST_F(PoolStateTest, APodFitsWhereAllItsContainersFitTogether) {
  ASSERT_TRUE(state_->Register(MakeNode("g", "H100-SXM", "gpu", 1), 0).ok());
  const std::vector<std::string> nodes = {"g"};
  auto two = state_->EvaluatePod(
      {PodAsk("a", false, 0, 500, 1024), PodAsk("b", false, 1, 400, 1024)}, nodes);
  ASSERT_TRUE(two.ok());
  EXPECT_TRUE((*two)[0].fits);
  auto three =
      state_->EvaluatePod({PodAsk("a", false, 0, 500, 1024), PodAsk("b", false, 1, 400, 1024),
                           PodAsk("c", false, 2, 200, 1024)},
                          nodes);
  ASSERT_TRUE(three.ok());
  EXPECT_FALSE((*three)[0].fits);
  EXPECT_NE((*three)[0].reason.find("all 3 containers"), std::string::npos);
  // The trial placements leave the pool as it was.
  auto whole = Ask(1);
  EXPECT_TRUE(state_->Allocate(whole, 1).ok());
}

TEST_F(PoolStateTest, AnUnhealthyDeviceTakesNothingNewUntilItIsHealthyAgain) {
  const v1::Node node = MakeNode("g", "H100-SXM", "gpu", 2);
  ASSERT_TRUE(state_->Register(node, 0).ok());
  auto quarter = state_->Allocate(Ask(1, 250, 1024), 1);  // on one of the two
  ASSERT_TRUE(quarter.ok());
  const std::string busy = quarter->slices(0).device_id();
  const std::string other =
      node.devices(0).id() == busy ? node.devices(1).id() : node.devices(0).id();
  v1::HeartbeatRequest beat;
  beat.set_node("g");
  beat.add_unhealthy_devices(other);
  ASSERT_TRUE(state_->Heartbeat(beat, 2).ok());
  EXPECT_FALSE(state_->Allocate(Ask(1), 3).ok());  // the healthy one is partly taken
  auto small = state_->Allocate(Ask(1, 250, 1024), 3);
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->slices(0).device_id(), busy);
  // Released capacity of the unhealthy device stays held back; the node says which is unhealthy.
  for (const auto& n : state_->Nodes()) {
    for (const auto& d : n.devices()) EXPECT_EQ(d.healthy(), d.id() != other) << d.id();
  }
  // A node that goes silent and comes back holds back nothing twice.
  state_->ExpireLeases(5000);
  ASSERT_TRUE(state_->Register(node, 5001).ok());
  ASSERT_TRUE(state_->Heartbeat(beat, 5002).ok());
  EXPECT_FALSE(state_->Allocate(Ask(2), 5003).ok());
  beat.clear_unhealthy_devices();
  ASSERT_TRUE(state_->Heartbeat(beat, 5004).ok());
  EXPECT_TRUE(state_->Allocate(Ask(2), 5005).ok());  // both whole devices free again
  EXPECT_FALSE(state_->Allocate(Ask(1, 100, 1024), 5006).ok());
}

TEST_F(PoolStateTest, ARetriedRequestGetsTheAllocationMadeTheFirstTime) {
  ASSERT_TRUE(state_->Register(MakeNode("g", "H100-SXM", "gpu", 1), 0).ok());
  auto ask = Ask(1, 500, 1024);
  ask.set_owner("ana");
  ask.set_request_id("r-1");
  auto first = state_->Allocate(ask, 1);
  auto again = state_->Allocate(ask, 2);
  ASSERT_TRUE(first.ok() && again.ok());
  EXPECT_EQ(again->id(), first->id());
  // Half the device is still free: the retry took nothing more.
  auto other = Ask(1, 500, 1024);
  other.set_owner("ana");
  other.set_request_id("r-2");
  ASSERT_TRUE(state_->Allocate(other, 3).ok());
  // Another owner's request of the same id is another request; the device is full now.
  ask.set_owner("bo");
  EXPECT_FALSE(state_->Allocate(ask, 4).ok());
  // The index survives a restart.
  Reopen(5);
  ask.set_owner("ana");
  auto after = state_->Allocate(ask, 6);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->id(), first->id());
}

TEST_F(PoolStateTest, AReservationNoTaskStartedOnIsReleased) {
  ASSERT_TRUE(state_->Register(MakeNode("g", "H100-SXM", "gpu", 2), 0).ok());
  auto idle = state_->Allocate(Ask(1), 0);
  auto busy = state_->Allocate(Ask(1), 0);
  ASSERT_TRUE(idle.ok() && busy.ok());
  v1::HeartbeatRequest beat;
  beat.set_node("g");
  Report(beat, busy->id(), true, 0);
  const int64_t later = 300'001;
  ASSERT_TRUE(state_->Heartbeat(beat, later - 1).ok());
  const auto released = state_->ExpireLeases(later);
  ASSERT_EQ(released.size(), 1u);
  EXPECT_EQ(released[0].id(), idle->id());
  EXPECT_NE(released[0].reason().find("no task started on it"), std::string::npos);
  EXPECT_EQ(state_->Get(busy->id())->state(), "running");
}

TEST(InventoryTest, CatalogFillsInAndErrorsNameTheProblem) {
  auto node =
      agent::ParseInventory("devices:\n  - model: h100-sxm\n    count: 2\n", "inv.yaml", "host1");
  ASSERT_TRUE(node.ok()) << node.status().message();
  EXPECT_EQ(node->name(), "host1");
  ASSERT_EQ(node->devices_size(), 2);
  EXPECT_EQ(node->devices(1).id(), "host1/nvidia-1");
  EXPECT_EQ(node->devices(1).model(), "H100-SXM");
  EXPECT_EQ(node->devices(1).memory_mib(), 80 * 1024);
  EXPECT_EQ(node->devices(1).type(), "gpu");
  for (const auto& [text, message] : std::vector<std::pair<std::string, std::string>>{
           {"devices:\n  - model: Z9\n", "inv.yaml: devices[0]: model 'Z9' is not in the catalog"},
           {"devices:\n  - model: Z9\n    type: gpu\n", "memory is missing"},
           {"devices:\n  - model: H100-SXM\n    memory: 8GB\n", "memory"},
           {"devices:\n  - model: H100-SXM\n    type: tpu\n", "unknown device type 'tpu'"},
           {"cpu: -1\n", "cpu must be a positive"},
           {"devices: [", "not YAML"},
           {"devices:\n  - model: H100-SXM\n    count: many\n", "wrong kind of value"}}) {
    auto bad = agent::ParseInventory(text, "inv.yaml", "h");
    ASSERT_FALSE(bad.ok()) << text;
    EXPECT_NE(bad.status().message().find(message), std::string::npos) << bad.status().message();
  }
}

}  // namespace
}  // namespace xpool::controller
