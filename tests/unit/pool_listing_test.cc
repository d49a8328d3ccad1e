// Listing allocations in pages, so that no answer outgrows a message however long the history.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "pool_state_fixture.h"

namespace xpool::controller {
namespace {

using pool_testing::Ask;
using pool_testing::MakeNode;
using pool_testing::PoolStateTest;

TEST_F(PoolStateTest, AllocationsComeInPagesInIdOrder) {
  ASSERT_TRUE(state_->Register(MakeNode("g", "H100-SXM", "gpu", 5), 0).ok());
  std::vector<std::string> made;
  for (int i = 0; i < 5; ++i) made.push_back(state_->Allocate(Ask(1), 1)->id());
  ASSERT_TRUE(state_->Release(made[1], "done", 2).ok());
  const auto every = [&](bool include_released, size_t page) {
    std::vector<std::string> ids;
    std::string after, next;
    int pages = 0;
    do {
      for (const auto& a : state_->AllocationsPage(include_released, after, page, &next)) {
        ids.push_back(a.id());
      }
      after = next;
      ++pages;
    } while (!next.empty() && pages < 100);
    return std::make_pair(ids, pages);
  };
  auto [all, all_pages] = every(true, 2);
  EXPECT_EQ(all, made);  // ids sort in the order they were made
  EXPECT_EQ(all_pages, 3);
  auto [live, live_pages] = every(false, 2);
  EXPECT_EQ(live, (std::vector<std::string>{made[0], made[2], made[3], made[4]}));
  EXPECT_EQ(live_pages, 2);  // exactly two full pages: the second says it is the last
}

}  // namespace
}  // namespace xpool::controller
