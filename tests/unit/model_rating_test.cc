#include "controller/model_rating.h"

#include <gtest/gtest.h>

namespace xpool::controller {
namespace {

using Models = std::vector<std::string>;

// The catalog rates an H100 SXM at 989 dense bf16 TFLOPS and an L4 at 121; G2, the Alibaba
// trace's undisclosed code, has no rating.
const std::map<std::string, int64_t> kPool = {{"H100-SXM", 81920}, {"L4", 23034}, {"G2", 16384}};

TEST(ModelsRated, ARatingMatchesEveryModelThatHasIt) {
  EXPECT_EQ(*ModelsRated(kPool, 300, 0, {}), Models{"H100-SXM"});
  EXPECT_EQ(*ModelsRated(kPool, 100, 0, {}), (Models{"H100-SXM", "L4"}));
  EXPECT_EQ(*ModelsRated(kPool, 0, 20000, {}), (Models{"H100-SXM", "L4"}));
  EXPECT_EQ(*ModelsRated(kPool, 0, 40960, {}), Models{"H100-SXM"});
  EXPECT_EQ(*ModelsRated(kPool, 100, 20000, {"L4", "G2"}), Models{"L4"});
}

TEST(ModelsRated, NoModelWithTheRatingIsRefusedNamingTheBoundAndTheBest) {
  auto none = ModelsRated(kPool, 2000, 0, {});
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("at least 2000 dense bf16 TFLOPS"), std::string::npos)
      << none.status().message();
  EXPECT_NE(none.status().message().find("the best: H100-SXM, 989.4 TFLOPS, 81920 MiB"),
            std::string::npos)
      << none.status().message();
  auto memory = ModelsRated(kPool, 0, 200000, {"L4"});
  ASSERT_FALSE(memory.ok());
  EXPECT_NE(memory.status().message().find("200000 MiB a device"), std::string::npos);
}

}  // namespace
}  // namespace xpool::controller
