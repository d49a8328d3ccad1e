#include "sched/demand.h"

namespace xpool::sched {

int32_t ShapeTable::Intern(const Demand& d) {
  Key k{d.device_count, d.milli, d.dev_mem, d.cpu, d.mem, d.allowed_models};
  auto [it, inserted] = ids_.try_emplace(std::move(k), static_cast<int32_t>(ids_.size()));
  return it->second;
}

Result<Demand> CompileDemand(const Pool& pool, const Request& r, ShapeTable& shapes) {
  if (r.device_count < 0) return Status::InvalidArgument("device count must not be negative");
  if (r.device_count > 0 && (r.compute.value() < 1 || r.compute.value() > 1000)) {
    return Status::InvalidArgument("compute per device must be 1..1000 milli-devices");
  }
  if (r.device_count > 1 && r.compute < kWholeDevice) {
    return Status::InvalidArgument("a multi-device request must take whole devices");
  }
  if (r.cpu.value() < 0 || r.host_memory.value() < 0 || r.memory.value() < 0) {
    return Status::InvalidArgument("negative CPU or memory request");
  }
  Demand d;
  d.device_count = r.device_count;
  d.milli = r.device_count > 0 ? static_cast<int32_t>(r.compute.value()) : 0;
  d.dev_mem = r.memory.value();
  d.cpu = r.cpu.value();
  d.mem = r.host_memory.value();
  if (!r.selector.models.empty() && r.device_count > 0) {
    d.allowed_models.assign(pool.model_count() + 1, false);
    d.allowed_models.back() = false;  // keeps the vector non-empty even if no model matches
    for (const auto& m : r.selector.models) {
      const ModelId id = pool.FindModelId(m);
      if (id >= 0) d.allowed_models[id] = true;
    }
  }
  d.affinity_bit = AffinityBit(r.device_count, r.compute);
  d.shape = shapes.Intern(d);
  return d;
}

bool Fits(const NodeState& s, const Demand& d) {
  if (s.cpu_free < d.cpu || s.mem_free < d.mem) return false;
  if (d.device_count == 0) return true;
  if (s.device_count < d.device_count || !d.ModelAllowed(s.model)) return false;
  int fitting = 0;
  for (size_t i = 0; i < s.milli_free.size(); ++i) {
    if (s.milli_free[i] >= d.milli && (s.dev_mem_free.empty() || s.dev_mem_free[i] >= d.dev_mem)) {
      if (++fitting >= d.device_count) return true;
    }
  }
  return false;
}

bool FitsEmpty(const NodeSpec& spec, ModelId model, const Demand& d) {
  if (spec.cpu.value() < d.cpu || spec.host_memory.value() < d.mem) return false;
  if (d.device_count == 0) return true;
  if (spec.device_count < d.device_count || !d.ModelAllowed(model)) return false;
  return spec.device_memory.value() == 0 || spec.device_memory.value() >= d.dev_mem;
}

}  // namespace xpool::sched
