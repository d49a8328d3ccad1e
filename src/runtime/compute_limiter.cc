#include "runtime/compute_limiter.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <string>

namespace xpool::runtime {
namespace {

// A marker covers about this much work (or wall time) of launches.
constexpr int64_t kMarkNs = 100'000;
// Markers are polled at least this often while launches go on.
constexpr int64_t kPollNs = 500'000;
// One marker this often is timed: the cost of a launch is re-learnt this often.
constexpr int64_t kTimedMarkNs = 1'000'000;
// Before a lease ends on the queue's estimated drain, the queue is re-read if older than this.
constexpr int64_t kRefreshNs = 50'000;
// How often the arbiter hears that the holder is still launching (its idle revoke is 1 ms), and
// by how much the end of its queued work may move before the arbiter hears of that.
constexpr int64_t kNoteNs = 100'000;
// Waiting on queued work expected to take this long or more, the holder polls it (and tells the
// arbiter it is still at work) every kWaitPollNs instead of blocking in the driver: a waiter
// that comes meanwhile takes a holder silent for 1 ms for gone.
constexpr int64_t kLongWaitNs = 750'000;
constexpr int64_t kWaitPollNs = 100'000;
// Until a launch's cost is learnt, the queued work is assumed to take this long a launch when the
// arbiter is told when it ends: a guess too short would have a long launch, waited for by the
// program itself, count as silence, and lose the lease before its cost could be learnt.
constexpr int64_t kUnlearntLaunchNs = 1'000'000;
// A process that launched nothing for this long paused (slept, waited for input): the GPU time
// across the pause is not what its launches cost, so no sample spans it.
constexpr int64_t kPauseNs = 2'000'000;
// The most launches a process keeps queued.
constexpr int64_t kMaxQueuedLaunches = 4096;

}  // namespace

ComputeLimiter::ComputeLimiter(std::unique_ptr<ComputeArbiter> arbiter,
                               const ComputeEventApi& events)
    : arbiter_(std::move(arbiter)), events_(events) {}

bool ComputeLimiter::Capturing(CUstream stream) const {
  int status = CU_STREAM_CAPTURE_STATUS_NONE;
  const auto& api = events_;
  return api.is_capturing != nullptr && api.is_capturing(stream, &status) == CUDA_SUCCESS &&
         status != CU_STREAM_CAPTURE_STATUS_NONE;
}

int64_t ComputeLimiter::QueueLimit(int64_t now) const {
  // Under shared no lease has to end on time: a program keeps as much queued as it would
  // without the runtime (the queue it drains when it falls behind is charged to it).
  if (arbiter_->policy() == ComputePolicy::kShared) return kMaxQueuedLaunches;
  const int64_t queue_ns = arbiter_->timing().queue_ns;
  if (arbiter_->HighPriorityMayTakeOver(now, queue_ns)) return 1;
  return std::clamp<int64_t>(queue_ns / std::max<int64_t>(per_launch_ns_, 1), 2,
                             kMaxQueuedLaunches);
}

int64_t ComputeLimiter::Admit() {
  int64_t now = arbiter_->NowNs();
  if (now - last_admit_ns_ > kPauseNs) {
    // A lease kept through the pause is charged for the work queued before it, which may have
    // kept the device busy well into the pause (a long kernel waited for), but not for the rest.
    if (holding_) {
      const int64_t idle_from = WorkDoneAt(now).value_or(
          std::min(now, last_admit_ns_ + QueuedLaunches() * per_launch_ns_));
      arbiter_->ResumeAfterIdle(idle_from, now);
    }
    Retire(false);
    ForgetTimedMarker();
  }
  last_admit_ns_ = now;
  int64_t limit = QueueLimit(now);
  if (QueuedLaunches() * 2 >= limit || now - last_poll_ns_ >= kPollNs) {
    Retire(false);
    last_poll_ns_ = now;
  }
  // Wait for room in the queue first, so that the verdict below is fresh: a high-priority waiter
  // may have arrived meanwhile.
  while (QueuedLaunches() >= limit) {
    if (unmarked_ > 0) Mark();
    if (queued_.empty()) break;  // no marker to wait on (events unavailable)
    Retire(true);
    now = arbiter_->NowNs();
    limit = QueueLimit(now);
  }
  if (holding_) {
    auto verdict = arbiter_->Check(now + QueuedLaunches() * per_launch_ns_);
    if (verdict == ComputeArbiter::Verdict::kYield && QueuedLaunches() > 0 &&
        now - last_poll_ns_ >= kRefreshNs) {
      // The queue counts launches the GPU may have finished since the last poll (up to half the
      // queue limit). Yielding on that count would cut the lease short, and every extra lease
      // costs a cold first launch: ask the GPU first.
      Retire(false);
      last_poll_ns_ = now;
      verdict = arbiter_->Check(now + QueuedLaunches() * per_launch_ns_);
    }
    switch (verdict) {
      case ComputeArbiter::Verdict::kKeep:
        break;
      case ComputeArbiter::Verdict::kYield:
        Drain();
        arbiter_->Release(arbiter_->NowNs());
        holding_ = false;
        break;
      case ComputeArbiter::Verdict::kLost:
        holding_ = false;
        break;
    }
  }
  if (!holding_) {
    arbiter_->Acquire();
    holding_ = true;
    // The gap to the last marker of the previous lease holds other slices' work.
    ForgetTimedMarker();
    now = arbiter_->NowNs();
    // The wait for the lease is not a pause of this process: the next launch must not take
    // the pause path (a GPU round trip) for it.
    last_admit_ns_ = now;
  }
  return now;
}

void ComputeLimiter::AfterLaunch(int64_t now) {
  ++unmarked_;
  // A long launch (a graph replay) is noted at once: until its work ends, a program that waits
  // for it outside the runtime (a synchronize) is at work, not silent.
  if (now - last_note_ns_ >= kNoteNs || QueuedUntil(now) - noted_busy_until_ns_ >= kNoteNs) {
    NoteActive(now);
  }
  if (unmarked_ * per_launch_ns_ >= kMarkNs || now - last_mark_ns_ >= kMarkNs ||
      QueueLimit(now) <= 1) {
    Mark();
  }
}

int64_t ComputeLimiter::QueuedUntil(int64_t now) const {
  return now + QueuedLaunches() * (learnt_ ? per_launch_ns_ : kUnlearntLaunchNs);
}

void ComputeLimiter::NoteActive(int64_t now) {
  noted_busy_until_ns_ = QueuedUntil(now);
  arbiter_->NoteActive(now, noted_busy_until_ns_);
  last_note_ns_ = now;
}

void ComputeLimiter::Mark() {
  const auto& api = events_;
  last_mark_ns_ = arbiter_->NowNs();
  const int64_t launches = unmarked_;
  unmarked_ = 0;  // untracked if no marker can be recorded
  if (api.create == nullptr || api.record == nullptr) return;
  // Timed when a sample is due: the first marker after a pause or a new lease starts one.
  const bool timed = api.elapsed != nullptr &&
                     (timed_ == nullptr || last_mark_ns_ - last_timed_mark_ns_ >= kTimedMarkNs);
  std::vector<CUevent>& spares = timed ? spare_timed_ : spare_;
  CUevent event = nullptr;
  if (!spares.empty()) {
    event = spares.back();
    spares.pop_back();
  } else if (api.create(&event, timed ? CU_EVENT_DEFAULT : CU_EVENT_DISABLE_TIMING) !=
             CUDA_SUCCESS) {
    return;
  }
  if (api.record(event, last_stream_) != CUDA_SUCCESS) {
    spares.push_back(event);
    return;
  }
  if (timed) last_timed_mark_ns_ = last_mark_ns_;
  latest_marker_timed_ = timed ? event : nullptr;
  queued_.push_back(Marker{event, launches, timed});
  queued_launches_ += launches;
}

void ComputeLimiter::Retire(bool block) {
  const auto& api = events_;
  if (block && !queued_.empty()) {
    WaitForOldest();
    PopRetired();
  }
  while (!queued_.empty() && api.query(queued_.front().event) == CUDA_SUCCESS) PopRetired();
}

void ComputeLimiter::Drain() {
  if (unmarked_ > 0) Mark();
  while (!queued_.empty()) {
    WaitForOldest();
    PopRetired();
  }
}

void ComputeLimiter::WaitForOldest() {
  const auto& api = events_;
  const Marker& oldest = queued_.front();
  // Under shared every wait is polled: the others go by this process's signs of work to tell
  // whether it still uses the device, and a wait on its own queue is work.
  const bool shared = arbiter_->policy() == ComputePolicy::kShared;
  if (!holding_ || api.query == nullptr ||
      (!shared && oldest.launches * per_launch_ns_ < kLongWaitNs)) {
    api.synchronize(oldest.event);
    return;
  }
  // Work that may outlast the silence a holder is allowed (a graph replay, a long kernel): polled,
  // telling the arbiter at each poll that the holder is still at work. A holder descheduled or
  // stopped meanwhile falls silent, as it would anywhere else.
  CUresult rc = CUDA_ERROR_NOT_READY;
  while ((rc = api.query(oldest.event)) == CUDA_ERROR_NOT_READY) {
    NoteActive(arbiter_->NowNs());
    arbiter_->Sleep(kWaitPollNs);
  }
  if (rc != CUDA_SUCCESS) api.synchronize(oldest.event);
}

void ComputeLimiter::PopRetired() {
  const Marker done = queued_.front();
  queued_.pop_front();
  queued_launches_ -= done.launches;
  since_timed_ += done.launches;
  if (!done.timed) {
    spare_.push_back(done.event);
    return;
  }
  Learn(done);
  ForgetTimedMarker();
  timed_ = done.event;
}

void ComputeLimiter::Learn(const Marker& done) {
  // The GPU's own clock between the completions of two timed markers is what the launches
  // between them cost the device, or more where the device idled meanwhile (the CPU was slower):
  // either way how fast this process's work drains.
  const auto& api = events_;
  if (timed_ == nullptr || since_timed_ <= 0) return;
  float ms = 0;
  if (api.elapsed(&ms, timed_, done.event) != CUDA_SUCCESS || ms < 0) return;
  const auto sample = std::max<int64_t>(static_cast<int64_t>(ms * 1e6) / since_timed_, 1);
  per_launch_ns_ = learnt_ ? (per_launch_ns_ * 3 + sample) / 4 : sample;
  learnt_ = true;
}

std::optional<int64_t> ComputeLimiter::WorkDoneAt(int64_t now) {
  const auto& api = events_;
  // Launches after the latest marker (at most ~100 us of work) are not covered.
  if (latest_marker_timed_ == nullptr || api.elapsed == nullptr) return std::nullopt;
  if (probe_ == nullptr && api.create(&probe_, CU_EVENT_DEFAULT) != CUDA_SUCCESS) {
    probe_ = nullptr;
    return std::nullopt;
  }
  // The probe completes as soon as it is recorded, the stream being idle: the GPU time from the
  // marker to it is how long the device has been idle.
  float ms = 0;
  if (api.synchronize(latest_marker_timed_) != CUDA_SUCCESS ||
      api.record(probe_, last_stream_) != CUDA_SUCCESS || api.synchronize(probe_) != CUDA_SUCCESS ||
      api.elapsed(&ms, latest_marker_timed_, probe_) != CUDA_SUCCESS || ms < 0) {
    return std::nullopt;
  }
  return now - static_cast<int64_t>(ms * 1e6);
}

void ComputeLimiter::ForgetTimedMarker() {
  if (timed_ != nullptr) spare_timed_.push_back(timed_);
  timed_ = nullptr;
  since_timed_ = 0;
}

}  // namespace xpool::runtime
