#include "agent/container_identity.h"

#include <gtest/gtest.h>

namespace xpool::agent {
namespace {

ListedContainer Listed(const std::string& pod, const std::string& container,
                       std::vector<std::string> ids) {
  return {"ml", pod, container, std::move(ids)};
}

TEST(ContainerIdentityTest, AnAppContainerIsTheOneListedWithExactlyItsIds) {
  const std::vector<ListedContainer> listed = {Listed("p", "a", {"g::1"}),
                                               Listed("q", "b", {"g::2", "g::3"})};
  auto who = IdentifyContainer({"g::2", "g::3"}, listed, {});
  ASSERT_TRUE(who.ok());
  EXPECT_EQ(who->pod_name, "q");
  EXPECT_EQ(who->container, "b");
  EXPECT_TRUE(who->may_be_init_container);
}

TEST(ContainerIdentityTest, AnInitContainerWhoseDevicesWentOnIsOfThatPod) {
  // The init container held g::1; app container a took it and g::2.
  auto who = IdentifyContainer({"g::1"}, {Listed("p", "a", {"g::1", "g::2"})}, {});
  ASSERT_TRUE(who.ok());
  EXPECT_EQ(who->pod_name, "p");
  EXPECT_TRUE(who->container.empty());
}

TEST(ContainerIdentityTest, AnUnlistedInitContainerIsOfThePodAllocatedNext) {
  const std::deque<AllocateRecord> records = {{{"g::5"}}, {{"g::1"}}, {{"g::7"}}, {{"g::8"}}};
  const std::vector<ListedContainer> listed = {Listed("old", "x", {"g::5"}),
                                               Listed("p", "main", {"g::7"})};
  auto who = IdentifyContainer({"g::1"}, listed, records);
  ASSERT_TRUE(who.ok()) << who.status().message();
  EXPECT_EQ(who->pod_name, "p");
  EXPECT_TRUE(who->container.empty());
  // Never allocated here, or no pod after it: not guessed.
  EXPECT_EQ(IdentifyContainer({"g::9"}, listed, records).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(IdentifyContainer({"g::8"}, listed, records).status().code(), StatusCode::kNotFound);
}

TEST(ContainerIdentityTest, IdsListedForTwoPodsAreRefused) {
  auto who = IdentifyContainer({"g::1", "g::2"},
                               {Listed("p", "a", {"g::1"}), Listed("q", "b", {"g::2"})}, {});
  EXPECT_EQ(who.status().code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace xpool::agent
