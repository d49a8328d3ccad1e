// Tenancy: who may bill which tenant, how much of the pool each tenant is guaranteed and may
// hold at most, and the named priority classes of the queue — the operator's file
// (`xpool-controller --tenants FILE`, docs/queue.md), validated whole before it replaces the
// configuration in force.
//
// Thread-safety: plain values; PoolState keeps its copy under its lock.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "core/status.h"

namespace xpool::controller {

// Device share (milli-devices: 1000 = a whole device, summed over devices) and device memory.
struct PoolAmounts {
  int64_t milli = 0;
  int64_t memory_mib = 0;
  bool Within(const PoolAmounts& bound) const {
    return milli <= bound.milli && memory_mib <= bound.memory_mib;
  }
  PoolAmounts& operator+=(const PoolAmounts& more) {
    milli += more.milli;
    memory_mib += more.memory_mib;
    return *this;
  }
  PoolAmounts& operator-=(const PoolAmounts& less) {
    milli -= less.milli;
    memory_mib -= less.memory_mib;
    return *this;
  }
};

struct TenantPolicy {
  std::string name;
  std::set<std::string> members;  // users who may bill it; empty: any user
  PoolAmounts guarantee;          // served before tenants past theirs (0: none)
  PoolAmounts limit;              // never held beyond (unbounded where the file says nothing)
  // Holding `held`, whether it is short of its guarantee in a resource it is guaranteed.
  bool BelowGuarantee(const PoolAmounts& held) const {
    return (guarantee.milli > 0 && held.milli < guarantee.milli) ||
           (guarantee.memory_mib > 0 && held.memory_mib < guarantee.memory_mib);
  }
  // Holding `held`, whether it holds more than its guarantee in either resource (borrows).
  bool PastGuarantee(const PoolAmounts& held) const {
    return held.milli > guarantee.milli || held.memory_mib > guarantee.memory_mib;
  }
};

struct TenancyConfig {
  std::map<std::string, TenantPolicy> tenants;
  std::map<std::string, int32_t> priority_classes;
  // The tenant of a request that names none; empty: such requests are refused.
  std::string default_tenant;

  bool configured() const { return !tenants.empty(); }
  // The tenant a request of `user` naming `tenant` bills, or why it may not. Without
  // `check_members` only the tenant's existence is checked (a Kubernetes pod: its namespace is
  // its tenant, and who may create pods there is Kubernetes' RBAC).
  Result<const TenantPolicy*> TenantFor(const std::string& tenant, const std::string& user,
                                        bool check_members = true) const;
};

// Parses the file's text; `origin` names it in errors. Every error names the entry at fault.
Result<TenancyConfig> ParseTenancy(std::string_view yaml_text, const std::string& origin);
Result<TenancyConfig> LoadTenancy(const std::string& path);

}  // namespace xpool::controller
