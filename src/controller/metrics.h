// Prometheus metrics of the controller, in the text exposition format (version 0.0.4): pool
// capacity and allocation per device type and model, allocations by state, nodes by readiness,
// compute and memory allocated per tenant, device time per tenant, and a histogram of scheduling
// latency.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "xpool/v1/pool.pb.h"

namespace xpool::controller {

// A fixed-bucket histogram of seconds; thread-safe.
class LatencyHistogram {
 public:
  static constexpr std::array<double, 12> kBounds = {
      0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5};
  void Observe(double seconds);
  // Appends the histogram's lines (HELP, TYPE, buckets, sum, count).
  void Render(const std::string& name, const std::string& help, std::string& out) const;

 private:
  mutable std::mutex mu_;
  std::array<uint64_t, kBounds.size() + 1> counts_{};  // the last one: above every bound
  double sum_ = 0;
  uint64_t count_ = 0;
};

// What the /metrics page is made from: the controller's current view of the pool.
struct PoolView {
  std::vector<v1::Node> nodes;
  std::vector<v1::Allocation> live_allocations;
  size_t released_allocations = 0;  // still in the store
  size_t queued_requests = 0;       // waiting for capacity
  // Per tenant, the device time of all its allocations, live and released: a counter that never
  // falls, across controller restarts too (PoolState keeps it).
  std::map<std::string, double> gpu_seconds_total;
};

// The whole /metrics page.
std::string RenderMetrics(const PoolView& view, const LatencyHistogram& scheduling);

}  // namespace xpool::controller
