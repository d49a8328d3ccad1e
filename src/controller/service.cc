#include "controller/service.h"

#include <httplib.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "controller/extender.h"
#include "controller/http_endpoint.h"
#include "controller/pod_watcher.h"
#include "core/address.h"

namespace xpool::controller {
namespace {

grpc::Status ToGrpc(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk:
      return grpc::Status::OK;
    case StatusCode::kInvalidArgument:
      return {grpc::StatusCode::INVALID_ARGUMENT, s.message()};
    case StatusCode::kNotFound:
      return {grpc::StatusCode::NOT_FOUND, s.message()};
    case StatusCode::kFailedPrecondition:
      return {grpc::StatusCode::FAILED_PRECONDITION, s.message()};
    case StatusCode::kIoError:
      return {grpc::StatusCode::UNAVAILABLE, s.message()};
    case StatusCode::kInternal:
      break;
  }
  return {grpc::StatusCode::INTERNAL, s.message()};
}

}  // namespace

grpc::Status AgentsService::Register(grpc::ServerContext* context,
                                     const v1::RegisterRequest* request,
                                     v1::RegisterResponse* response) {
  std::string user;
  if (auto s = auth_->Check(context, Caller::kAgent, "Register", &user); !s.ok()) return s;
  auto r = state_->Register(request->node(), NowUnixMs());
  if (!r.ok()) return ToGrpc(r.status());
  *response = *r;
  std::fprintf(stderr, "xpool-controller: node %s registered (%d devices, agent %s)\n",
               request->node().name().c_str(), request->node().devices_size(),
               request->node().agent_address().c_str());
  return grpc::Status::OK;
}

grpc::Status AgentsService::ClaimPodSlices(grpc::ServerContext* context,
                                           const v1::ClaimPodSlicesRequest* request,
                                           v1::ClaimPodSlicesResponse* response) {
  std::string user;
  if (auto s = auth_->Check(context, Caller::kAgent, "ClaimPodSlices", &user); !s.ok()) return s;
  auto claim = request->peek() ? state_->PeekPodSlices(request->node(), request->devices())
                               : state_->ClaimContainerSlice(*request, NowUnixMs());
  if (!claim.ok()) return ToGrpc(claim.status());
  *response->mutable_allocation() = std::move(claim->allocation);
  *response->mutable_slices() = std::move(claim->slices);
  if (request->peek()) return grpc::Status::OK;
  const v1::AllocateRequest& made_for = response->allocation().request();
  std::fprintf(stderr, "xpool-controller: node %s started %s container %s of pod %s/%s with %s\n",
               request->node().c_str(), made_for.init_container() ? "init" : "app",
               made_for.container().c_str(), request->pod_namespace().c_str(),
               request->pod_name().c_str(), response->allocation().id().c_str());
  return grpc::Status::OK;
}

grpc::Status AgentsService::Heartbeat(grpc::ServerContext* context,
                                      const v1::HeartbeatRequest* request,
                                      v1::HeartbeatResponse* response) {
  std::string user;
  if (auto s = auth_->Check(context, Caller::kAgent, "Heartbeat", &user); !s.ok()) return s;
  auto r = state_->Heartbeat(*request, NowUnixMs());
  if (!r.ok()) return ToGrpc(r.status());
  *response = *r;
  return grpc::Status::OK;
}

grpc::Status AgentsService::HeartbeatStream(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::HeartbeatResponse, v1::HeartbeatRequest>* stream) {
  std::string user;
  if (auto s = auth_->Check(context, Caller::kAgent, "HeartbeatStream", &user); !s.ok()) return s;
  v1::HeartbeatRequest request;
  while (stream->Read(&request)) {
    auto r = state_->Heartbeat(request, NowUnixMs());
    if (!r.ok()) return ToGrpc(r.status());
    if (!stream->Write(*r)) break;
  }
  return grpc::Status::OK;
}

grpc::Status PoolService::Allocate(grpc::ServerContext* context, const v1::AllocateRequest* request,
                                   v1::Allocation* response) {
  std::string user;
  if (auto s = auth_->Check(context, Caller::kUser, "Allocate", &user); !s.ok()) return s;
  v1::AllocateRequest checked = *request;
  if (auth_->enabled()) checked.set_owner(user);  // the credential says who asks
  Refusal refusal = Refusal::kNone;
  auto r = state_->Allocate(checked, NowUnixMs(), &refusal);
  if (!r.ok()) {
    if (refusal == Refusal::kNoCapacityNow) {
      return {grpc::StatusCode::RESOURCE_EXHAUSTED, r.status().message()};
    }
    return ToGrpc(r.status());
  }
  *response = *r;
  return grpc::Status::OK;
}

grpc::Status PoolService::Release(grpc::ServerContext* context, const v1::ReleaseRequest* request,
                                  v1::Allocation* response) {
  std::string user;
  if (auto s = auth_->Check(context, Caller::kUser, "Release", &user); !s.ok()) return s;
  if (auth_->enabled()) {
    auto current = state_->Get(request->id());
    if (current.ok() && current->owner() != user) {
      return {grpc::StatusCode::PERMISSION_DENIED,
              "allocation " + request->id() + " belongs to " + current->owner()};
    }
  }
  auto r = state_->Release(request->id(),
                           request->reason().empty() ? "released by its user" : request->reason(),
                           NowUnixMs());
  if (!r.ok()) return ToGrpc(r.status());
  *response = *r;
  return grpc::Status::OK;
}

grpc::Status PoolService::GetAllocation(grpc::ServerContext* context,
                                        const v1::GetAllocationRequest* request,
                                        v1::Allocation* response) {
  std::string user;
  if (auto s = auth_->Check(context, Caller::kUser, "GetAllocation", &user, true); !s.ok()) {
    return s;
  }
  auto r = state_->Get(request->id());
  if (!r.ok()) return ToGrpc(r.status());
  if (!user.empty() && r->owner() != user) {
    // A user sees (and has agents run tasks for) only allocations of their own.
    return {grpc::StatusCode::PERMISSION_DENIED,
            "allocation " + request->id() + " belongs to " + r->owner()};
  }
  *response = *r;
  return grpc::Status::OK;
}

grpc::Status PoolService::ListAllocations(grpc::ServerContext* context,
                                          const v1::ListAllocationsRequest* request,
                                          v1::ListAllocationsResponse* response) {
  std::string user;
  if (auto s = auth_->Check(context, Caller::kUser, "ListAllocations", &user); !s.ok()) return s;
  if (request->queued()) {
    for (auto& a : state_->Queue()) *response->add_allocations() = std::move(a);
    return grpc::Status::OK;
  }
  constexpr int kDefaultPage = 1000, kMaxPage = 5000;
  if (request->page_size() < 0) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "page_size must not be negative"};
  }
  const int page =
      request->page_size() == 0 ? kDefaultPage : std::min(request->page_size(), kMaxPage);
  std::string next;
  for (auto& a : state_->AllocationsPage(request->include_released(), request->page_token(),
                                         static_cast<size_t>(page), &next)) {
    *response->add_allocations() = std::move(a);
  }
  response->set_next_page_token(next);
  return grpc::Status::OK;
}

grpc::Status PoolService::ListNodes(grpc::ServerContext* context, const v1::ListNodesRequest*,
                                    v1::ListNodesResponse* response) {
  std::string user;
  if (auto s = auth_->Check(context, Caller::kUser, "ListNodes", &user); !s.ok()) return s;
  for (auto& n : state_->Nodes()) *response->add_nodes() = std::move(n);
  return grpc::Status::OK;
}

grpc::Status PoolService::WatchAllocations(grpc::ServerContext* context,
                                           const v1::WatchAllocationsRequest* request,
                                           grpc::ServerWriter<v1::Allocation>* writer) {
  std::string user;
  if (auto s = auth_->Check(context, Caller::kUser, "WatchAllocations", &user); !s.ok()) return s;
  uint64_t seen = PoolState::kNotWatching;
  while (!context->IsCancelled()) {
    for (auto& a : state_->Changes(&seen, 500)) {
      if (!request->id().empty() && a.id() != request->id()) continue;
      if (!writer->Write(a)) return grpc::Status::OK;  // the watcher went away
    }
  }
  return grpc::Status::OK;
}

Result<std::unique_ptr<Controller>> Controller::Start(const std::string& data_dir,
                                                      const ControllerOptions& options,
                                                      const ServeOptions& serve) {
  const std::string& listen = serve.listen;
  const std::string host = HostOf(listen);
  if (!IsLoopbackHost(host) && !serve.auth.enabled()) {
    // Allocation and task APIs run commands on the pool's machines: until credentials are
    // checked, they are served on loopback only.
    return Status::InvalidArgument("refusing to listen on '" + listen +
                                   "': without --join-token-file and --users-file only loopback "
                                   "addresses are served");
  }
  if (serve.http_tls_cert.empty() != serve.http_tls_key.empty() ||
      (!serve.http_client_ca.empty() && serve.http_tls_cert.empty())) {
    return Status::InvalidArgument(
        "HTTPS needs both --http-tls-cert and --http-tls-key (and --http-client-ca needs them)");
  }
  // Checked before the store is opened: a bad certificate leaves the data untouched.
  auto credentials = rpc::ServerCredentials(serve.tls);
  if (!credentials.ok()) return credentials.status();
  std::unique_ptr<Controller> c(new Controller());
  if (serve.kube) {
    auto kube = KubeClient::Create(*serve.kube);
    if (!kube.ok()) return kube.status();
    c->kube_ = std::move(*kube);
  }
  auto store = store::OpenSqliteStore(data_dir);
  if (!store.ok()) return store.status();
  auto state = PoolState::Open(std::move(*store), options, NowUnixMs());
  if (!state.ok()) return state.status();
  c->state_ = std::move(*state);
  c->auth_ = serve.auth;
  c->agents_ = std::make_unique<AgentsService>(c->state_.get(), &c->auth_);
  c->pool_ = std::make_unique<PoolService>(c->state_.get(), &c->auth_);
  c->lease_ms_ = options.lease_ms;
  grpc::ServerBuilder builder;
  int port = 0;
  // gRPC sets SO_REUSEPORT by default: a second controller on the same port would start and
  // share the connections. One listener per address.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(listen, *credentials, &port);
  builder.RegisterService(c->agents_.get());
  builder.RegisterService(c->pool_.get());
  c->server_ = builder.BuildAndStart();
  if (c->server_ == nullptr || port == 0) {
    return Status::IoError("cannot listen on '" + listen + "' (address in use?)");
  }
  c->address_ = host + ":" + std::to_string(port);
  c->sweeper_ = std::thread([raw = c.get()] { raw->Sweep(); });
  if (c->kube_ != nullptr) {
    c->pod_watcher_ = std::make_unique<PodWatcher>(c->state_.get(), c->kube_.get());
  }
  PoolState* pool_state = c->state_.get();
  const auto serve_metrics = [pool_state](httplib::Server& http) {
    http.Get("/metrics", [pool_state](const httplib::Request&, httplib::Response& res) {
      res.set_content(pool_state->Metrics(), "text/plain; version=0.0.4");
    });
  };
  if (!serve.http_listen.empty()) {
    KubeClient* kube = c->kube_.get();
    const ResourceNames resources = serve.resources;
    const bool with_metrics = serve.metrics_listen.empty();
    auto http = HttpEndpoint::Start(
        serve.http_listen, {serve.http_tls_cert, serve.http_tls_key, serve.http_client_ca},
        serve.http_limits, [&](httplib::Server& http) {
          if (with_metrics) serve_metrics(http);
          // The Kubernetes scheduler extender's verbs.
          const auto serve_verb = [&](const char* path, auto verb) {
            http.Post(path, [verb](const httplib::Request& req, httplib::Response& res) {
              int status = 200;
              res.set_content(verb(req.body, &status), "application/json");
              res.status = status;
            });
          };
          serve_verb("/scheduler/filter",
                     [pool_state, resources](const std::string& body, int* status) {
                       return ExtenderFilter(*pool_state, body, resources, status);
                     });
          serve_verb("/scheduler/prioritize",
                     [pool_state, resources](const std::string& body, int* status) {
                       return ExtenderPrioritize(*pool_state, body, resources, status);
                     });
          serve_verb("/scheduler/bind",
                     [pool_state, kube, resources](const std::string& body, int* status) {
                       return ExtenderBind(*pool_state, kube, body, resources, status);
                     });
        });
    if (!http.ok()) return http.status();
    c->http_ = std::move(*http);
    if (with_metrics) c->metrics_address_ = c->http_->address();
  }
  if (!serve.metrics_listen.empty()) {
    // Prometheus on a port of its own, plain HTTP: the extender's port may ask for a client
    // certificate that Prometheus has no reason to hold.
    auto metrics = HttpEndpoint::Start(serve.metrics_listen, {}, serve.http_limits, serve_metrics);
    if (!metrics.ok()) return metrics.status();
    c->metrics_http_ = std::move(*metrics);
    c->metrics_address_ = c->metrics_http_->address();
  }
  return c;
}

Controller::~Controller() {
  Shutdown();
  pod_watcher_.reset();
  if (sweeper_.joinable()) sweeper_.join();
  http_.reset();
  metrics_http_.reset();
}

const std::string& Controller::http_address() const {
  static const std::string kNone;
  return http_ != nullptr ? http_->address() : kNone;
}

void Controller::Wait() {
  server_->Wait();
}

void Controller::Shutdown() {
  if (stop_.exchange(true)) return;
  if (http_ != nullptr) http_->Stop();
  if (metrics_http_ != nullptr) metrics_http_->Stop();
  if (server_ != nullptr)
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

void Controller::SetTenancy(TenancyConfig tenancy) {
  state_->SetTenancy(std::move(tenancy), NowUnixMs());
}

void Controller::Sweep() {
  const auto period = std::chrono::milliseconds(std::max<int64_t>(50, lease_ms_ / 10));
  int64_t pruned_at = 0;
  const auto monotonic_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  };
  int64_t last_tick = monotonic_ms();
  int64_t last_wall = NowUnixMs();
  while (!stop_.load()) {
    std::this_thread::sleep_for(period);
    const int64_t now = NowUnixMs();
    const int64_t tick = monotonic_ms();
    const int64_t slept = tick - last_tick;
    const int64_t wall_moved = now - last_wall;
    last_tick = tick;
    last_wall = now;
    // Silence is measured while the controller runs: after it was itself stopped (a VM pause,
    // swap, a debugger) or its wall clock stepped, every agent first gets a lease to report.
    if (slept > period.count() + lease_ms_ / 2 || std::abs(wall_moved - slept) > 1000) {
      std::fprintf(
          stderr,
          "xpool-controller: %s %lld ms: every node gets a lease to report before any "
          "expires\n",
          slept > period.count() + lease_ms_ / 2 ? "did not run for" : "the wall clock stepped by",
          static_cast<long long>(slept > period.count() + lease_ms_ / 2 ? slept
                                                                        : wall_moved - slept));
      state_->RenewAllLeases(now);
      continue;
    }
    for (const auto& a : state_->ExpireLeases(now)) {
      std::fprintf(stderr, "xpool-controller: released %s on %s: %s\n", a.id().c_str(),
                   a.node().c_str(), a.reason().c_str());
    }
    if (now - pruned_at >= 60'000) {  // old released allocations, once a minute
      pruned_at = now;
      if (const size_t n = state_->PruneReleased(now); n > 0) {
        std::fprintf(stderr, "xpool-controller: forgot %zu allocation(s) released long ago\n", n);
      }
    }
  }
}

}  // namespace xpool::controller
