// What agents register and users ask is checked at the controller's edge: each bad field is
// refused with a line naming it, and the pool is unchanged (issue 28 item 5).
#include "controller/validation.h"

#include <gtest/gtest.h>

#include <functional>

#include "pool_state_fixture.h"

namespace xpool::controller {
namespace {

using pool_testing::Ask;
using pool_testing::MakeNode;
using pool_testing::PoolStateTest;

TEST(ValidationTest, EachBadRegistrationIsRefusedNamingTheField) {
  const v1::Node good = MakeNode("g", "H100-SXM", "gpu", 2);
  ASSERT_TRUE(ValidateNode(good).ok()) << ValidateNode(good).message();
  v1::Node named_by_its_driver = good;  // NVML's names for models the catalog lacks
  named_by_its_driver.mutable_devices(0)->set_model("NVIDIA RTX A6000");
  EXPECT_TRUE(ValidateNode(named_by_its_driver).ok());
  const std::vector<std::pair<std::function<void(v1::Node&)>, std::string>> cases = {
      {[](v1::Node& n) { n.set_name("g\nforged"); }, "node name 'g\\x0aforged'"},
      {[](v1::Node& n) { n.set_name(""); }, "node name is empty"},
      {[](v1::Node& n) { n.set_name(std::string(300, 'a')); }, "longer than 253"},
      {[](v1::Node& n) { n.set_memory_mib(-1); }, "memory (-1 MiB) is out of range"},
      {[](v1::Node& n) { n.set_cpu_milli(int64_t{1} << 62); }, "cpu"},
      {[](v1::Node& n) { n.mutable_devices(1)->set_id(n.devices(0).id()); }, "id given twice"},
      {[](v1::Node& n) { n.mutable_devices(1)->set_uuid(n.devices(0).uuid()); }, "given twice"},
      {[](v1::Node& n) { n.mutable_devices(1)->set_index(0); }, "index 0"},
      {[](v1::Node& n) { n.mutable_devices(0)->set_memory_mib(-80); }, "memory (-80 MiB)"},
      {[](v1::Node& n) { n.mutable_devices(0)->set_model("H100\tSXM"); }, "model 'H100\\x09SXM'"},
      {[](v1::Node& n) {
         for (int i = 0; i < kMaxDevicesPerNode; ++i) *n.add_devices() = n.devices(0);
       },
       "at most 256"},
  };
  for (const auto& [spoil, expected] : cases) {
    v1::Node node = good;
    spoil(node);
    const Status s = ValidateNode(node);
    ASSERT_FALSE(s.ok()) << expected;
    EXPECT_NE(s.message().find(expected), std::string::npos) << s.message();
  }
}

TEST_F(PoolStateTest, ABadRegistrationOrRequestChangesNothing) {
  v1::Node twice = MakeNode("g", "H100-SXM", "gpu", 2);
  twice.mutable_devices(1)->set_id(twice.devices(0).id());
  EXPECT_FALSE(state_->Register(twice, 0).ok());
  EXPECT_TRUE(state_->Nodes().empty());
  ASSERT_TRUE(state_->Register(MakeNode("g", "H100-SXM", "gpu", 2), 0).ok());
  Refusal refusal = Refusal::kNone;
  auto bad_tenant = Ask(1);
  bad_tenant.set_tenant(std::string(3'000'000, 't'));
  EXPECT_FALSE(state_->Allocate(bad_tenant, 1, &refusal).ok());
  EXPECT_EQ(refusal, Refusal::kInvalid);
  auto newline = Ask(1);
  newline.set_tenant("team\na");
  EXPECT_FALSE(state_->Allocate(newline, 1, &refusal).ok());
  EXPECT_TRUE(state_->Allocations(true).empty());
}

}  // namespace
}  // namespace xpool::controller
