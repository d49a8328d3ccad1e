// ComputeArbiter under the shared policy (compute_arbiter.h): no exclusive lease; each member
// launches while its slice does not lead the least charged slice at work by more than a quantum,
// and slices are charged the time they are at work, shared among those at work at once.
#include <algorithm>
#include <array>

#include "runtime/compute_arbiter.h"
#include "runtime/compute_layout.h"

namespace xpool::runtime {

using arbiter_policy::Waiting;

void ComputeArbiter::ChargeSharedLocked(int64_t now) {
  struct Busy {
    int64_t from, to;
    int slice;
  };
  std::array<Busy, kMaxComputeMembers> busy{};
  int count = 0;
  std::array<int64_t, size_t{2} * kMaxComputeMembers> edges{};
  int edge_count = 0;
  for (int i = 0; i < kMaxComputeMembers; ++i) {
    const MemberRecord& m = layout_->members[i];
    SharedMemberRecord& r = layout_->shared[i];
    if (m.pid == 0 || m.slice < 0 || m.slice >= kMaxComputeSlices) continue;
    // A member counts as at work until a moment after its last sign of work (the host between
    // launches, a wait the runtime does not see).
    const int64_t from = r.charged_to_ns;
    const int64_t to =
        std::min(now, r.active_ns.load(std::memory_order_relaxed) + timing_.idle_revoke_ns);
    r.charged_to_ns = std::max(from, now);
    if (to <= from) continue;
    busy[count++] = Busy{from, to, m.slice};
    edges[edge_count++] = from;
    edges[edge_count++] = to;
  }
  if (count == 0) return;
  std::sort(edges.begin(), edges.begin() + edge_count);
  std::array<int64_t, kMaxComputeSlices> charge{};
  for (int e = 0; e + 1 < edge_count; ++e) {
    const int64_t a = edges[e], b = edges[e + 1];
    if (b <= a) continue;
    // The distinct slices busy over [a, b) share it equally.
    std::array<bool, kMaxComputeSlices> in{};
    int slices = 0;
    for (int k = 0; k < count; ++k) {
      if (busy[k].from <= a && busy[k].to >= b && !in[busy[k].slice]) {
        in[busy[k].slice] = true;
        ++slices;
      }
    }
    for (int s = 0; s < kMaxComputeSlices && slices > 0; ++s) {
      if (in[s]) charge[s] += (b - a) / slices;
    }
  }
  for (int s = 0; s < kMaxComputeSlices; ++s) {
    if (charge[s] <= 0) continue;
    arbiter_policy::Charge(policy(), layout_->slices[s], charge[s]);
    layout_->slices[s].active_ns = now;
  }
}

bool ComputeArbiter::MayRunSharedLocked(int64_t now, int64_t lead_ns) const {
  const int64_t mine = layout_->slices[slice_].vtime;
  int64_t least = mine;
  for (int i = 0; i < kMaxComputeMembers; ++i) {
    const MemberRecord& m = layout_->members[i];
    if (m.pid == 0 || m.slice < 0 || m.slice >= kMaxComputeSlices || m.slice == slice_) continue;
    // A slice whose last sign of work was a moment ago (its host between launches) still uses
    // the device.
    const bool using_or_wanting =
        Waiting(m) ||
        layout_->shared[i].active_ns.load(std::memory_order_relaxed) > now - timing_.idle_revoke_ns;
    if (using_or_wanting) least = std::min(least, layout_->slices[m.slice].vtime);
  }
  return mine - least <= lead_ns;
}

void ComputeArbiter::AcquireShared() {
  Lock();
  int64_t now = NowNs();
  MemberRecord& me = layout_->members[member_];
  arbiter_policy::CatchUp(layout_->slices[slice_], layout_->slices.data(), now);
  while (true) {
    NoteWaitingLocked(now);
    ChargeSharedLocked(now);
    // Back only once no longer ahead: a slice let in again the moment it is a little under the
    // lead would come and go at every check, and each return waits behind the others' queues.
    if (MayRunSharedLocked(now, 0)) {
      me.waiting_since_ns = 0;
      me.last_grant_ns = now;
      layout_->waiters.fetch_sub(1);
      layout_->shared[member_].admitted.store(1);
      last_shared_check_ns_ = now;
      last_shared_verdict_ = Verdict::kKeep;
      Unlock();
      return;
    }
    const uint32_t seen = layout_->generation.load();
    Unlock();
    Wait(seen, kSharedCheckNs);
    Lock();
    now = NowNs();
  }
}

ComputeArbiter::Verdict ComputeArbiter::CheckShared() {
  const int64_t now = NowNs();
  // The standing is re-read at most every kSharedCheckNs; in between the last one holds.
  if (now - last_shared_check_ns_ < kSharedCheckNs) return last_shared_verdict_;
  last_shared_check_ns_ = now;
  Lock();
  ChargeSharedLocked(now);
  const bool may = MayRunSharedLocked(now, timing_.quantum_ns);
  Unlock();
  last_shared_verdict_ = may ? Verdict::kKeep : Verdict::kYield;
  return last_shared_verdict_;
}

}  // namespace xpool::runtime
