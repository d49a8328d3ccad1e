// How many CPUs this process may keep busy: the CPUs it may run on, capped by its cgroup's CPU
// quota (cgroup v2 `cpu.max`). A waiter for the device polls instead of sleeping only when the
// process has a CPU to spare for it (ComputeWait::kAuto).
#pragma once

#include <optional>
#include <string_view>

namespace xpool::runtime {

// Whole CPUs a cgroup v2 `cpu.max` line ("QUOTA PERIOD", or "max PERIOD") allows, at least 1;
// nullopt for no quota or an unreadable line.
std::optional<int> CpusFromCpuMax(std::string_view cpu_max);

// The CPUs this process may use, read once: its affinity mask, capped by its cgroup's quota.
int UsableCpus();

}  // namespace xpool::runtime
