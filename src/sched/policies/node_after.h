// The per-device free share of a node after a demand is placed, the way the FGD artifact
// simulates it: a sharing demand on a given device; whole devices from the least sufficient
// ones upward.
#pragma once

#include <algorithm>
#include <numeric>
#include <vector>

#include "sched/demand.h"
#include "sched/pool.h"

namespace xpool::sched {

inline void PlaceOnLeastSufficient(std::vector<int32_t>& milli, const Demand& d) {
  if (d.device_count == 0) return;
  std::vector<int> order(milli.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return milli[a] < milli[b]; });
  int wanted = d.device_count;
  for (int i : order) {
    if (wanted == 0) break;
    if (milli[i] >= d.milli) {
      milli[i] -= d.milli;
      --wanted;
    }
  }
}

}  // namespace xpool::sched
