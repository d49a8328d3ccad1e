// PoolState: devices that their agents report unhealthy are held back from scheduling. What is
// free on such a device is taken from the pool (as a cordon takes a whole node); what frees up
// later (an allocation there released) is taken at the next heartbeat; all of it is given back
// when the device is healthy again. Allocations already on the device stay: the operator
// decides about the work there.
#include <cstdio>

#include "controller/pool_state.h"

namespace xpool::controller {

void PoolState::ApplyDeviceHealthLocked(NodeEntry& entry, const std::set<std::string>& unhealthy) {
  if (entry.cordoned) return;  // every device is held back already
  for (int i = 0; i < entry.node.devices_size(); ++i) {
    v1::Device& device = *entry.node.mutable_devices(i);
    const bool healthy = unhealthy.count(device.id()) == 0;
    auto held = entry.unhealthy.find(i);
    if (healthy) {
      if (held == entry.unhealthy.end()) continue;
      pool_.Give(entry.index, 0, 0, {i}, MilliDevice(held->second.milli),
                 MiB(held->second.memory_mib), 0);
      entry.unhealthy.erase(held);
      device.set_healthy(true);
      capacity_freed_ = true;
      std::fprintf(stderr, "xpool-controller: device %s is healthy again: scheduling on it\n",
                   device.id().c_str());
      continue;
    }
    const sched::NodeState& state = pool_.state(entry.index);
    const int32_t milli = state.milli_free[i];
    const int64_t memory = state.dev_mem_free.empty() ? 0 : state.dev_mem_free[i];
    device.set_healthy(false);
    if (held == entry.unhealthy.end()) {
      held = entry.unhealthy.emplace(i, NodeEntry::HeldBack{}).first;
      std::fprintf(stderr,
                   "xpool-controller: device %s is unhealthy (its agent says): nothing new is "
                   "placed on it\n",
                   device.id().c_str());
    }
    if (milli <= 0 && memory <= 0) continue;
    pool_.Take(entry.index, 0, 0, {i}, MilliDevice(milli), MiB(memory), 0);
    held->second.milli += milli;
    held->second.memory_mib += memory;
  }
}

void PoolState::GiveBackUnhealthyLocked(NodeEntry& entry) {
  for (const auto& [i, held] : entry.unhealthy) {
    pool_.Give(entry.index, 0, 0, {i}, MilliDevice(held.milli), MiB(held.memory_mib), 0);
  }
  entry.unhealthy.clear();
}

}  // namespace xpool::controller
