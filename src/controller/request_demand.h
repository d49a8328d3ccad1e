// How a request of the pool's API becomes the scheduler's demand: the compute settings checked as
// the task's runtime would check them, and the model names, device type and rating bounds turned
// into the registered models that meet them. Not thread-safe: PoolState calls it under its lock.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "core/model.h"
#include "core/status.h"
#include "sched/demand.h"
#include "sched/pool.h"
#include "xpool/v1/pool.pb.h"

namespace xpool::controller {

// Why an allocation could not be made: bad input, or a pool that cannot hold it now or ever.
enum class Refusal { kNone, kInvalid, kNoCapacityNow, kNeverFits };

// The catalog's name for a model (an alias such as "H100" becomes "H100-SXM"), else the name.
std::string CanonicalModel(const std::string& model);

// Every device model registered in the pool.
struct RegisteredModels {
  std::map<std::string, DeviceType> types;
  std::map<std::string, int64_t> memory_mib;  // the most a device of the model has
  void Add(const std::string& model, DeviceType type, int64_t device_memory_mib);
};

// The demand of `r` on `pool`. `*refusal` says why when it fails: kInvalid for a malformed
// request, kNeverFits when no registered model has the rating asked.
Result<sched::Demand> DemandOf(const v1::AllocateRequest& r, const RegisteredModels& registered,
                               const sched::Pool& pool, sched::ShapeTable& shapes,
                               Refusal* refusal);

}  // namespace xpool::controller
