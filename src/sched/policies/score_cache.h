// A policy's memo of scores per (node class, demand shape). Equal classes are equal node states,
// so a score computed once for a class stays right for as long as the run's policy is the same.
#pragma once

#include <cstdint>
#include <unordered_map>

#include "sched/demand.h"
#include "sched/pool.h"

namespace xpool::sched {

class ClassScoreCache {
 public:
  // The cached score of (cls, d.shape), or `compute()` stored for next time.
  template <typename Compute>
  int64_t GetOrCompute(ClassId cls, const Demand& d, Compute compute) {
    const uint64_t key = (static_cast<uint64_t>(cls) << 24) | static_cast<uint32_t>(d.shape);
    if (auto it = scores_.find(key); it != scores_.end()) return it->second;
    if (scores_.size() > kMaxEntries) scores_.clear();
    const int64_t s = compute();
    scores_.emplace(key, s);
    return s;
  }

 private:
  static constexpr size_t kMaxEntries = 1 << 22;
  std::unordered_map<uint64_t, int64_t> scores_;
};

}  // namespace xpool::sched
