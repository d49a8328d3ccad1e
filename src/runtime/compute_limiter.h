// The launch side of compute shares, one per process and device: before a kernel or graph launch
// it makes sure the process holds the device's lease (ComputeArbiter), gives the lease up when the
// arbiter says so once its queued work has drained, and keeps the work queued on the device short
// (about 1 ms, one launch while a high-priority slice uses the device), so that a lease ends
// close to when it should and a high-priority slice never waits behind a long queue. Completion
// of queued work is read from the GPU itself, through an event recorded after each launch.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "runtime/compute_arbiter.h"
#include "runtime/driver_abi.h"

namespace xpool::runtime {

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
    Admit();
    const CUresult rc = launch();
    if (rc == CUDA_SUCCESS) AfterLaunch(stream);
    return rc;
  }

  explicit ComputeLimiter(std::unique_ptr<ComputeArbiter> arbiter);

 private:
  bool Capturing(CUstream stream) const;
  void Admit();
  void AfterLaunch(CUstream stream);
  // Pops queued markers the GPU has passed; with `block`, waits for the oldest first.
  void Retire(bool block);
  void Drain();
  size_t QueueLimit(int64_t now) const;

  std::mutex mu_;
  std::unique_ptr<ComputeArbiter> arbiter_;
  bool holding_ = false;
  std::deque<CUevent> queued_;  // one marker per launch, oldest first
  std::vector<CUevent> spare_;
  int64_t per_launch_ns_ = 100'000;  // device time of one launch, learnt from completions
  int64_t last_block_ns_ = 0;
  int retired_since_block_ = 0;
};

}  // namespace xpool::runtime
