#include "agent/compute_env.h"

#include "runtime/config.h"

namespace xpool::agent {

std::map<std::string, std::string> ComputeEnvironment(const v1::AllocateRequest& request) {
  std::map<std::string, std::string> env;
  if (!request.compute_policy().empty()) {
    env[runtime::kEnvComputePolicy] = request.compute_policy();
  }
  if (!request.priority().empty()) env[runtime::kEnvPriority] = request.priority();
  if (request.compute_period_ms() > 0) {
    env[runtime::kEnvComputePeriod] = std::to_string(request.compute_period_ms());
  }
  return env;
}

}  // namespace xpool::agent
