// Demand: a Request compiled against a Pool (model names resolved to ids), the form every filter
// and score works on. Shapes are interned so policies can cache per (node class, shape).
#pragma once

#include <cstdint>
#include <map>
#include <tuple>
#include <vector>

#include "core/model.h"
#include "sched/pool.h"

namespace xpool::sched {

struct Demand {
  int device_count = 0;
  int32_t milli = 0;                 // per device, 1..1000
  int64_t dev_mem = 0;               // per device MiB
  int64_t cpu = 0;                   // millicores
  int64_t mem = 0;                   // host MiB
  std::vector<bool> allowed_models;  // by ModelId; empty = any model
  uint32_t affinity_bit = 0;
  int32_t shape = -1;  // interned id of everything above

  bool sharing() const { return device_count == 1 && milli < 1000; }
  int64_t total_milli() const { return static_cast<int64_t>(milli) * device_count; }
  bool ModelAllowed(ModelId m) const {
    return allowed_models.empty() ||
           (m >= 0 && m < static_cast<int>(allowed_models.size()) && allowed_models[m]);
  }
};

// Interns demand shapes. Not thread-safe.
class ShapeTable {
 public:
  int32_t Intern(const Demand& d);
  int size() const { return static_cast<int>(ids_.size()); }

 private:
  using Key = std::tuple<int, int32_t, int64_t, int64_t, int64_t, std::vector<bool>>;
  std::map<Key, int32_t> ids_;
};

// Resolves the request's selectors against the pool. A model list naming no model of the pool
// yields a demand that fits nowhere (not an error: the pool may grow).
Result<Demand> CompileDemand(const Pool& pool, const Request& request, ShapeTable& shapes);

// Whether the node can hold the demand right now (model, CPU, memory, device shares).
bool Fits(const NodeState& node, const Demand& d);

// Whether the node could hold the demand if it were empty.
bool FitsEmpty(const NodeSpec& spec, ModelId model, const Demand& d);

}  // namespace xpool::sched
