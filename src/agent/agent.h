// Agent: one per node. It serves the Tasks API, registers the node's inventory with the
// controller, heartbeats within the lease (reporting its tasks), and kills the tasks of
// allocations the controller no longer holds.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "agent/task_runner.h"
#include "core/status.h"
#include "rpc/tls.h"
#include "runtime/compute_arbiter.h"
#include "xpool/v1/pool.grpc.pb.h"

namespace xpool::agent {

struct AgentOptions {
  std::string controller;  // host:port
  std::string listen = "127.0.0.1:0";
  std::string token;          // the cluster's join token; required to listen off loopback
  rpc::TlsServerFiles tls;    // set: the Tasks API is served over TLS
  std::string controller_ca;  // set: the controller is reached over TLS, checked against this CA
  TaskOptions tasks;
};

class Agent final : public v1::Tasks::Service {
 public:
  static Result<std::unique_ptr<Agent>> Start(const v1::Node& inventory,
                                              const AgentOptions& options);
  ~Agent() override;
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  const std::string& address() const { return address_; }
  // Agents.ClaimPodSlices for this node, over the agent's connection to the controller: the
  // device plugin's claim (DevicePluginOptions::claim). NotFound: no allocation was made for it.
  Result<v1::ClaimPodSlicesResponse> ClaimPodSlices(v1::ClaimPodSlicesRequest request) const;
  // The health watcher's finding for a GPU (by UUID): heartbeats tell the controller, which
  // places nothing new on an unhealthy device; the next heartbeat goes at once.
  void SetDeviceHealth(const std::string& uuid, bool healthy);
  void Wait();
  void Shutdown();

  grpc::Status Run(grpc::ServerContext* context, const v1::RunRequest* request,
                   grpc::ServerWriter<v1::RunOutput>* writer) override;

 private:
  Agent() = default;
  void Loop();
  bool RegisterOnce();
  // One heartbeat over the stream (opened when needed); false when the stream broke.
  bool Beat(const v1::HeartbeatRequest& request, v1::HeartbeatResponse* response);
  void CloseStream();
  void Authorize(grpc::ClientContext& context) const;
  void Poke();
  // The node's compute arbitration segments, for the tasks' device time; an unreadable one is
  // skipped and named on stderr once.
  std::vector<runtime::ComputeDeviceUse> ReadComputeSegments();

  v1::Node node_;
  AgentOptions options_;
  std::unique_ptr<TaskRunner> runner_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Agents::Stub> agents_;
  std::unique_ptr<v1::Pool::Stub> pool_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable wake_;
  bool poke_ = false;                // heartbeat now (a task ended)
  std::set<std::string> unhealthy_;  // GPU UUIDs; guarded by mu_
  std::thread loop_;
  // The heartbeat stream, used by the loop's thread; the context is cancelled on shutdown.
  std::unique_ptr<grpc::ClientContext> beat_context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::HeartbeatRequest, v1::HeartbeatResponse>> beats_;
  // Compute segments that could not be read, named on stderr once; used by the loop's thread.
  std::set<std::string> warned_segments_;
};

}  // namespace xpool::agent
