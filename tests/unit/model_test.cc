#include "core/model.h"

#include <gtest/gtest.h>

#include "core/catalog.h"

namespace xpool {
namespace {

TEST(DeviceId, RoundTripsThroughItsText) {
  DeviceId id{"rack1-node7", "nvidia", 3};
  EXPECT_EQ(id.ToString(), "rack1-node7/nvidia-3");
  auto parsed = DeviceId::Parse("rack1-node7/nvidia-3");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, id);
}

TEST(DeviceId, RefusesMalformedIds) {
  for (const char* bad : {"", "node", "node/nvidia", "/nvidia-0", "node/-0", "node/nvidia-",
                          "node/nvidia-x", "node/nvidia--1"}) {
    EXPECT_FALSE(DeviceId::Parse(bad).ok()) << bad;
  }
}

TEST(Catalog, HasEveryRequiredModelWithASource) {
  for (const char* m :
       {"H200", "H100-SXM", "H100-PCIe", "H800",        "A100-40GB", "A100-80GB", "A800",
        "L40S", "L4",       "A10",       "T4",          "V100-16GB", "V100-32GB", "P100",
        "K80",  "MI300X",   "MI250X",    "Ascend-910B", "MLU370",    "cpu",       "fpga"}) {
    const CatalogEntry* e = FindModel(m);
    ASSERT_NE(e, nullptr) << m;
    EXPECT_FALSE(e->source.empty()) << m;
    if (e->type == DeviceType::kGpu || e->type == DeviceType::kNpu) {
      EXPECT_GT(e->rating.memory_gib, 0) << m;
      EXPECT_GT(e->rating.bandwidth_gbs, 0) << m;
      EXPECT_GT(e->rating.fp16_tflops + e->rating.fp32_tflops, 0) << m;
    }
  }
}

TEST(Catalog, OrdersGenerationsByComputeAndFindsTraceAliases) {
  EXPECT_GT(FindModel("H100")->rating.bf16_tflops, FindModel("A100")->rating.bf16_tflops);
  EXPECT_GT(FindModel("h200")->rating.memory_gib, FindModel("H100-SXM")->rating.memory_gib);
  EXPECT_EQ(FindModel("V100M16"), FindModel("V100-16GB"));
  EXPECT_EQ(FindModel("V100M32")->rating.memory_gib, 32);
  EXPECT_EQ(FindModel("T4")->rating.bf16_tflops, 0) << "T4 has no bf16 in hardware";
  EXPECT_EQ(FindModel("MI300X")->vendor, "amd");
  EXPECT_EQ(FindModel("Ascend-910B")->type, DeviceType::kNpu);
}

TEST(Catalog, UnknownAndGenericModelsTakeTheInventoryRating) {
  ComputeRating inv{100, 200, 50, 96, 2000};
  EXPECT_EQ(FindModel("G2"), nullptr);
  EXPECT_EQ(RatingFor("G2", inv).fp16_tflops, 200);
  EXPECT_EQ(RatingFor("fpga", inv).fp32_tflops, 50);
  EXPECT_EQ(RatingFor("H100", inv).fp16_tflops, FindModel("H100")->rating.fp16_tflops);
}

TEST(DeviceType, ParsesItsNamesAndRefusesOthers) {
  EXPECT_EQ(*ParseDeviceType("npu"), DeviceType::kNpu);
  EXPECT_EQ(ToString(DeviceType::kFpga), "fpga");
  EXPECT_FALSE(ParseDeviceType("tpu").ok());
}

}  // namespace
}  // namespace xpool
