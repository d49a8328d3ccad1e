// The arbiter's policy decisions (compute_arbiter.h, namespace arbiter_policy): pure functions of
// the segment's records and the time.
#include <algorithm>
#include <climits>

#include "runtime/compute_arbiter.h"

namespace xpool::runtime {
namespace {
constexpr int64_t kNever = INT64_MAX / 4;
}  // namespace

namespace arbiter_policy {

int64_t Weight(ComputePolicy policy, const SliceRecord& slice) {
  return policy == ComputePolicy::kWeighted || policy == ComputePolicy::kShared
             ? std::max(slice.share, 1)
             : 100;
}

bool Waiting(const MemberRecord& m) {
  return m.pid != 0 && m.waiting_since_ns != 0;
}

int64_t FullCredit(const SliceRecord& slice, const ArbiterTiming& timing) {
  const int64_t period = slice.period_ns > 0 ? slice.period_ns : timing.fixed_period_ns;
  return std::max(timing.min_lease_ns, period * slice.share / 100);
}

int64_t LongestLease(const SliceRecord* slices, int64_t now, const ArbiterTiming& timing,
                     int except_slice) {
  constexpr int64_t kLatelyNs = 1'000'000'000;
  int64_t longest = 0;
  for (int i = 0; i < kMaxComputeSlices; ++i) {
    const SliceRecord& s = slices[i];
    if (s.key == 0 || i == except_slice) continue;
    const int64_t full = FullCredit(s, timing);
    // A holder's record is not touched during its lease, which may last two full credits.
    if (now - s.active_ns <= 2 * full + kLatelyNs) longest = std::max(longest, full);
  }
  return longest;
}

void Refill(SliceRecord& slice, int64_t now, const ArbiterTiming& timing, Wanting wanting) {
  const int64_t cap = FullCredit(slice, timing);
  // Alone, a slice only ever waits for its own credit, so it has nothing to keep beyond a lease;
  // keeping more would let the pauses of a program starting up buy a burst.
  const int64_t kept_cap =
      wanting.longest_lease_ns > 0
          ? std::max(2 * cap, cap + 2 * wanting.longest_lease_ns * slice.share / 100)
          : cap;
  if (slice.credit_at_ns == 0) {
    slice.credit_ns = cap;  // a new slice may start at once
  } else if (now > slice.credit_at_ns) {
    int64_t wanted_from = std::clamp(wanting.since, slice.credit_at_ns, now);
    const int64_t idle_ns = wanted_from - slice.credit_at_ns;
    if (idle_ns > std::max(timing.idle_revoke_ns, cap)) {
      slice.credit_ns = std::min(slice.credit_ns + idle_ns * slice.share / 100, cap);
    } else {
      // A gap no longer than one of its leases is not idleness: the microseconds between giving
      // a lease up and asking again, or a holder descheduled long enough to lose its lease.
      wanted_from = slice.credit_at_ns;
    }
    slice.credit_ns = std::min(slice.credit_ns + (now - wanted_from) * slice.share / 100, kept_cap);
  } else {
    slice.credit_ns = std::min(slice.credit_ns, kept_cap);
  }
  slice.credit_at_ns = std::max(slice.credit_at_ns, now);
}

void Charge(ComputePolicy policy, SliceRecord& slice, int64_t ns) {
  if (ns <= 0) return;
  slice.credit_ns -= ns;
  slice.vtime += ns * 100 / Weight(policy, slice);
  slice.used_ns += ns;
}

bool MayHoldNow(ComputePolicy policy, SliceRecord& slice, int64_t now, const ArbiterTiming& timing,
                Wanting wanting) {
  if (policy != ComputePolicy::kFixed || slice.share >= 100) return true;
  Refill(slice, now, timing, wanting);
  // A fixed slice waits until a whole period's credit is back, so that its leases are few and
  // long rather than many and short.
  return slice.credit_ns >= FullCredit(slice, timing);
}

int ChooseNext(ComputePolicy policy, MemberRecord* members, SliceRecord* slices, int64_t now,
               const ArbiterTiming& timing) {
  int best = -1;
  for (int i = 0; i < kMaxComputeMembers; ++i) {
    const MemberRecord& m = members[i];
    if (!Waiting(m) || m.slice < 0) continue;
    SliceRecord& s = slices[m.slice];
    const int64_t longest =
        policy == ComputePolicy::kFixed ? LongestLease(slices, now, timing, m.slice) : 0;
    if (!MayHoldNow(policy, s, now, timing, {m.waiting_since_ns, longest})) continue;
    if (best < 0) {
      best = i;
      continue;
    }
    const MemberRecord& b = members[best];
    const SliceRecord& bs = slices[b.slice];
    if (s.high != bs.high) {
      if (s.high != 0) best = i;
      continue;
    }
    bool better = false;
    switch (policy) {
      case ComputePolicy::kWeighted:
      case ComputePolicy::kEqual:
      case ComputePolicy::kShared:
        better = s.vtime != bs.vtime ? s.vtime < bs.vtime : m.last_grant_ns < b.last_grant_ns;
        break;
      case ComputePolicy::kFixed:
      case ComputePolicy::kBestEffort:
        better = m.last_grant_ns < b.last_grant_ns;
        break;
    }
    if (better) best = i;
  }
  return best;
}

int64_t LeaseLength(ComputePolicy policy, const SliceRecord& slice, const ArbiterTiming& timing) {
  if (policy != ComputePolicy::kFixed || slice.share >= 100) return timing.quantum_ns;
  return std::max(slice.credit_ns, timing.min_lease_ns);
}

void CatchUp(SliceRecord& slice, const SliceRecord* slices, int64_t now) {
  if (now - slice.active_ns < 50'000'000 && slice.active_ns != 0) return;
  int64_t least = kNever;
  for (int i = 0; i < kMaxComputeSlices; ++i) {
    const SliceRecord& s = slices[i];
    if (&s == &slice || s.key == 0 || now - s.active_ns > 50'000'000) continue;
    least = std::min(least, s.vtime);
  }
  if (least != kNever) slice.vtime = std::max(slice.vtime, least);
}

ComputeWait WaitFor(ComputeWait configured, bool high, int waiters, int usable_cpus) {
  if (configured != ComputeWait::kAuto) return configured;
  if (std::max(waiters, 1) < usable_cpus) return ComputeWait::kSpin;
  return high ? ComputeWait::kYield : ComputeWait::kBlock;
}

}  // namespace arbiter_policy

}  // namespace xpool::runtime
