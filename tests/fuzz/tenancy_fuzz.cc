// libFuzzer target: the controller's tenants file (an operator's YAML, read at start and on
// SIGHUP). Whatever the bytes, the parser answers a configuration or an error naming the file,
// never a crash; a configuration it accepts keeps its own rules.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "controller/tenancy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto config = xpool::controller::ParseTenancy(text, "fuzz.yaml");
  if (!config.ok()) {
    if (config.status().message().rfind("fuzz.yaml: ", 0) != 0) std::abort();
    return 0;
  }
  for (const auto& [name, tenant] : config->tenants) {
    if (name != tenant.name || name.empty() || name.size() > 63) std::abort();
    if (!tenant.guarantee.Within(tenant.limit)) std::abort();
    if (tenant.guarantee.milli < 0 || tenant.guarantee.memory_mib < 0) std::abort();
  }
  if (!config->default_tenant.empty() && config->tenants.count(config->default_tenant) == 0) {
    std::abort();
  }
  (void)config->TenantFor("", "someone");
  return 0;
}
