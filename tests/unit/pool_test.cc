#include "sched/pool.h"

#include <gtest/gtest.h>

#include "sched_fixture.h"

namespace xpool::sched {
namespace {

using testing::AddNode;
using testing::Occupy;

TEST(Pool, IdenticalNodesShareOneClass) {
  Pool pool;
  for (int i = 0; i < 5; ++i) AddNode(pool, "G2", 8);
  AddNode(pool, "T4", 2);
  EXPECT_EQ(pool.live_classes().size(), 2u);
  EXPECT_EQ(pool.class_of(0), pool.class_of(4));
  EXPECT_NE(pool.class_of(0), pool.class_of(5));
  EXPECT_EQ(pool.total_devices(), 42);
}

TEST(Pool, TakingMovesTheNodeToTheClassOfItsNewStateAndGivingBack) {
  Pool pool;
  AddNode(pool, "G2", 8);
  AddNode(pool, "G2", 8);
  const ClassId empty = pool.class_of(0);
  Occupy(pool, 1, 3, 400, 2000);
  EXPECT_NE(pool.class_of(1), empty);
  EXPECT_EQ(pool.used_device_milli(), 400);
  EXPECT_EQ(pool.state(1).milli_free[3], 600);
  EXPECT_EQ(pool.state(1).cpu_free, 62000);
  // The same usage on another device of node 0 is the same state up to device order.
  Occupy(pool, 0, 5, 400, 2000);
  EXPECT_EQ(pool.class_of(0), pool.class_of(1));
  pool.Give(1, 2000, 0, {3}, MilliDevice(400), MiB(0), AffinityBit(1, MilliDevice(400)));
  EXPECT_EQ(pool.class_of(1), empty);
  EXPECT_EQ(pool.state(1).affinity_mask, 0u);
  EXPECT_EQ(pool.used_device_milli(), 400);
}

TEST(Pool, NodeStateSummaries) {
  Pool pool;
  AddNode(pool, "G2", 4);
  Occupy(pool, 0, 0, 1000);
  Occupy(pool, 0, 1, 300);
  const NodeState& s = pool.state(0);
  EXPECT_EQ(s.whole_free_devices(), 2);
  EXPECT_EQ(s.milli_free_total(), 2700);
  EXPECT_EQ(s.max_milli_free(), 1000);
}

}  // namespace
}  // namespace xpool::sched
