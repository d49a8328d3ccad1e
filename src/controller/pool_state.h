// PoolState: what the controller knows and decides — the nodes agents registered, the live
// allocations, and the scheduler placing new ones — kept durable in a Store. Every change is
// written to the store before it is acknowledged or takes effect in memory, so a controller
// restarted after a crash rebuilds exactly the acknowledged state: no allocation is lost, and
// none is handed out twice.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "controller/admission_queue.h"
#include "controller/group_commit.h"
#include "controller/metrics.h"
#include "controller/request_demand.h"
#include "controller/tenancy.h"
#include "core/status.h"
#include "sched/demand.h"
#include "sched/pool.h"
#include "sched/rng.h"
#include "sched/scheduler.h"
#include "store/store.h"
#include "xpool/v1/pool.pb.h"

namespace xpool::controller {

struct ControllerOptions {
  std::string policy = "xpool";  // a name of sched::PolicyNames()
  int64_t lease_ms = 10'000;     // a node silent this long loses its allocations
  // Released allocations are forgotten (memory and store) this long after their release;
  // 0 keeps them forever.
  int64_t keep_released_ms = int64_t{7} * 24 * 3600 * 1000;
  // An allocation still reserved this long after it was made, with no task started on it and
  // not made for a Kubernetes pod, is released (its client went away); 0: never.
  int64_t reservation_timeout_ms = 300'000;
  uint64_t seed = 42;
  TenancyConfig tenancy;  // none configured: any tenant name, no limits or guarantees
  // A preempted slice's tasks get SIGTERM, then this long before the slice is released.
  int64_t preemption_grace_ms = 30'000;
};

class PoolState {
 public:
  static Result<std::unique_ptr<PoolState>> Open(std::unique_ptr<store::Store> store,
                                                 const ControllerOptions& options, int64_t now_ms);

  Result<v1::RegisterResponse> Register(const v1::Node& node, int64_t now_ms);
  Result<v1::HeartbeatResponse> Heartbeat(const v1::HeartbeatRequest& request, int64_t now_ms);

  // `refusal` (optional) says which kind of failure a non-OK result is. A request with `wait`
  // that does not fit now is queued instead (state "queued"; pool_state_queue.cc).
  Result<v1::Allocation> Allocate(const v1::AllocateRequest& request, int64_t now_ms,
                                  Refusal* refusal = nullptr);
  Result<v1::Allocation> Release(const std::string& id, const std::string& reason, int64_t now_ms);
  Result<v1::Allocation> Get(const std::string& id) const;
  // The device plugin's questions (ClaimPodSlices in pool.proto; pool_state_kube.cc).
  struct PodClaim {
    v1::Allocation allocation;
    google::protobuf::RepeatedPtrField<v1::Slice> slices;
  };
  // The slices of the oldest pod allocation on `node` with at least `devices` slices that no
  // container has started with: GPUs to prefer. NotFound: none.
  Result<PodClaim> PeekPodSlices(const std::string& node, int devices) const;
  // The slice of exactly the container `request` names (not peek), marked started and moved to
  // the GPUs the kubelet gave it where those differ and it fits there. NotFound: no allocation
  // was made for that container; FailedPrecondition: it cannot move there.
  Result<PodClaim> ClaimContainerSlice(const v1::ClaimPodSlicesRequest& request, int64_t now_ms);
  std::vector<v1::Allocation> Allocations(bool include_released) const;
  // At most `limit` of them, in id order, after id `after` (empty: from the first); `*next` is
  // the id to ask after for the next page, or empty when there is none.
  std::vector<v1::Allocation> AllocationsPage(bool include_released, const std::string& after,
                                              size_t limit, std::string* next) const;
  // The ids of the live allocations made for a Kubernetes pod (by its uid).
  std::vector<std::string> LiveOfPod(const std::string& uid) const;
  std::vector<v1::Node> Nodes() const;
  // The queued requests in the order they are tried, each with its queue_position and reason.
  std::vector<v1::Allocation> Queue() const;
  // How each named node stands for a request, for the Kubernetes scheduler extender: whether it
  // fits now (with its policy score, 0..10 over the nodes that fit), or why not, and whether it
  // never could (an unknown node, or one too small even when empty).
  struct NodeVerdict {
    bool fits = false;
    bool never = false;
    std::string reason;
    int score = 0;
  };
  // One verdict per name, in the order given.
  Result<std::vector<NodeVerdict>> Evaluate(const v1::AllocateRequest& request,
                                            const std::vector<std::string>& nodes);
  // The same for a pod with one request per container that asks for a slice: a node fits when
  // all of them fit there together; the score is the first request's.
  Result<std::vector<NodeVerdict>> EvaluatePod(const std::vector<v1::AllocateRequest>& requests,
                                               const std::vector<std::string>& nodes);
  // Changes to allocations after `*seen` (a sequence number; kNotWatching at first), waiting up
  // to `timeout_ms` for one. On the first call, or when the caller fell too far behind, the
  // current live allocations come instead. Updates `*seen`.
  static constexpr uint64_t kNotWatching = ~uint64_t{0};
  std::vector<v1::Allocation> Changes(uint64_t* seen, int64_t timeout_ms);
  // The /metrics page.
  std::string Metrics();

  // Replaces the tenants, their guarantees and limits, and the priority classes (a reload);
  // requests already waiting are tried again under the new ones.
  void SetTenancy(TenancyConfig tenancy, int64_t now_ms);

  // Releases the allocations of nodes silent for longer than the lease and takes those nodes out
  // of scheduling until they register again; returns the allocations released.
  std::vector<v1::Allocation> ExpireLeases(int64_t now_ms);
  // Every node counts as heard from at `now_ms`: after the controller itself did not run (a
  // pause, a clock step), its agents get a whole lease to report before any node expires.
  void RenewAllLeases(int64_t now_ms);
  // Forgets the allocations released longer ago than options.keep_released_ms; returns how many.
  size_t PruneReleased(int64_t now_ms);

 private:
  struct NodeEntry {
    v1::Node node;
    sched::NodeIndex index = -1;
    bool cordoned = false;  // all its capacity is held back while it is not ready
    // Per device its agent reports unhealthy: the free share and memory held back from the pool
    // (pool_state_health.cc).
    struct HeldBack {
      int32_t milli = 0;
      int64_t memory_mib = 0;
    };
    std::map<int, HeldBack> unhealthy;
  };
  struct Live {
    sched::Demand demand;
    sched::Placement placement;
    // The start of the window over which compute_used_percent is measured: a report's time
    // (ms, -1: none yet) and the device seconds it gave.
    int64_t window_ms = -1;
    double window_seconds = 0;
  };

  PoolState(std::unique_ptr<store::Store> store, const ControllerOptions& options);
  // The public mutators, up to submitting their changes; the public ones then wait for them.
  Result<v1::RegisterResponse> RegisterUnwaited(const v1::Node& node, int64_t now_ms);
  Result<v1::HeartbeatResponse> HeartbeatUnwaited(const v1::HeartbeatRequest& request,
                                                  int64_t now_ms);
  Result<v1::Allocation> AllocateUnwaited(const v1::AllocateRequest& request, int64_t now_ms,
                                          Refusal* refusal);
  std::vector<v1::Allocation> ExpireLeasesUnwaited(int64_t now_ms);
  Result<std::vector<NodeVerdict>> EvaluateLocked(const v1::AllocateRequest& request,
                                                  const std::vector<std::string>& nodes);
  Result<PodClaim> ClaimContainerSliceLocked(const v1::ClaimPodSlicesRequest& request,
                                             int64_t now_ms);
  // Moves a live allocation's slices to these devices of its node (as many as it holds), if
  // they have room for it; unchanged otherwise.
  Status MoveToDevicesLocked(v1::Allocation& allocation, const std::vector<std::string>& uuids);
  Status LoadLocked(int64_t now_ms);
  // `released`: per tenant, the device time of the released allocations in the store.
  Status LoadReleasedGpuSecondsLocked(const std::map<std::string, double>& released);
  void SaveReleasedGpuSecondsLocked(const std::string& tenant);
  // Per tenant, released and live device time, never below what was shown before.
  std::map<std::string, double> GpuSecondsTotalLocked(const std::vector<v1::Allocation>& live);
  // A heartbeat's reading for an allocation released before its task's last report arrived
  // (`xpool release`, a node that went silent): the device time since the last count is the
  // tenant's too.
  void CountLateDeviceTimeLocked(v1::Allocation& released, double reported_seconds);
  // From a live allocation's new device-time reading at `now_ms`: compute_used_percent, the
  // device time its leases held over the last 2 s or more, in percent of one device.
  void UpdateComputeInUseLocked(v1::Allocation& a, int64_t now_ms);
  Status AddNodeLocked(const v1::Node& node, NodeEntry** entry);
  // Makes `a` (id, owner, request set) live on `placement`: its slices, the store, the pool.
  Status AdmitLocked(v1::Allocation& a, const sched::Demand& demand,
                     const sched::Placement& placement, int64_t now_ms);
  // The queue (pool_state_queue.cc). A request that fits nowhere now starts waiting; whenever
  // capacity frees, the waiting ones are tried in order, and the node the first one that still
  // does not fit comes closest to fitting on is held for it (later ones run ahead elsewhere).
  Result<v1::Allocation> EnqueueLocked(const v1::AllocateRequest& request, int64_t now_ms);
  void PlaceQueuedLocked(int64_t now_ms);
  // Sets a queued allocation's queue_position and why it waits (as of the last pass).
  void DescribeQueuedLocked(v1::Allocation& a) const;
  void MaybePlaceQueuedLocked(int64_t now_ms) {
    if (capacity_freed_ && !queue_.empty()) PlaceQueuedLocked(now_ms);
    capacity_freed_ = false;
  }
  // The scheduler's placement for `demand` anywhere but the node held for the queue's head.
  std::optional<sched::Placement> ScheduleAvoidingHeldLocked(const sched::Demand& demand);
  // What a demand holds of the pool: device share and device memory.
  static PoolAmounts AmountsOf(const sched::Demand& d) {
    return {d.total_milli(), d.dev_mem * d.device_count};
  }
  // What `tenant`'s live allocations hold now (held_by_tenant_).
  PoolAmounts HeldByLocked(const std::string& tenant) const;
  // Per tenant, its largest fraction of the pool's device share or device memory held now, less
  // 1 while it is below its guarantee (the queue's order between tenants).
  std::map<std::string, double> FairShareKeysLocked() const;
  // Checks `request` against the tenants file: its tenant (the default one when it names none)
  // and the caller's membership, its priority class. Fills in the tenant and the priority.
  Status ApplyTenancyLocked(v1::AllocateRequest& request, Refusal* refusal) const;
  // Preemption (pool_state_preempt.cc). For the queue's first request, which does not fit: the
  // fewest slices of one node that make it fit there, each of lower priority, or borrowed (its
  // tenant past its guarantee) when the request's tenant is below its own; they are told to end
  // (SIGTERM through their agents) and released after the grace period. One at a time: none
  // while an earlier preemption is in flight. Returns the node freed, or -1.
  sched::NodeIndex PreemptForLocked(const v1::Allocation& head, const sched::Demand& demand,
                                    int64_t now_ms);
  // Releases the preempted allocations whose grace period is over.
  void EndGracePeriodsLocked(int64_t now_ms);
  // Why `tenant` may not take `demand` more now (at its limit), or empty.
  // `already`: what the tenant holds now (nothing: whether the request alone is too large).
  std::string OverLimitLocked(const std::string& tenant, const sched::Demand& demand,
                              const PoolAmounts& already) const;
  // The node that could hold `demand` when empty with the most device share free now; -1: none.
  sched::NodeIndex NodeToHoldLocked(const sched::Demand& demand, const std::string& pinned) const;
  Status CommitLocked(const v1::Allocation& allocation);
  Result<v1::Allocation> ReleaseLocked(const std::string& id, const std::string& reason,
                                       int64_t now_ms);
  void CordonLocked(NodeEntry& entry, bool cordon);
  // Holds back from scheduling whatever is free on the devices of `entry` whose ids are in
  // `unhealthy`, and gives back what was held for the others (pool_state_health.cc).
  void ApplyDeviceHealthLocked(NodeEntry& entry, const std::set<std::string>& unhealthy);
  void GiveBackUnhealthyLocked(NodeEntry& entry);
  Status SaveAllocationLocked(const v1::Allocation& allocation);
  // The ids of the live allocations on `node`, in id order.
  std::vector<std::string> LiveOnLocked(const std::string& node) const;
  void IndexLiveLocked(const v1::Allocation& a);    // a just became live (in live_)
  void UnindexLiveLocked(const v1::Allocation& a);  // a is leaving live_ (still in it)
  std::string NewIdLocked(int64_t now_ms);

  mutable std::mutex mu_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<GroupCommitter> committer_;
  ControllerOptions options_;
  sched::Pool pool_;
  sched::ShapeTable shapes_;
  std::unique_ptr<sched::Scheduler> scheduler_;
  sched::Rng rng_;
  std::map<std::string, NodeEntry> nodes_;
  absl::flat_hash_map<std::string, NodeEntry*> node_index_;  // the same entries, hashed
  std::vector<std::string> node_names_;                      // by pool index
  RegisteredModels models_;
  std::map<std::string, v1::Allocation> allocations_;  // every one ever made, released too
  std::map<std::string, Live> live_;                   // the ones not released: what the pool holds
  // Allocation ids by owner and client request id ("owner\nrequest_id"), for as long as the
  // allocation is kept.
  std::map<std::string, std::string> by_request_;
  // The same ids by node (heartbeats, lease expiry, claims) and by Kubernetes pod uid (bind, the
  // pod watch), which would otherwise scan every live allocation of the pool.
  std::unordered_map<std::string, std::set<std::string>> live_on_node_;
  std::unordered_map<std::string, std::set<std::string>> live_of_pod_;
  // Per tenant, what its live allocations hold (kept with the two indexes above).
  std::map<std::string, PoolAmounts> held_by_tenant_;
  uint64_t id_counter_ = 0;
  // Per tenant, the device time of its released allocations, stored (the metrics' counter).
  std::map<std::string, double> released_gpu_seconds_;
  // Per tenant, the highest xpool_tenant_gpu_seconds_total shown (stored).
  std::map<std::string, double> gpu_seconds_shown_;
  LatencyHistogram scheduling_;
  // The most recent allocation changes, for watchers: (sequence number, allocation).
  std::deque<std::pair<uint64_t, v1::Allocation>> changes_;
  uint64_t change_seq_ = 0;
  std::condition_variable changed_;
  AdmissionQueue queue_;
  // The waiting requests' demands, compiled once (again after a node registers: model ids).
  std::unordered_map<std::string, sched::Demand> queued_demand_;
  // The node held for the first waiting request that does not fit (-1: none), and that request.
  sched::NodeIndex held_node_ = -1;
  std::string held_for_;
  bool capacity_freed_ = false;       // since the queue was last tried
  std::set<std::string> preempting_;  // live allocations told to end
  // The request they were told to end for, and the node they free.
  std::string preempted_for_;
  sched::NodeIndex preempted_node_ = -1;
};

}  // namespace xpool::controller
