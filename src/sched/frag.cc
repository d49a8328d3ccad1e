#include "sched/frag.h"

#include <algorithm>
#include <map>
#include <string_view>

namespace xpool::sched {

std::vector<TypicalShape> TypicalShapesByCount(const std::vector<PodShape>& pods, double coverage) {
  std::map<PodShape, int64_t> counts;
  for (const auto& p : pods) ++counts[p];
  std::vector<std::pair<PodShape, int64_t>> sorted(counts.begin(), counts.end());
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    if (a.second != b.second) return a.second > b.second;
    return b.first < a.first;
  });
  const double total = static_cast<double>(pods.size());
  std::vector<TypicalShape> out;
  double covered = 0;
  for (const auto& [shape, count] : sorted) {
    if (covered >= coverage * total) break;
    out.push_back({shape, static_cast<double>(count)});
    covered += static_cast<double>(count);
  }
  for (auto& t : out) t.weight /= covered;
  return out;
}

FragMeasure::FragMeasure(const Pool& pool, std::vector<TypicalShape> shapes,
                         bool mismatch_is_fragment)
    : shapes_(std::move(shapes)), mismatch_is_fragment_(mismatch_is_fragment) {
  for (const auto& t : shapes_) {
    Compiled c{t.shape.cpu, t.host_memory, t.shape.milli, t.shape.device_count, t.weight, {}};
    if (!t.shape.models.empty()) {
      c.models.assign(pool.model_count(), false);
      for (ModelId id : pool.FindModelIds(t.shape.models)) c.models[id] = true;
    }
    compiled_.push_back(std::move(c));
  }
}

double FragMeasure::Amount(ModelId model, int64_t cpu_free, int64_t mem_free,
                           std::span<const int32_t> milli_free) const {
  int64_t free_total = 0;
  for (int32_t m : milli_free) free_total += m;
  if (free_total == 0) return 0;
  double amount = 0;
  for (const auto& c : compiled_) {
    const bool accessible =
        c.models.empty() ||
        (model >= 0 && model < static_cast<int>(c.models.size()) && c.models[model]);
    if (!accessible && !mismatch_is_fragment_) continue;
    if (c.milli == 0 || !accessible || cpu_free < c.cpu || mem_free < c.mem) {
      amount += c.weight * static_cast<double>(free_total);
      continue;
    }
    int fitting = 0;
    int64_t too_small = 0;
    for (int32_t m : milli_free) {
      if (m >= c.milli) {
        ++fitting;
      } else {
        too_small += m;
      }
    }
    amount += c.weight * static_cast<double>(fitting >= c.count ? too_small : free_total);
  }
  return amount;
}

}  // namespace xpool::sched
