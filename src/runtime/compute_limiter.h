// The launch side of compute shares, one per process and device: before a kernel or graph launch
// it makes sure the process holds the device's lease (ComputeArbiter), gives the lease up when the
// arbiter says so once its queued work has drained, and keeps the work queued on the device short
// (about 1 ms, one launch while a high-priority slice uses the device), so that a lease ends
// close to when it should and a high-priority slice never waits behind a long queue. Completion
// of queued work is read from the GPU itself, through marker events recorded after launches.
//
// A launch of a small kernel costs the CPU 3-5 us, so the common path asks the driver nothing: a
// marker covers every launch of ~100 us of work (each launch when launches are long, one marker per
// stream switch), and markers are polled only when the queue may be full or every 500 us. Markers
// are events without timing (recording one costs ~0.3 us on an H100, a timed one ~1.5 us); one
// marker a millisecond is timed, and the GPU time between two timed markers teaches the cost of a
// launch.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "runtime/compute_arbiter.h"
#include "runtime/driver_abi.h"

namespace xpool::runtime {

// The driver's event calls the limiter marks and reads the GPU's progress with; a member may be
// null where the driver lacks it (no markers then, or no timing).
struct ComputeEventApi {
  CUresult (*create)(CUevent*, unsigned int);
  CUresult (*record)(CUevent, CUstream);
  CUresult (*query)(CUevent);
  CUresult (*synchronize)(CUevent);
  CUresult (*is_capturing)(CUstream, int*);
  CUresult (*elapsed)(float*, CUevent, CUevent);
};

class ComputeLimiter {
 public:
  // Whether compute is arbitrated in this process (XPOOL_GPU_CORE, XPOOL_COMPUTE_POLICY or
  // XPOOL_PRIORITY set, and the configuration valid).
  static bool Enabled();
  // The limiter of the calling thread's current device; null when compute is not arbitrated or
  // there is no current device.
  static ComputeLimiter* ForCurrentDevice();

  // Runs `launch`, which launches work on `stream`, once this process may.
  template <typename Launch>
  CUresult Run(CUstream stream, bool per_thread, Launch&& launch) {
    if (per_thread && stream == nullptr) stream = CU_STREAM_PER_THREAD;
    if (Capturing(stream)) return launch();  // recorded into a graph, not run
    std::lock_guard<std::mutex> lock(mu_);
    if (stream != last_stream_ && unmarked_ > 0) Mark();  // a marker only covers its own stream
    last_stream_ = stream;
    const int64_t now = Admit();
    const CUresult rc = launch();
    if (rc == CUDA_SUCCESS) AfterLaunch(now);
    return rc;
  }

  // Enabled() and ForCurrentDevice() (compute_devices.cc) make one per device over the loaded
  // driver; tests give a simulated device's events and clock (through the arbiter's timing).
  ComputeLimiter(std::unique_ptr<ComputeArbiter> arbiter, const ComputeEventApi& events);

 private:
  bool Capturing(CUstream stream) const;
  // Returns the time it let the launch go.
  int64_t Admit();
  // `now`: when the launch was admitted (a few microseconds ago).
  void AfterLaunch(int64_t now);
  // Records a marker after the launches not yet covered by one.
  void Mark();
  // Pops queued markers the GPU has passed; with `block`, waits for the oldest first.
  void Retire(bool block);
  void Drain();
  // Waits until the oldest queued marker has passed.
  void WaitForOldest();
  void PopRetired();
  // When the work queued by `now` should end on the device, at the latest.
  int64_t QueuedUntil(int64_t now) const;
  // Tells the arbiter the holder is at work at `now`, and when its queued work should end.
  void NoteActive(int64_t now);
  int64_t QueueLimit(int64_t now) const;  // in launches
  int64_t QueuedLaunches() const { return queued_launches_ + unmarked_; }

  struct Marker {
    CUevent event;
    int64_t launches;  // launches it covers
    bool timed;
  };
  // Updates the cost of a launch from the GPU time between the last retired timed marker and
  // `done` (timed), over the launches between them.
  void Learn(const Marker& done);
  void ForgetTimedMarker();
  // When (host clock) the work queued before a pause finished on the device, read from the GPU's
  // timestamps when the latest marker was timed; nullopt otherwise.
  std::optional<int64_t> WorkDoneAt(int64_t now);

  std::mutex mu_;
  std::unique_ptr<ComputeArbiter> arbiter_;
  const ComputeEventApi events_;
  bool holding_ = false;
  std::deque<Marker> queued_;   // oldest first
  std::vector<CUevent> spare_;  // untimed
  std::vector<CUevent> spare_timed_;
  int64_t queued_launches_ = 0;  // covered by the markers in queued_
  int64_t unmarked_ = 0;         // launched since the last marker
  CUstream last_stream_ = nullptr;
  int64_t last_mark_ns_ = 0;
  int64_t last_poll_ns_ = 0;
  int64_t last_note_ns_ = 0;
  int64_t noted_busy_until_ns_ = 0;
  int64_t last_admit_ns_ = 0;
  int64_t per_launch_ns_ = 100'000;  // device time of one launch, learnt from GPU timestamps
  bool learnt_ = false;              // per_launch_ns_ is from a sample, not the initial guess
  CUevent timed_ = nullptr;          // the timed marker retired last, start of the next sample
  int64_t since_timed_ = 0;          // launches retired after timed_
  int64_t last_timed_mark_ns_ = 0;
  CUevent latest_marker_timed_ = nullptr;  // the latest marker recorded, when it was timed
  CUevent probe_ = nullptr;                // timed, for WorkDoneAt
};

}  // namespace xpool::runtime
