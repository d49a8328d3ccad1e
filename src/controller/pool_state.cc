#include "controller/pool_state.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <limits>

#include "controller/store_tables.h"
#include "controller/validation.h"
#include "core/quantity.h"
#include "sched/policies.h"

namespace xpool::controller {
namespace {

// The workload the fragmentation-aware policies measure against until the pool has a history:
// the shapes GPU clusters see most (whole 1/2/4/8-device jobs and quarter and half shares).
std::vector<sched::WorkloadShape> DefaultWorkload() {
  std::vector<sched::WorkloadShape> w;
  constexpr int64_t kGiB = 1024;
  for (int32_t milli : {250, 500}) w.push_back({{4000, milli, 1, ""}, 16 * kGiB});
  for (int count : {1, 1, 2, 4, 8}) {
    w.push_back({{int64_t{8000} * count, 1000, count, ""}, 64 * kGiB});
  }
  return w;
}

bool SameInventory(const v1::Node& a, const v1::Node& b) {
  if (a.devices_size() != b.devices_size() || a.cpu_milli() != b.cpu_milli() ||
      a.memory_mib() != b.memory_mib()) {
    return false;
  }
  for (int i = 0; i < a.devices_size(); ++i) {
    const auto& x = a.devices(i);
    const auto& y = b.devices(i);
    if (x.id() != y.id() || x.model() != y.model() || x.memory_mib() != y.memory_mib())
      return false;
  }
  return true;
}

}  // namespace

PoolState::PoolState(std::unique_ptr<store::Store> store, const ControllerOptions& options)
    : store_(std::move(store)),
      committer_(std::make_unique<GroupCommitter>(store_.get())),
      options_(options),
      rng_(options.seed) {}

Result<v1::RegisterResponse> PoolState::Register(const v1::Node& node, int64_t now_ms) {
  const DurableAnswer durable(*committer_);
  return RegisterUnwaited(node, now_ms);
}

Result<v1::HeartbeatResponse> PoolState::Heartbeat(const v1::HeartbeatRequest& request,
                                                   int64_t now_ms) {
  const DurableAnswer durable(*committer_);
  return HeartbeatUnwaited(request, now_ms);
}

Result<v1::Allocation> PoolState::Allocate(const v1::AllocateRequest& request, int64_t now_ms,
                                           Refusal* refusal) {
  Refusal ignored = Refusal::kNone;
  const auto started = std::chrono::steady_clock::now();
  Result<v1::Allocation> r = Status::Internal("unset");
  {
    const DurableAnswer durable(*committer_);
    r = AllocateUnwaited(request, now_ms, refusal != nullptr ? refusal : &ignored);
  }
  if (r.ok()) {
    scheduling_.Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  }
  return r;
}

std::vector<v1::Allocation> PoolState::ExpireLeases(int64_t now_ms) {
  const DurableAnswer durable(*committer_);
  return ExpireLeasesUnwaited(now_ms);
}

Result<std::unique_ptr<PoolState>> PoolState::Open(std::unique_ptr<store::Store> store,
                                                   const ControllerOptions& options,
                                                   int64_t now_ms) {
  if (!sched::IsPolicyName(options.policy)) {
    std::string known;
    for (const auto& n : sched::PolicyNames()) known += (known.empty() ? "" : ", ") + n;
    return Status::InvalidArgument("unknown policy '" + options.policy + "' (known: " + known +
                                   ")");
  }
  if (options.lease_ms <= 0) return Status::InvalidArgument("the lease must be positive");
  std::unique_ptr<PoolState> state(new PoolState(std::move(store), options));
  std::lock_guard<std::mutex> lock(state->mu_);
  if (Status s = state->LoadLocked(now_ms); !s.ok()) return s;
  return state;
}

Status PoolState::LoadLocked(int64_t now_ms) {
  auto nodes = store_->Scan(kNodesTable);
  if (!nodes.ok()) return nodes.status();
  for (const auto& [name, bytes] : *nodes) {
    v1::Node node;
    if (!node.ParseFromString(bytes))
      return Status::IoError("store: node '" + name + "' unreadable");
    // Every known node gets a fresh lease to come back in before its allocations are released.
    node.set_last_heartbeat_unix_ms(now_ms);
    node.set_ready(true);
    NodeEntry* entry = nullptr;
    if (Status s = AddNodeLocked(node, &entry); !s.ok()) return s;
  }
  auto allocations = store_->Scan(kAllocationsTable);
  if (!allocations.ok()) return allocations.status();
  std::map<std::string, double> released_in_store;
  for (const auto& [id, bytes] : *allocations) {
    v1::Allocation a;
    if (!a.ParseFromString(bytes))
      return Status::IoError("store: allocation '" + id + "' unreadable");
    allocations_[id] = a;
    if (!a.request().request_id().empty()) {
      by_request_[a.request().owner() + "\n" + a.request().request_id()] = id;
    }
    if (a.state() == "queued") {
      queue_.Add(a.id(), a.request().queue_priority(), a.tenant(), a.queued_unix_ms());
      capacity_freed_ = true;  // tried again once the nodes are back
    } else if (a.state() != "released") {
      if (Status s = CommitLocked(a); !s.ok()) return s;
      if (a.preempt_at_unix_ms() > 0) preempting_.insert(id);
    } else {
      released_in_store[a.tenant()] += a.gpu_seconds_used();
    }
  }
  return LoadReleasedGpuSecondsLocked(released_in_store);
}

Status PoolState::AddNodeLocked(const v1::Node& node, NodeEntry** out) {
  if (node.name().empty()) return Status::InvalidArgument("a node needs a name");
  sched::NodeSpec spec;
  spec.name = node.name();
  spec.cpu = MilliCpu(node.cpu_milli());
  spec.host_memory = MiB(node.memory_mib());
  spec.device_count = node.devices_size();
  if (node.devices_size() > 0) {
    const auto& first = node.devices(0);
    spec.model = first.model();
    auto type = ParseDeviceType(first.type());
    if (!type.ok()) return type.status();
    spec.device_type = *type;
    int64_t memory = first.memory_mib();
    for (const auto& d : node.devices()) {
      if (d.model() != first.model() || d.type() != first.type()) {
        return Status::InvalidArgument("node '" + node.name() + "' mixes device models (" +
                                       first.model() + ", " + d.model() +
                                       "): register one node per model");
      }
      memory = std::min(memory, d.memory_mib());
    }
    spec.device_memory = MiB(memory);
    models_.Add(spec.model, spec.device_type, memory);
  }
  NodeEntry& entry = nodes_[node.name()];
  node_index_[node.name()] = &entry;
  entry.node = node;
  entry.index = pool_.AddNode(spec);
  entry.cordoned = false;
  node_names_.resize(pool_.node_count());
  node_names_[entry.index] = node.name();
  // The pool changed: policies that measure fragmentation see the new node.
  sched::PolicyContext ctx{&pool_, DefaultWorkload()};
  auto policy = sched::MakePolicy(options_.policy, ctx);
  if (!policy.ok()) return policy.status();
  std::vector<sched::WeightedPolicy> profile;
  profile.push_back({std::move(*policy), 1});
  scheduler_ = std::make_unique<sched::Scheduler>(std::move(profile));
  *out = &entry;
  return Status::Ok();
}

Result<v1::RegisterResponse> PoolState::RegisterUnwaited(const v1::Node& node, int64_t now_ms) {
  if (Status s = ValidateNode(node); !s.ok()) return s;
  StateLock lock(mu_, *committer_);
  v1::Node record = node;
  record.set_ready(true);
  record.set_last_heartbeat_unix_ms(now_ms);
  for (auto& d : *record.mutable_devices()) d.set_model(CanonicalModel(d.model()));
  auto it = nodes_.find(node.name());
  if (it != nodes_.end() && !SameInventory(it->second.node, record)) {
    const std::vector<std::string> held = LiveOnLocked(node.name());
    if (!held.empty()) {
      return Status::FailedPrecondition("node '" + node.name() +
                                        "' re-registered with a different inventory while "
                                        "allocation " +
                                        held.front() + " holds it; release it first");
    }
    // The old inventory stays in the pool, held back for good; the new one is a new entry.
    CordonLocked(it->second, true);
    node_index_.erase(it->first);
    nodes_.erase(it);
    it = nodes_.end();
  }
  committer_->Submit({kNodesTable, record.name(), record.SerializeAsString()});
  if (it == nodes_.end()) {
    NodeEntry* entry = nullptr;
    if (Status s = AddNodeLocked(record, &entry); !s.ok()) return s;
  } else {
    CordonLocked(it->second, false);
    it->second.node = record;
  }
  capacity_freed_ = true;  // a node came (back)
  queued_demand_.clear();
  MaybePlaceQueuedLocked(now_ms);
  v1::RegisterResponse response;
  response.set_lease_ms(options_.lease_ms);
  return response;
}

Result<v1::HeartbeatResponse> PoolState::HeartbeatUnwaited(const v1::HeartbeatRequest& request,
                                                           int64_t now_ms) {
  StateLock lock(mu_, *committer_);
  v1::HeartbeatResponse response;
  auto it = nodes_.find(request.node());
  if (it == nodes_.end() || it->second.cordoned) {
    response.set_reregister(true);  // unknown, or its lease ran out: it must register again
    return response;
  }
  v1::Node& node = it->second.node;
  node.set_last_heartbeat_unix_ms(now_ms);
  node.set_ready(true);
  for (const auto& usage : request.usage()) {
    for (auto& d : *node.mutable_devices()) {
      if (d.id() == usage.id()) d.set_memory_used_mib(usage.memory_used_mib());
    }
  }
  ApplyDeviceHealthLocked(it->second,
                          {request.unhealthy_devices().begin(), request.unhealthy_devices().end()});
  for (const auto& task : request.tasks()) {
    auto a = allocations_.find(task.allocation_id());
    if (a == allocations_.end() || a->second.node() != request.node()) continue;
    if (a->second.state() == "released") {
      CountLateDeviceTimeLocked(a->second, task.gpu_seconds_used());
      continue;
    }
    a->second.set_memory_used_mib(task.memory_used_mib());  // live figures, not stored
    a->second.set_gpu_seconds_used(task.gpu_seconds_used());
    UpdateComputeInUseLocked(a->second, now_ms);
    if (task.running() && a->second.state() == "reserved") {
      a->second.set_state("running");
      a->second.set_updated_unix_ms(now_ms);
      if (Status s = SaveAllocationLocked(a->second); !s.ok()) return s;
    } else if (!task.running()) {
      auto released =
          ReleaseLocked(task.allocation_id(),
                        "task exited with code " + std::to_string(task.exit_code()), now_ms);
      if (!released.ok()) return released.status();
    }
  }
  MaybePlaceQueuedLocked(now_ms);
  for (const auto& id : LiveOnLocked(request.node())) {
    response.add_live_allocations(id);
    if (preempting_.count(id) != 0) response.add_terminating_allocations(id);
  }
  return response;
}

Result<v1::Allocation> PoolState::AllocateUnwaited(const v1::AllocateRequest& asked, int64_t now_ms,
                                                   Refusal* refusal) {
  if (Status s = ValidateRequestFields(asked); !s.ok()) {
    *refusal = Refusal::kInvalid;
    return s;
  }
  StateLock lock(mu_, *committer_);
  v1::AllocateRequest request = asked;
  const std::string request_key = request.owner() + "\n" + request.request_id();
  if (!request.request_id().empty()) {
    // A retry of a request already answered: the same allocation, whatever became of it.
    if (auto seen = by_request_.find(request_key); seen != by_request_.end()) {
      v1::Allocation answered = allocations_.at(seen->second);
      DescribeQueuedLocked(answered);
      return answered;
    }
  }
  if (Status s = ApplyTenancyLocked(request, refusal); !s.ok()) return s;
  auto demand = DemandOf(request, models_, pool_, shapes_, refusal);
  if (!demand.ok()) return demand.status();
  if (options_.tenancy.configured()) {
    if (const std::string over = OverLimitLocked(request.tenant(), *demand, {}); !over.empty()) {
      *refusal = Refusal::kNeverFits;
      return Status::FailedPrecondition("the request is larger than its tenant's limit: " + over);
    }
    if (const std::string over =
            OverLimitLocked(request.tenant(), *demand, HeldByLocked(request.tenant()));
        !over.empty()) {
      if (request.wait()) return EnqueueLocked(request, now_ms);
      *refusal = Refusal::kNoCapacityNow;
      return Status::FailedPrecondition(over);
    }
  }
  std::optional<sched::Placement> placement;
  if (!request.node().empty()) {
    auto pinned = node_index_.find(request.node());
    if (pinned == node_index_.end()) {
      *refusal = Refusal::kNeverFits;
      return Status::FailedPrecondition("no xpool agent serves node " + request.node());
    }
    const NodeEntry& entry = *pinned->second;
    const bool ever =
        sched::FitsEmpty(pool_.spec(entry.index), pool_.state(entry.index).model, *demand);
    if (!ever) {
      *refusal = Refusal::kNeverFits;
      return Status::FailedPrecondition("node " + request.node() +
                                        " has no device that could ever hold this");
    }
    const bool behind_others = request.wait() && !queue_.empty();
    if (!entry.cordoned && scheduler_ != nullptr && !behind_others) {
      placement = scheduler_->PlaceOn(pool_, entry.index, *demand, rng_);
    }
    if (!placement) {
      if (request.wait()) return EnqueueLocked(request, now_ms);
      *refusal = Refusal::kNoCapacityNow;
      return Status::FailedPrecondition("node " + request.node() +
                                        " has no free device share or memory for this now");
    }
  } else {
    bool ever = false;
    for (const auto& [name, entry] : nodes_) {
      const auto& spec = pool_.spec(entry.index);
      ever = ever || sched::FitsEmpty(spec, pool_.state(entry.index).model, *demand);
    }
    if (!ever) {
      *refusal = Refusal::kNeverFits;
      return Status::FailedPrecondition(
          "no node of the pool can ever hold this request (device type, model, count, share or "
          "memory)");
    }
    // Requests already waiting go first: a waiting request joins them and the queue decides.
    if (request.wait() && !queue_.empty()) return EnqueueLocked(request, now_ms);
    // The node held for the queue's first request is not for a request that did not wait.
    if (scheduler_ != nullptr) placement = ScheduleAvoidingHeldLocked(*demand);
    if (!placement) {
      if (request.wait()) return EnqueueLocked(request, now_ms);
      *refusal = Refusal::kNoCapacityNow;
      return Status::FailedPrecondition(
          held_node_ >= 0 && !queue_.empty()
              ? "no capacity for this request now: every node that could hold it is busy or "
                "held for a waiting request (" +
                    held_for_ + ")"
              : "no capacity for this request now: every node that could hold it is busy");
    }
  }
  v1::Allocation a;
  a.set_id(NewIdLocked(now_ms));
  a.set_owner(request.owner());
  a.set_tenant(request.tenant());
  *a.mutable_request() = request;
  if (Status s = AdmitLocked(a, *demand, *placement, now_ms); !s.ok()) return s;
  if (!request.request_id().empty()) by_request_[request_key] = a.id();
  return a;
}

Status PoolState::AdmitLocked(v1::Allocation& a, const sched::Demand& demand,
                              const sched::Placement& placement, int64_t now_ms) {
  const NodeEntry& node = nodes_.at(node_names_[placement.node]);
  const v1::AllocateRequest& request = a.request();
  a.set_node(node.node.name());
  a.set_agent_address(node.node.agent_address());
  a.set_state("reserved");
  a.set_created_unix_ms(now_ms);
  a.set_updated_unix_ms(now_ms);
  a.clear_reason();
  a.clear_queue_position();
  a.clear_slices();
  for (int index : placement.devices) {
    const v1::Device& d = node.node.devices(index);
    v1::Slice* s = a.add_slices();
    s->set_device_id(d.id());
    s->set_device_uuid(d.uuid());
    s->set_device_index(d.index());
    s->set_memory_mib(request.memory_mib() > 0 ? request.memory_mib() : d.memory_mib());
    s->set_compute_milli(demand.milli);
  }
  if (Status s = SaveAllocationLocked(a); !s.ok()) return s;
  sched::Scheduler::Commit(pool_, demand, placement);
  live_[a.id()] = Live{demand, placement};
  IndexLiveLocked(a);
  allocations_[a.id()] = a;
  return Status::Ok();
}

Status PoolState::CommitLocked(const v1::Allocation& a) {
  auto node = nodes_.find(a.node());
  if (node == nodes_.end()) {
    return Status::IoError("store: allocation " + a.id() + " is on unknown node '" + a.node() +
                           "'");
  }
  Refusal refusal = Refusal::kNone;
  auto demand = DemandOf(a.request(), models_, pool_, shapes_, &refusal);
  if (!demand.ok()) return demand.status();
  sched::Placement placement;
  placement.node = node->second.index;
  for (const auto& s : a.slices()) {
    for (int i = 0; i < node->second.node.devices_size(); ++i) {
      if (node->second.node.devices(i).id() == s.device_id()) placement.devices.push_back(i);
    }
  }
  sched::Scheduler::Commit(pool_, *demand, placement);
  live_[a.id()] = Live{*demand, placement};
  IndexLiveLocked(a);
  return Status::Ok();
}

Result<v1::Allocation> PoolState::Release(const std::string& id, const std::string& reason,
                                          int64_t now_ms) {
  const DurableAnswer durable(*committer_);
  Result<v1::Allocation> r = Status::Internal("unset");
  {
    StateLock lock(mu_, *committer_);
    r = ReleaseLocked(id, reason, now_ms);
    MaybePlaceQueuedLocked(now_ms);
  }
  return r;
}

Result<v1::Allocation> PoolState::ReleaseLocked(const std::string& id, const std::string& reason,
                                                int64_t now_ms) {
  auto it = allocations_.find(id);
  if (it == allocations_.end()) return Status::NotFound("no allocation '" + id + "'");
  if (it->second.state() == "released") return it->second;
  v1::Allocation a = it->second;
  a.set_state("released");
  // A preempted slice keeps why: its owner sees what ended the task, whoever releases it.
  a.set_reason(preempting_.count(id) != 0 ? a.reason() + "; " + reason : reason);
  a.set_updated_unix_ms(now_ms);
  if (Status s = SaveAllocationLocked(a); !s.ok()) return s;
  it->second = a;
  preempting_.erase(id);
  if (queue_.Remove(id)) {
    capacity_freed_ = true;  // the ones behind it move up
    queued_demand_.erase(id);
  }
  auto live = live_.find(id);
  if (live != live_.end()) {
    capacity_freed_ = true;
    released_gpu_seconds_[a.tenant()] += a.gpu_seconds_used();
    SaveReleasedGpuSecondsLocked(a.tenant());
    sched::Scheduler::Release(pool_, live->second.demand, live->second.placement);
    UnindexLiveLocked(a);
    live_.erase(live);
  }
  return a;
}

Result<v1::Allocation> PoolState::Get(const std::string& id) const {
  const DurableAnswer durable(*committer_);
  StateLock lock(mu_, *committer_);
  auto it = allocations_.find(id);
  if (it == allocations_.end()) return Status::NotFound("no allocation '" + id + "'");
  v1::Allocation a = it->second;
  DescribeQueuedLocked(a);
  // Where its node's agent listens now (an agent restarted on another port).
  if (auto node = nodes_.find(a.node()); node != nodes_.end()) {
    a.set_agent_address(node->second.node.agent_address());
  }
  return a;
}

std::vector<v1::Allocation> PoolState::AllocationsPage(bool include_released,
                                                       const std::string& after, size_t limit,
                                                       std::string* next) const {
  const DurableAnswer durable(*committer_);
  StateLock lock(mu_, *committer_);
  std::vector<v1::Allocation> out;
  next->clear();
  const auto take = [&](const auto& index) {
    for (auto it = index.upper_bound(after); it != index.end(); ++it) {
      if (out.size() == limit) {
        *next = out.back().id();
        return;
      }
      out.push_back(allocations_.at(it->first));
    }
  };
  if (include_released) {
    take(allocations_);
  } else {
    take(live_);
  }
  return out;
}

std::vector<v1::Allocation> PoolState::Allocations(bool include_released) const {
  const DurableAnswer durable(*committer_);
  StateLock lock(mu_, *committer_);
  std::vector<v1::Allocation> out;
  if (!include_released) {
    for (const auto& [id, live] : live_) out.push_back(allocations_.at(id));
    return out;
  }
  for (const auto& [id, a] : allocations_) out.push_back(a);
  return out;
}

size_t PoolState::PruneReleased(int64_t now_ms) {
  const DurableAnswer durable(*committer_);
  if (options_.keep_released_ms <= 0) return 0;
  size_t pruned = 0;
  {
    StateLock lock(mu_, *committer_);
    for (auto it = allocations_.begin(); it != allocations_.end();) {
      const v1::Allocation& a = it->second;
      if (a.state() == "released" && now_ms - a.updated_unix_ms() > options_.keep_released_ms) {
        committer_->Submit({kAllocationsTable, a.id(), "", /*erase=*/true});
        by_request_.erase(a.request().owner() + "\n" + a.request().request_id());
        it = allocations_.erase(it);
        ++pruned;
      } else {
        ++it;
      }
    }
  }
  return pruned;
}

std::vector<std::string> PoolState::LiveOfPod(const std::string& uid) const {
  const DurableAnswer durable(*committer_);
  StateLock lock(mu_, *committer_);
  auto of = live_of_pod_.find(uid);
  if (of == live_of_pod_.end()) return {};
  return {of->second.begin(), of->second.end()};
}

std::vector<v1::Node> PoolState::Nodes() const {
  const DurableAnswer durable(*committer_);
  StateLock lock(mu_, *committer_);
  // What the live allocations hold, per device id, in one pass over them.
  std::unordered_map<std::string, std::pair<int64_t, int32_t>> held;  // memory MiB, milli
  for (const auto& [id, live] : live_) {
    for (const auto& s : allocations_.at(id).slices()) {
      auto& h = held[s.device_id()];
      h.first += s.memory_mib();
      h.second += s.compute_milli();
    }
  }
  std::vector<v1::Node> out;
  for (const auto& [name, entry] : nodes_) {
    v1::Node node = entry.node;
    for (auto& d : *node.mutable_devices()) {
      auto h = held.find(d.id());
      if (h == held.end()) continue;
      d.set_memory_allocated_mib(h->second.first);
      d.set_compute_allocated_milli(h->second.second);
    }
    out.push_back(std::move(node));
  }
  return out;
}

std::vector<v1::Allocation> PoolState::Changes(uint64_t* seen, int64_t timeout_ms) {
  const DurableAnswer durable(*committer_);
  StateLock lock(mu_, *committer_);
  std::vector<v1::Allocation> out;
  const bool behind =
      *seen != kNotWatching && !changes_.empty() && *seen + 1 < changes_.front().first;
  if (*seen == kNotWatching || behind) {
    for (const auto& [id, live] : live_) out.push_back(allocations_.at(id));
    *seen = change_seq_;
    return out;
  }
  changed_.wait_for(lock.unique(), std::chrono::milliseconds(timeout_ms),
                    [&] { return change_seq_ > *seen; });
  for (const auto& [seq, a] : changes_) {
    if (seq > *seen) out.push_back(a);
  }
  *seen = std::max(*seen, change_seq_);
  return out;
}

std::vector<v1::Allocation> PoolState::ExpireLeasesUnwaited(int64_t now_ms) {
  StateLock lock(mu_, *committer_);
  EndGracePeriodsLocked(now_ms);
  std::vector<v1::Allocation> released;
  if (options_.reservation_timeout_ms > 0) {
    std::vector<std::string> stale;
    for (const auto& [id, live] : live_) {
      const v1::Allocation& a = allocations_.at(id);
      if (a.state() == "reserved" && a.request().pod_uid().empty() &&
          now_ms - a.created_unix_ms() > options_.reservation_timeout_ms) {
        stale.push_back(id);
      }
    }
    for (const auto& id : stale) {
      auto a = ReleaseLocked(
          id,
          "reserved " + std::to_string((now_ms - allocations_.at(id).created_unix_ms()) / 1000) +
              " s ago and no task started on it",
          now_ms);
      if (a.ok()) released.push_back(*a);
    }
  }
  for (auto& [name, entry] : nodes_) {
    if (entry.cordoned || now_ms - entry.node.last_heartbeat_unix_ms() <= options_.lease_ms) {
      continue;
    }
    const std::vector<std::string> ids = LiveOnLocked(name);
    bool all = true;
    for (const auto& id : ids) {
      auto a = ReleaseLocked(id, "node " + name + " stopped heartbeating", now_ms);
      if (a.ok()) {
        released.push_back(*a);
      } else {
        all = false;  // the store refused: try again at the next sweep
      }
    }
    if (!all) continue;
    entry.node.set_ready(false);
    CordonLocked(entry, true);
  }
  MaybePlaceQueuedLocked(now_ms);
  return released;
}

void PoolState::RenewAllLeases(int64_t now_ms) {
  StateLock lock(mu_, *committer_);
  for (auto& [name, entry] : nodes_) {
    if (entry.cordoned) continue;
    entry.node.set_last_heartbeat_unix_ms(std::max(entry.node.last_heartbeat_unix_ms(), now_ms));
  }
}

void PoolState::CordonLocked(NodeEntry& entry, bool cordon) {
  if (entry.cordoned == cordon) return;
  // Whole devices are held back now; the next heartbeat after the node is back holds back its
  // unhealthy devices again.
  GiveBackUnhealthyLocked(entry);
  const sched::NodeSpec& spec = pool_.spec(entry.index);
  std::vector<int> devices(spec.device_count);
  for (int i = 0; i < spec.device_count; ++i) devices[i] = i;
  // Only a node without allocations is cordoned, so its whole capacity is what is held back.
  if (cordon) {
    pool_.Take(entry.index, spec.cpu.value(), spec.host_memory.value(), devices, kWholeDevice,
               spec.device_memory, 0);
  } else {
    pool_.Give(entry.index, spec.cpu.value(), spec.host_memory.value(), devices, kWholeDevice,
               spec.device_memory, 0);
  }
  entry.cordoned = cordon;
}

void PoolState::IndexLiveLocked(const v1::Allocation& a) {
  live_on_node_[a.node()].insert(a.id());
  if (!a.request().pod_uid().empty()) live_of_pod_[a.request().pod_uid()].insert(a.id());
  held_by_tenant_[a.tenant()] += AmountsOf(live_.at(a.id()).demand);
}

void PoolState::UnindexLiveLocked(const v1::Allocation& a) {
  const auto drop = [&](auto& index, const std::string& key) {
    auto it = index.find(key);
    if (it == index.end()) return;
    it->second.erase(a.id());
    if (it->second.empty()) index.erase(it);
  };
  drop(live_on_node_, a.node());
  drop(live_of_pod_, a.request().pod_uid());
  auto held = held_by_tenant_.find(a.tenant());
  if (held == held_by_tenant_.end()) return;
  held->second -= AmountsOf(live_.at(a.id()).demand);
  if (held->second.milli == 0 && held->second.memory_mib == 0) held_by_tenant_.erase(held);
}

std::vector<std::string> PoolState::LiveOnLocked(const std::string& node) const {
  auto on = live_on_node_.find(node);
  if (on == live_on_node_.end()) return {};
  return {on->second.begin(), on->second.end()};
}

Status PoolState::SaveAllocationLocked(const v1::Allocation& a) {
  committer_->Submit({kAllocationsTable, a.id(), a.SerializeAsString()});
  changes_.emplace_back(++change_seq_, a);
  if (changes_.size() > 4096) changes_.pop_front();
  changed_.notify_all();
  return Status::Ok();
}

std::string PoolState::NewIdLocked(int64_t now_ms) {
  while (true) {
    std::array<char, 40> buffer{};
    std::snprintf(buffer.data(), buffer.size(), "a%011llx%04llx",
                  static_cast<unsigned long long>(now_ms),
                  static_cast<unsigned long long>(id_counter_++ & 0xffff));
    std::string id = buffer.data();
    if (allocations_.count(id) == 0) return id;
  }
}

}  // namespace xpool::controller
