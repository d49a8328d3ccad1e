// Preemption: a waiting request that outranks live slices takes the fewest of them back; they
// are told to end (the heartbeat's terminating list), and released when the grace period ends.
#include <gtest/gtest.h>

#include "controller/tenancy.h"
#include "pool_state_fixture.h"

namespace xpool::controller {
namespace {

using pool_testing::Ask;
using pool_testing::MakeNode;
using pool_testing::PoolStateTest;

v1::AllocateRequest Prioritised(int devices, int priority, const std::string& tenant = "") {
  v1::AllocateRequest r = Ask(devices);
  r.set_wait(true);
  r.set_queue_priority(priority);
  r.set_tenant(tenant);
  return r;
}

// The heartbeat's answer for node g: which allocations it must end.
std::vector<std::string> Terminating(PoolState& state, int64_t now) {
  v1::HeartbeatRequest beat;
  beat.set_node("g");
  auto r = state.Heartbeat(beat, now);
  EXPECT_TRUE(r.ok());
  return {r->terminating_allocations().begin(), r->terminating_allocations().end()};
}

TEST_F(PoolStateTest, AHigherPriorityRequestTakesTheFewestLowerSlicesAfterTheGracePeriod) {
  ASSERT_TRUE(state_->Register(MakeNode("g", "H100-SXM", "gpu", 2), 0).ok());
  auto older_low = state_->Allocate(Prioritised(1, 0), 1);
  auto newer_low = state_->Allocate(Prioritised(1, 0), 2);
  ASSERT_TRUE(older_low.ok() && newer_low.ok());
  // An equal priority takes nothing.
  auto equal = state_->Allocate(Prioritised(1, 0), 3);
  ASSERT_EQ(equal->state(), "queued");
  EXPECT_TRUE(Terminating(*state_, 4).empty());
  ASSERT_TRUE(state_->Release(equal->id(), "cancelled", 5).ok());
  auto high = state_->Allocate(Prioritised(1, 10), 6);
  ASSERT_TRUE(high.ok());
  EXPECT_EQ(high->state(), "queued");
  // One victim is enough, and the most recent of the lowest priority is chosen.
  EXPECT_EQ(Terminating(*state_, 7), std::vector<std::string>{newer_low->id()});
  auto victim = state_->Get(newer_low->id());
  EXPECT_EQ(victim->preempt_at_unix_ms(), 6 + 30'000);
  EXPECT_NE(victim->reason().find("preempted by " + high->id()), std::string::npos);
  // Grace: nothing released before it ends (the node heartbeats meanwhile)...
  Terminating(*state_, 6 + 29'999);
  EXPECT_TRUE(state_->ExpireLeases(6 + 29'999).empty());
  EXPECT_NE(state_->Get(newer_low->id())->state(), "released");
  // ...then the victim goes and the request takes its GPU.
  Terminating(*state_, 6 + 30'000);
  state_->ExpireLeases(6 + 30'000);
  EXPECT_EQ(state_->Get(newer_low->id())->state(), "released");
  EXPECT_NE(state_->Get(newer_low->id())->reason().find("grace period ended"), std::string::npos);
  EXPECT_EQ(state_->Get(high->id())->state(), "reserved");
  EXPECT_NE(state_->Get(older_low->id())->state(), "released");
}

TEST_F(PoolStateTest, AVictimThatEndsOnSigtermFreesItsSliceAtOnce) {
  ASSERT_TRUE(state_->Register(MakeNode("g", "H100-SXM", "gpu", 1), 0).ok());
  auto low = state_->Allocate(Prioritised(1, 0), 1);
  auto high = state_->Allocate(Prioritised(1, 5), 2);
  ASSERT_TRUE(low.ok() && high.ok());
  v1::HeartbeatRequest beat;
  beat.set_node("g");
  v1::TaskReport* task = beat.add_tasks();
  task->set_allocation_id(low->id());
  task->set_running(false);
  task->set_exit_code(143);
  ASSERT_TRUE(state_->Heartbeat(beat, 100).ok());
  EXPECT_EQ(state_->Get(high->id())->state(), "reserved");
}

TEST_F(PoolStateTest, BorrowedCapacityIsTakenBackForATenantBelowItsGuarantee) {
  ASSERT_TRUE(state_->Register(MakeNode("g", "H100-SXM", "gpu", 2), 0).ok());
  auto tenancy = ParseTenancy(R"(
tenants:
  big: {guarantee: {gpus: 1}}
  small: {guarantee: {gpus: 1}}
)",
                              "t.yaml");
  ASSERT_TRUE(tenancy.ok());
  state_->SetTenancy(*tenancy, 0);
  auto mine = state_->Allocate(Prioritised(1, 0, "big"), 1);
  auto borrowed = state_->Allocate(Prioritised(1, 0, "big"), 2);
  ASSERT_TRUE(mine.ok() && borrowed.ok());
  // big asking for more takes nothing from itself; small, below its guarantee, takes one back.
  auto more = state_->Allocate(Prioritised(1, 0, "big"), 3);
  EXPECT_TRUE(Terminating(*state_, 4).empty());
  auto small = state_->Allocate(Prioritised(1, 0, "small"), 5);
  ASSERT_TRUE(small.ok() && more.ok());
  EXPECT_EQ(Terminating(*state_, 6), std::vector<std::string>{borrowed->id()});
  EXPECT_NE(state_->Get(borrowed->id())->reason().find("borrowed past its guarantee"),
            std::string::npos);
  Terminating(*state_, 5 + 30'000);
  state_->ExpireLeases(5 + 30'000);
  EXPECT_EQ(state_->Get(small->id())->state(), "reserved");
  EXPECT_EQ(state_->Get(more->id())->state(), "queued");
}

TEST_F(PoolStateTest, PodSlicesAreNeverPreempted) {
  ASSERT_TRUE(state_->Register(MakeNode("g", "H100-SXM", "gpu", 1), 0).ok());
  auto pod = Ask(1);
  pod.set_pod_uid("uid-1");
  pod.set_node("g");
  ASSERT_TRUE(state_->Allocate(pod, 1).ok());
  ASSERT_TRUE(state_->Allocate(Prioritised(1, 100), 2).ok());
  EXPECT_TRUE(Terminating(*state_, 3).empty());
}

TEST_F(PoolStateTest, APreemptionInFlightSurvivesARestart) {
  ASSERT_TRUE(state_->Register(MakeNode("g", "H100-SXM", "gpu", 1), 0).ok());
  auto low = state_->Allocate(Prioritised(1, 0), 1);
  auto high = state_->Allocate(Prioritised(1, 5), 2);
  ASSERT_TRUE(low.ok() && high.ok());
  Reopen(3);
  ASSERT_TRUE(state_->Register(MakeNode("g", "H100-SXM", "gpu", 1), 4).ok());
  EXPECT_EQ(Terminating(*state_, 5), std::vector<std::string>{low->id()});
  Terminating(*state_, 2 + 30'000);
  state_->ExpireLeases(2 + 30'000);
  EXPECT_EQ(state_->Get(high->id())->state(), "reserved");
}

}  // namespace
}  // namespace xpool::controller
