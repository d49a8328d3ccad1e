#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "runtime/config.h"

namespace xpool::runtime {
namespace {

TEST(MemoryQuotasTest, BareSizeAppliesToEveryDevice) {
  auto q = ParseMemoryQuotas("8Gi");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->For(0, "")->value(), 8192);
  EXPECT_EQ(q->For(7, "GPU-x")->value(), 8192);
}

TEST(MemoryQuotasTest, PerDeviceEntriesOverrideTheDefault) {
  const std::string abc = "GPU-abcabcab-abca-bcab-cabc-abcabcabcabc";
  auto q = ParseMemoryQuotas("8Gi, 1=512Mi ," + abc + "=2Gi");
  ASSERT_TRUE(q.ok()) << q.status().message();
  EXPECT_EQ(q->For(0, "GPU-zzz")->value(), 8192);
  EXPECT_EQ(q->For(1, "GPU-zzz")->value(), 512);
  EXPECT_EQ(q->For(1, abc)->value(), 2048);  // the UUID wins over the index
}

TEST(MemoryQuotasTest, DevicesWithoutAnEntryHaveNoQuota) {
  auto q = ParseMemoryQuotas("0=1Gi");
  ASSERT_TRUE(q.ok());
  EXPECT_FALSE(q->For(1, "").has_value());
}

TEST(MemoryQuotasTest, MalformedListsAreRefusedWithTheReason) {
  for (const char* bad : {"", "8GB", "1=", "x=1Gi", "-1=1Gi", "1=1.5Gi", "8Gi,,"}) {
    auto q = ParseMemoryQuotas(bad);
    EXPECT_FALSE(q.ok()) << bad;
  }
  EXPECT_NE(ParseMemoryQuotas("x=1Gi").status().message().find("'x'"), std::string::npos);
}

// A mistyped UUID used to leave the device it meant without a quota, silently.
TEST(MemoryQuotasTest, AMalformedDeviceUuidIsRefusedNotIgnored) {
  const std::string uuid = "GPU-6f0c5e1a-3b2d-4c1e-9a8b-0123456789ab";
  ASSERT_TRUE(ParseMemoryQuotas(uuid + "=50Mi").ok());
  ASSERT_TRUE(ParseMemoryQuotas("MIG-6f0c5e1a-3b2d-4c1e-9a8b-0123456789AB=1Gi").ok());
  ASSERT_TRUE(ParseMemoryQuotas("MIG-" + uuid + "/7/0=1Gi").ok());
  for (const std::string& bad : std::vector<std::string>{
           "GPU-<typo>", "GPU-6f0c5e1a-3b2d-4c1e-9a8b-0123456789a",
           "GPU-6f0c5e1a-3b2d-4c1e-9a8b-0123456789abc", "GPU-6f0c5e1a_3b2d-4c1e-9a8b-0123456789ab",
           "GPU-6f0c5e1a-3b2d-4c1e-9a8b-0123456789ag", "MIG-" + uuid + "/7", "MIG-" + uuid + "/7/x",
           "MIG-" + uuid + "//0", "GPU-"}) {
    auto q = ParseMemoryQuotas(bad + "=50Mi");
    ASSERT_FALSE(q.ok()) << bad;
    EXPECT_NE(q.status().message().find("'" + bad + "' is not a device UUID"), std::string::npos)
        << q.status().message();
  }
}

std::map<std::string, std::string> g_env;
const char* Lookup(const char* name) {
  auto it = g_env.find(name);
  return it == g_env.end() ? nullptr : it->second.c_str();
}

TEST(LoadConfigTest, ReadsEveryVariable) {
  g_env = {
      {"XPOOL_GPU_MEMORY", "4Gi"}, {"XPOOL_SLICE", "/dev/shm/s"}, {"XPOOL_LOG_LEVEL", "debug"}};
  const RuntimeConfig c = LoadConfig(&Lookup);
  EXPECT_TRUE(c.error.empty()) << c.error;
  EXPECT_EQ(c.quotas.For(0, "")->value(), 4096);
  EXPECT_EQ(c.slice_path, "/dev/shm/s");
  EXPECT_EQ(c.log_level, LogLevel::kDebug);
}

TEST(LoadConfigTest, NothingSetMeansNoQuotaAndNoError) {
  g_env = {};
  const RuntimeConfig c = LoadConfig(&Lookup);
  EXPECT_TRUE(c.error.empty());
  EXPECT_TRUE(c.quotas.empty());
  EXPECT_TRUE(c.slice_path.empty());
}

TEST(LoadConfigTest, AMalformedValueIsAnErrorNotUnlimited) {
  g_env = {{"XPOOL_GPU_MEMORY", "lots"}};
  EXPECT_NE(LoadConfig(&Lookup).error.find("XPOOL_GPU_MEMORY='lots'"), std::string::npos);
  g_env = {{"XPOOL_LOG_LEVEL", "loud"}};
  EXPECT_NE(LoadConfig(&Lookup).error.find("XPOOL_LOG_LEVEL"), std::string::npos);
  g_env = {{"XPOOL_SLICE", ""}};
  EXPECT_FALSE(LoadConfig(&Lookup).error.empty());
}

// A settings file the test writes and removes.
class SettingsFile {
 public:
  explicit SettingsFile(const std::string& text) {
    char name[] = "/tmp/xpool-settings-XXXXXX";  // NOLINT(modernize-avoid-c-arrays): mkstemp
    const int fd = mkstemp(name);
    path_ = name;
    if (fd >= 0) {
      (void)!write(fd, text.data(), text.size());
      close(fd);
    }
  }
  ~SettingsFile() { unlink(path_.c_str()); }
  SettingsFile(const SettingsFile&) = delete;
  SettingsFile& operator=(const SettingsFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(SliceSettingsTest, TheFileOverridesTheEnvironment) {
  const SettingsFile file(
      "# written by the device plugin\nXPOOL_GPU_MEMORY=8192\n"
      "XPOOL_GPU_CORE = 30\nXPOOL_ALLOCATION=a-1\n");
  g_env = {{"XPOOL_SLICE_SETTINGS", file.path()},
           {"XPOOL_GPU_MEMORY", "1Gi"},
           {"XPOOL_COMPUTE_POLICY", "weighted"}};
  const RuntimeConfig c = LoadConfig(&Lookup);
  EXPECT_TRUE(c.error.empty()) << c.error;
  EXPECT_EQ(c.quotas.For(0, "")->value(), 8192);
  EXPECT_EQ(c.compute.share_percent, 30);
  EXPECT_EQ(c.compute.policy, ComputePolicy::kWeighted);  // not in the file: the environment's
}

TEST(SliceSettingsTest, AMissingEmptyOrMalformedFileRefusesAllocations) {
  g_env = {{"XPOOL_SLICE_SETTINGS", "/nonexistent/settings"}, {"XPOOL_GPU_MEMORY", "1Gi"}};
  EXPECT_NE(LoadConfig(&Lookup).error.find("No such file"), std::string::npos);
  const SettingsFile empty("");
  g_env = {{"XPOOL_SLICE_SETTINGS", empty.path()}};
  EXPECT_NE(LoadConfig(&Lookup).error.find("never written"), std::string::npos);
  const SettingsFile unknown("XPOOL_GPU_MEMORY=1Gi\nLD_PRELOAD=/tmp/x.so\n");
  g_env = {{"XPOOL_SLICE_SETTINGS", unknown.path()}};
  EXPECT_NE(LoadConfig(&Lookup).error.find("line 2: 'LD_PRELOAD' is not a slice setting"),
            std::string::npos)
      << LoadConfig(&Lookup).error;
  const SettingsFile bad_value("XPOOL_GPU_CORE=300\n");
  g_env = {{"XPOOL_SLICE_SETTINGS", bad_value.path()}};
  EXPECT_NE(LoadConfig(&Lookup).error.find("XPOOL_GPU_CORE"), std::string::npos);
}

TEST(SliceSettingsTest, FormatReadsBack) {
  const SliceSettings s = {{"XPOOL_GPU_MEMORY", "4096"}, {"XPOOL_PRIORITY", "high"}};
  auto back = ParseSliceSettings(FormatSliceSettings(s));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, s);
  EXPECT_FALSE(ParseSliceSettings("XPOOL_GPU_CORE=1\nXPOOL_GPU_CORE=2\n").ok());
  EXPECT_FALSE(ParseSliceSettings("XPOOL_GPU_CORE\n").ok());
  EXPECT_FALSE(ParseSliceSettings("# nothing\n").ok());
}

TEST(LoadConfigTest, ComputeWaitIsAutoUnlessAsked) {
  g_env = {{"XPOOL_GPU_CORE", "30"}};
  EXPECT_EQ(LoadConfig(&Lookup).compute.wait, ComputeWait::kAuto);
  g_env = {{"XPOOL_GPU_CORE", "30"}, {"XPOOL_COMPUTE_WAIT", "block"}};
  EXPECT_EQ(LoadConfig(&Lookup).compute.wait, ComputeWait::kBlock);
  g_env = {{"XPOOL_GPU_CORE", "30"}, {"XPOOL_COMPUTE_WAIT", "yield"}};
  EXPECT_EQ(LoadConfig(&Lookup).compute.wait, ComputeWait::kYield);
  g_env = {{"XPOOL_GPU_CORE", "30"}, {"XPOOL_COMPUTE_WAIT", "spin"}};
  EXPECT_EQ(LoadConfig(&Lookup).compute.wait, ComputeWait::kSpin);
  g_env = {{"XPOOL_GPU_CORE", "30"}, {"XPOOL_COMPUTE_WAIT", "sleep"}};
  const RuntimeConfig c = LoadConfig(&Lookup);
  EXPECT_NE(c.error.find("XPOOL_COMPUTE_WAIT: 'sleep' is not one of auto, yield, block, spin"),
            std::string::npos)
      << c.error;
}

TEST(LoadConfigTest, ComputePeriodIsWholeMillisecondsInRange) {
  g_env = {{"XPOOL_GPU_CORE", "30"}};
  EXPECT_EQ(LoadConfig(&Lookup).compute.period_ms, 20);
  g_env = {{"XPOOL_GPU_CORE", "30"}, {"XPOOL_COMPUTE_PERIOD_MS", "500"}};
  EXPECT_EQ(LoadConfig(&Lookup).compute.period_ms, 500);
  EXPECT_EQ(*ParseComputePeriod("250ms"), 250);
  for (const char* bad : {"5", "10001", "0.5", "fast", ""}) {
    g_env = {{"XPOOL_GPU_CORE", "30"}, {"XPOOL_COMPUTE_PERIOD_MS", bad}};
    const RuntimeConfig c = LoadConfig(&Lookup);
    EXPECT_NE(c.error.find("XPOOL_COMPUTE_PERIOD_MS: period"), std::string::npos) << bad;
    EXPECT_NE(c.error.find("from 10 to 10000"), std::string::npos) << c.error;
  }
}

TEST(LoadConfigTest, QueueDepthAndQuantumAreWholeNumbersInRange) {
  g_env = {{"XPOOL_GPU_CORE", "30"}};
  EXPECT_EQ(LoadConfig(&Lookup).compute.queue_us, 1000);
  EXPECT_EQ(LoadConfig(&Lookup).compute.quantum_ms, 10);
  g_env = {{"XPOOL_GPU_CORE", "30"},
           {"XPOOL_COMPUTE_QUEUE_US", "20000"},
           {"XPOOL_COMPUTE_QUANTUM_MS", "50"}};
  const RuntimeConfig set = LoadConfig(&Lookup);
  EXPECT_EQ(set.error, "");
  EXPECT_EQ(set.compute.queue_us, 20000);
  EXPECT_EQ(set.compute.quantum_ms, 50);
  for (const auto& [name, bad] :
       {std::pair{"XPOOL_COMPUTE_QUEUE_US", "99"}, std::pair{"XPOOL_COMPUTE_QUEUE_US", "1ms"},
        std::pair{"XPOOL_COMPUTE_QUANTUM_MS", "0"},
        std::pair{"XPOOL_COMPUTE_QUANTUM_MS", "1001"}}) {
    g_env = {{"XPOOL_GPU_CORE", "30"}, {name, bad}};
    const RuntimeConfig c = LoadConfig(&Lookup);
    EXPECT_EQ(c.error.rfind(std::string(name) + ": '", 0), 0u) << c.error;
  }
}

}  // namespace
}  // namespace xpool::runtime
