#include "agent/container_identity.h"

#include <algorithm>

namespace xpool::agent {
namespace {

bool Intersects(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  for (const auto& id : a) {
    if (std::binary_search(b.begin(), b.end(), id)) return true;
  }
  return false;
}

}  // namespace

Result<ContainerIdentity> IdentifyContainer(const std::vector<std::string>& ids,
                                            const std::vector<ListedContainer>& listed,
                                            const std::deque<AllocateRecord>& records) {
  if (ids.empty()) return Status::InvalidArgument("no device ids");
  // The listed containers that hold any of the ids: all of one pod, since the kubelet never
  // gives a device to two pods at once.
  const ListedContainer* exact = nullptr;
  const ListedContainer* any = nullptr;
  for (const auto& c : listed) {
    if (!Intersects(ids, c.device_ids)) continue;
    if (any != nullptr && (any->pod_namespace != c.pod_namespace || any->pod_name != c.pod_name)) {
      return Status::FailedPrecondition("devices " + ids.front() + "... are listed for two pods, " +
                                        any->pod_namespace + "/" + any->pod_name + " and " +
                                        c.pod_namespace + "/" + c.pod_name);
    }
    any = &c;
    if (c.device_ids == ids) exact = &c;
  }
  if (exact != nullptr) {
    return ContainerIdentity{exact->pod_namespace, exact->pod_name, exact->container, true};
  }
  if (any != nullptr) {
    // Some of the ids went on to an app container, which holds others too: an init container.
    return ContainerIdentity{any->pod_namespace, any->pod_name, "", false};
  }
  // None listed: an init container whose devices no app container took. Its pod's next
  // allocation, for an app container, follows it.
  auto mine = std::find_if(records.rbegin(), records.rend(),
                           [&](const AllocateRecord& r) { return r.device_ids == ids; });
  if (mine != records.rend()) {
    for (auto later = mine.base(); later != records.end(); ++later) {
      for (const auto& c : listed) {
        if (Intersects(later->device_ids, c.device_ids)) {
          return ContainerIdentity{c.pod_namespace, c.pod_name, "", false};
        }
      }
    }
  }
  return Status::NotFound(
      "the kubelet lists no pod with devices " + ids.front() +
      (ids.size() > 1 ? " and " + std::to_string(ids.size() - 1) + " more" : "") +
      " (a pod whose only GPU containers are init containers cannot be told "
      "apart)");
}

}  // namespace xpool::agent
