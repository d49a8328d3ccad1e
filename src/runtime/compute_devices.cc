// The limiters of this process, one per device it launches on, over the driver it loaded.
#include <sys/random.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <mutex>
#include <string>

#include "runtime/accountant.h"
#include "runtime/compute_limiter.h"
#include "runtime/cpu_budget.h"
#include "runtime/log.h"
#include "runtime/symbol_table.h"

namespace xpool::runtime {
namespace {

const ComputeEventApi& DriverEvents() {
  static const ComputeEventApi api = [] {
    ComputeEventApi a{};
    a.create = reinterpret_cast<decltype(a.create)>(DriverSymbol("cuEventCreate"));
    a.record = reinterpret_cast<decltype(a.record)>(DriverSymbol("cuEventRecord"));
    a.query = reinterpret_cast<decltype(a.query)>(DriverSymbol("cuEventQuery"));
    a.synchronize = reinterpret_cast<decltype(a.synchronize)>(DriverSymbol("cuEventSynchronize"));
    a.is_capturing =
        reinterpret_cast<decltype(a.is_capturing)>(DriverSymbol("cuStreamIsCapturing"));
    void* elapsed = DriverSymbol("cuEventElapsedTime_v2");
    if (elapsed == nullptr) elapsed = DriverSymbol("cuEventElapsedTime");
    a.elapsed = reinterpret_cast<decltype(a.elapsed)>(elapsed);
    return a;
  }();
  return api;
}

// A process without a slice gets one of its own, under a random key: its pid would not do, since
// processes in two containers (PID namespaces of their own) may have the same one.
uint64_t OwnSliceKey() {
  uint64_t key = 0;
  if (getrandom(&key, sizeof(key), 0) != static_cast<ssize_t>(sizeof(key))) {
    key = (static_cast<uint64_t>(getpid()) << 32) ^ static_cast<uint64_t>(ComputeArbiter::Now());
  }
  return key | 1;
}

uint64_t SliceKey(const std::string& slice_path) {
  if (slice_path.empty()) return OwnSliceKey();
  uint64_t x = 1469598103934665603ull;
  for (char c : slice_path) x = (x ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return x & ~uint64_t{1};
}

std::string HostName() {
  std::array<char, 256> host{};
  if (gethostname(host.data(), host.size() - 1) != 0) return {};
  return host.data();
}

}  // namespace

bool ComputeLimiter::Enabled() {
  static const bool enabled = [] {
    const Accountant& a = Accountant::Get();
    const ComputeConfig& c = a.config().compute;
    // A whole device under fixed, at normal priority, is never held back: launches go straight
    // to the driver.
    const bool whole =
        c.policy == ComputePolicy::kFixed && c.share_percent == 100 && !c.high_priority;
    return c.enabled && !whole && !a.refusing();
  }();
  return enabled;
}

ComputeLimiter* ComputeLimiter::ForCurrentDevice() {
  // A forked child cannot use its parent's CUDA contexts, nor its membership.
  if (!Enabled() || ComputeArbiter::ForkedFromMember()) return nullptr;
  static std::mutex mu;
  // Set once per device, then only read: every launch looks here, without the mutex.
  static std::array<std::atomic<ComputeLimiter*>, kMaxSliceDevices> limiters{};
  static std::array<bool, kMaxSliceDevices> failed{};
  Accountant& a = Accountant::Get();
  const int physical = a.CurrentPhysical();
  if (physical < 0 || physical >= kMaxSliceDevices) return nullptr;
  if (ComputeLimiter* l = limiters[physical].load(std::memory_order_acquire)) return l;
  std::lock_guard<std::mutex> lock(mu);
  if (limiters[physical] != nullptr || failed[physical]) return limiters[physical];
  const ComputeConfig& c = a.config().compute;
  const std::string path = c.dir + "/" + ComputeSegmentName(a.DeviceName(physical));
  ArbiterTiming timing;
  timing.fixed_period_ns = int64_t{c.period_ms} * 1'000'000;
  timing.queue_ns = int64_t{c.queue_us} * 1'000;
  timing.quantum_ns = int64_t{c.quantum_ms} * 1'000'000;
  timing.wait = c.wait;
  timing.usable_cpus = UsableCpus();
  const std::string& slice_path = a.config().slice_path;
  auto arbiter =
      ComputeArbiter::Open(path, c.policy, SliceKey(slice_path), c.share_percent, c.high_priority,
                           timing, ComputeSliceName(slice_path, getpid(), HostName()));
  if (!arbiter.ok()) {
    // Launching unarbitrated would break the share silently; say so once, loudly.
    Log(LogLevel::kError, "compute share not enforced on device %d: %s", physical,
        arbiter.status().message().c_str());
    failed[physical] = true;
    return nullptr;
  }
  if ((*arbiter)->policy() != c.policy) {
    Log(LogLevel::kWarn, "device %d is arbitrated under policy %s, not %s", physical,
        ComputePolicyName((*arbiter)->policy()), ComputePolicyName(c.policy));
  }
  auto* limiter =
      new ComputeLimiter(std::move(*arbiter), DriverEvents());  // lives as long as the process
  limiters[physical].store(limiter, std::memory_order_release);
  return limiter;
}

}  // namespace xpool::runtime
