#include "controller/admission_queue.h"

#include <algorithm>
#include <tuple>

namespace xpool::controller {

void AdmissionQueue::Add(const std::string& id, int32_t priority, const std::string& tenant,
                         int64_t arrival) {
  QueuedRequest& request = waiting_[id];
  request.id = id;
  request.priority = priority;
  request.tenant = tenant;
  request.arrival = arrival;
}

bool AdmissionQueue::Remove(const std::string& id) {
  return waiting_.erase(id) != 0;
}

std::vector<QueuedRequest*> AdmissionQueue::Ordered(
    const std::map<std::string, double>& dominant_share) {
  // Each request's key once (a tenant's share looked up once), then one sort.
  struct Keyed {
    int32_t negated_priority;
    double share;
    int64_t arrival;
    QueuedRequest* request;
  };
  std::vector<Keyed> keyed;
  keyed.reserve(waiting_.size());
  for (auto& [id, request] : waiting_) {
    auto it = dominant_share.find(request.tenant);
    keyed.push_back({-request.priority, it == dominant_share.end() ? 0.0 : it->second,
                     request.arrival, &request});
  }
  // Ties fall to the id order the map gives, which a stable sort keeps.
  std::stable_sort(keyed.begin(), keyed.end(), [](const Keyed& a, const Keyed& b) {
    return std::tie(a.negated_priority, a.share, a.arrival) <
           std::tie(b.negated_priority, b.share, b.arrival);
  });
  std::vector<QueuedRequest*> order;
  order.reserve(keyed.size());
  for (const Keyed& k : keyed) order.push_back(k.request);
  return order;
}

}  // namespace xpool::controller
