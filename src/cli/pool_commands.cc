#include "cli/pool_commands.h"

#include <fmt/core.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "agent/agent.h"
#include "agent/inventory.h"
#include "agent/nvml_discovery.h"
#include "cli/compute_flags.h"
#include "controller/service.h"
#include "core/quantity.h"
#include "core/signals.h"
#include "rpc/tls.h"
#include "xpool/v1/pool.grpc.pb.h"

namespace xpool::cli {
namespace {

constexpr std::string_view kDefaultController = "127.0.0.1:7070";

std::atomic<grpc::ClientContext*> g_run_stream{nullptr};
std::atomic<bool> g_interrupted{false};
std::atomic<bool> g_up_stop{false};

// Ctrl-C: `up` stops, `run` releases its allocation. Installed by those two commands only, before
// they start any thread (other commands keep the default signal behaviour).
void HandleInterrupts() {
  OnTerminationSignal([] {
    g_up_stop = true;
    g_interrupted = true;
    if (auto* ctx = g_run_stream.load()) ctx->TryCancel();
  });
}

int Fail(const std::string& message, int code = 2) {
  std::cerr << "xpool: " << message << "\n";
  return code;
}

std::string StateDir() {
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr && *home != '\0' ? home : "/tmp") + "/.xpool";
}

// Where `xpool up` says it listens, so that the other commands find it.
std::string AddressFile() {
  return StateDir() + "/controller";
}

std::string ControllerAddress(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("XPOOL_CONTROLLER"); env != nullptr && *env != '\0') return env;
  std::ifstream in(AddressFile());
  std::string address;
  if (in >> address && !address.empty()) return address;
  return std::string(kDefaultController);
}

// A failed call, said plainly; exit 2 for what the user asked wrongly, 1 otherwise.
int RpcFail(const std::string& what, const grpc::Status& s, const std::string& address) {
  switch (s.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      // gRPC's message tells a refused connection from a failed TLS handshake.
      return Fail("no controller answers at " + address +
                      " (start one with 'xpool up', or set "
                      "--controller / XPOOL_CONTROLLER; with TLS, XPOOL_TLS_CA): " +
                      s.error_message(),
                  1);
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED:
      return Fail(what + ": " + s.error_message(), 2);
    default:
      return Fail(what + ": " + s.error_message(), 1);
  }
}

// The user's credential, for a controller that checks them: XPOOL_TOKEN or ~/.xpool/token.
std::string UserToken() {
  if (const char* env = std::getenv("XPOOL_TOKEN"); env != nullptr && *env != '\0') return env;
  std::ifstream in(StateDir() + "/token");
  std::string token;
  in >> token;
  return token;
}

void Authorize(grpc::ClientContext& context) {
  static const std::string token = UserToken();
  if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
}

// How calls reach the controller and the agents: over TLS, trusting the CA in XPOOL_TLS_CA (a
// PEM file), when that is set; plaintext otherwise. Read once.
const Result<std::shared_ptr<grpc::ChannelCredentials>>& PoolCredentials() {
  static const auto credentials = [] {
    const char* ca = std::getenv("XPOOL_TLS_CA");
    return rpc::ChannelCredentials(ca != nullptr ? ca : "");
  }();
  return credentials;
}

struct Client {
  // Fails only when XPOOL_TLS_CA names a file that holds no CA certificate.
  static Result<Client> Open(const std::string& flag) {
    const auto& credentials = PoolCredentials();
    if (!credentials.ok())
      return Status::InvalidArgument("XPOOL_TLS_CA: " + credentials.status().message());
    return Client(ControllerAddress(flag), *credentials);
  }
  std::unique_ptr<grpc::ClientContext> Context() const {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    Authorize(*c);
    return c;
  }
  std::string address;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Pool::Stub> pool;

 private:
  Client(std::string controller, const std::shared_ptr<grpc::ChannelCredentials>& credentials)
      : address(std::move(controller)),
        channel(grpc::CreateChannel(address, credentials)),
        pool(v1::Pool::NewStub(channel)) {}
};

std::string Json(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, options);
  return out;
}

template <typename Messages>
void PrintJsonArray(const Messages& items) {
  std::cout << "[";
  bool first = true;
  for (const auto& m : items) {
    std::cout << (first ? "" : ",\n") << Json(m);
    first = false;
  }
  std::cout << "]\n";
}

std::string Percent(int64_t milli) {
  return fmt::format("{}%", milli / 10);
}

std::string Mem(int64_t mib) {
  return FormatMemory(MiB(mib));
}

int ListNodes(const std::string& controller, const std::string& output, bool devices) {
  if (output != "table" && output != "json") return Fail("-o must be table or json");
  auto c = Client::Open(controller);
  if (!c.ok()) return Fail(c.status().message());
  v1::ListNodesResponse response;
  auto ctx = c->Context();
  const grpc::Status s = c->pool->ListNodes(ctx.get(), v1::ListNodesRequest(), &response);
  if (!s.ok()) return RpcFail("list nodes", s, c->address);
  if (!devices) {
    if (output == "json") {
      PrintJsonArray(response.nodes());
      return 0;
    }
    fmt::print("{:<20} {:<6} {:>7} {:>8} {:>9}  {}\n", "NODE", "READY", "DEVICES", "CPU", "MEMORY",
               "AGENT");
    for (const auto& n : response.nodes()) {
      fmt::print("{:<20} {:<6} {:>7} {:>8} {:>9}  {}\n", n.name(), n.ready() ? "yes" : "no",
                 n.devices_size(), n.cpu_milli() / 1000, Mem(n.memory_mib()), n.agent_address());
    }
    return 0;
  }
  std::vector<v1::Device> all;
  for (const auto& n : response.nodes()) {
    for (const auto& d : n.devices()) all.push_back(d);
  }
  if (output == "json") {
    PrintJsonArray(all);
    return 0;
  }
  fmt::print("{:<24} {:<5} {:<12} {:>19} {:>13} {:>8}  {}\n", "DEVICE", "TYPE", "MODEL",
             "MEMORY ALLOC/TOTAL", "COMPUTE ALLOC", "IN USE", "HEALTH");
  for (const auto& d : all) {
    fmt::print("{:<24} {:<5} {:<12} {:>19} {:>13} {:>8}  {}\n", d.id(), d.type(), d.model(),
               Mem(d.memory_allocated_mib()) + "/" + Mem(d.memory_mib()),
               Percent(d.compute_allocated_milli()) + "/100%", Mem(d.memory_used_mib()),
               d.healthy() ? "healthy" : "unhealthy");
  }
  return 0;
}

void PrintAllocationRow(const v1::Allocation& a) {
  const int64_t memory = a.slices().empty() ? 0 : a.slices(0).memory_mib();
  const int64_t core = a.slices().empty() ? 0 : a.slices(0).compute_milli();
  // Device time shows for slices under a compute setting only; the others have no leases.
  const std::string gpu_time =
      a.gpu_seconds_used() > 0 ? fmt::format("{:.1f}s", a.gpu_seconds_used()) : "-";
  const std::string core_used = a.gpu_seconds_used() > 0 && a.state() != "released"
                                    ? fmt::format("{:.1f}%", a.compute_used_percent())
                                    : "-";
  fmt::print("{:<20} {:<9} {:<16} {:>7} {:>9} {:>7} {:>9} {:>9} {:>9}  {:<10} {}\n", a.id(),
             a.state(), a.node(), a.slices_size(), Mem(memory), Percent(core),
             Mem(a.memory_used_mib()), gpu_time, core_used, a.tenant(), a.reason());
}

// The live allocations, then every change, until Ctrl-C: a table row or a JSON object per line.
int WatchAllocations(const std::string& controller, const std::string& output) {
  auto c = Client::Open(controller);
  if (!c.ok()) return Fail(c.status().message());
  grpc::ClientContext ctx;
  Authorize(ctx);
  g_run_stream = &ctx;
  auto reader = c->pool->WatchAllocations(&ctx, v1::WatchAllocationsRequest());
  v1::Allocation a;
  while (reader->Read(&a)) {
    if (output == "json") {
      std::cout << Json(a) << "\n";
    } else {
      PrintAllocationRow(a);
    }
    std::cout << std::flush;
  }
  const grpc::Status s = reader->Finish();
  g_run_stream = nullptr;
  if (g_interrupted.load()) return 0;
  return s.ok() ? 0 : RpcFail("watch allocations", s, c->address);
}

int ListAllocations(const std::string& controller, const std::string& output, bool all,
                    bool watch = false) {
  if (output != "table" && output != "json") return Fail("-o must be table or json");
  if (watch) return WatchAllocations(controller, output);
  auto c = Client::Open(controller);
  if (!c.ok()) return Fail(c.status().message());
  v1::ListAllocationsRequest request;
  request.set_include_released(all);
  v1::ListAllocationsResponse response;
  auto ctx = c->Context();
  const grpc::Status s = c->pool->ListAllocations(ctx.get(), request, &response);
  if (!s.ok()) return RpcFail("list allocations", s, c->address);
  if (output == "json") {
    PrintJsonArray(response.allocations());
    return 0;
  }
  fmt::print("{:<20} {:<9} {:<16} {:>7} {:>9} {:>7} {:>9} {:>9} {:>9}  {:<10} {}\n", "ALLOCATION",
             "STATE", "NODE", "DEVICES", "MEMORY", "CORE", "IN USE", "GPU TIME", "CORE USED",
             "TENANT", "REASON");
  for (const auto& a : response.allocations()) PrintAllocationRow(a);
  return 0;
}

// A live view: the pool's totals, every device and the live allocations, refreshed every
// `interval` seconds; `count` refreshes (0: until Ctrl-C). With -o json, one object per refresh.
int Top(const std::string& controller, const std::string& output, double interval, int count) {
  if (output != "table" && output != "json") return Fail("-o must be table or json");
  if (!(interval > 0)) return Fail("--interval must be positive");
  auto c = Client::Open(controller);
  if (!c.ok()) return Fail(c.status().message());
  for (int round = 0; count == 0 || round < count; ++round) {
    if (round > 0) {
      std::this_thread::sleep_for(std::chrono::duration<double>(interval));
      if (g_up_stop.load()) break;
    }
    v1::ListNodesResponse nodes;
    v1::ListAllocationsResponse allocs;
    grpc::Status s = c->pool->ListNodes(c->Context().get(), v1::ListNodesRequest(), &nodes);
    if (s.ok())
      s = c->pool->ListAllocations(c->Context().get(), v1::ListAllocationsRequest(), &allocs);
    if (!s.ok()) return RpcFail("top", s, c->address);
    if (output == "json") {
      std::cout << "{\"nodes\": ";
      PrintJsonArray(nodes.nodes());
      std::cout << ", \"allocations\": ";
      PrintJsonArray(allocs.allocations());
      std::cout << "}\n" << std::flush;
      continue;
    }
    int64_t devices = 0, milli = 0, memory = 0, memory_allocated = 0, memory_used = 0;
    int ready = 0;
    for (const auto& n : nodes.nodes()) {
      ready += n.ready() ? 1 : 0;
      for (const auto& d : n.devices()) {
        ++devices;
        milli += d.compute_allocated_milli();
        memory += d.memory_mib();
        memory_allocated += d.memory_allocated_mib();
        memory_used += d.memory_used_mib();
      }
    }
    double gpu_seconds = 0;
    for (const auto& a : allocs.allocations()) gpu_seconds += a.gpu_seconds_used();
    if (count != 1) std::cout << "\033[H\033[2J";  // clear the terminal between refreshes
    fmt::print(
        "xpool top — {} · nodes {}/{} ready · devices {} · compute allocated {:.1f} of {} · "
        "memory allocated {} of {}, in use {} · allocations {}, device time {:.1f}s\n\n",
        c->address, ready, nodes.nodes_size(), devices, static_cast<double>(milli) / 1000.0,
        devices, Mem(memory_allocated), Mem(memory), Mem(memory_used), allocs.allocations_size(),
        gpu_seconds);
    std::cout << std::flush;
    ListNodes(controller, "table", true);
    std::cout << "\n";
    ListAllocations(controller, "table", false);
    std::cout << std::flush;
  }
  return 0;
}

int Release(const std::string& controller, const std::string& id) {
  auto c = Client::Open(controller);
  if (!c.ok()) return Fail(c.status().message());
  v1::ReleaseRequest request;
  request.set_id(id);
  v1::Allocation a;
  auto ctx = c->Context();
  const grpc::Status s = c->pool->Release(ctx.get(), request, &a);
  if (!s.ok()) return RpcFail("release " + id, s, c->address);
  std::cout << "released " << a.id() << " on " << a.node() << "\n";
  return 0;
}

struct RunOptions {
  std::string controller;
  int gpus = 1;
  std::string gpu_memory;
  std::string gpu_core;
  std::string compute_policy;
  std::string priority;
  std::string compute_period;
  std::string models;  // comma-separated (a vector option would swallow the "--" after it)
  std::string type;
  std::string tenant;
  std::vector<std::string> command;
};

int Run(const RunOptions& o) {
  if (o.command.empty()) return Fail("give the command to run after --");
  if (o.gpus < 1) return Fail("--gpus must be at least 1");
  v1::AllocateRequest request;
  request.set_devices(o.gpus);
  if (!o.gpu_memory.empty()) {
    auto m = ParseMemory(o.gpu_memory);
    if (!m.ok()) return Fail("--gpu-memory: " + m.status().message());
    if (m->value() <= 0) return Fail("--gpu-memory must be more than 0");
    request.set_memory_mib(m->value());
  }
  if (!o.gpu_core.empty()) {
    auto core = ParseComputePercent(o.gpu_core);
    if (!core.ok()) return Fail("--gpu-core: " + core.status().message());
    request.set_compute_milli(static_cast<int32_t>(core->value()));
  }
  auto period_ms = CheckComputeFlags(o.compute_policy, o.priority, o.compute_period);
  if (!period_ms.ok()) return Fail(period_ms.status().message());
  request.set_compute_policy(o.compute_policy);
  request.set_priority(o.priority);
  request.set_compute_period_ms(*period_ms);
  for (size_t pos = 0; pos < o.models.size();) {
    const size_t comma = std::min(o.models.find(',', pos), o.models.size());
    if (comma > pos) request.add_models(o.models.substr(pos, comma - pos));
    pos = comma + 1;
  }
  request.set_type(o.type);
  request.set_tenant(o.tenant);
  const char* user = std::getenv("USER");
  request.set_owner(user != nullptr ? user : std::to_string(getuid()));

  auto c = Client::Open(o.controller);
  if (!c.ok()) return Fail(c.status().message());
  v1::Allocation a;
  {
    auto ctx = c->Context();
    const grpc::Status s = c->pool->Allocate(ctx.get(), request, &a);
    if (!s.ok()) return RpcFail("cannot allocate", s, c->address);
  }
  std::cerr << "xpool: " << a.id() << " on " << a.node() << " (" << a.slices_size()
            << " device(s))\n";
  auto release = [&](const std::string& reason) {
    v1::ReleaseRequest r;
    r.set_id(a.id());
    r.set_reason(reason);
    v1::Allocation ignored;
    auto ctx = c->Context();
    (void)c->pool->Release(ctx.get(), r, &ignored);
  };
  // Streams the task's output. A stream that breaks before the exit status (the agent restarted,
  // the network blinked) is attached again from where it broke, at the agent's current address,
  // for up to 60 s; the task runs on meanwhile.
  int exit_code = -1;
  int64_t stdout_bytes = 0, stderr_bytes = 0;
  bool attach = false;
  grpc::Status s;
  auto broken_since = std::chrono::steady_clock::now();
  std::string agent_address = a.agent_address();
  while (true) {
    // The agents are reached as the controller is (Client::Open has checked the credentials).
    auto tasks = v1::Tasks::NewStub(grpc::CreateChannel(agent_address, *PoolCredentials()));
    v1::RunRequest run;
    run.set_allocation_id(a.id());
    for (const auto& arg : o.command) run.add_argv(arg);
    run.set_attach(attach);
    run.set_stdout_offset(stdout_bytes);
    run.set_stderr_offset(stderr_bytes);
    grpc::ClientContext stream_ctx;
    Authorize(stream_ctx);
    g_run_stream = &stream_ctx;
    if (g_interrupted.load()) stream_ctx.TryCancel();
    auto reader = tasks->Run(&stream_ctx, run);
    v1::RunOutput out;
    while (reader->Read(&out)) {
      stdout_bytes += static_cast<int64_t>(out.stdout().size());
      stderr_bytes += static_cast<int64_t>(out.stderr().size());
      if (!out.stdout().empty()) std::cout << out.stdout() << std::flush;
      if (!out.stderr().empty()) std::cerr << out.stderr() << std::flush;
      if (out.exited()) exit_code = out.exit_code();
      broken_since = std::chrono::steady_clock::now();
    }
    s = reader->Finish();
    g_run_stream = nullptr;
    if (exit_code >= 0 || g_interrupted.load()) break;
    const bool transient = s.error_code() == grpc::StatusCode::UNAVAILABLE ||
                           s.error_code() == grpc::StatusCode::CANCELLED;
    const bool never_started =
        attach && s.error_code() == grpc::StatusCode::NOT_FOUND && stdout_bytes + stderr_bytes == 0;
    if ((!transient && !never_started) ||
        std::chrono::steady_clock::now() - broken_since > std::chrono::seconds(60)) {
      break;
    }
    // Whether a broken first stream started the task only the agent knows: attach, and start it
    // only if the agent has no task for the allocation.
    attach = !never_started;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    v1::Allocation current;
    v1::GetAllocationRequest get;
    get.set_id(a.id());
    auto ctx = c->Context();
    if (c->pool->GetAllocation(ctx.get(), get, &current).ok()) {
      if (current.state() == "released") {
        return Fail(a.id() + " was released (" + current.reason() + ") while its output was away",
                    1);
      }
      agent_address = current.agent_address();
    }
  }
  if (g_interrupted.load()) {
    release("interrupted by its user");
    return Fail("interrupted; " + a.id() + " released", 130);
  }
  release(exit_code >= 0 ? "task ended" : "lost the task's output stream");
  if (!s.ok() && exit_code < 0) {
    return Fail("run on " + a.node() + " (agent " + agent_address + "): " + s.error_message() +
                    "; " + a.id() + " released",
                s.error_code() == grpc::StatusCode::NOT_FOUND ? 2 : 1);
  }
  if (exit_code < 0) return Fail("the agent on " + a.node() + " ended without an exit code", 1);
  if (exit_code > 128 && exit_code < 128 + 65) {
    // Killed: say by what, and whether its slice was taken away first.
    const int signal = exit_code - 128;
    const char* name = sigabbrev_np(signal);
    std::string why = "the task was killed by signal " + std::to_string(signal) +
                      (name != nullptr ? " (SIG" + std::string(name) + ")" : std::string());
    v1::Allocation current;
    v1::GetAllocationRequest get;
    get.set_id(a.id());
    auto ctx = c->Context();
    if (c->pool->GetAllocation(ctx.get(), get, &current).ok() && current.state() == "released" &&
        current.reason() != "task ended") {
      why += " after " + a.id() + " was released: " + current.reason();
    }
    std::cerr << "xpool: " << why << "\n";
  }
  return exit_code;
}

struct UpOptions {
  std::string inventory;
  std::string data;
  std::string listen = std::string(kDefaultController);
  std::string policy = "xpool";
  std::string run_as;
  std::string metrics;
  int64_t lease_ms = 10'000;
  bool demo = false;
};

// Waits up to 10 s for `node` to register with the controller at `address`.
Status WaitForNode(const std::string& address, const std::string& node) {
  auto probe = Client::Open(address);
  if (!probe.ok()) return probe.status();
  for (int i = 0; i < 200; ++i) {
    v1::ListNodesResponse nodes;
    auto ctx = probe->Context();
    if (probe->pool->ListNodes(ctx.get(), v1::ListNodesRequest(), &nodes).ok()) {
      for (const auto& n : nodes.nodes()) {
        if (n.name() == node) return Status::Ok();
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Status::FailedPrecondition("the agent of node " + node +
                                    " did not register with the controller on " + address +
                                    " within 10 s");
}

int Up(const UpOptions& o) {
  // This process's controller and agent serve loopback in plaintext; its own calls to them must
  // not try TLS because the user's environment names a cluster's CA.
  unsetenv("XPOOL_TLS_CA");
  std::array<char, 256> host{"local"};
  gethostname(host.data(), host.size() - 1);
  // An inventory when given; else the GPUs NVML finds; else the built-in simulated node.
  Result<v1::Node> node = Status::NotFound("");
  std::string origin, runtime;
  if (!o.inventory.empty()) {
    node = agent::LoadInventory(o.inventory, host.data());
  } else if (node = agent::DiscoverNvidiaNode(host.data()); node.ok()) {
    origin = " found by NVML";
    runtime = agent::FindRuntimeLibrary("");
  } else {
    node = agent::ParseInventory(agent::BuiltInInventory(), "built-in inventory", host.data());
    origin = " from the built-in simulated inventory";
  }
  if (!node.ok()) return Fail(node.status().message());
  // A demo leaves nothing behind: any free port, a data directory of its own.
  std::string data = o.data.empty() ? StateDir() + "/data" : o.data;
  std::string demo_dir;
  if (o.demo && o.data.empty()) {
    std::string tmpl = "/tmp/xpool-demo-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr)
      return Fail("cannot make a directory for the demo's store");
    demo_dir = data = tmpl;
  }
  const std::string listen = o.demo && o.listen == kDefaultController ? "127.0.0.1:0" : o.listen;
  controller::ControllerOptions copts;
  copts.policy = o.policy;
  copts.lease_ms = o.lease_ms;
  controller::ServeOptions serve;
  serve.listen = listen;
  // /metrics on any free loopback port unless told: printed below.
  serve.http_listen = o.metrics.empty() ? "127.0.0.1:0" : o.metrics;
  auto c = controller::Controller::Start(data, copts, serve);
  if (!c.ok()) return Fail(c.status().message());
  agent::AgentOptions aopts;
  aopts.controller = (*c)->address();
  aopts.tasks.run_as = o.run_as;
  aopts.tasks.runtime_path = runtime;                   // real GPUs: quotas enforced in every task
  if (o.demo) aopts.tasks.state_dir = data + "/tasks";  // goes with the demo's store
  if (aopts.tasks.run_as.empty() && geteuid() == 0) {
    aopts.tasks.run_as = "nobody";
    std::cerr << "xpool: running as root; tasks run as 'nobody' (--run-as to choose)\n";
  }
  auto a = agent::Agent::Start(*node, aopts);
  if (!a.ok()) return Fail(a.status().message());
  if (!o.demo) {
    std::filesystem::create_directories(StateDir());
    std::ofstream(AddressFile()) << (*c)->address() << "\n";
  }
  // A pool whose agent never registers has nowhere to run anything: say so and stop.
  if (Status s = WaitForNode((*c)->address(), node->name()); !s.ok()) {
    (*a)->Shutdown();
    (*c)->Shutdown();
    if (!o.demo) std::filesystem::remove(AddressFile());
    return Fail(s.message());
  }
  std::cout << "xpool: controller on " << (*c)->address() << " (data in " << data << "), node "
            << node->name() << " with " << node->devices_size() << " device(s)" << origin << "\n";
  std::cout << "xpool: agent of " << node->name() << " runs tasks on " << (*a)->address() << "\n";
  if (!(*c)->metrics_address().empty()) {
    std::cout << "xpool: metrics and the scheduler extender on http://" << (*c)->metrics_address()
              << " (/metrics, /scheduler/*)\n";
  }
  std::cout << std::flush;
  int code = 0;
  if (o.demo) {
    // One sample run on a quarter of a device.
    RunOptions run;
    run.controller = (*c)->address();
    run.gpu_core = "25";
    run.gpu_memory = "8Gi";
    run.tenant = "demo";
    run.command = {"sh", "-c",
                   "echo \"sample task on $XPOOL_NODE: CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES "
                   "XPOOL_GPU_MEMORY=${XPOOL_GPU_MEMORY}MiB XPOOL_GPU_CORE=$XPOOL_GPU_CORE%\""};
    std::cout << "$ xpool run --gpu-core 25 --gpu-memory 8Gi --tenant demo -- sh -c '…'\n";
    code = Run(run);
    std::cout << "$ xpool devices\n";
    ListNodes((*c)->address(), "table", true);
    std::cout << "$ xpool allocs --all\n";
    ListAllocations((*c)->address(), "table", true);
  } else {
    while (!g_up_stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  (*a)->Shutdown();
  (*c)->Shutdown();
  if (o.demo) {
    a->reset();
    c->reset();
    if (!demo_dir.empty()) std::filesystem::remove_all(demo_dir);
  } else {
    std::filesystem::remove(AddressFile());
  }
  return code;
}

}  // namespace

void AddPoolCommands(CLI::App& app, int* exit_code) {
  auto up = std::make_shared<UpOptions>();
  CLI::App* cmd = app.add_subcommand(
      "up", "start a controller and a local agent in this process (embedded store)");
  cmd->add_option("--inventory", up->inventory,
                  "simulated inventory (YAML); default: a built-in one with 4 H100s");
  cmd->add_option("--data", up->data, "data directory (default ~/.xpool/data)");
  cmd->add_option("--listen", up->listen, "API address (loopback)")->capture_default_str();
  cmd->add_option("--policy", up->policy, "scheduling policy")->capture_default_str();
  cmd->add_option("--run-as", up->run_as, "user tasks run as (default: yours; nobody for root)");
  cmd->add_option("--lease-ms", up->lease_ms, "node lease")->capture_default_str();
  cmd->add_option("--metrics", up->metrics,
                  "address of /metrics and the scheduler extender over HTTP (default: any free "
                  "loopback port, printed)");
  cmd->add_flag("--demo", up->demo,
                "run one sample task, show the pool, and stop (any free port, a throw-away store)");
  cmd->callback([up, exit_code] {
    HandleInterrupts();
    *exit_code = Up(*up);
  });

  for (const auto& [name, help, devices] :
       {std::tuple{"nodes", "list the pool's nodes", false},
        std::tuple{"devices", "list the pool's devices and what is allocated on them", true}}) {
    auto controller = std::make_shared<std::string>();
    auto output = std::make_shared<std::string>("table");
    CLI::App* sub = app.add_subcommand(name, help);
    sub->add_option("--controller", *controller, "controller address (or XPOOL_CONTROLLER)");
    sub->add_option("-o,--output", *output, "table or json")->capture_default_str();
    const bool d = devices;
    sub->callback(
        [controller, output, exit_code, d] { *exit_code = ListNodes(*controller, *output, d); });
  }

  auto controller = std::make_shared<std::string>();
  auto output = std::make_shared<std::string>("table");
  auto all = std::make_shared<bool>(false);
  CLI::App* allocs = app.add_subcommand("allocs", "list allocations");
  allocs->add_option("--controller", *controller, "controller address (or XPOOL_CONTROLLER)");
  allocs->add_option("-o,--output", *output, "table or json")->capture_default_str();
  allocs->add_flag("--all", *all, "include released allocations");
  auto watch = std::make_shared<bool>(false);
  allocs->add_flag("-w,--watch", *watch, "then print every change until Ctrl-C");
  allocs->callback([controller, output, all, watch, exit_code] {
    if (*watch) HandleInterrupts();
    *exit_code = ListAllocations(*controller, *output, *all, *watch);
  });

  struct TopOptions {
    std::string controller, output = "table";
    double interval = 1.0;
    int count = 0;
  };
  auto top = std::make_shared<TopOptions>();
  CLI::App* t = app.add_subcommand("top", "a live view of the pool (Ctrl-C to stop)");
  t->add_option("--controller", top->controller, "controller address (or XPOOL_CONTROLLER)");
  t->add_option("-o,--output", top->output, "table or json (one object per refresh)")
      ->capture_default_str();
  t->add_option("--interval", top->interval, "seconds between refreshes")->capture_default_str();
  t->add_option("--count", top->count, "refreshes, then stop (0: until Ctrl-C)")
      ->capture_default_str();
  t->callback([top, exit_code] {
    HandleInterrupts();
    *exit_code = Top(top->controller, top->output, top->interval, top->count);
  });

  auto release_controller = std::make_shared<std::string>();
  auto release_id = std::make_shared<std::string>();
  CLI::App* release = app.add_subcommand("release", "release an allocation (its task is killed)");
  release->add_option("--controller", *release_controller, "controller address");
  release->add_option("id", *release_id, "allocation id")->required();
  release->callback([release_controller, release_id, exit_code] {
    *exit_code = Release(*release_controller, *release_id);
  });

  auto run = std::make_shared<RunOptions>();
  CLI::App* r = app.add_subcommand(
      "run", "schedule a slice of the pool, run a command on it, stream its output, release it");
  r->add_option("--controller", run->controller, "controller address (or XPOOL_CONTROLLER)");
  r->add_option("--gpus", run->gpus, "devices")->capture_default_str();
  r->add_option("--gpu-memory", run->gpu_memory, "device memory per device (e.g. 8Gi)");
  r->add_option("--gpu-core", run->gpu_core, "compute share of one device, 1..100 (%)");
  r->add_option("--compute-policy", run->compute_policy,
                "how the slice shares its device: fixed (default), equal, weighted, best-effort");
  r->add_option("--priority", run->priority, "normal (default) or high");
  r->add_option(
      "--compute-period", run->compute_period,
      "under fixed, the period in ms over which the share is held, 10-10000 (default 20)");
  r->add_option("--model", run->models, "allowed device models, comma-separated");
  r->add_option("--type", run->type, "device type: gpu, npu, fpga, cpu");
  r->add_option("--tenant", run->tenant, "tenant charged for it");
  r->add_option("command", run->command, "command and its arguments (after --)")->required();
  r->callback([run, exit_code] {
    HandleInterrupts();
    *exit_code = Run(*run);
  });
}

}  // namespace xpool::cli
