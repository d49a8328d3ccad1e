#include "cli/up_command.h"

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "agent/agent.h"
#include "agent/inventory.h"
#include "agent/nvml_discovery.h"
#include "cli/pool_listing.h"
#include "cli/run_command.h"
#include "controller/service.h"
#include "core/install_paths.h"

namespace xpool::cli {

// Waits up to 10 s for `node` to register with the controller at `address`.
namespace {

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

}  // namespace

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
    runtime = FindRuntimeLibrary("");
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

}  // namespace xpool::cli
