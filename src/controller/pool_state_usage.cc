// PoolState's usage accounting: the device time agents report for each slice, the compute in
// use it shows, the per-tenant counters kept across restarts, and the /metrics page.
#include <fmt/format.h>

#include <charconv>

#include "controller/pool_state.h"
#include "controller/store_tables.h"

namespace xpool::controller {
namespace {

// Per tenant, the device time of its released allocations (decimal seconds): the counter
// xpool_tenant_gpu_seconds_total goes on across restarts and outlives pruned allocations.
const std::string kReleasedGpuSeconds = "released_gpu_seconds";
// Per tenant, the highest value xpool_tenant_gpu_seconds_total has shown.
const std::string kGpuSecondsShown = "gpu_seconds_shown";

// A tenant's seconds as stored in `table`, and read back by ScanSeconds.
store::Mutation SecondsRecord(const std::string& table, const std::string& tenant, double seconds) {
  return {table, tenant, fmt::format("{}", seconds)};
}

Result<std::map<std::string, double>> ScanSeconds(store::Store& store, const std::string& table) {
  auto rows = store.Scan(table);
  if (!rows.ok()) return rows.status();
  std::map<std::string, double> out;
  for (const auto& [tenant, text] : *rows) {
    double seconds = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
    if (ec != std::errc() || end != text.data() + text.size() || seconds < 0) {
      return Status::IoError(fmt::format("store: {} of tenant '{}' unreadable", table, tenant));
    }
    out[tenant] = seconds;
  }
  return out;
}

}  // namespace

Status PoolState::LoadReleasedGpuSecondsLocked(const std::map<std::string, double>& released) {
  auto totals = ScanSeconds(*store_, kReleasedGpuSeconds);
  if (!totals.ok()) return totals.status();
  released_gpu_seconds_ = std::move(*totals);
  auto shown = ScanSeconds(*store_, kGpuSecondsShown);
  if (!shown.ok()) return shown.status();
  gpu_seconds_shown_ = std::move(*shown);
  // A store written before the totals were kept: they start from the released allocations it
  // still holds, and are kept from now on.
  for (const auto& [tenant, seconds] : released) {
    if (released_gpu_seconds_.emplace(tenant, seconds).second) SaveReleasedGpuSecondsLocked(tenant);
  }
  return Status::Ok();
}

void PoolState::CountLateDeviceTimeLocked(v1::Allocation& released, double reported_seconds) {
  const double late = reported_seconds - released.gpu_seconds_used();
  if (late <= 0) return;  // a repeat of what was counted, or a reading from a remade segment
  released.set_gpu_seconds_used(reported_seconds);
  // Stored without a change event: watchers saw the release already.
  committer_->Submit({kAllocationsTable, released.id(), released.SerializeAsString()});
  released_gpu_seconds_[released.tenant()] += late;
  SaveReleasedGpuSecondsLocked(released.tenant());
}

void PoolState::SaveReleasedGpuSecondsLocked(const std::string& tenant) {
  committer_->Submit(SecondsRecord(kReleasedGpuSeconds, tenant, released_gpu_seconds_[tenant]));
}

void PoolState::UpdateComputeInUseLocked(v1::Allocation& a, int64_t now_ms) {
  // Heartbeats come twice a second; a rate over one would move with where leases fall.
  constexpr int64_t kWindowMs = 2'000;
  auto live = live_.find(a.id());
  if (live == live_.end()) return;
  Live& l = live->second;
  const double seconds = a.gpu_seconds_used();
  // A first report, or a restarted count (the task's segment was made again): a new window.
  if (l.window_ms < 0 || seconds < l.window_seconds || now_ms < l.window_ms) {
    l.window_ms = now_ms;
    l.window_seconds = seconds;
    return;
  }
  if (now_ms - l.window_ms < kWindowMs) return;
  a.set_compute_used_percent(100.0 * (seconds - l.window_seconds) * 1000.0 /
                             static_cast<double>(now_ms - l.window_ms));
  l.window_ms = now_ms;
  l.window_seconds = seconds;
}

std::string PoolState::Metrics() {
  PoolView view;
  view.nodes = Nodes();
  {
    const DurableAnswer durable(*committer_);
    StateLock lock(mu_, *committer_);
    for (const auto& [id, l] : live_) view.live_allocations.push_back(allocations_.at(id));
    view.released_allocations = allocations_.size() - live_.size() - queue_.size();
    view.queued_requests = queue_.size();
    view.gpu_seconds_total = GpuSecondsTotalLocked(view.live_allocations);
  }
  return RenderMetrics(view, scheduling_);
}

std::map<std::string, double> PoolState::GpuSecondsTotalLocked(
    const std::vector<v1::Allocation>& live) {
  std::map<std::string, double> now = released_gpu_seconds_;
  for (const v1::Allocation& a : live) now[a.tenant()] += a.gpu_seconds_used();
  // Prometheus takes any fall of a counter for a restart from zero, and would count it all
  // again. The sum falls for a moment after a restart (the live allocations' readings are not
  // stored, and come with the next heartbeats) or when a slice's arbitration segment is remade:
  // the counter holds its highest value meanwhile.
  for (const auto& [tenant, seconds] : now) {
    double& shown = gpu_seconds_shown_[tenant];
    if (seconds <= shown) continue;
    shown = seconds;
    committer_->Submit(SecondsRecord(kGpuSecondsShown, tenant, shown));
  }
  return gpu_seconds_shown_;
}

}  // namespace xpool::controller
