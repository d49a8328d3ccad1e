#include "sched/pool.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <functional>

namespace xpool::sched {

int64_t NodeState::milli_free_total() const {
  int64_t t = 0;
  for (int32_t m : milli_free) t += m;
  return t;
}

int NodeState::whole_free_devices() const {
  return static_cast<int>(std::count(milli_free.begin(), milli_free.end(), 1000));
}

int32_t NodeState::max_milli_free() const {
  int32_t best = 0;
  for (int32_t m : milli_free) best = std::max(best, m);
  return best;
}

NodeIndex Pool::AddNode(const NodeSpec& spec) {
  const auto n = static_cast<NodeIndex>(specs_.size());
  specs_.push_back(spec);
  NodeState s;
  if (!spec.model.empty() && spec.device_count > 0) {
    auto [it, inserted] =
        model_ids_.try_emplace(spec.model, static_cast<ModelId>(model_names_.size()));
    if (inserted) model_names_.push_back(spec.model);
    s.model = it->second;
  }
  s.device_count = spec.device_count;
  s.cpu_capacity = spec.cpu.value();
  s.cpu_free = spec.cpu.value();
  s.mem_free = spec.host_memory.value();
  s.milli_free.assign(spec.device_count, 1000);
  if (spec.device_memory.value() > 0)
    s.dev_mem_free.assign(spec.device_count, spec.device_memory.value());
  s.affinity_counts.assign(32, 0);
  states_.push_back(std::move(s));
  total_milli_ += 1000LL * spec.device_count;
  class_of_.push_back(-1);
  Index(n);
  return n;
}

ModelId Pool::FindModelId(const std::string& model) const {
  auto it = model_ids_.find(model);
  return it == model_ids_.end() ? ModelId{-1} : it->second;
}

std::vector<ModelId> Pool::FindModelIds(std::string_view models) const {
  std::vector<ModelId> ids;
  while (!models.empty()) {
    const auto bar = models.find('|');
    const ModelId id = FindModelId(std::string(models.substr(0, bar)));
    if (id >= 0) ids.push_back(id);
    if (bar == std::string_view::npos) break;
    models.remove_prefix(bar + 1);
  }
  return ids;
}

size_t Pool::KeyHash::operator()(const Key& k) const {
  uint64_t h = 1469598103934665603ULL;
  for (int64_t v : k) {
    h ^= static_cast<uint64_t>(v) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  }
  return h;
}

Pool::Key Pool::KeyOf(const NodeState& s) const {
  Key k;
  k.reserve(5 + 2 * s.milli_free.size());
  k.push_back(s.model);
  k.push_back(s.cpu_capacity);
  k.push_back(s.cpu_free);
  k.push_back(s.mem_free);
  k.push_back(s.affinity_mask);
  const size_t first = k.size();
  // Devices sorted by (milli free, memory free) so that device order does not split classes.
  std::vector<std::pair<int64_t, int64_t>> devs(s.milli_free.size());
  for (size_t i = 0; i < devs.size(); ++i) {
    devs[i] = {s.milli_free[i], s.dev_mem_free.empty() ? 0 : s.dev_mem_free[i]};
  }
  std::sort(devs.begin(), devs.end(), std::greater<>());
  k.resize(first + 2 * devs.size());
  for (size_t i = 0; i < devs.size(); ++i) {
    k[first + 2 * i] = devs[i].first;
    k[first + 2 * i + 1] = devs[i].second;
  }
  return k;
}

void Pool::Index(NodeIndex n) {
  auto [it, inserted] =
      class_by_key_.try_emplace(KeyOf(states_[n]), static_cast<ClassId>(classes_.size()));
  if (inserted) {
    classes_.emplace_back();
    live_pos_.push_back(-1);
  }
  const ClassId c = it->second;
  Class& cls = classes_[c];
  if (cls.members.empty()) {
    live_pos_[c] = static_cast<int32_t>(live_classes_.size());
    live_classes_.push_back(c);
  }
  cls.members.insert(n);
  ++cls.version;
  class_of_[n] = c;
}

void Pool::Unindex(NodeIndex n) {
  const ClassId c = class_of_[n];
  Class& cls = classes_[c];
  cls.members.erase(n);
  ++cls.version;
  if (cls.members.empty()) {
    const int32_t lp = live_pos_[c];
    const ClassId moved = live_classes_.back();
    live_classes_[lp] = moved;
    live_pos_[moved] = lp;
    live_classes_.pop_back();
    live_pos_[c] = -1;
  }
  class_of_[n] = -1;
}

void Pool::Take(NodeIndex n, int64_t cpu, int64_t mem, const std::vector<int>& devices,
                MilliDevice per_device, MiB dev_mem, uint32_t affinity_bit) {
  Unindex(n);
  NodeState& s = states_[n];
  assert(s.cpu_free >= cpu && s.mem_free >= mem);
  s.cpu_free -= cpu;
  s.mem_free -= mem;
  for (int d : devices) {
    assert(s.milli_free[d] >= per_device.value());
    s.milli_free[d] -= static_cast<int32_t>(per_device.value());
    if (!s.dev_mem_free.empty()) s.dev_mem_free[d] -= dev_mem.value();
    used_milli_ += per_device.value();
  }
  if (affinity_bit != 0) {
    const int b = std::countr_zero(affinity_bit);
    if (s.affinity_counts[b]++ == 0) s.affinity_mask |= affinity_bit;
  }
  Index(n);
}

void Pool::Give(NodeIndex n, int64_t cpu, int64_t mem, const std::vector<int>& devices,
                MilliDevice per_device, MiB dev_mem, uint32_t affinity_bit) {
  Unindex(n);
  NodeState& s = states_[n];
  s.cpu_free += cpu;
  s.mem_free += mem;
  for (int d : devices) {
    s.milli_free[d] += static_cast<int32_t>(per_device.value());
    if (!s.dev_mem_free.empty()) s.dev_mem_free[d] += dev_mem.value();
    used_milli_ -= per_device.value();
  }
  if (affinity_bit != 0) {
    const int b = std::countr_zero(affinity_bit);
    if (--s.affinity_counts[b] == 0) s.affinity_mask &= ~affinity_bit;
  }
  Index(n);
}

}  // namespace xpool::sched
