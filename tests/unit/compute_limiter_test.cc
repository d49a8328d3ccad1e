// The limiter and the arbiter over a simulated device on a virtual clock. A program's CPU time,
// its kernels' device time, the completion of the limiter's markers and its waits for the lease
// all happen on SimDevice's clock. So a share is checked exactly, whatever else the machine runs,
// and ten seconds of launches take milliseconds.
#include "runtime/compute_limiter.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace xpool::runtime {
namespace {

constexpr int64_t kUs = 1'000;
constexpr int64_t kMs = 1'000'000;
constexpr int64_t kS = 1'000'000'000;

// One device and one stream: kernels run one after another in launch order; an event completes
// when the work launched before it has. Time moves when the program spends CPU time, waits for an
// event, waits for room in the launch queue, or waits for the lease.
class SimDevice final : public ComputeClock {
 public:
  SimDevice() { current_ = this; }
  ~SimDevice() override { current_ = nullptr; }

  int64_t NowNs() override { return now_; }
  void Wait(std::atomic<uint32_t>& word, uint32_t seen, int64_t timeout_ns,
            ComputeWait /*how*/) override {
    // One process: nobody else moves the word, so the wait lasts its whole timeout.
    if (word.load() == seen) now_ += std::max<int64_t>(timeout_ns, 1);
  }
  void WakeAll(std::atomic<uint32_t>& /*word*/) override {}

  void Spend(int64_t ns) { now_ += ns; }
  // Queues a kernel of `ns`; like a driver's full launch queue, waits while more than 20 ms of
  // work is queued. Its device time counts in the second it ends in.
  void Launch(int64_t ns) {
    now_ = std::max(now_, busy_until_ - 20 * kMs);
    busy_until_ = std::max(busy_until_, now_) + ns;
    const auto second = static_cast<size_t>((busy_until_ - start_) / kS);
    if (busy_until_ > start_ && second < ran_.size()) ran_[second] += ns;
  }
  // From now on, device time is counted per second, for `seconds`.
  void StartCounting(int seconds) {
    start_ = now_;
    ran_.assign(seconds, 0);
  }
  // The fraction of each counted second the device ran kernels.
  std::vector<double> BusyPerSecond() const {
    std::vector<double> out;
    for (int64_t ns : ran_) out.push_back(static_cast<double>(ns) / kS);
    return out;
  }
  int64_t start() const { return start_; }

  static ComputeEventApi Events() {
    return ComputeEventApi{&Create, &Record, &Query, &Synchronize, &IsCapturing, &Elapsed};
  }

 private:
  static CUresult Create(CUevent* event, unsigned /*flags*/) {
    // An event is the address of a byte of its own.
    *event = reinterpret_cast<CUevent>(&current_->events_.emplace_back());
    return CUDA_SUCCESS;
  }
  static CUresult Record(CUevent event, CUstream /*stream*/) {
    current_->done_[event] = std::max(current_->now_, current_->busy_until_);
    return CUDA_SUCCESS;
  }
  static CUresult Query(CUevent event) {
    return current_->done_.at(event) <= current_->now_ ? CUDA_SUCCESS : CUDA_ERROR_NOT_READY;
  }
  static CUresult Synchronize(CUevent event) {
    current_->now_ = std::max(current_->now_, current_->done_.at(event));
    return CUDA_SUCCESS;
  }
  static CUresult IsCapturing(CUstream /*stream*/, int* status) {
    *status = CU_STREAM_CAPTURE_STATUS_NONE;
    return CUDA_SUCCESS;
  }
  static CUresult Elapsed(float* ms, CUevent from, CUevent to) {
    *ms = static_cast<float>(current_->done_.at(to) - current_->done_.at(from)) / 1e6f;
    return CUDA_SUCCESS;
  }

  static SimDevice* current_;
  int64_t now_ = 100 * kS;
  int64_t busy_until_ = 0;
  int64_t start_ = 0;
  std::vector<int64_t> ran_;
  std::deque<char> events_;
  std::map<CUevent, int64_t> done_;
};
SimDevice* SimDevice::current_ = nullptr;

// A program: before each launch it spends `cpu_ns` (a framework's work), then launches a kernel
// of `kernel_ns`; with `wait_each`, it waits for every kernel before the next (its events).
struct Program {
  int64_t cpu_ns;
  int64_t kernel_ns;
  bool wait_each = false;
};

class ComputeLimiterSimTest : public ::testing::Test {
 protected:
  void TearDown() override { std::filesystem::remove(path_); }

  // A limiter of one slice on the simulated device, in a fresh segment of this test's own.
  std::unique_ptr<ComputeLimiter> Limiter(ComputePolicy policy, int share) {
    std::filesystem::remove(path_);
    ArbiterTiming timing;
    timing.clock = &device_;
    timing.wait = ComputeWait::kSpin;
    auto arbiter = ComputeArbiter::Open(path_, policy, 2, share, false, timing, "sim");
    EXPECT_TRUE(arbiter.ok()) << arbiter.status().message();
    if (!arbiter.ok()) return nullptr;
    return std::make_unique<ComputeLimiter>(std::move(*arbiter), SimDevice::Events());
  }

  // Runs `p` for a warm-up second, then `seconds` more counted; through `limiter` unless null.
  std::vector<double> Busy(const Program& p, ComputeLimiter* limiter, int seconds) {
    const int64_t warm_up_end = device_.NowNs() + kS;
    bool counting = false;
    CUevent done = nullptr;
    const ComputeEventApi events = SimDevice::Events();
    events.create(&done, 0);
    while (!counting || device_.NowNs() < device_.start() + seconds * kS) {
      if (!counting && device_.NowNs() >= warm_up_end) {
        device_.StartCounting(seconds);
        counting = true;
      }
      device_.Spend(p.cpu_ns);
      auto launch = [&] {
        device_.Launch(p.kernel_ns);
        return CUDA_SUCCESS;
      };
      if (limiter != nullptr) {
        limiter->Run(nullptr, false, launch);
      } else {
        launch();
      }
      if (p.wait_each) {
        events.record(done, nullptr);
        events.synchronize(done);
      }
    }
    return device_.BusyPerSecond();
  }

  static double Mean(const std::vector<double>& v) {
    double sum = 0;
    for (double x : v) sum += x;
    return v.empty() ? 0 : sum / static_cast<double>(v.size());
  }

  SimDevice device_;
  std::string path_ = (std::filesystem::temp_directory_path() /
                       ("xpool-sim-" + std::to_string(getpid()) + "-" +
                        ::testing::UnitTest::GetInstance()->current_test_info()->name()))
                          .string();
};

// The three workloads, as the device sees them: large products (GPU-bound), many small
// kernels from an eager framework (bound by the CPU's launches), and the same kernels replayed as
// one graph launch.
const std::map<std::string, Program> kWorkloads = {
    {"products", {5 * kUs, 500 * kUs}},
    {"small eager", {7 * kUs, 1 * kUs}},
    {"graph", {20 * kUs, 1200 * kUs}},
};

TEST_F(ComputeLimiterSimTest, FixedSharesHoldWithinAPointOnEveryWorkload) {
  for (const auto& [name, program] : kWorkloads) {
    const double unlimited = Mean(Busy(program, nullptr, 10));
    ASSERT_GT(unlimited, 0.1) << name;
    for (int share : {1, 10, 25, 50, 75}) {
      auto limiter = Limiter(ComputePolicy::kFixed, share);
      ASSERT_NE(limiter, nullptr);
      const double achieved = Mean(Busy(program, limiter.get(), 10)) / unlimited;
      EXPECT_NEAR(achieved, share / 100.0, 0.01) << name << " at " << share << " %";
    }
  }
}

TEST_F(ComputeLimiterSimTest, AFixedShareHoldsSteadyEverySecond) {
  for (const auto& [name, program] : kWorkloads) {
    const double unlimited = Mean(Busy(program, nullptr, 5));
    auto limiter = Limiter(ComputePolicy::kFixed, 30);
    ASSERT_NE(limiter, nullptr);
    const std::vector<double> seconds = Busy(program, limiter.get(), 30);
    for (size_t i = 0; i < seconds.size(); ++i) {
      EXPECT_NEAR(seconds[i] / unlimited, 0.30, 0.30 * 0.02) << name << ", second " << i;
    }
  }
}

TEST_F(ComputeLimiterSimTest, LongKernelsWaitedForOneByOneArePaidFor) {
  // 5 ms kernels, each waited for: every lease overruns, and the overrun is paid back.
  const Program program{10 * kUs, 5 * kMs, true};
  const double unlimited = Mean(Busy(program, nullptr, 5));
  auto limiter = Limiter(ComputePolicy::kFixed, 30);
  ASSERT_NE(limiter, nullptr);
  EXPECT_NEAR(Mean(Busy(program, limiter.get(), 10)) / unlimited, 0.30, 0.01);
}

TEST_F(ComputeLimiterSimTest, BestEffortAloneCostsTheDeviceNothing) {
  for (const auto& [name, program] : kWorkloads) {
    const double unlimited = Mean(Busy(program, nullptr, 5));
    auto limiter = Limiter(ComputePolicy::kBestEffort, 100);
    ASSERT_NE(limiter, nullptr);
    EXPECT_GE(Mean(Busy(program, limiter.get(), 5)) / unlimited, 0.995) << name;
  }
}

TEST_F(ComputeLimiterSimTest, AFixedSliceIsNotChargedForAPause) {
  // An inference server at 25 %: a burst of work, a second with nothing to do, then a request.
  // Charged for the pause, it would wait 4 s for the device; it may launch at once.
  auto limiter = Limiter(ComputePolicy::kFixed, 25);
  ASSERT_NE(limiter, nullptr);
  Busy({5 * kUs, 500 * kUs}, limiter.get(), 1);
  device_.Spend(kS);
  const int64_t asked = device_.NowNs();
  int64_t admitted = 0;
  limiter->Run(nullptr, false, [&] {
    admitted = device_.NowNs();
    device_.Launch(500 * kUs);
    return CUDA_SUCCESS;
  });
  EXPECT_LT(admitted - asked, kMs);
}

}  // namespace
}  // namespace xpool::runtime
