#include "sim/replay.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <limits>
#include <queue>

#include "sched/frag.h"
#include "sched/policies.h"
#include "sched/scheduler.h"

namespace xpool::sim {
namespace {

using sched::Demand;
using sched::Pool;
using Clock = std::chrono::steady_clock;

// Everything one replay needs: the pool, the scheduler of the chosen policy, compiled demands.
struct Setup {
  Pool pool;
  sched::ShapeTable shapes;
  std::vector<Demand> demands;  // one per input pod
  std::unique_ptr<sched::Scheduler> scheduler;
  sched::FragMeasure artifact_frag;
};

Result<std::unique_ptr<Setup>> MakeSetup(const std::vector<TraceNode>& nodes,
                                         const std::vector<TracePod>& pods,
                                         const std::string& policy) {
  auto s = std::make_unique<Setup>();
  for (const auto& n : nodes) {
    sched::NodeSpec spec;
    spec.name = n.name;
    spec.model = n.gpus > 0 ? n.model : "";
    spec.device_count = n.gpus;
    spec.cpu = MilliCpu(n.cpu_milli);
    spec.host_memory = MiB(n.memory_mib);
    s->pool.AddNode(spec);
  }
  if (s->pool.total_device_milli() == 0)
    return Status::InvalidArgument("the node list has no GPUs");
  sched::PolicyContext ctx;
  ctx.pool = &s->pool;
  for (const auto& p : pods) {
    ctx.workload.push_back(ToWorkloadShape(p));
    auto d = sched::CompileDemand(s->pool, ToRequest(p), s->shapes);
    if (!d.ok()) return Status::InvalidArgument("pod " + p.name + ": " + d.status().message());
    s->demands.push_back(std::move(*d));
  }
  auto policy_or = sched::MakePolicy(policy, ctx);
  if (!policy_or.ok()) return policy_or.status();
  std::vector<sched::WeightedPolicy> profile;
  profile.push_back({std::move(*policy_or), 1});
  s->scheduler = std::make_unique<sched::Scheduler>(std::move(profile));
  s->artifact_frag = sched::FragMeasure(s->pool, sched::ArtifactTypicalShapes(ctx.workload));
  return s;
}

void Report(const ReplayOptions& opts, size_t done, size_t total) {
  if (opts.progress && (done % 256 == 0 || done == total)) {
    opts.progress(static_cast<double>(done) / static_cast<double>(total));
  }
}

}  // namespace

Result<InflateResult> ReplayInflate(const std::vector<TraceNode>& nodes,
                                    const std::vector<TracePod>& pods, const ReplayOptions& opts) {
  if (!(opts.tune > 0)) return Status::InvalidArgument("--tune must be positive");
  auto setup_or = MakeSetup(nodes, pods, opts.policy);
  if (!setup_or.ok()) return setup_or.status();
  Setup& s = **setup_or;
  Pool& pool = s.pool;
  sched::Rng rng(opts.seed);

  // Workload tuning: indices into the input pods.
  std::vector<int32_t> order(pods.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int32_t>(i);
  int64_t requested = 0;
  for (const auto& d : s.demands) requested += d.total_milli();
  const auto target =
      static_cast<int64_t>(opts.tune * static_cast<double>(pool.total_device_milli()));
  if (requested < target) {
    while (true) {
      const auto i = static_cast<int32_t>(rng.Below(pods.size()));
      if (requested + s.demands[i].total_milli() > target) break;
      requested += s.demands[i].total_milli();
      order.push_back(i);
    }
  } else {
    while (requested > target && !order.empty()) {
      const size_t k = rng.Below(order.size());
      requested -= s.demands[order[k]].total_milli();
      order.erase(order.begin() + static_cast<std::ptrdiff_t>(k));
    }
  }
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.Below(i)]);

  InflateResult out;
  out.total_gpus = pool.total_devices();
  const double total = static_cast<double>(pool.total_device_milli());
  std::array<double, kMaxArrivedPct + 1> alloc_sum{}, frag_sum{};
  std::array<int64_t, kMaxArrivedPct + 1> samples{};
  std::vector<double> node_frag(pool.node_count());
  double frag_total = 0;
  for (int n = 0; n < pool.node_count(); ++n)
    frag_total += node_frag[n] = s.artifact_frag.Amount(pool.state(n));

  int64_t arrived = 0;
  for (size_t k = 0; k < order.size(); ++k) {
    const Demand& d = s.demands[order[k]];
    const auto t0 = Clock::now();
    auto placement = s.scheduler->Schedule(pool, d, rng);
    if (placement) sched::Scheduler::Commit(pool, d, *placement);
    out.schedule_seconds += std::chrono::duration<double>(Clock::now() - t0).count();
    ++out.pods;
    if (opts.record_arrivals) {
      out.arrivals.push_back({d.device_count, d.milli, placement.has_value()});
    }
    if (placement) {
      ++out.scheduled;
      const double f = s.artifact_frag.Amount(pool.state(placement->node));
      frag_total += f - node_frag[placement->node];
      node_frag[placement->node] = f;
    }
    arrived += d.total_milli();
    const double bucket = std::nearbyint(100.0 * static_cast<double>(arrived) / total);
    if (bucket <= kMaxArrivedPct) {
      const auto b = static_cast<size_t>(bucket);
      alloc_sum[b] += 100.0 * static_cast<double>(pool.used_device_milli()) / total;
      frag_sum[b] += 100.0 * frag_total / total;
      ++samples[b];
    }
    Report(opts, k + 1, order.size());
  }
  // Buckets nobody landed in take the mean of their neighbours, as the artifact's analysis does.
  for (int b = 0; b <= kMaxArrivedPct; ++b) {
    double a = alloc_sum[b], f = frag_sum[b];
    int64_t c = samples[b];
    if (c == 0) {
      for (int nb : {b - 1, b + 1}) {
        if (nb >= 0 && nb <= kMaxArrivedPct) {
          a += alloc_sum[nb];
          f += frag_sum[nb];
          c += samples[nb];
        }
      }
    }
    out.alloc_pct[b] = c > 0 ? a / static_cast<double>(c) : std::nan("");
    out.frag_pct[b] = c > 0 ? f / static_cast<double>(c) : std::nan("");
  }
  return out;
}

Result<TimedResult> ReplayTimed(const std::vector<TraceNode>& nodes,
                                const std::vector<TracePod>& pods, const ReplayOptions& opts) {
  for (const auto& p : pods) {
    if (!p.has_times) {
      return Status::InvalidArgument("--replay timed needs creation and deletion times; pod " +
                                     p.name + " has none (5-column pod list)");
    }
  }
  if (!(opts.load > 0)) return Status::InvalidArgument("the load factor must be above 0");
  if (opts.tenants < 0 || opts.tenants > 1000) {
    return Status::InvalidArgument("tenants must be from 0 to 1000");
  }
  auto setup_or = MakeSetup(nodes, pods, opts.policy);
  if (!setup_or.ok()) return setup_or.status();
  Setup& s = **setup_or;
  Pool& pool = s.pool;
  sched::Rng rng(opts.seed);

  std::vector<int32_t> arrivals(pods.size());
  for (size_t i = 0; i < arrivals.size(); ++i) arrivals[i] = static_cast<int32_t>(i);
  std::stable_sort(arrivals.begin(), arrivals.end(), [&](int32_t a, int32_t b) {
    return pods[a].creation_time < pods[b].creation_time;
  });
  // Arrival times under the load factor: the gaps from the first arrival shrink by it.
  const int64_t first = arrivals.empty() ? 0 : pods[arrivals.front()].creation_time;
  std::vector<int64_t> arrival(pods.size());
  for (size_t i = 0; i < pods.size(); ++i) {
    arrival[i] = first + static_cast<int64_t>(std::llround(
                             static_cast<double>(pods[i].creation_time - first) / opts.load));
  }

  struct Running {
    int64_t end;
    int32_t pod;
    sched::Placement placement;
    bool operator>(const Running& o) const { return end != o.end ? end > o.end : pod > o.pod; }
  };
  std::priority_queue<Running, std::vector<Running>, std::greater<>> running;
  // One FIFO queue per tenant (one in all without tenants).
  const int tenants = opts.tenants;
  std::vector<std::deque<int32_t>> queues(std::max(tenants, 1));
  std::vector<int> tenant_of(pods.size(), 0);
  // Tenant t takes t + 1 parts of the pods (of 1 + 2 + ... + N), dealt in arrival order: unequal
  // demand against equal guarantees, so that fair share has something to do.
  std::vector<int> deal;
  for (int t = 0; t < tenants; ++t) deal.insert(deal.end(), static_cast<size_t>(t) + 1, t);
  for (size_t k = 0; k < arrivals.size() && tenants > 0; ++k) {
    tenant_of[arrivals[k]] = deal[k % deal.size()];
  }
  std::vector<int64_t> held_milli(queues.size(), 0);
  std::vector<std::vector<double>> tenant_waits(queues.size());
  std::vector<double> waits;
  double completion_sum = 0;
  int64_t last_end = 0;
  TimedResult out;
  out.total_gpus = pool.total_devices();
  out.pods = static_cast<int64_t>(pods.size());

  std::vector<bool> can_ever_fit(s.shapes.size() + 1, false), checked(s.shapes.size() + 1, false);
  auto ever_fits = [&](const Demand& d) {
    if (!checked[d.shape]) {
      checked[d.shape] = true;
      for (int n = 0; n < pool.node_count() && !can_ever_fit[d.shape]; ++n) {
        can_ever_fit[d.shape] = sched::FitsEmpty(pool.spec(n), pool.state(n).model, d);
      }
    }
    return can_ever_fit[d.shape];
  };
  auto try_start = [&](int32_t i, int64_t now) {
    const Demand& d = s.demands[i];
    const auto t0 = Clock::now();
    auto placement = s.scheduler->Schedule(pool, d, rng);
    if (placement) sched::Scheduler::Commit(pool, d, *placement);
    out.schedule_seconds += std::chrono::duration<double>(Clock::now() - t0).count();
    ++out.decisions;
    if (!placement) return false;
    const int64_t run = std::max<int64_t>(0, pods[i].deletion_time - pods[i].scheduled_time);
    running.push({now + run, i, std::move(*placement)});
    waits.push_back(static_cast<double>(now - arrival[i]));
    tenant_waits[tenant_of[i]].push_back(static_cast<double>(now - arrival[i]));
    held_milli[tenant_of[i]] += d.total_milli();
    completion_sum += static_cast<double>(now + run - arrival[i]);
    last_end = std::max(last_end, now + run);
    ++out.started;
    return true;
  };

  const int64_t t_begin = first;
  int64_t now = t_begin;
  double used_integral = 0;  // milli-device-seconds
  auto advance = [&](int64_t t) {
    used_integral += static_cast<double>(pool.used_device_milli()) * static_cast<double>(t - now);
    now = t;
  };
  // The order tenants are served in: below their guarantee first, then the smaller share.
  const int64_t guarantee = tenants > 0 ? pool.total_device_milli() / tenants : 0;
  std::vector<int> order(queues.size());
  auto serve_order = [&] {
    for (size_t t = 0; t < order.size(); ++t) order[t] = static_cast<int>(t);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      const bool below_a = held_milli[a] < guarantee, below_b = held_milli[b] < guarantee;
      if (below_a != below_b) return below_a;
      return held_milli[a] < held_milli[b];
    });
  };
  auto release_one = [&]() {
    Running r = running.top();
    running.pop();
    advance(r.end);
    sched::Scheduler::Release(pool, s.demands[r.pod], r.placement);
    held_milli[tenant_of[r.pod]] -= s.demands[r.pod].total_milli();
    // Only the released node changed, so only queued pods that fit it now can start.
    const auto fits_released = [&](int32_t pod) {
      return sched::Fits(pool.state(r.placement.node), s.demands[pod]);
    };
    if (tenants == 0) {
      for (auto it = queues[0].begin(); it != queues[0].end();) {
        if (fits_released(*it) && try_start(*it, now)) {
          it = queues[0].erase(it);
        } else {
          ++it;
        }
      }
      return;
    }
    // With tenants: one pod at a time, from the first tenant in order that has one that fits;
    // the order is taken again after each start (the tenant's share grew).
    for (bool started = true; started;) {
      started = false;
      serve_order();
      for (int t : order) {
        auto& q = queues[t];
        for (auto it = q.begin(); it != q.end() && !started; ++it) {
          if (fits_released(*it) && try_start(*it, now)) {
            q.erase(it);
            started = true;
          }
        }
        if (started) break;
      }
    }
  };

  size_t done = 0;
  for (int32_t i : arrivals) {
    while (!running.empty() && running.top().end <= arrival[i]) release_one();
    advance(std::max(now, arrival[i]));
    if (!ever_fits(s.demands[i])) {
      ++out.unschedulable;
    } else if (!try_start(i, now)) {
      queues[tenant_of[i]].push_back(i);
      ++out.queued;
    }
    Report(opts, ++done, arrivals.size());
  }
  // Allocation is averaged over the arrivals' window, while work comes in: the trace's longest
  // pods run for months after the last arrival, with the cluster nearly empty.
  const double window = static_cast<double>(now - t_begin);
  const double used_in_window = used_integral;
  while (!running.empty()) release_one();
  for (const auto& q : queues) out.never_started += static_cast<int64_t>(q.size());
  const double span = window > 0 ? window : static_cast<double>(now - t_begin);
  const double used = window > 0 ? used_in_window : used_integral;
  out.time_avg_alloc_pct =
      span > 0 ? 100.0 * used / (span * static_cast<double>(pool.total_device_milli())) : 0;
  auto pct = [](std::vector<double>& values, double q) {
    if (values.empty()) return 0.0;
    std::sort(values.begin(), values.end());
    const auto idx = static_cast<size_t>(std::ceil(q * static_cast<double>(values.size()))) - 1;
    return values[std::min(idx, values.size() - 1)];
  };
  out.wait_p50_s = pct(waits, 0.50);
  out.wait_p99_s = pct(waits, 0.99);
  for (int t = 0; t < tenants; ++t) {
    out.tenant_wait_p50_s.push_back(pct(tenant_waits[t], 0.50));
    out.tenant_wait_p99_s.push_back(pct(tenant_waits[t], 0.99));
  }
  out.completion_mean_s = out.started > 0 ? completion_sum / static_cast<double>(out.started) : 0;
  out.makespan_s = out.started > 0 ? static_cast<double>(last_end - t_begin) : 0;
  return out;
}

}  // namespace xpool::sim
