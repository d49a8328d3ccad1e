#include "controller/extender.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "agent/inventory.h"

namespace xpool::controller {
namespace {

using nlohmann::json;

// A pod as the API server writes it, asking for `limits` in its one container.
std::string Pod(const json& limits) {
  return json{
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata", {{"name", "infer-0"}, {"namespace", "ml"}, {"uid", "u-1"}}},
      {"spec",
       {{"containers",
         json::array(
             {{{"name", "main"}, {"image", "pytorch"}, {"resources", {{"limits", limits}}}}})}}}}
      .dump();
}

std::string Args(const std::string& pod, const std::vector<std::string>& names, bool cache) {
  json args = {{"Pod", json::parse(pod)}};
  if (cache) {
    args["NodeNames"] = names;
  } else {
    json items = json::array();
    for (const auto& n : names)
      items.push_back({{"metadata", {{"name", n}}}, {"status", json::object()}});
    args["Nodes"] = {{"items", items}};
  }
  return args.dump();
}

class ExtenderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("xpool-extender-" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(dir_);
    auto store = store::OpenSqliteStore(dir_.string());
    ASSERT_TRUE(store.ok());
    auto state = PoolState::Open(std::move(*store), ControllerOptions(), 0);
    ASSERT_TRUE(state.ok());
    state_ = std::move(*state);
    for (const auto& [name, model, count] :
         {std::tuple{"a", "H100-SXM", 2}, std::tuple{"b", "L4", 1}}) {
      auto node =
          agent::ParseInventory(std::string("node: ") + name + "\ndevices:\n  - model: " + model +
                                    "\n    count: " + std::to_string(count) + "\n",
                                "test", "x");
      ASSERT_TRUE(node.ok());
      ASSERT_TRUE(state_->Register(*node, 0).ok());
    }
  }
  void TearDown() override {
    state_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::filesystem::path dir_;
  std::unique_ptr<PoolState> state_;
};

TEST_F(ExtenderTest, FilterPassesNodesThatFitAndSaysWhyOthersFail) {
  int status = 0;
  // 30 % and 40 GiB of one device: only the H100 node has that much memory per device.
  const std::string pod =
      Pod({{"xpool.io/gpu", "1"}, {"xpool.io/gpu-memory", "40960"}, {"xpool.io/gpu-core", 30}});
  for (bool cache : {true, false}) {
    const json out = json::parse(
        ExtenderFilter(*state_, Args(pod, {"a", "b", "zz"}, cache), ResourceNames(), &status));
    EXPECT_EQ(status, 200);
    EXPECT_EQ(out["Error"], "");
    if (cache) {
      EXPECT_EQ(out["NodeNames"], json::array({"a"}));
    } else {
      ASSERT_EQ(out["Nodes"]["items"].size(), 1u);
      EXPECT_EQ(out["Nodes"]["items"][0]["metadata"]["name"], "a");
    }
    EXPECT_NE(out["FailedAndUnresolvableNodes"]["b"].get<std::string>().find("L4"),
              std::string::npos);
    EXPECT_NE(out["FailedAndUnresolvableNodes"]["zz"].get<std::string>().find("no xpool agent"),
              std::string::npos);
  }
  // Both H100s taken: node a fails, but could hold it later (not unresolvable).
  v1::AllocateRequest two;
  two.set_devices(2);
  ASSERT_TRUE(state_->Allocate(two, 1).ok());
  const json out =
      json::parse(ExtenderFilter(*state_, Args(pod, {"a"}, true), ResourceNames(), &status));
  EXPECT_EQ(out["NodeNames"], json::array());
  EXPECT_NE(out["FailedNodes"]["a"].get<std::string>().find("no free device"), std::string::npos);
}

// The compute annotations are checked where the pod is filtered: a pod the runtime would run
// unlimited, or refuse, is told why before it is placed.
TEST_F(ExtenderTest, BadComputeAnnotationsAreRefusedWithTheReason) {
  const json limits = {
      {"xpool.io/gpu", 1}, {"xpool.io/gpu-memory", 8192}, {"xpool.io/gpu-core", 30}};
  const std::vector<std::pair<json, std::string>> cases = {
      {{{"xpool.io/compute-period-ms", "5"}}, "xpool.io/compute-period-ms: period '5'"},
      {{{"xpool.io/priority", "urgent"}}, "priority 'urgent'"},
      {{{"xpool.io/compute-policy", "fair"}}, "policy 'fair'"},
  };
  for (const auto& [annotations, reason] : cases) {
    json pod = json::parse(Pod(limits));
    pod["metadata"]["annotations"] = annotations;
    int status = 0;
    const json out = json::parse(
        ExtenderFilter(*state_, Args(pod.dump(), {"a"}, true), ResourceNames(), &status));
    EXPECT_NE(out.dump().find(reason), std::string::npos) << out.dump();
    EXPECT_TRUE(out["NodeNames"].is_null() || out["NodeNames"].empty()) << out.dump();
  }
}

TEST_F(ExtenderTest, PodsOfNoneOfOurResourcesPassEverywhere) {
  int status = 0;
  const std::string pod = Pod({{"cpu", "2"}, {"memory", "4Gi"}});
  const json out = json::parse(
      ExtenderFilter(*state_, Args(pod, {"a", "b", "zz"}, true), ResourceNames(), &status));
  EXPECT_EQ(out["NodeNames"], json::array({"a", "b", "zz"}));
  const json scores = json::parse(
      ExtenderPrioritize(*state_, Args(pod, {"a", "b"}, true), ResourceNames(), &status));
  EXPECT_EQ(scores, json::parse(R"([{"Host":"a","Score":5},{"Host":"b","Score":5}])"));
}

TEST_F(ExtenderTest, PrioritizeScoresZeroToTenAndZeroWhereItCannotFit) {
  int status = 0;
  const std::string pod =
      Pod({{"xpool.io/gpu", 1}, {"xpool.io/gpu-memory", 8192}, {"xpool.io/gpu-core", "25"}});
  const json scores = json::parse(
      ExtenderPrioritize(*state_, Args(pod, {"a", "b"}, true), ResourceNames(), &status));
  ASSERT_EQ(status, 200);
  ASSERT_EQ(scores.size(), 2u);
  for (const auto& s : scores) {
    EXPECT_GE(s["Score"].get<int>(), 0);
    EXPECT_LE(s["Score"].get<int>(), 10);
  }
  const json big = json::parse(ExtenderPrioritize(
      *state_, Args(Pod({{"xpool.io/gpu", 2}}), {"a", "b"}, true), ResourceNames(), &status));
  EXPECT_EQ(big[1], json::parse(R"({"Host":"b","Score":0})"));  // one L4: cannot hold 2
  EXPECT_EQ(big[0], json::parse(R"({"Host":"a","Score":10})"));
}

TEST_F(ExtenderTest, MalformedBodiesAreAnsweredWithAnErrorNotACrash) {
  int status = 0;
  for (const std::string body :
       {"", "not json", "[]", "{}", R"({"Pod": 3})", R"({"Pod": {}})",
        R"({"Pod": {}, "NodeNames": [1]})", R"({"Pod": {}, "Nodes": {"items": [{}]}})"}) {
    const json out = json::parse(ExtenderFilter(*state_, body, ResourceNames(), &status));
    EXPECT_EQ(status, 400) << body;
    EXPECT_FALSE(out["Error"].get<std::string>().empty()) << body;
    const json p = json::parse(ExtenderPrioritize(*state_, body, ResourceNames(), &status));
    EXPECT_EQ(status, 400) << body;
  }
  // Well-formed, but asking for nonsense: an error in the answer, every node failed.
  const json out = json::parse(ExtenderFilter(
      *state_, Args(Pod({{"xpool.io/gpu", "one"}}), {"a"}, true), ResourceNames(), &status));
  EXPECT_EQ(status, 200);
  EXPECT_NE(out["Error"].get<std::string>().find("whole number"), std::string::npos);
  const json core = json::parse(ExtenderFilter(
      *state_,
      Args(Pod({{"xpool.io/gpu", 2}, {"xpool.io/gpu-core", 30}, {"xpool.io/gpu-memory", 1024}}),
           {"a"}, true),
      ResourceNames(), &status));
  EXPECT_NE(core["Error"].get<std::string>().find("whole devices"), std::string::npos);
}

}  // namespace
}  // namespace xpool::controller
