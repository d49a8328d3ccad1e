#include "sched/frag.h"

#include <gtest/gtest.h>

#include "sched_fixture.h"

namespace xpool::sched {
namespace {

using testing::AddNode;

// Shapes: a 500-milli sharing pod with 4 cores (weight 0.5), a 1-GPU pod with 8 cores (0.3), a
// CPU-only pod (0.2).
std::vector<TypicalShape> Shapes() {
  return {{{4000, 500, 1, ""}, 0.5}, {{8000, 1000, 1, ""}, 0.3}, {{2000, 0, 0, ""}, 0.2}};
}

TEST(FragMeasure, MatchesHandComputedAmounts) {
  Pool pool;
  AddNode(pool, "G2", 2);
  FragMeasure m(pool, Shapes());
  // Devices free 1000 and 300, plenty of CPU: the 500 pod fits, 300 is its fragment (0.5*300);
  // the 1-GPU pod fits, 300 is its fragment (0.3*300); CPU-only pods count all free (0.2*1300).
  const int32_t free1[] = {1000, 300};
  EXPECT_DOUBLE_EQ(m.Amount(0, 64000, 0, free1), 0.5 * 300 + 0.3 * 300 + 0.2 * 1300);
  // With 6 cores left the 1-GPU pod (8 cores) cannot be hosted: all 1300 is its fragment.
  EXPECT_DOUBLE_EQ(m.Amount(0, 6000, 0, free1), 0.5 * 300 + 0.3 * 1300 + 0.2 * 1300);
  // Free 400 and 300: nothing fits the GPU shapes at all.
  const int32_t free2[] = {400, 300};
  EXPECT_DOUBLE_EQ(m.Amount(0, 64000, 0, free2), 700.0);
  // A full node has no fragment.
  const int32_t full[] = {0, 0};
  EXPECT_DOUBLE_EQ(m.Amount(0, 64000, 0, full), 0.0);
}

TEST(FragMeasure, AShapeLimitedToOtherModelsSeesEverythingAsFragment) {
  Pool pool;
  AddNode(pool, "G2", 1);
  AddNode(pool, "T4", 1);
  FragMeasure m(pool, {{{1000, 200, 1, "T4"}, 1.0}});
  const int32_t free[] = {1000};
  EXPECT_DOUBLE_EQ(m.Amount(pool.FindModelId("G2"), 64000, 0, free), 1000.0);
  EXPECT_DOUBLE_EQ(m.Amount(pool.FindModelId("T4"), 64000, 0, free), 0.0);
}

TEST(TypicalShapesByCount, KeepsTheMostCommonShapesUpToCoverageAndRenormalises) {
  std::vector<PodShape> pods;
  for (int i = 0; i < 6; ++i) pods.push_back({4000, 500, 1, ""});
  for (int i = 0; i < 3; ++i) pods.push_back({8000, 1000, 1, ""});
  pods.push_back({64000, 1000, 8, ""});
  auto t = TypicalShapesByCount(pods, 0.85);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].shape.milli, 500);
  EXPECT_DOUBLE_EQ(t[0].weight, 6.0 / 9.0);
  EXPECT_DOUBLE_EQ(t[1].weight, 3.0 / 9.0);
}

TEST(TypicalShapesByCount, OrdersEqualCountsByLargerShapeFirst) {
  std::vector<PodShape> pods = {{2000, 300, 1, ""}, {9000, 300, 1, ""}, {5000, 300, 1, ""}};
  auto t = TypicalShapesByCount(pods, 0.5);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].shape.cpu, 9000);
  EXPECT_EQ(t[1].shape.cpu, 5000);
}

}  // namespace
}  // namespace xpool::sched
