#include "core/quantity.h"

#include <gtest/gtest.h>

namespace xpool {
namespace {

TEST(ParseMemory, AcceptsBinarySuffixesAndPlainMiB) {
  EXPECT_EQ(ParseMemory("8Gi")->value(), 8192);
  EXPECT_EQ(ParseMemory("512Mi")->value(), 512);
  EXPECT_EQ(ParseMemory("1Ti")->value(), 1024 * 1024);
  EXPECT_EQ(ParseMemory("300")->value(), 300);
  EXPECT_EQ(ParseMemory("0Mi")->value(), 0);
}

TEST(ParseMemory, RefusesEveryMalformedForm) {
  for (const char* bad : {"", "8GB", "8gi", "-1", "-1Gi", "1.5Gi", "Gi", "8 Gi", "8Gi ", "0x10",
                          "8Ki", "99999999999999999999", "9007199254740993Ti"}) {
    auto r = ParseMemory(bad);
    EXPECT_FALSE(r.ok()) << "accepted '" << bad << "'";
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
      EXPECT_NE(r.status().message().find(bad), std::string::npos)
          << "message does not name the input";
    }
  }
}

TEST(ParseComputePercent, OneToHundredInMilliDevices) {
  EXPECT_EQ(ParseComputePercent("30")->value(), 300);
  EXPECT_EQ(ParseComputePercent("1%")->value(), 10);
  EXPECT_EQ(ParseComputePercent("100")->value(), 1000);
  for (const char* bad : {"0", "101", "-5", "30.5", "", "%", "abc"}) {
    EXPECT_FALSE(ParseComputePercent(bad).ok()) << bad;
  }
}

TEST(FormatMemory, PicksTheLargestExactUnit) {
  EXPECT_EQ(FormatMemory(MiB(8192)), "8Gi");
  EXPECT_EQ(FormatMemory(MiB(1536)), "1536Mi");
  EXPECT_EQ(FormatMemory(MiB(2 * 1024 * 1024)), "2Ti");
  EXPECT_EQ(FormatMemory(MiB(0)), "0Mi");
}

TEST(Quantity, ArithmeticKeepsTheUnit) {
  MilliDevice a(300);
  a += MilliDevice(200);
  EXPECT_EQ(a, MilliDevice(500));
  EXPECT_LT(a, kWholeDevice);
  EXPECT_EQ((a * 2).value(), 1000);
}

}  // namespace
}  // namespace xpool
