// The controller's gRPC services over a PoolState: Agents (register, heartbeat) and Pool
// (allocate, release, get, list allocations and nodes), plus the sweep that expires leases.
#pragma once

#include <grpcpp/grpcpp.h>

// cpp-httplib, for /metrics.
namespace httplib {
class Server;
}

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "controller/auth.h"
#include "controller/extender.h"
#include "controller/pool_state.h"
#include "core/clock.h"
#include "rpc/tls.h"
#include "xpool/v1/pool.grpc.pb.h"

namespace xpool::controller {

class PodWatcher;

class AgentsService final : public v1::Agents::Service {
 public:
  AgentsService(PoolState* state, const Auth* auth) : state_(state), auth_(auth) {}
  grpc::Status Register(grpc::ServerContext* context, const v1::RegisterRequest* request,
                        v1::RegisterResponse* response) override;
  grpc::Status Heartbeat(grpc::ServerContext* context, const v1::HeartbeatRequest* request,
                         v1::HeartbeatResponse* response) override;
  grpc::Status HeartbeatStream(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::HeartbeatResponse, v1::HeartbeatRequest>* stream) override;
  grpc::Status ClaimPodSlices(grpc::ServerContext* context,
                              const v1::ClaimPodSlicesRequest* request,
                              v1::ClaimPodSlicesResponse* response) override;

 private:
  PoolState* state_;
  const Auth* auth_;
};

class PoolService final : public v1::Pool::Service {
 public:
  PoolService(PoolState* state, const Auth* auth) : state_(state), auth_(auth) {}
  grpc::Status Allocate(grpc::ServerContext* context, const v1::AllocateRequest* request,
                        v1::Allocation* response) override;
  grpc::Status Release(grpc::ServerContext* context, const v1::ReleaseRequest* request,
                       v1::Allocation* response) override;
  grpc::Status GetAllocation(grpc::ServerContext* context, const v1::GetAllocationRequest* request,
                             v1::Allocation* response) override;
  grpc::Status ListAllocations(grpc::ServerContext* context,
                               const v1::ListAllocationsRequest* request,
                               v1::ListAllocationsResponse* response) override;
  grpc::Status ListNodes(grpc::ServerContext* context, const v1::ListNodesRequest* request,
                         v1::ListNodesResponse* response) override;
  grpc::Status WatchAllocations(grpc::ServerContext* context,
                                const v1::WatchAllocationsRequest* request,
                                grpc::ServerWriter<v1::Allocation>* writer) override;

 private:
  PoolState* state_;
  const Auth* auth_;
};

// How a controller is served: its addresses, credentials and Kubernetes settings.
// Bounds on the HTTP server (/metrics and the extender), so that slow or huge requests cannot
// take it down: kube-scheduler's bodies with nodeCacheCapable are kilobytes, a full node list of
// 5,000 nodes a few megabytes.
struct HttpLimits {
  size_t max_body_bytes = 16 << 20;  // a larger body is answered 413 without being read
  int read_timeout_ms = 1000;        // a client silent this long mid-request is dropped
  int write_timeout_ms = 5000;
  int keep_alive_timeout_s = 30;  // an idle kept-alive connection is closed after this
  int workers = 64;               // connections served at once; the rest wait to be served
};

struct ServeOptions {
  std::string listen = "127.0.0.1:7070";  // the gRPC API; port 0: any
  rpc::TlsServerFiles tls;                // set: the API is served over TLS
  // /metrics and the scheduler extender's /scheduler/* over HTTP (host:port, port 0 for any);
  // empty: not served.
  std::string http_listen;
  // Set: that address serves HTTPS with this certificate and key; with a client CA, only clients
  // presenting a certificate it signed (kube-scheduler's tlsConfig) are answered.
  std::string http_tls_cert, http_tls_key, http_client_ca;
  // Set: /metrics is served here alone (plain HTTP), and not on http_listen.
  std::string metrics_listen;
  HttpLimits http_limits;
  Auth auth;  // without credentials, only loopback addresses are served
  ResourceNames resources;
  // Set: the extender binds pods through this Kubernetes API, and the controller watches pods to
  // release the slices of those that finish or are deleted.
  std::optional<KubeOptions> kube;
};

class HttpEndpoint;

// A running controller: the services, and threads expiring leases and watching pods.
class Controller {
 public:
  static Result<std::unique_ptr<Controller>> Start(const std::string& data_dir,
                                                   const ControllerOptions& options,
                                                   const ServeOptions& serve);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  const std::string& address() const { return address_; }  // host:port actually bound
  const std::string& metrics_address() const { return metrics_address_; }  // empty: none
  const std::string& http_address() const;  // the extender's; empty: none
  void Wait();                              // until Shutdown
  // Replaces the tenants configuration (a reload of the tenants file).
  void SetTenancy(TenancyConfig tenancy);
  void Shutdown();  // from any thread

 private:
  Controller() = default;
  void Sweep();

  std::unique_ptr<PoolState> state_;
  Auth auth_;
  std::unique_ptr<KubeClient> kube_;
  std::unique_ptr<PodWatcher> pod_watcher_;
  std::unique_ptr<AgentsService> agents_;
  std::unique_ptr<PoolService> pool_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  std::unique_ptr<HttpEndpoint> http_;          // the extender (and /metrics without its own)
  std::unique_ptr<HttpEndpoint> metrics_http_;  // /metrics on a port of its own
  std::string metrics_address_;
  std::atomic<bool> stop_{false};
  std::thread sweeper_;
  int64_t lease_ms_ = 0;
};

}  // namespace xpool::controller
