#include "core/kube_quantity.h"

#include <gtest/gtest.h>

#include <string>

namespace xpool {
namespace {

int64_t Whole(const std::string& text) {
  auto v = ParseKubeWholeQuantity(text);
  EXPECT_TRUE(v.ok()) << text << ": " << v.status().message();
  return v.ok() ? *v : -1;
}

std::string Refusal(const std::string& text) {
  auto v = ParseKubeWholeQuantity(text);
  EXPECT_FALSE(v.ok()) << text << " parsed as " << (v.ok() ? *v : 0);
  return v.ok() ? "" : v.status().message();
}

TEST(KubeQuantityTest, TheApiServersCanonicalFormsMeanWhatTheUserWrote) {
  // What the API server stores for "10000", "90000", "1000000" and "1024" written by a user.
  EXPECT_EQ(Whole("10k"), 10000);
  EXPECT_EQ(Whole("90k"), 90000);
  EXPECT_EQ(Whole("1M"), 1000000);
  EXPECT_EQ(Whole("1024"), 1024);
  EXPECT_EQ(Whole("8192"), 8192);
}

TEST(KubeQuantityTest, EverySuffixAndExponentForm) {
  EXPECT_EQ(Whole("8Ki"), 8192);
  EXPECT_EQ(Whole("1Mi"), 1 << 20);
  EXPECT_EQ(Whole("1Gi"), int64_t{1} << 30);
  EXPECT_EQ(Whole("1Ti"), int64_t{1} << 40);
  EXPECT_EQ(Whole("1Pi"), int64_t{1} << 50);
  EXPECT_EQ(Whole("1Ei"), int64_t{1} << 60);
  EXPECT_EQ(Whole("3G"), 3'000'000'000);
  EXPECT_EQ(Whole("2T"), 2'000'000'000'000);
  EXPECT_EQ(Whole("1P"), 1'000'000'000'000'000);
  EXPECT_EQ(Whole("1E"), 1'000'000'000'000'000'000);  // E alone is exa, not an exponent
  EXPECT_EQ(Whole("1e4"), 10000);
  EXPECT_EQ(Whole("1E4"), 10000);
  EXPECT_EQ(Whole("1e+4"), 10000);
  EXPECT_EQ(Whole("120e-1"), Whole("1.2e1"));
  EXPECT_EQ(Whole("100e-2"), 1);
  EXPECT_EQ(Whole("30000m"), 30);
  EXPECT_EQ(Whole("1.5k"), 1500);
  EXPECT_EQ(Whole("0.5Ki"), 512);
  EXPECT_EQ(Whole(".5Ki"), 512);
  EXPECT_EQ(Whole("5."), 5);
  EXPECT_EQ(Whole("+7"), 7);
  EXPECT_EQ(Whole("007"), 7);
  EXPECT_EQ(Whole("0"), 0);
  EXPECT_EQ(Whole("-0"), 0);
  EXPECT_EQ(Whole("0.000e9"), 0);
  EXPECT_EQ(Whole("9223372036854775807"), INT64_MAX);
  EXPECT_EQ(Whole("7Ei"), int64_t{7} << 60);
}

TEST(KubeQuantityTest, FractionsNegativesAndOverflowAreRefusedWithTheReason) {
  EXPECT_NE(Refusal("1.5").find("whole"), std::string::npos);
  EXPECT_NE(Refusal("500m").find("whole"), std::string::npos);
  EXPECT_NE(Refusal("1e-1").find("whole"), std::string::npos);
  EXPECT_NE(Refusal("0.3Ki").find("whole"), std::string::npos);
  EXPECT_NE(Refusal("-1").find("negative"), std::string::npos);
  EXPECT_NE(Refusal("-1Gi").find("negative"), std::string::npos);
  EXPECT_NE(Refusal("9223372036854775808").find("larger"), std::string::npos);
  EXPECT_NE(Refusal("8Ei").find("larger"), std::string::npos);
  EXPECT_NE(Refusal("10E").find("larger"), std::string::npos);
  EXPECT_NE(Refusal("1e999999999999999999").find("larger"), std::string::npos);
  EXPECT_NE(Refusal("1e-999999999999999999").find("whole"), std::string::npos);
}

TEST(KubeQuantityTest, TextOffTheGrammarIsRefusedQuotingIt) {
  for (const char* bad :
       {"",    "+",    "-",     ".",    "k",    "8GB",  "8gi",  "8 Gi", " 8", "8 ",   "1e",
        "1e+", "1ee4", "1.2.3", "0x10", "8KiB", "1Ki1", "1e4k", "1K",   "∞",  "1_000"}) {
    const std::string why = Refusal(bad);
    EXPECT_NE(why.find("'" + std::string(bad) + "'"), std::string::npos) << why;
  }
}

}  // namespace
}  // namespace xpool
