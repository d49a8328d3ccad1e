// The layout of a device's compute arbitration segment (compute_arbiter.h), shared by the
// arbiter's units: compute_arbiter.cc (leases, membership, reports) and compute_arbiter_shared.cc
// (the shared policy). Internal to the runtime.
#pragma once

#include <pthread.h>

#include <array>
#include <atomic>
#include <cstdint>

#include "runtime/compute_arbiter.h"

namespace xpool::runtime {

// Under the shared policy: a member's work on the device.
struct SharedMemberRecord {
  std::atomic<int64_t> active_ns;  // its last sign of work: a launch, a wait on its work
  int64_t charged_to_ns;           // its busy time is charged up to here
  std::atomic<int32_t> admitted;   // it may launch (between Acquire and Release)
  int32_t unused;
};
// Under shared, a member checks its standing at most this often while it launches.
inline constexpr int64_t kSharedCheckNs = 200'000;

struct ComputeArbiter::Layout {
  uint64_t magic;
  uint32_t version;
  int32_t policy;
  pthread_mutex_t mutex;
  std::atomic<int32_t> holder;  // member index, -1: none
  std::atomic<int32_t> preempt;
  std::atomic<int32_t> waiters;
  std::atomic<uint32_t> generation;  // futex word: bumped whenever the lease is given up
  std::atomic<int64_t> lease_start_ns;
  std::atomic<int64_t> lease_end_ns;
  // When the holder last launched or waited on its own work, and when the work it had queued
  // then should end. idle_revoke_ns after the first, a high-priority waiter counts the holder
  // silent; other waiters also wait out the second.
  std::atomic<int64_t> holder_active_ns;
  std::atomic<int64_t> holder_busy_until_ns;
  std::atomic<int64_t> high_seen_ns;  // last time a high-priority slice waited or held
  std::atomic<uint64_t> high_slice_key;
  std::array<MemberRecord, kMaxComputeMembers> members;
  std::array<SliceRecord, kMaxComputeSlices> slices;
  std::array<SharedMemberRecord, kMaxComputeMembers> shared;  // after the rest: offsets stay
};

}  // namespace xpool::runtime
