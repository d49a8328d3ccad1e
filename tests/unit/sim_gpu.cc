#include "sim_gpu.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <numeric>
#include <string>
#include <thread>

namespace xpool::runtime::sim {

SimGpu* SimGpu::current_ = nullptr;
thread_local int SimGpu::self_ = -1;

SimGpu::SimGpu() {
  current_ = this;
}

SimGpu::~SimGpu() {
  current_ = nullptr;
}

void SimGpu::Run(const std::vector<std::function<void(int)>>& bodies) {
  std::unique_lock<std::mutex> lock(mu_);
  processes_.assign(bodies.size(), Process{});
  turns_.clear();
  for (Process& p : processes_) {
    p.wake_at = now_;
    p.slept = ++sleeps_;
    p.ran.assign(counted_seconds_, 0);
    turns_.push_back(std::make_unique<std::condition_variable>());
  }
  std::vector<std::thread> threads;
  for (size_t i = 0; i < bodies.size(); ++i) {
    threads.emplace_back([this, i, &bodies] {
      self_ = static_cast<int>(i);
      {
        std::unique_lock<std::mutex> wait(mu_);
        turns_[self_]->wait(wait, [&] { return running_ == self_; });
      }
      bodies[i](self_);
      std::unique_lock<std::mutex> end(mu_);
      Self().done = true;
      PassTurn(end);
    });
  }
  PassTurn(lock);
  all_done_.wait(lock, [&] {
    return std::all_of(processes_.begin(), processes_.end(),
                       [](const Process& p) { return p.done; });
  });
  lock.unlock();
  for (std::thread& t : threads) t.join();
}

void SimGpu::PassTurn(std::unique_lock<std::mutex>& lock) {
  int next = -1;
  for (int i = 0; i < static_cast<int>(processes_.size()); ++i) {
    const Process& p = processes_[i];
    if (p.done) continue;
    if (next < 0 || p.wake_at < processes_[next].wake_at ||
        (p.wake_at == processes_[next].wake_at && p.slept < processes_[next].slept)) {
      next = i;
    }
  }
  if (next >= 0) {
    now_ = std::max(now_, processes_[next].wake_at);
    processes_[next].waiting_on = nullptr;
  }
  if (next == self_ && next >= 0) return;  // still the caller's turn
  running_ = next;
  if (next >= 0) {
    turns_[next]->notify_one();
  } else {
    all_done_.notify_one();
  }
  if (self_ < 0 || Self().done) return;
  turns_[self_]->wait(lock, [&] { return running_ == self_; });
}

void SimGpu::SleepUntil(int64_t t, const std::atomic<uint32_t>* word) {
  std::unique_lock<std::mutex> lock(mu_);
  Process& me = Self();
  me.wake_at = t;
  me.slept = ++sleeps_;
  me.waiting_on = word;
  PassTurn(lock);
}

void SimGpu::Wait(std::atomic<uint32_t>& word, uint32_t seen, int64_t timeout_ns,
                  ComputeWait /*how*/) {
  if (word.load() != seen) return;
  SleepUntil(now_ + std::max<int64_t>(timeout_ns, 1), &word);
}

void SimGpu::WakeAll(std::atomic<uint32_t>& /*word*/) {
  // Each process maps the segment at an address of its own, so the word's address does not say
  // which waiters wait on it; all of them wake, and those that wait on something else (a lease
  // wait's `seen` is still current) go back to sleep, as after a spurious wake-up.
  for (Process& p : processes_) {
    if (p.waiting_on == nullptr) continue;
    p.wake_at = std::min(p.wake_at, now_);
    p.waiting_on = nullptr;
  }
}

void SimGpu::Spend(int64_t ns) {
  SleepUntil(now_ + ns);
}

void SimGpu::Launch(int64_t ns) {
  constexpr int64_t kLaunchQueueNs = 20 * kMs;
  if (Self().queued_until - kLaunchQueueNs > now_) SleepUntil(Self().queued_until - kLaunchQueueNs);
  Process& me = Self();
  device_busy_until_ = std::max(now_, device_busy_until_) + ns;
  me.queued_until = device_busy_until_;
  if (me.queued_until <= count_from_) return;
  const auto second = static_cast<size_t>((me.queued_until - count_from_) / kS);
  if (second < me.ran.size()) me.ran[second] += ns;
}

void SimGpu::Synchronize() {
  if (Self().queued_until > now_) SleepUntil(Self().queued_until);
}

void SimGpu::CountFrom(int64_t at, int seconds) {
  count_from_ = at;
  counted_seconds_ = seconds;
  for (Process& p : processes_) p.ran.assign(seconds, 0);
}

std::vector<double> SimGpu::BusyPerSecond(int process) const {
  const std::vector<int64_t>& ran = processes_.at(process).ran;
  std::vector<double> out(ran.size());
  std::transform(ran.begin(), ran.end(), out.begin(),
                 [](int64_t ns) { return static_cast<double>(ns) / kS; });
  return out;
}

ComputeEventApi SimGpu::Events() {
  return ComputeEventApi{&CreateEvent,      &RecordEvent, &QueryEvent,
                         &SynchronizeEvent, &IsCapturing, &ElapsedTime};
}

CUresult SimGpu::CreateEvent(CUevent* event, unsigned /*flags*/) {
  *event = reinterpret_cast<CUevent>(&current_->events_.emplace_back());
  return CUDA_SUCCESS;
}

CUresult SimGpu::RecordEvent(CUevent event, CUstream /*stream*/) {
  current_->done_[event] = std::max(current_->now_, current_->Self().queued_until);
  return CUDA_SUCCESS;
}

CUresult SimGpu::QueryEvent(CUevent event) {
  return current_->done_.at(event) <= current_->now_ ? CUDA_SUCCESS : CUDA_ERROR_NOT_READY;
}

CUresult SimGpu::SynchronizeEvent(CUevent event) {
  const int64_t done = current_->done_.at(event);
  if (done > current_->now_) current_->SleepUntil(done);
  return CUDA_SUCCESS;
}

CUresult SimGpu::IsCapturing(CUstream /*stream*/, int* status) {
  *status = CU_STREAM_CAPTURE_STATUS_NONE;
  return CUDA_SUCCESS;
}

CUresult SimGpu::ElapsedTime(float* ms, CUevent from, CUevent to) {
  *ms = static_cast<float>(current_->done_.at(to) - current_->done_.at(from)) / 1e6f;
  return CUDA_SUCCESS;
}

double Outcome::Busy() const {
  if (busy_per_second.empty()) return 0;
  return std::accumulate(busy_per_second.begin(), busy_per_second.end(), 0.0) /
         static_cast<double>(busy_per_second.size());
}

std::unique_ptr<ComputeArbiter> SimArbiter(SimGpu& gpu, const std::string& segment,
                                           const Arbitration& arbitration, int index) {
  ArbiterTiming timing;
  timing.clock = &gpu;
  timing.wait = ComputeWait::kSpin;
  timing.member_pid = gettid();  // alive, and its own, as the others see it
  if (arbitration.period_ns > 0) timing.fixed_period_ns = arbitration.period_ns;
  if (arbitration.queue_ns > 0) timing.queue_ns = arbitration.queue_ns;
  auto arbiter = ComputeArbiter::Open(segment, arbitration.policy, static_cast<uint64_t>(index) + 1,
                                      arbitration.share, arbitration.high, timing,
                                      "sim " + std::to_string(index));
  EXPECT_TRUE(arbiter.ok()) << arbiter.status().message();
  if (!arbiter.ok()) return nullptr;
  return std::move(*arbiter);
}

std::unique_ptr<ComputeLimiter> SimLimiter(SimGpu& gpu, const std::string& segment,
                                           const Arbitration& arbitration, int index) {
  auto arbiter = SimArbiter(gpu, segment, arbitration, index);
  if (arbiter == nullptr) return nullptr;
  return std::make_unique<ComputeLimiter>(std::move(arbiter), SimGpu::Events());
}

namespace {

// One tenant's process: launches its program until `end`, through a limiter of its own slice
// when arbitrated, and notes the latency of each step that ends from `count_from` on.
void RunProgram(SimGpu& gpu, const std::string& segment, const Tenant& tenant, int index,
                int64_t count_from, int64_t end, std::vector<int64_t>& step_ns) {
  std::unique_ptr<ComputeLimiter> limiter;
  if (tenant.arbitration.limited) {
    limiter = SimLimiter(gpu, segment, tenant.arbitration, index);
    if (limiter == nullptr) return;
  }
  const Program& p = tenant.program;
  int launched_in_step = 0;
  int64_t launched = 0;
  int64_t step_start = gpu.NowNs();
  while (gpu.NowNs() < end) {
    gpu.Spend(p.cpu_ns);
    const bool long_one = p.long_every > 0 && ++launched % p.long_every == 0;
    auto launch = [&] {
      gpu.Launch(long_one ? p.long_kernel_ns : p.kernel_ns);
      return CUDA_SUCCESS;
    };
    if (limiter != nullptr) {
      limiter->Run(nullptr, false, launch);
    } else {
      launch();
    }
    if (p.kernels_per_step > 0 && ++launched_in_step == p.kernels_per_step) {
      gpu.Synchronize();
      if (gpu.NowNs() >= count_from) step_ns.push_back(gpu.NowNs() - step_start);
      launched_in_step = 0;
      if (p.pause_ns > 0) gpu.Spend(p.pause_ns);
      step_start = gpu.NowNs();
    }
  }
  gpu.Synchronize();  // as a process's exit waits for its work
}

}  // namespace

std::vector<Outcome> RunTenants(SimGpu& gpu, const std::string& segment,
                                const std::vector<Tenant>& tenants, int seconds,
                                int64_t warm_up_ns) {
  std::filesystem::remove(segment);
  const int64_t count_from = gpu.NowNs() + warm_up_ns;
  const int64_t end = count_from + seconds * kS;
  gpu.CountFrom(count_from, seconds);
  std::vector<Outcome> outcomes(tenants.size());
  std::vector<std::function<void(int)>> bodies;
  for (size_t i = 0; i < tenants.size(); ++i) {
    bodies.emplace_back([&, i](int index) {
      RunProgram(gpu, segment, tenants[i], index, count_from, end, outcomes[i].step_ns);
    });
  }
  gpu.Run(bodies);
  for (size_t i = 0; i < tenants.size(); ++i) {
    outcomes[i].busy_per_second = gpu.BusyPerSecond(static_cast<int>(i));
  }
  std::filesystem::remove(segment);
  return outcomes;
}

double Percentile(std::vector<int64_t> values, int p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t at = std::min(values.size() - 1, values.size() * static_cast<size_t>(p) / 100);
  return static_cast<double>(values[at]);
}

}  // namespace xpool::runtime::sim
