#include "sched/scheduler.h"

#include <algorithm>
#include <iterator>
#include <limits>

namespace xpool::sched {

std::vector<int> Policy::ChooseDevices(const NodeState& node, const Demand& d, Rng& /*rng*/) {
  return BestFitDevices(node, d);
}

std::vector<int> BestFitDevices(const NodeState& node, const Demand& d) {
  std::vector<int> out;
  if (d.device_count == 0) return out;
  auto mem_ok = [&](size_t i) {
    return node.dev_mem_free.empty() || node.dev_mem_free[i] >= d.dev_mem;
  };
  if (d.sharing()) {
    int best = -1;
    for (size_t i = 0; i < node.milli_free.size(); ++i) {
      if (node.milli_free[i] >= d.milli && mem_ok(i) &&
          (best < 0 || node.milli_free[i] < node.milli_free[best])) {
        best = static_cast<int>(i);
      }
    }
    if (best >= 0) out.push_back(best);
    return out;
  }
  for (size_t i = 0; i < node.milli_free.size() && static_cast<int>(out.size()) < d.device_count;
       ++i) {
    if (node.milli_free[i] >= d.milli && mem_ok(i)) out.push_back(static_cast<int>(i));
  }
  return out;
}

Scheduler::Scheduler(std::vector<WeightedPolicy> profile) : profile_(std::move(profile)) {
  for (size_t i = 1; i < profile_.size(); ++i) {
    if (profile_[i].weight > profile_[device_chooser_].weight) device_chooser_ = i;
  }
}

std::optional<Placement> Scheduler::Schedule(const Pool& pool, const Demand& d, Rng& rng) {
  feasible_.clear();
  for (ClassId c : pool.live_classes()) {
    if (Fits(pool.state(*pool.node_class(c).members.begin()), d)) feasible_.push_back(c);
  }
  if (feasible_.empty()) return std::nullopt;

  const size_t n = feasible_.size();
  total_.assign(n, 0);
  for (auto& wp : profile_) {
    raw_.resize(n);
    for (size_t i = 0; i < n; ++i) {
      const ClassId c = feasible_[i];
      raw_[i] = wp.policy->Score(pool.state(*pool.node_class(c).members.begin()), c, d);
    }
    if (wp.policy->normalizes_scores()) {
      const auto [lo_it, hi_it] = std::minmax_element(raw_.begin(), raw_.end());
      const int64_t lo = *lo_it, range = *hi_it - *lo_it;
      for (auto& s : raw_) s = (range == 0 ? 0 : (s - lo) * 100 / range) * kStep;
    }
    for (size_t i = 0; i < n; ++i) total_[i] += wp.weight * raw_[i];
  }

  Policy& chooser = *profile_[device_chooser_].policy;
  Placement p;
  if (chooser.random_ties()) {
    // Every tied node (not class) equally likely.
    int64_t best = std::numeric_limits<int64_t>::min();
    uint64_t tied_nodes = 0;
    ClassId chosen = feasible_.front();  // n >= 1 here
    for (size_t i = 0; i < n; ++i) {
      const uint64_t size = pool.node_class(feasible_[i]).members.size();
      if (total_[i] > best) {
        best = total_[i];
        tied_nodes = size;
        chosen = feasible_[i];
      } else if (total_[i] == best) {
        tied_nodes += size;
        if (rng.Below(tied_nodes) < size) chosen = feasible_[i];
      }
    }
    const auto& members = pool.node_class(chosen).members;
    p.node = *std::next(members.begin(), static_cast<std::ptrdiff_t>(rng.Below(members.size())));
  } else {
    int64_t best = std::numeric_limits<int64_t>::min();
    for (size_t i = 0; i < n; ++i) {
      const NodeIndex first = *pool.node_class(feasible_[i]).members.begin();
      if (total_[i] > best || (total_[i] == best && first < p.node)) {
        best = total_[i];
        p.node = first;
      }
    }
  }
  p.devices = chooser.ChooseDevices(pool.state(p.node), d, rng);
  return p;
}

std::optional<Placement> Scheduler::PlaceOn(const Pool& pool, NodeIndex node, const Demand& d,
                                            Rng& rng) {
  if (!Fits(pool.state(node), d)) return std::nullopt;
  Placement p;
  p.node = node;
  p.devices = profile_[device_chooser_].policy->ChooseDevices(pool.state(node), d, rng);
  return p;
}

void Scheduler::Commit(Pool& pool, const Demand& d, const Placement& p) {
  pool.Take(p.node, d.cpu, d.mem, p.devices, MilliDevice(d.milli), MiB(d.dev_mem), d.affinity_bit);
}

void Scheduler::Release(Pool& pool, const Demand& d, const Placement& p) {
  pool.Give(p.node, d.cpu, d.mem, p.devices, MilliDevice(d.milli), MiB(d.dev_mem), d.affinity_bit);
}

}  // namespace xpool::sched
