// A simulated GPU on a virtual clock, shared by simulated processes, for testing compute shares
// deterministically: the real limiter and arbiter run over it (as the arbiter's ComputeClock and
// the limiter's ComputeEventApi), and a share or a latency is read exactly, whatever else the
// machine runs, with seconds of launches taking milliseconds.
//
// Each simulated process runs on a thread of its own, but only one runs at a time: the one whose
// next event (the end of the CPU time it spends, the completion it waits for, its lease wait's
// timeout or wake-up) comes first on the virtual clock, earlier sleepers first on a tie. The
// device runs the kernels of every process one after another, in launch order.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/compute_arbiter.h"
#include "runtime/compute_limiter.h"

namespace xpool::runtime::sim {

inline constexpr int64_t kUs = 1'000;
inline constexpr int64_t kMs = 1'000'000;
inline constexpr int64_t kS = 1'000'000'000;

class SimGpu final : public ComputeClock {
 public:
  SimGpu();
  ~SimGpu() override;
  SimGpu(const SimGpu&) = delete;
  SimGpu& operator=(const SimGpu&) = delete;

  // Runs each body as a simulated process (its index the argument) until every one returns.
  // The clock goes on from where the last Run left it; the device keeps its queued work.
  void Run(const std::vector<std::function<void(int)>>& bodies);

  // ComputeClock, for the arbiter.
  int64_t NowNs() override { return now_; }
  void Wait(std::atomic<uint32_t>& word, uint32_t seen, int64_t timeout_ns,
            ComputeWait how) override;
  void WakeAll(std::atomic<uint32_t>& word) override;

  // For the calling process: spends CPU time; queues a kernel of `ns` (like a driver's full
  // launch queue, waiting while more than 20 ms of the process's work is queued); waits until
  // the device has run all the process's work.
  void Spend(int64_t ns);
  void Launch(int64_t ns);
  void Synchronize();

  // From `at` on, the device time of each process is counted per second, for `seconds`; a
  // kernel counts in the second it ends in. Called by a process during a Run, it starts the count
  // over for every process.
  void CountFrom(int64_t at, int seconds);
  // The fraction of each counted second the device ran the kernels of `process`.
  std::vector<double> BusyPerSecond(int process) const;

  // The event calls of the calling process, as the limiter makes them.
  static ComputeEventApi Events();

 private:
  struct Process {
    int64_t wake_at = 0;
    uint64_t slept = 0;  // when it last went to sleep, in sleeps: ties wake the earlier first
    const std::atomic<uint32_t>* waiting_on = nullptr;
    bool done = false;
    int64_t queued_until = 0;  // when its work launched so far ends on the device
    std::vector<int64_t> ran;  // device time per counted second
  };
  void SleepUntil(int64_t t, const std::atomic<uint32_t>* word = nullptr);
  // Passes the turn to the process due first; returns when it is the caller's turn again (at
  // once when the caller is done).
  void PassTurn(std::unique_lock<std::mutex>& lock);
  Process& Self() { return processes_[self_]; }

  static CUresult CreateEvent(CUevent* event, unsigned flags);
  static CUresult RecordEvent(CUevent event, CUstream stream);
  static CUresult QueryEvent(CUevent event);
  static CUresult SynchronizeEvent(CUevent event);
  static CUresult IsCapturing(CUstream stream, int* status);
  static CUresult ElapsedTime(float* ms, CUevent from, CUevent to);

  static SimGpu* current_;
  static thread_local int self_;

  std::mutex mu_;
  std::vector<std::unique_ptr<std::condition_variable>> turns_;  // one per process
  std::condition_variable all_done_;
  int running_ = -1;
  uint64_t sleeps_ = 0;
  std::vector<Process> processes_;
  int64_t now_ = 100 * kS;
  int64_t device_busy_until_ = 0;
  int64_t count_from_ = 0;
  int counted_seconds_ = 0;
  std::deque<char> events_;          // an event is the address of a byte of its own
  std::map<CUevent, int64_t> done_;  // when each recorded event completes
};

// What a simulated process does: before each launch it spends `cpu_ns` (a framework's work) and
// launches a kernel of `kernel_ns`. With `kernels_per_step`, it waits for each step's kernels to
// finish (an inference request), then pauses for `pause_ns`.
// With `long_every`, every long_every-th kernel takes `long_kernel_ns` instead (a training step:
// large products among many small element-wise kernels, the host running ahead during the former).
struct Program {
  int64_t cpu_ns;
  int64_t kernel_ns;
  int kernels_per_step = 0;
  int64_t pause_ns = 0;
  int long_every = 0;
  int64_t long_kernel_ns = 0;
};

// A process's arbitration: no limiter at all, or a limiter of its own slice.
struct Arbitration {
  bool limited = false;
  ComputePolicy policy = ComputePolicy::kFixed;
  int share = 100;
  bool high = false;
  int64_t period_ns = 0;  // fixed: the slice's period (XPOOL_COMPUTE_PERIOD_MS); 0: the default
  int64_t queue_ns = 0;   // the holder's queue (XPOOL_COMPUTE_QUEUE_US); 0: the default
};

struct Outcome {
  std::vector<double> busy_per_second;  // fraction of each counted second
  std::vector<int64_t> step_ns;         // latency of each step that ended while counted
  double Busy() const;                  // mean fraction of the counted seconds
};

struct Tenant {
  Program program;
  Arbitration arbitration;
};

// The arbiter of a slice of its own for simulated process `index`, in the segment at `segment`,
// on `gpu`'s clock; null (and a test failure) when the segment cannot be joined.
std::unique_ptr<ComputeArbiter> SimArbiter(SimGpu& gpu, const std::string& segment,
                                           const Arbitration& arbitration, int index);
// A limiter over SimArbiter's arbiter and the simulated device's events.
std::unique_ptr<ComputeLimiter> SimLimiter(SimGpu& gpu, const std::string& segment,
                                           const Arbitration& arbitration, int index);

// Runs `tenants` side by side on `gpu`, each slice arbitrated in the segment at `segment` (made
// afresh), for `warm_up_ns` and then `seconds` counted.
std::vector<Outcome> RunTenants(SimGpu& gpu, const std::string& segment,
                                const std::vector<Tenant>& tenants, int seconds,
                                int64_t warm_up_ns = kS);

// The p-th percentile (0-100) of `values`.
double Percentile(std::vector<int64_t> values, int p);

}  // namespace xpool::runtime::sim
