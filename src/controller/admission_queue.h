// AdmissionQueue: the requests waiting for capacity, and the order in which they are tried:
// higher queue priority first; between tenants of one priority, the tenant with the smaller
// dominant share of the pool (its largest fraction of any resource it holds) first; then arrival.
//
// Thread-safety: none; PoolState uses it under its lock.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace xpool::controller {

struct QueuedRequest {
  std::string id;  // the allocation's
  int32_t priority = 0;
  std::string tenant;
  int64_t arrival = 0;        // order of arrival (the time it was queued, then its id break ties)
  int position = 0;           // in the last pass over the queue, 1 first (set by its user)
  std::string held_by_limit;  // set in the last pass: its tenant is at its limit (why)
};

class AdmissionQueue {
 public:
  void Add(const std::string& id, int32_t priority, const std::string& tenant, int64_t arrival);
  // False when `id` was not waiting.
  bool Remove(const std::string& id);
  const QueuedRequest* Find(const std::string& id) const {
    auto it = waiting_.find(id);
    return it == waiting_.end() ? nullptr : &it->second;
  }
  template <typename Visit>
  void ForEach(Visit visit) const {
    for (const auto& [id, request] : waiting_) visit(request);
  }
  bool empty() const { return waiting_.empty(); }
  size_t size() const { return waiting_.size(); }

  // Every waiting request in the order they are tried; `dominant_share` holds each tenant's
  // share now (a tenant missing holds nothing; a tenant below its guarantee is given its share
  // less 1, so that it goes before every tenant past its own).
  std::vector<QueuedRequest*> Ordered(const std::map<std::string, double>& dominant_share);

 private:
  std::map<std::string, QueuedRequest> waiting_;  // by id
};

}  // namespace xpool::controller
