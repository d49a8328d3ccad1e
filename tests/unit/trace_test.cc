#include "sim/trace.h"

#include <gtest/gtest.h>

#include "sim/seeds.h"

namespace xpool::sim {
namespace {

constexpr const char* kHeader11 =
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_"
    "time,scheduled_time\n";

TEST(ParsePods, ReadsTheElevenColumnFormat) {
  auto pods = ParsePods(std::string(kHeader11) +
                            "p0,6000,12288,1,460,V100M16|V100M32,LS,Running,5,100,7\n"
                            "p1,4000,100,0,0,,BE,Running,0,10,\n",
                        "t.csv");
  ASSERT_TRUE(pods.ok()) << pods.status().message();
  ASSERT_EQ(pods->size(), 2u);
  const TracePod& p = (*pods)[0];
  EXPECT_EQ(p.cpu_milli, 6000);
  EXPECT_EQ(p.gpu_milli, 460);
  EXPECT_EQ(p.gpu_spec, "V100M16|V100M32");
  EXPECT_TRUE(p.has_times);
  EXPECT_EQ(p.scheduled_time, 7);
  EXPECT_EQ((*pods)[1].scheduled_time, 0) << "an empty scheduled_time falls back to creation";
}

TEST(ParsePods, ReadsTheFiveColumnFormat) {
  auto pods =
      ParsePods("name,cpu_milli,memory_mib,num_gpu,gpu_milli\nq,88000,500000,8,1000\n", "m.csv");
  ASSERT_TRUE(pods.ok());
  EXPECT_EQ((*pods)[0].num_gpu, 8);
  EXPECT_FALSE((*pods)[0].has_times);
}

TEST(ParsePods, NamesTheFileAndLineOfAMalformedRow) {
  const std::string text = std::string(kHeader11) +
                           "p0,6000,12288,1,460,,LS,Running,0,1,0\n"
                           "p1,6000,12288,1,abc,,LS,Running,0,1,0\n";
  auto pods = ParsePods(text, "bad.csv");
  ASSERT_FALSE(pods.ok());
  EXPECT_NE(pods.status().message().find("bad.csv:3:"), std::string::npos)
      << pods.status().message();
  EXPECT_NE(pods.status().message().find("gpu_milli"), std::string::npos);
}

TEST(ParsePods, RefusesInconsistentRows) {
  const std::string h = kHeader11;
  for (const char* row : {"p,1,1,2,500,,LS,R,0,1,0",   // multi-GPU sharing
                          "p,1,1,1,0,,LS,R,0,1,0",     // GPU without share
                          "p,1,1,0,300,,LS,R,0,1,0",   // share without GPU
                          "p,1,1,1,1200,,LS,R,0,1,0",  // more than a GPU
                          "p,-1,1,1,100,,LS,R,0,1,0",  // negative CPU
                          "p,1,1,1,100,,LS,R,0,1"}) {  // missing column
    EXPECT_FALSE(ParsePods(h + row + "\n", "x.csv").ok()) << row;
  }
  EXPECT_FALSE(ParsePods("id,cpu\n1,2\n", "x.csv").ok()) << "unknown header";
  EXPECT_FALSE(ParsePods(h, "x.csv").ok()) << "no pods";
}

TEST(ParseNodes, ReadsNodesAndRefusesGpusWithoutModel) {
  auto nodes = ParseNodes(
      "sn,cpu_milli,memory_mib,gpu,model\nn0,96000,393216,8,G2\nn1,32000,262144,0,\n", "n.csv");
  ASSERT_TRUE(nodes.ok());
  EXPECT_EQ((*nodes)[0].gpus, 8);
  EXPECT_EQ((*nodes)[1].model, "");
  EXPECT_FALSE(ParseNodes("sn,cpu_milli,memory_mib,gpu,model\nn0,96000,393216,8,\n", "n.csv").ok());
}

TEST(LoadPods, AMissingFileIsNotFound) {
  auto r = LoadPods("/nonexistent/pods.csv");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("/nonexistent/pods.csv"), std::string::npos);
}

TEST(SyntheticWorkload, IsDeterministicAndWellFormed) {
  Workload a = SyntheticWorkload(), b = SyntheticWorkload();
  ASSERT_EQ(a.pods.size(), b.pods.size());
  EXPECT_EQ(a.pods[123].cpu_milli, b.pods[123].cpu_milli);
  int multi = 0, sharing = 0;
  for (const auto& p : a.pods) {
    EXPECT_TRUE(p.num_gpu <= 1 || p.gpu_milli == 1000);
    EXPECT_GE(p.deletion_time, p.creation_time);
    multi += p.num_gpu > 1;
    sharing += p.num_gpu == 1 && p.gpu_milli < 1000;
  }
  EXPECT_GT(multi, 0);
  EXPECT_GT(sharing, 0);
}

TEST(ParseSeeds, RangesListsAndErrors) {
  EXPECT_EQ(*ParseSeeds("42-45"), (std::vector<uint64_t>{42, 43, 44, 45}));
  EXPECT_EQ(*ParseSeeds("1,5,9"), (std::vector<uint64_t>{1, 5, 9}));
  EXPECT_EQ(*ParseSeeds("7"), (std::vector<uint64_t>{7}));
  EXPECT_EQ(*ParseSeeds("1-2,9"), (std::vector<uint64_t>{1, 2, 9}));
  for (const char* bad : {"", "a", "5-3", "1-", "-1", "1,,2", "1-2-3", "0-100000"}) {
    EXPECT_FALSE(ParseSeeds(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace xpool::sim
