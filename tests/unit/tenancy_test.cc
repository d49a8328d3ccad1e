// The tenants file, and the controller under it: limits that make requests wait, guarantees
// that go first, membership, priority classes, and a reload that lets waiting requests in.
#include "controller/tenancy.h"

#include <gtest/gtest.h>

#include "pool_state_fixture.h"

namespace xpool::controller {
namespace {

using pool_testing::Ask;
using pool_testing::MakeNode;
using pool_testing::PoolStateTest;

constexpr char kFile[] = R"(
default-tenant: research
tenants:
  research:
    guarantee: {gpus: 1}
    limit: {gpus: 2, gpu-memory: 32Gi}
  prod:
    members: [alice]
    guarantee: {gpus: 2.5, gpu-memory: 40Gi}
priority-classes:
  urgent: 100
  batch: -5
)";

TEST(TenancyTest, AFileParsesIntoTenantsAndPriorityClasses) {
  auto c = ParseTenancy(kFile, "t.yaml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->default_tenant, "research");
  const TenantPolicy& research = c->tenants.at("research");
  EXPECT_EQ(research.guarantee.milli, 1000);
  EXPECT_EQ(research.limit.milli, 2000);
  EXPECT_EQ(research.limit.memory_mib, 32 * 1024);
  EXPECT_TRUE(research.members.empty());
  const TenantPolicy& prod = c->tenants.at("prod");
  EXPECT_EQ(prod.guarantee.milli, 2500);
  EXPECT_EQ(prod.guarantee.memory_mib, 40 * 1024);
  EXPECT_GT(prod.limit.milli, int64_t{1} << 60);  // no limit given: none
  EXPECT_EQ(c->priority_classes.at("batch"), -5);
  // Who bills what.
  EXPECT_EQ((*c->TenantFor("", "bob"))->name, "research");
  EXPECT_TRUE(c->TenantFor("prod", "alice").ok());
  EXPECT_NE(c->TenantFor("prod", "bob").status().message().find("not a member"), std::string::npos);
  EXPECT_FALSE(c->TenantFor("nobody", "alice").ok());
}

TEST(TenancyTest, BadFilesAreRefusedNamingWhatIsWrong) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"tenants: [a, b]", "tenants must map"},
      {"tenants:\n  a:\n    limit: {gpus: -1}", "tenant 'a'.limit.gpus"},
      {"tenants:\n  a:\n    limit: {gpus: lots}", "not a number"},
      {"tenants:\n  a:\n    limit: {gpus: .inf}", "not a number"},
      {"tenants:\n  a:\n    guarantee: {gpus: 4}\n    limit: {gpus: 2}", "larger than its limit"},
      {"tenants:\n  a:\n    limit: {gpu-memory: 8GB}", "gpu-memory"},
      {"tenants:\n  a:\n    limit: {cpus: 2}", "unknown key 'cpus'"},
      {"tenants:\n  \"a\\nb\": {}", "is not 1-63"},
      {"tenants:\n  a:\n    members: [\"eve\\n\"]", "not a user name"},
      {"tenants:\n  a: {}\ndefault-tenant: b", "default-tenant 'b'"},
      {"priority-classes:\n  high: 1.5", "whole number"},
      {"priority-classes:\n  high: 99999999999", "whole number"},
      {"quotas: {}", "unknown key 'quotas'"},
      {"tenants: {a: {}", "not YAML"},
      {"- a", "expected a mapping"},
  };
  for (const auto& [text, expected] : bad) {
    auto c = ParseTenancy(text, "t.yaml");
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_NE(c.status().message().find(expected), std::string::npos)
        << text << " -> " << c.status().message();
    EXPECT_EQ(c.status().message().rfind("t.yaml: ", 0), 0u) << c.status().message();
  }
}

class TenancyPoolTest : public PoolStateTest {
 protected:
  void Configure(const std::string& text, int64_t now = 0) {
    auto c = ParseTenancy(text, "t.yaml");
    ASSERT_TRUE(c.ok()) << c.status().message();
    state_->SetTenancy(*c, now);
  }
  static v1::AllocateRequest For(const std::string& tenant, const std::string& owner = "bob",
                                 bool wait = true) {
    v1::AllocateRequest r = Ask(1);
    r.set_tenant(tenant);
    r.set_owner(owner);
    r.set_wait(wait);
    return r;
  }
};

TEST_F(TenancyPoolTest, ATenantAtItsLimitWaitsWhileThePoolHasRoom) {
  ASSERT_TRUE(state_->Register(MakeNode("g", "H100-SXM", "gpu", 4), 0).ok());
  Configure(kFile);
  auto first = state_->Allocate(For("research"), 1);
  auto second = state_->Allocate(For(""), 1);  // the default tenant
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(second->tenant(), "research");
  auto third = state_->Allocate(For("research"), 2);
  ASSERT_TRUE(third.ok()) << third.status().message();
  EXPECT_EQ(third->state(), "queued");
  EXPECT_NE(third->reason().find("research is at its limit of 2 GPUs"), std::string::npos)
      << third->reason();
  Refusal refusal = Refusal::kNone;
  EXPECT_FALSE(state_->Allocate(For("research", "bob", false), 2, &refusal).ok());
  EXPECT_EQ(refusal, Refusal::kNoCapacityNow);
  // More than the limit allows at all: refused at once.
  auto huge = For("research");
  huge.set_devices(3);
  EXPECT_FALSE(state_->Allocate(huge, 2, &refusal).ok());
  EXPECT_EQ(refusal, Refusal::kNeverFits);
  // Another tenant still gets the free GPUs.
  EXPECT_EQ(state_->Allocate(For("prod", "alice"), 3)->state(), "reserved");
  // One of research's own ends: the waiting one goes in.
  ASSERT_TRUE(state_->Release(first->id(), "done", 4).ok());
  EXPECT_EQ(state_->Get(third->id())->state(), "reserved");
}

TEST_F(TenancyPoolTest, MembershipAndPriorityClassesAreChecked) {
  ASSERT_TRUE(state_->Register(MakeNode("g", "H100-SXM", "gpu", 1), 0).ok());
  Configure(kFile);
  Refusal refusal = Refusal::kNone;
  auto eve = state_->Allocate(For("prod", "eve"), 1, &refusal);
  ASSERT_FALSE(eve.ok());
  EXPECT_EQ(refusal, Refusal::kInvalid);
  EXPECT_NE(eve.status().message().find("not a member of tenant 'prod'"), std::string::npos);
  auto unknown = For("research");
  unknown.set_priority_class("asap");
  auto r = state_->Allocate(unknown, 1, &refusal);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("known: batch, urgent"), std::string::npos)
      << r.status().message();
  ASSERT_TRUE(state_->Allocate(For("research"), 1).ok());  // the only GPU
  auto low = For("research");
  low.set_priority_class("batch");
  auto high = For("prod", "alice");
  high.set_priority_class("urgent");
  auto queued_low = state_->Allocate(low, 2);
  auto queued_high = state_->Allocate(high, 3);
  ASSERT_TRUE(queued_low.ok() && queued_high.ok());
  EXPECT_EQ(queued_high->request().queue_priority(), 100);
  EXPECT_EQ(state_->Queue().front().id(), queued_high->id());
}

TEST_F(TenancyPoolTest, ATenantBelowItsGuaranteeGoesBeforeOnesPastTheirs) {
  ASSERT_TRUE(state_->Register(MakeNode("g", "H100-SXM", "gpu", 2), 0).ok());
  Configure(R"(
tenants:
  big: {guarantee: {gpus: 1}}
  small: {guarantee: {gpus: 1}}
)");
  // big holds both GPUs (one of them borrowed past its guarantee).
  auto a = state_->Allocate(For("big"), 1);
  auto b = state_->Allocate(For("big"), 1);
  ASSERT_TRUE(a.ok() && b.ok());
  auto big_more = state_->Allocate(For("big"), 2);
  auto small = state_->Allocate(For("small"), 3);
  ASSERT_TRUE(big_more.ok() && small.ok());
  EXPECT_EQ(state_->Queue().front().id(), small->id());
  ASSERT_TRUE(state_->Release(a->id(), "done", 4).ok());
  EXPECT_EQ(state_->Get(small->id())->state(), "reserved");
  EXPECT_EQ(state_->Get(big_more->id())->state(), "queued");
}

TEST_F(TenancyPoolTest, AReloadThatRaisesALimitLetsWaitingRequestsIn) {
  ASSERT_TRUE(state_->Register(MakeNode("g", "H100-SXM", "gpu", 2), 0).ok());
  Configure("tenants:\n  t: {limit: {gpus: 1}}\n");
  ASSERT_TRUE(state_->Allocate(For("t"), 1).ok());
  auto waiting = state_->Allocate(For("t"), 2);
  ASSERT_TRUE(waiting.ok());
  ASSERT_EQ(waiting->state(), "queued");
  Configure("tenants:\n  t: {limit: {gpus: 2}}\n", 3);
  EXPECT_EQ(state_->Get(waiting->id())->state(), "reserved");
}

TEST_F(TenancyPoolTest, TheExtenderJudgesPodsByTheirNamespacesTenant) {
  ASSERT_TRUE(state_->Register(MakeNode("g", "H100-SXM", "gpu", 2), 0).ok());
  Configure("tenants:\n  ns-a: {members: [alice], limit: {gpus: 1}}\n");
  auto pod = Ask(1);
  pod.set_tenant("ns-a");
  pod.set_owner("ns-a/trainer-0");  // not a user: Kubernetes decides who creates pods there
  pod.set_pod_uid("uid-1");
  auto verdicts = state_->Evaluate(pod, {"g"});
  ASSERT_TRUE(verdicts.ok());
  EXPECT_TRUE((*verdicts)[0].fits) << (*verdicts)[0].reason;
  auto bound = pod;
  bound.set_node("g");
  ASSERT_TRUE(state_->Allocate(bound, 1).ok());
  pod.set_pod_uid("uid-2");
  verdicts = state_->Evaluate(pod, {"g"});
  ASSERT_TRUE(verdicts.ok());
  EXPECT_FALSE((*verdicts)[0].fits);
  EXPECT_FALSE((*verdicts)[0].never);
  EXPECT_NE((*verdicts)[0].reason.find("ns-a is at its limit"), std::string::npos);
  pod.set_tenant("ns-z");
  verdicts = state_->Evaluate(pod, {"g"});
  ASSERT_TRUE(verdicts.ok());
  EXPECT_TRUE((*verdicts)[0].never);
  EXPECT_NE((*verdicts)[0].reason.find("no tenant 'ns-z'"), std::string::npos);
}

}  // namespace
}  // namespace xpool::controller
