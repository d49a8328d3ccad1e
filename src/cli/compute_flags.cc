#include "cli/compute_flags.h"

#include "runtime/config.h"

namespace xpool::cli {

Result<int> CheckComputeFlags(const std::string& policy, const std::string& priority,
                              const std::string& period) {
  if (!policy.empty()) {
    auto parsed = runtime::ParseComputePolicy(policy);
    if (!parsed.ok()) {
      return Status::InvalidArgument("--compute-policy: " + parsed.status().message());
    }
  }
  if (!priority.empty()) {
    auto parsed = runtime::ParseComputePriority(priority);
    if (!parsed.ok()) return Status::InvalidArgument("--priority: " + parsed.status().message());
  }
  if (period.empty()) return 0;
  auto ms = runtime::ParseComputePeriod(period);
  if (!ms.ok()) return Status::InvalidArgument("--compute-period: " + ms.status().message());
  return *ms;
}

}  // namespace xpool::cli
