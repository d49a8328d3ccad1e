#include "controller/request_demand.h"

#include <algorithm>

#include "controller/model_rating.h"
#include "core/catalog.h"
#include "runtime/config.h"

namespace xpool::controller {

std::string CanonicalModel(const std::string& model) {
  const CatalogEntry* entry = FindModel(model);
  return entry != nullptr ? std::string(entry->model) : model;
}

void RegisteredModels::Add(const std::string& model, DeviceType type, int64_t device_memory_mib) {
  types[model] = type;
  memory_mib[model] = std::max(memory_mib[model], device_memory_mib);
}

namespace {

// The settings the task's runtime reads (docs/runtime.md): refused here, where the client hears
// why, rather than by the runtime on the node, which would refuse every allocation of the task.
Status CheckComputeSettings(const v1::AllocateRequest& r) {
  if (!r.compute_policy().empty()) {
    auto policy = runtime::ParseComputePolicy(r.compute_policy());
    if (!policy.ok()) return policy.status();
  }
  if (!r.priority().empty()) {
    auto high = runtime::ParseComputePriority(r.priority());
    if (!high.ok()) return high.status();
  }
  if (r.compute_period_ms() != 0) {
    auto period = runtime::ParseComputePeriod(std::to_string(r.compute_period_ms()));
    if (!period.ok()) return period.status();
  }
  return Status::Ok();
}

}  // namespace

Result<sched::Demand> DemandOf(const v1::AllocateRequest& r, const RegisteredModels& registered,
                               const sched::Pool& pool, sched::ShapeTable& shapes,
                               Refusal* refusal) {
  *refusal = Refusal::kInvalid;
  if (r.devices() < 1) return Status::InvalidArgument("ask for at least one device");
  if (Status s = CheckComputeSettings(r); !s.ok()) return s;
  const int32_t milli = r.compute_milli() == 0 ? 1000 : r.compute_milli();
  if (milli < 10 || milli > 1000 || milli % 10 != 0) {
    return Status::InvalidArgument("a compute share is 1..100 % of a device in steps of 1 %");
  }
  if (r.devices() > 1 && milli < 1000) {
    return Status::InvalidArgument(
        "several devices are whole devices: leave the compute share out");
  }
  if (r.memory_mib() < 0) return Status::InvalidArgument("device memory must not be negative");
  if (milli < 1000 && r.memory_mib() == 0) {
    return Status::InvalidArgument("a shared slice (compute below 100 %) needs its device memory");
  }
  Request request;
  request.device_count = r.devices();
  request.compute = MilliDevice(milli);
  request.memory = MiB(r.memory_mib());
  std::vector<std::string> models;
  for (const auto& m : r.models()) models.push_back(CanonicalModel(m));
  if (!r.type().empty()) {
    auto type = ParseDeviceType(r.type());
    if (!type.ok()) return type.status();
    std::vector<std::string> of_type;
    for (const auto& [model, model_type] : registered.types) {
      if (model_type == *type &&
          (models.empty() || std::find(models.begin(), models.end(), model) != models.end())) {
        of_type.push_back(model);
      }
    }
    if (of_type.empty())
      of_type.emplace_back("");  // matches no node: the pool has none of the type
    models = of_type;
  }
  if (r.min_bf16_tflops() < 0 || r.min_device_memory_mib() < 0) {
    return Status::InvalidArgument("a rating bound must not be negative");
  }
  if (r.min_bf16_tflops() > 0 || r.min_device_memory_mib() > 0) {
    auto rated =
        ModelsRated(registered.memory_mib, r.min_bf16_tflops(), r.min_device_memory_mib(), models);
    if (!rated.ok()) {
      *refusal = Refusal::kNeverFits;
      return rated.status();
    }
    models = std::move(*rated);
  }
  request.selector.models = models;
  auto demand = sched::CompileDemand(pool, request, shapes);
  if (!demand.ok()) return demand.status();
  *refusal = Refusal::kNone;
  return demand;
}

}  // namespace xpool::controller
