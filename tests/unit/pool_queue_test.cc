// The controller's queue: requests that wait for capacity, their order (priority, fair share
// between tenants, arrival), the node held for the first of them, and a restart in between.
#include <gtest/gtest.h>

#include "controller/admission_queue.h"
#include "pool_state_fixture.h"

namespace xpool::controller {
namespace {

using pool_testing::Ask;
using pool_testing::MakeNode;
using pool_testing::PoolStateTest;

v1::AllocateRequest Waiting(int devices, const std::string& tenant = "", int priority = 0) {
  v1::AllocateRequest r = Ask(devices);
  r.set_wait(true);
  r.set_tenant(tenant);
  r.set_queue_priority(priority);
  return r;
}

TEST(AdmissionQueueTest, PriorityThenTheTenantHoldingLessThenArrival) {
  AdmissionQueue q;
  q.Add("a1", 0, "a", 1);
  q.Add("b1", 0, "b", 2);
  q.Add("a2", 0, "a", 3);
  q.Add("c1", 5, "c", 4);
  const auto order = q.Ordered({{"a", 0.5}, {"b", 0.1}});
  std::vector<std::string> ids;
  for (const auto* r : order) ids.push_back(r->id);
  EXPECT_EQ(ids, (std::vector<std::string>{"c1", "b1", "a1", "a2"}));
  EXPECT_TRUE(q.Remove("b1"));
  EXPECT_FALSE(q.Remove("b1"));
  EXPECT_EQ(q.size(), 3u);
}

TEST_F(PoolStateTest, ARequestThatWaitsIsPlacedWhenCapacityFrees) {
  ASSERT_TRUE(state_->Register(MakeNode("g", "H100-SXM", "gpu", 2), 0).ok());
  auto busy = state_->Allocate(Ask(2), 1);
  ASSERT_TRUE(busy.ok());
  Refusal refusal = Refusal::kNone;
  EXPECT_FALSE(state_->Allocate(Ask(1), 2, &refusal).ok());  // without wait: refused, as before
  EXPECT_EQ(refusal, Refusal::kNoCapacityNow);
  auto queued = state_->Allocate(Waiting(1), 3);
  ASSERT_TRUE(queued.ok()) << queued.status().message();
  EXPECT_EQ(queued->state(), "queued");
  EXPECT_EQ(queued->queue_position(), 1);
  EXPECT_TRUE(queued->node().empty());
  ASSERT_EQ(state_->Queue().size(), 1u);
  ASSERT_TRUE(state_->Release(busy->id(), "done", 10).ok());
  auto placed = state_->Get(queued->id());
  ASSERT_TRUE(placed.ok());
  EXPECT_EQ(placed->state(), "reserved");
  EXPECT_EQ(placed->node(), "g");
  EXPECT_EQ(placed->queued_unix_ms(), 3);
  EXPECT_EQ(placed->created_unix_ms(), 10);  // the reservation timeout counts from here
  EXPECT_TRUE(state_->Queue().empty());
}

TEST_F(PoolStateTest, ARequestThatCanNeverFitIsRefusedEvenIfItWouldWait) {
  ASSERT_TRUE(state_->Register(MakeNode("g", "H100-SXM", "gpu", 2), 0).ok());
  Refusal refusal = Refusal::kNone;
  auto r = state_->Allocate(Waiting(3), 1, &refusal);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(refusal, Refusal::kNeverFits);
  EXPECT_TRUE(state_->Queue().empty());
}

TEST_F(PoolStateTest, TheHeadIsNotDelayedBySmallerRequestsBehindIt) {
  // Two nodes of two GPUs, each half held. A 2-GPU request waits; the node that frees first is
  // held for it, so a 1-GPU request behind it may not take that node, but runs on the other.
  ASSERT_TRUE(state_->Register(MakeNode("a", "H100-SXM", "gpu", 2), 0).ok());
  ASSERT_TRUE(state_->Register(MakeNode("b", "H100-SXM", "gpu", 2), 0).ok());
  std::vector<v1::Allocation> held;
  for (int i = 0; i < 4; ++i) held.push_back(*state_->Allocate(Ask(1), 1));
  auto head = state_->Allocate(Waiting(2), 2);
  ASSERT_TRUE(head.ok());
  ASSERT_EQ(head->state(), "queued");
  auto small = state_->Allocate(Waiting(1), 3);
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->state(), "queued");
  EXPECT_EQ(small->queue_position(), 2);
  // One device of each node frees: the head still does not fit; the small one takes a GPU, but
  // not on the node held for the head.
  const auto on = [&](const std::string& node) {
    for (const auto& a : held) {
      if (a.node() == node && state_->Get(a.id())->state() != "released") return a.id();
    }
    return std::string();
  };
  ASSERT_TRUE(state_->Release(on("a"), "done", 4).ok());
  const auto queue = state_->Queue();
  ASSERT_EQ(queue.size(), 2u);
  EXPECT_NE(queue[0].reason().find("node a is held for it"), std::string::npos)
      << queue[0].reason();
  ASSERT_TRUE(state_->Release(on("b"), "done", 5).ok());
  auto ran = state_->Get(small->id());
  EXPECT_EQ(ran->state(), "reserved");
  EXPECT_EQ(ran->node(), "b");
  // A request that does not wait may not take the held node either.
  EXPECT_FALSE(state_->Allocate(Ask(1), 6).ok());
  // Node a frees: the head gets both of its GPUs.
  ASSERT_TRUE(state_->Release(on("a"), "done", 7).ok());
  auto started = state_->Get(head->id());
  EXPECT_EQ(started->state(), "reserved");
  EXPECT_EQ(started->node(), "a");
  EXPECT_EQ(started->slices_size(), 2);
}

TEST_F(PoolStateTest, BetweenTenantsTheOneHoldingLessGoesFirstAndPriorityBeforeEither) {
  ASSERT_TRUE(state_->Register(MakeNode("g", "H100-SXM", "gpu", 4), 0).ok());
  std::vector<v1::Allocation> busy;
  for (const char* tenant : {"heavy", "heavy", "heavy", "light"}) {
    auto ask = Ask(1);
    ask.set_tenant(tenant);
    busy.push_back(*state_->Allocate(ask, 1));
  }
  auto from_heavy = state_->Allocate(Waiting(1, "heavy"), 2);
  auto from_light = state_->Allocate(Waiting(1, "light"), 3);
  auto urgent = state_->Allocate(Waiting(1, "heavy", 10), 4);
  ASSERT_TRUE(from_heavy.ok() && from_light.ok() && urgent.ok());
  auto queue = state_->Queue();
  ASSERT_EQ(queue.size(), 3u);
  EXPECT_EQ(queue[0].id(), urgent->id());
  EXPECT_EQ(queue[1].id(), from_light->id());  // arrived later, but its tenant holds less
  EXPECT_EQ(queue[2].id(), from_heavy->id());
  ASSERT_TRUE(state_->Release(busy[0].id(), "done", 5).ok());
  EXPECT_EQ(state_->Get(urgent->id())->state(), "reserved");
  ASSERT_TRUE(state_->Release(busy[1].id(), "done", 6).ok());
  EXPECT_EQ(state_->Get(from_light->id())->state(), "reserved");
  EXPECT_EQ(state_->Get(from_heavy->id())->state(), "queued");
}

TEST_F(PoolStateTest, TheQueueOutlivesARestartAndACancelledRequestLeavesIt) {
  ASSERT_TRUE(state_->Register(MakeNode("g", "H100-SXM", "gpu", 1), 0).ok());
  auto busy = state_->Allocate(Ask(1), 1);
  auto first = state_->Allocate(Waiting(1), 2);
  auto second = state_->Allocate(Waiting(1), 3);
  ASSERT_TRUE(busy.ok() && first.ok() && second.ok());
  Reopen(4);
  ASSERT_EQ(state_->Queue().size(), 2u);
  ASSERT_TRUE(state_->Release(first->id(), "cancelled by its user", 5).ok());
  EXPECT_EQ(state_->Get(first->id())->state(), "released");
  ASSERT_EQ(state_->Queue().size(), 1u);
  ASSERT_TRUE(state_->Release(busy->id(), "done", 6).ok());
  EXPECT_EQ(state_->Get(second->id())->state(), "reserved");
}

TEST_F(PoolStateTest, ARetriedWaitingRequestIsTheSameQueuedRequest) {
  ASSERT_TRUE(state_->Register(MakeNode("g", "H100-SXM", "gpu", 1), 0).ok());
  ASSERT_TRUE(state_->Allocate(Ask(1), 1).ok());
  auto ask = Waiting(1);
  ask.set_request_id("r-1");
  auto once = state_->Allocate(ask, 2);
  auto again = state_->Allocate(ask, 3);
  ASSERT_TRUE(once.ok() && again.ok());
  EXPECT_EQ(once->id(), again->id());
  EXPECT_EQ(state_->Queue().size(), 1u);
}

}  // namespace
}  // namespace xpool::controller
