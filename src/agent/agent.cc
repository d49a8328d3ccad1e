#include "agent/agent.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>

#include "core/address.h"

namespace xpool::agent {
Result<std::unique_ptr<Agent>> Agent::Start(const v1::Node& inventory,
                                            const AgentOptions& options) {
  if (options.controller.empty()) return Status::InvalidArgument("no controller address given");
  if (!IsLoopbackHost(HostOf(options.listen)) && options.token.empty()) {
    return Status::InvalidArgument("refusing to listen on '" + options.listen +
                                   "': without --token-file only loopback addresses are served");
  }
  auto server_credentials = rpc::ServerCredentials(options.tls);
  if (!server_credentials.ok()) return server_credentials.status();
  auto controller_credentials = rpc::ChannelCredentials(options.controller_ca);
  if (!controller_credentials.ok()) return controller_credentials.status();
  TaskOptions tasks = options.tasks;
  if (tasks.state_dir.empty()) {
    const char* home = std::getenv("HOME");
    tasks.state_dir = std::string(home != nullptr && *home != '\0' ? home : "/tmp") +
                      "/.xpool/agent-" + inventory.name();
  }
  auto runner = TaskRunner::Create(tasks);
  if (!runner.ok()) return runner.status();
  std::unique_ptr<Agent> agent(new Agent());
  agent->node_ = inventory;
  agent->options_ = options;
  agent->runner_ = std::move(*runner);
  agent->channel_ = grpc::CreateChannel(options.controller, *controller_credentials);
  agent->agents_ = v1::Agents::NewStub(agent->channel_);
  agent->pool_ = v1::Pool::NewStub(agent->channel_);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);  // one listener per address
  builder.AddListeningPort(options.listen, *server_credentials, &port);
  builder.RegisterService(agent.get());
  agent->server_ = builder.BuildAndStart();
  if (agent->server_ == nullptr || port == 0) {
    return Status::IoError("cannot listen on '" + options.listen + "'");
  }
  agent->address_ = HostOf(options.listen) + ":" + std::to_string(port);
  agent->node_.set_agent_address(agent->address_);
  for (const auto& id : agent->runner_->Adopted()) {
    std::fprintf(stderr, "xpool-agent: adopted the task of %s\n", id.c_str());
  }
  agent->loop_ = std::thread([raw = agent.get()] { raw->Loop(); });
  return agent;
}

Agent::~Agent() {
  Shutdown();
  if (loop_.joinable()) loop_.join();
}

void Agent::Wait() {
  server_->Wait();
}

void Agent::Poke() {
  std::lock_guard<std::mutex> lock(mu_);
  poke_ = true;
  wake_.notify_all();
}

void Agent::Shutdown() {
  if (stop_.exchange(true)) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (beat_context_ != nullptr) beat_context_->TryCancel();  // unblocks a pending Read
  }
  Poke();
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
}

void Agent::Authorize(grpc::ClientContext& context) const {
  if (!options_.token.empty()) context.AddMetadata("authorization", "Bearer " + options_.token);
}

Result<v1::ClaimPodSlicesResponse> Agent::ClaimPodSlices(v1::ClaimPodSlicesRequest request) const {
  grpc::ClientContext context;
  Authorize(context);
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  request.set_node(node_.name());
  v1::ClaimPodSlicesResponse response;
  const grpc::Status s = agents_->ClaimPodSlices(&context, request, &response);
  if (s.error_code() == grpc::StatusCode::NOT_FOUND) return Status::NotFound(s.error_message());
  if (s.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
    return Status::FailedPrecondition(s.error_message());
  }
  if (!s.ok()) return Status::IoError(s.error_message());
  return response;
}

void Agent::SetDeviceHealth(const std::string& uuid, bool healthy) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (healthy) {
      unhealthy_.erase(uuid);
    } else {
      unhealthy_.insert(uuid);
    }
  }
  Poke();
}

bool Agent::RegisterOnce() {
  grpc::ClientContext context;
  Authorize(context);
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::RegisterRequest request;
  *request.mutable_node() = node_;
  v1::RegisterResponse response;
  const grpc::Status s = agents_->Register(&context, request, &response);
  if (!s.ok()) {
    std::fprintf(stderr, "xpool-agent: cannot register with %s: %s\n", options_.controller.c_str(),
                 s.error_message().c_str());
    if (s.error_code() == grpc::StatusCode::INVALID_ARGUMENT ||
        s.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
      Shutdown();  // the controller will never take this inventory
    }
    return false;
  }
  std::fprintf(stderr, "xpool-agent: node %s registered with %s, tasks on %s\n",
               node_.name().c_str(), options_.controller.c_str(), address_.c_str());
  return true;
}

std::vector<runtime::ComputeDeviceUse> Agent::ReadComputeSegments() {
  std::vector<Status> unreadable;
  // The tasks' runtimes arbitrate in the slice folder (their XPOOL_COMPUTE_DIR).
  auto devices = runtime::ComputeArbiter::ReadAll(options_.tasks.slice_dir, &unreadable);
  if (!devices.ok()) return {};  // no directory: no task has used a compute share
  for (const Status& s : unreadable) {
    if (warned_segments_.insert(s.message()).second) {
      std::fprintf(stderr, "xpool-agent: compute use not reported: %s\n", s.message().c_str());
    }
  }
  return std::move(*devices);
}

void Agent::Loop() {
  bool registered = false;
  auto period = std::chrono::milliseconds(500);
  while (!stop_.load()) {
    if (!registered) {
      registered = RegisterOnce();
    } else {
      v1::HeartbeatRequest request;
      request.set_node(node_.name());
      const auto reports = runner_->Reports();
      // Read only when there is a task to report: the agent beats twice a second.
      const std::vector<runtime::ComputeDeviceUse> compute =
          reports.empty() ? std::vector<runtime::ComputeDeviceUse>{} : ReadComputeSegments();
      // Each running slice's segment is read once: for the slice, and towards its devices.
      constexpr int64_t kMiB = 1024 * 1024;
      std::map<int, int64_t> device_bytes;
      for (const auto& r : reports) {
        v1::TaskReport* report = request.add_tasks();
        *report = r;
        report->set_gpu_seconds_used(runner_->GpuSecondsUsed(r.allocation_id(), compute));
        if (!r.running()) continue;
        int64_t slice_bytes = 0;
        for (const auto& [d, b] :
             runner_->SliceBytesInUse(r.allocation_id(), node_.devices_size())) {
          slice_bytes += b;
          device_bytes[d] += b;
        }
        report->set_memory_used_mib(slice_bytes / kMiB);
      }
      std::set<std::string> unhealthy;
      {
        std::lock_guard<std::mutex> lock(mu_);
        unhealthy = unhealthy_;
      }
      for (const auto& d : node_.devices()) {
        if (unhealthy.count(d.uuid()) != 0) request.add_unhealthy_devices(d.id());
        v1::Device* usage = request.add_usage();
        usage->set_id(d.id());
        const auto it = device_bytes.find(d.index());
        usage->set_memory_used_mib(it != device_bytes.end() ? it->second / kMiB : 0);
      }
      v1::HeartbeatResponse response;
      if (!Beat(request, &response)) {
        registered = false;  // register again (the controller may have lost us) and reopen
      } else {
        runner_->Forget(reports);
        if (response.reregister()) registered = false;
        const std::set<std::string> live(response.live_allocations().begin(),
                                         response.live_allocations().end());
        runner_->KillAllExcept(live);
        runner_->Terminate(
            {response.terminating_allocations().begin(), response.terminating_allocations().end()});
      }
    }
    std::unique_lock<std::mutex> lock(mu_);
    wake_.wait_for(lock, period, [this] { return stop_.load() || poke_; });
    poke_ = false;
  }
  CloseStream();
}

bool Agent::Beat(const v1::HeartbeatRequest& request, v1::HeartbeatResponse* response) {
  if (beats_ == nullptr) {
    auto context = std::make_unique<grpc::ClientContext>();
    Authorize(*context);
    auto stream = agents_->HeartbeatStream(context.get());
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_.load()) return false;
    beat_context_ = std::move(context);
    beats_ = std::move(stream);
  }
  if (beats_->Write(request) && beats_->Read(response)) return true;
  CloseStream();
  return false;
}

void Agent::CloseStream() {
  if (beats_ == nullptr) return;
  beats_->WritesDone();
  {
    std::lock_guard<std::mutex> lock(mu_);
    beat_context_->TryCancel();
  }
  const grpc::Status status = beats_->Finish();
  if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED && !stop_.load()) {
    std::fprintf(stderr, "xpool-agent: heartbeat stream to %s broke: %s\n",
                 options_.controller.c_str(), status.error_message().c_str());
  }
  std::lock_guard<std::mutex> lock(mu_);
  beats_.reset();
  beat_context_.reset();
}

grpc::Status Agent::Run(grpc::ServerContext* context, const v1::RunRequest* request,
                        grpc::ServerWriter<v1::RunOutput>* writer) {
  // The controller says which allocation this is, whether it is live on this node, and (asked
  // with the caller's own credential) whether the caller may use it.
  grpc::ClientContext ask;
  const auto& metadata = context->client_metadata();
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    ask.AddMetadata("authorization", std::string(it->second.data(), it->second.size()));
  } else if (!options_.token.empty()) {
    return {grpc::StatusCode::UNAUTHENTICATED, "this agent needs the caller's credential"};
  }
  ask.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  ask.set_wait_for_ready(true);  // rides out a controller restart
  v1::GetAllocationRequest get;
  get.set_id(request->allocation_id());
  v1::Allocation allocation;
  const grpc::Status s = pool_->GetAllocation(&ask, get, &allocation);
  if (!s.ok()) return {s.error_code(), "controller: " + s.error_message()};
  if (allocation.node() != node_.name() || allocation.state() == "released") {
    return {grpc::StatusCode::FAILED_PRECONDITION,
            "allocation " + allocation.id() + " is not live on node " + node_.name()};
  }
  if (!request->attach()) {
    const std::vector<std::string> argv(request->argv().begin(), request->argv().end());
    if (Status started = runner_->Start(allocation, argv); !started.ok()) {
      const auto c = started.code() == StatusCode::kNotFound
                         ? grpc::StatusCode::NOT_FOUND
                         : grpc::StatusCode::FAILED_PRECONDITION;
      return {c, started.message()};
    }
    Poke();  // tell the controller at once that it runs
  }
  bool client_gone = false;
  auto code = runner_->Stream(
      allocation.id(), request->stdout_offset(), request->stderr_offset(),
      [&](int fd, const std::string& chunk) {
        if (client_gone) return;
        v1::RunOutput out;
        (fd == 1 ? out.mutable_stdout() : out.mutable_stderr())->assign(chunk);
        client_gone = !writer->Write(out);
      },
      [&] { return client_gone || context->IsCancelled() || stop_.load(); });
  Poke();  // report the end at once
  if (!code.ok()) {
    // The task goes on with its allocation; the caller may attach again.
    const auto c = code.status().code() == StatusCode::kNotFound ? grpc::StatusCode::NOT_FOUND
                                                                 : grpc::StatusCode::UNAVAILABLE;
    return {c, code.status().message()};
  }
  v1::RunOutput last;
  last.set_exited(true);
  last.set_exit_code(*code);
  if (!client_gone) writer->Write(last);
  return grpc::Status::OK;
}

}  // namespace xpool::agent
