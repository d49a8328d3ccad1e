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

// Each container that asks for a slice gets one (init containers too, a sidecar as an app
// container); the pod fits a node only where all of them fit together.
TEST_F(ExtenderTest, EveryGpuContainerOfAPodIsSizedOnItsOwn) {
  const auto container = [](const std::string& name, int core) {
    return json{
        {"name", name},
        {"resources",
         {{"limits",
           {{"xpool.io/gpu", "1"}, {"xpool.io/gpu-core", core}, {"xpool.io/gpu-memory", "1k"}}}}}};
  };
  const auto pod_of = [&](int core_a, int core_b) {
    json init = container("prep", 50);
    return json{{"metadata", {{"name", "multi"}, {"namespace", "ml"}, {"uid", "u-m"}}},
                {"spec",
                 {{"initContainers", json::array({init})},
                  {"containers", json::array({container("a", core_a), json{{"name", "log"}},
                                              container("b", core_b)})}}}}
        .dump();
  };
  int status = 0;
  // L4 node b has one device: 50 + 30 + 20 fit there, 50 + 40 + 20 do not.
  json out = json::parse(
      ExtenderFilter(*state_, Args(pod_of(30, 20), {"b"}, true), ResourceNames(), &status));
  EXPECT_EQ(out["NodeNames"], json::array({"b"})) << out.dump();
  out = json::parse(
      ExtenderFilter(*state_, Args(pod_of(40, 20), {"b"}, true), ResourceNames(), &status));
  EXPECT_EQ(out["NodeNames"], json::array());
  EXPECT_NE(out["FailedNodes"]["b"].get<std::string>().find("all 3 containers"), std::string::npos)
      << out.dump();
  // Before, a pod of two 20 % containers was one two-device request of 20 % each: refused.
  out = json::parse(
      ExtenderFilter(*state_, Args(pod_of(20, 20), {"a"}, true), ResourceNames(), &status));
  EXPECT_EQ(out["NodeNames"], json::array({"a"})) << out.dump();
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

// The API server stores "10000" as "10k"; users write "8Ki" or "1e4": each means what Kubernetes
// says it means, in the resource's unit (MiB for memory).
TEST_F(ExtenderTest, EveryQuantityFormThePodCanCarryIsReadAsKubernetesReadsIt) {
  int status = 0;
  const auto filter = [&](const json& memory, const json& core) {
    return json::parse(ExtenderFilter(*state_,
                                      Args(Pod({{"xpool.io/gpu", "1"},
                                                {"xpool.io/gpu-memory", memory},
                                                {"xpool.io/gpu-core", core}}),
                                           {"a", "b"}, true),
                                      ResourceNames(), &status));
  };
  // 10,000 MiB fits both the H100 (80 GB) and the L4 (24 GB); 30,000 MiB only the H100.
  for (const json& memory : {json("10k"), json("10000"), json("1e4"), json("1E4"),
                             json("10000000m"), json(10000), json(1e4), json("9.765625Ki")}) {
    const json out = filter(memory, "30");
    EXPECT_EQ(out["Error"], "") << memory;
    EXPECT_EQ(out["NodeNames"], json::array({"a", "b"})) << memory;
  }
  for (const json& memory : {json("30k"), json("3e4"), json("30000")}) {
    const json out = filter(memory, json("3e1"));
    EXPECT_EQ(out["Error"], "") << memory;
    EXPECT_EQ(out["NodeNames"], json::array({"a"})) << memory;
    EXPECT_TRUE(out["FailedAndUnresolvableNodes"].contains("b")) << memory;
  }
  // "8Gi" is 8,589,934,592 MiB as Kubernetes counts it: no device holds it, and each node says so.
  const json huge = filter("8Gi", "30");
  EXPECT_EQ(huge["Error"], "");
  EXPECT_EQ(huge["NodeNames"], json::array());
  for (const char* node : {"a", "b"}) {
    EXPECT_NE(huge["FailedAndUnresolvableNodes"][node].get<std::string>().find("MiB"),
              std::string::npos)
        << huge.dump();
  }
  // Counts are whole: a fraction, a negative or a malformed value is an error naming the resource.
  for (const auto& [memory, why] :
       {std::pair{json("1.5k5"), "not a Kubernetes quantity"},
        std::pair{json("500m"), "not a whole number"}, std::pair{json("-1Ki"), "negative"},
        std::pair{json(-5), "negative"},
        std::pair{json("8GB"), "'8GB' is not a Kubernetes quantity"}}) {
    const std::string error = filter(memory, "30")["Error"];
    EXPECT_NE(error.find("xpool.io/gpu-memory"), std::string::npos) << error;
    EXPECT_NE(error.find(why), std::string::npos) << error;
  }
}

// A pod may name a rating instead of models: node a (H100, 989 TFLOPS) has it, node b (L4, 121)
// does not and never will.
TEST_F(ExtenderTest, APodNamingARatingGoesToTheModelsThatHaveIt) {
  int status = 0;
  const auto filter = [&](const json& annotations) {
    json pod = json::parse(Pod({{"xpool.io/gpu", "1"}}));
    pod["metadata"]["annotations"] = annotations;
    return json::parse(
        ExtenderFilter(*state_, Args(pod.dump(), {"a", "b"}, true), ResourceNames(), &status));
  };
  for (const json& annotations :
       {json{{"xpool.io/min-bf16-tflops", "300"}}, json{{"xpool.io/min-device-memory", "40Gi"}}}) {
    const json out = filter(annotations);
    EXPECT_EQ(out["Error"], "") << annotations;
    EXPECT_EQ(out["NodeNames"], json::array({"a"})) << annotations;
    EXPECT_TRUE(out["FailedAndUnresolvableNodes"].contains("b")) << annotations;
  }
  const json none = filter({{"xpool.io/min-bf16-tflops", "5000"}});
  EXPECT_EQ(none["NodeNames"], json::array());
  EXPECT_NE(none["FailedAndUnresolvableNodes"]["a"].get<std::string>().find("5000 dense bf16"),
            std::string::npos)
      << none.dump();
  EXPECT_NE(filter({{"xpool.io/min-bf16-tflops", "fast"}})["Error"].get<std::string>().find(
                "'fast' is not a number of TFLOPS"),
            std::string::npos);
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
  EXPECT_NE(out["Error"].get<std::string>().find("'one' is not a Kubernetes quantity"),
            std::string::npos);
  const json core = json::parse(ExtenderFilter(
      *state_,
      Args(Pod({{"xpool.io/gpu", 2}, {"xpool.io/gpu-core", 30}, {"xpool.io/gpu-memory", 1024}}),
           {"a"}, true),
      ResourceNames(), &status));
  EXPECT_NE(core["Error"].get<std::string>().find("whole devices"), std::string::npos);
}

}  // namespace
}  // namespace xpool::controller
