#include "controller/service.h"

#include <httplib.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "controller/extender.h"
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
  auto claim =
      state_->ClaimPodSlices(request->node(), request->devices(), NowUnixMs(), request->peek());
  if (!claim.ok()) return ToGrpc(claim.status());
  *response->mutable_allocation() = std::move(claim->allocation);
  *response->mutable_slices() = std::move(claim->slices);
  if (request->peek()) return grpc::Status::OK;
  std::fprintf(stderr, "xpool-controller: node %s's device plugin claimed %d device(s) of %s\n",
               request->node().c_str(), request->devices(), response->allocation().id().c_str());
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
  for (auto& a : state_->Allocations(request->include_released())) {
    *response->add_allocations() = std::move(a);
  }
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
  if (!serve.http_listen.empty()) {
    const std::string& metrics_listen = serve.http_listen;
    const std::string metrics_host = HostOf(metrics_listen);
    const int metrics_port = std::atoi(metrics_listen.substr(metrics_host.size() + 1).c_str());
    if (serve.http_tls_cert.empty()) {
      c->metrics_ = std::make_unique<httplib::Server>();
    } else {
      auto tls = std::make_unique<httplib::SSLServer>(
          serve.http_tls_cert.c_str(), serve.http_tls_key.c_str(),
          serve.http_client_ca.empty() ? nullptr : serve.http_client_ca.c_str());
      if (!tls->is_valid()) {
        return Status::InvalidArgument("cannot serve HTTPS with certificate '" +
                                       serve.http_tls_cert + "', key '" + serve.http_tls_key + "'" +
                                       (serve.http_client_ca.empty()
                                            ? std::string()
                                            : " and client CA '" + serve.http_client_ca + "'"));
      }
      c->metrics_ = std::move(tls);
    }
    // Answers go out as soon as they are written: without this, Nagle's algorithm holds a
    // body written after its headers until the peer's delayed ACK, 40 ms later.
    c->metrics_->set_tcp_nodelay(true);
    // kube-scheduler keeps its connection to the extender: do not close it every 5 requests.
    c->metrics_->set_keep_alive_max_count(100'000);
    const HttpLimits& limits = serve.http_limits;
    c->metrics_->set_payload_max_length(limits.max_body_bytes);
    c->metrics_->set_read_timeout(std::chrono::milliseconds(limits.read_timeout_ms));
    c->metrics_->set_write_timeout(std::chrono::milliseconds(limits.write_timeout_ms));
    c->metrics_->set_keep_alive_timeout(limits.keep_alive_timeout_s);
    c->metrics_->new_task_queue = [workers = limits.workers] {
      return new httplib::ThreadPool(static_cast<size_t>(workers));
    };
    PoolState* state = c->state_.get();
    KubeClient* kube = c->kube_.get();
    const ResourceNames resources = serve.resources;
    c->metrics_->Get("/metrics", [state](const httplib::Request&, httplib::Response& res) {
      res.set_content(state->Metrics(), "text/plain; version=0.0.4");
    });
    // The Kubernetes scheduler extender's verbs share the HTTP server.
    const auto serve_verb = [&](const char* path, auto verb) {
      c->metrics_->Post(path, [verb](const httplib::Request& req, httplib::Response& res) {
        int status = 200;
        res.set_content(verb(req.body, &status), "application/json");
        res.status = status;
      });
    };
    serve_verb("/scheduler/filter", [state, resources](const std::string& body, int* status) {
      return ExtenderFilter(*state, body, resources, status);
    });
    serve_verb("/scheduler/prioritize", [state, resources](const std::string& body, int* status) {
      return ExtenderPrioritize(*state, body, resources, status);
    });
    serve_verb("/scheduler/bind", [state, kube, resources](const std::string& body, int* status) {
      return ExtenderBind(*state, kube, body, resources, status);
    });
    const int bound =
        metrics_port == 0
            ? c->metrics_->bind_to_any_port(metrics_host)
            : (c->metrics_->bind_to_port(metrics_host, metrics_port) ? metrics_port : -1);
    if (bound <= 0) return Status::IoError("cannot serve HTTP on '" + metrics_listen + "'");
    c->metrics_address_ = metrics_host + ":" + std::to_string(bound);
    c->metrics_thread_ = std::thread([raw = c.get()] { raw->metrics_->listen_after_bind(); });
  }
  return c;
}

Controller::~Controller() {
  Shutdown();
  pod_watcher_.reset();
  if (sweeper_.joinable()) sweeper_.join();
  if (metrics_thread_.joinable()) metrics_thread_.join();
}

void Controller::Wait() {
  server_->Wait();
}

void Controller::Shutdown() {
  if (stop_.exchange(true)) return;
  if (metrics_ != nullptr) metrics_->stop();
  if (server_ != nullptr)
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

void Controller::Sweep() {
  const auto period = std::chrono::milliseconds(std::max<int64_t>(50, lease_ms_ / 10));
  int64_t pruned_at = 0;
  while (!stop_.load()) {
    std::this_thread::sleep_for(period);
    const int64_t now = NowUnixMs();
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
