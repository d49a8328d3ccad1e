// xpool-agent: serves one node's devices to the pool (see docs/standalone.md).
#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <iostream>

#include "agent/agent.h"
#include "agent/device_plugin.h"
#include "agent/health.h"
#include "agent/inventory.h"
#include "agent/nvml_discovery.h"
#include "agent/task_runner.h"
#include "core/address.h"
#include "core/install_paths.h"
#include "core/signals.h"
#include "core/token_file.h"

namespace {
std::atomic<xpool::agent::Agent*> g_agent{nullptr};
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "xpool-agent: registers this node's devices with the xpool controller and runs "
      "the tasks scheduled onto them"};
  app.set_version_flag("--version", "xpool-agent " XPOOL_VERSION);
  xpool::agent::AgentOptions options;
  std::string inventory, token_file;
  app.add_option("--controller", options.controller, "controller address host:port")
      ->envname("XPOOL_CONTROLLER");
  bool discover_only = false;
  xpool::agent::DevicePluginOptions plugin;
  bool device_plugin = false;
  app.add_option("--device-plugin-dir", plugin.dir,
                 "serve the Kubernetes device plugin in this directory (the kubelet's)")
      ->each([&](const std::string&) { device_plugin = true; });
  app.add_option("--device-plugin-split", plugin.split, "virtual devices per GPU")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app.add_option("--pod-resources-socket", plugin.pod_resources_socket,
                 "the kubelet's pod-resources API, which says which pod and container a "
                 "container's devices went to")
      ->capture_default_str();
  app.add_option("--cdi-dir", plugin.cdi_dir,
                 "offer GPUs to containers as CDI devices: write their spec in this directory "
                 "(e.g. /var/run/cdi) and name them in Allocate instead of device nodes; the "
                 "container runtime must have CDI enabled");
  app.add_option("--device-plugin-resource", plugin.resource, "the resource registered")
      ->capture_default_str();
  int health_interval_ms = 5000;
  app.add_option("--health-interval-ms", health_interval_ms,
                 "how often NVML is asked whether each GPU still answers (0: never)")
      ->capture_default_str()
      ->check(CLI::Range(0, 3'600'000));
  std::string node_name;
  app.add_option("--node-name", node_name,
                 "this node's name in the pool (under Kubernetes: the node's name there); "
                 "default: the host name")
      ->envname("XPOOL_NODE_NAME");
  app.add_option("--inventory", inventory,
                 "simulated inventory (YAML); default: the GPUs NVML finds on this machine");
  app.add_flag("--discover", discover_only,
               "print the node this agent would register (JSON), exit");
  app.add_option("--listen", options.listen, "address of the Tasks API (loopback)")
      ->capture_default_str();
  app.add_option("--token-file", token_file,
                 "the cluster's join token (when the controller checks credentials)");
  app.add_option("--tls-cert", options.tls.cert,
                 "serve the Tasks API over TLS with this certificate (PEM, with its chain)");
  app.add_option("--tls-key", options.tls.key, "the certificate's private key (PEM)");
  app.add_option("--tls-ca", options.controller_ca,
                 "reach the controller over TLS, trusting the CA in this PEM file");
  app.add_option("--run-as", options.tasks.run_as, "user tasks run as (required as root)");
  app.add_option("--runtime", options.tasks.runtime_path,
                 "libxpool-cuda.so preloaded into tasks (default with NVML: the one beside this "
                 "binary)");
  app.add_option("--state-dir", options.tasks.state_dir,
                 "tasks' output and status, kept across restarts (default ~/.xpool/agent-NODE)");
  app.add_option("--slice-dir", options.tasks.slice_dir, "where slices' segments live")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return e.get_exit_code() == 0 ? app.exit(e) : (app.exit(e), 2);
  }
  plugin.slice_dir = options.tasks.slice_dir;  // pods' slices live where tasks' do
  xpool::OnTerminationSignal([] {
    if (auto* running = g_agent.load()) running->Shutdown();
  });
  if (!token_file.empty()) {
    auto token = xpool::ReadTokenFile(token_file);
    if (!token.ok()) {
      std::fprintf(stderr, "xpool-agent: %s\n", token.status().message().c_str());
      return 2;
    }
    options.token = *token;
  }
  char host[256] = "node";
  gethostname(host, sizeof(host) - 1);
  if (!node_name.empty()) std::snprintf(host, sizeof(host), "%s", node_name.c_str());
  auto node = inventory.empty() ? xpool::agent::DiscoverNvidiaNode(host)
                                : xpool::agent::LoadInventory(inventory, host);
  if (!node.ok() && inventory.empty()) {
    std::fprintf(stderr, "xpool-agent: %s; describe this node with --inventory\n",
                 node.status().message().c_str());
    return 2;
  }
  if (!node.ok()) {
    std::fprintf(stderr, "xpool-agent: %s\n", node.status().message().c_str());
    return 2;
  }
  // Tasks on GPUs NVML found get the pooling runtime (their quotas are enforced) unless told
  // otherwise; simulated devices have nothing to enforce on.
  if (inventory.empty() && options.tasks.runtime_path.empty()) {
    options.tasks.runtime_path = xpool::FindRuntimeLibrary("");
  }
  if (discover_only) {
    std::string json;
    google::protobuf::util::JsonPrintOptions print;
    print.add_whitespace = true;
    print.preserve_proto_field_names = true;
    print.always_print_primitive_fields = true;
    (void)google::protobuf::util::MessageToJsonString(*node, &json, print);
    std::printf("%s", json.c_str());
    return 0;
  }
  auto agent = xpool::agent::Agent::Start(*node, options);
  if (!agent.ok()) {
    std::fprintf(stderr, "xpool-agent: %s\n", agent.status().message().c_str());
    return 2;
  }
  g_agent = agent->get();
  if (options.tls.empty() && !xpool::IsLoopbackHost(xpool::HostOf(options.listen))) {
    std::fprintf(stderr,
                 "xpool-agent: tokens travel in plaintext on %s: give --tls-cert and --tls-key, "
                 "or keep the network private\n",
                 (*agent)->address().c_str());
  }
  // After the agent, whose connection to the controller its claims use; stopped before it.
  std::unique_ptr<xpool::agent::DevicePlugin> kubelet_plugin;
  if (device_plugin) {
    xpool::v1::Node gpus = *node;
    gpus.clear_devices();
    for (const auto& d : node->devices()) {
      if (d.type() == "gpu") *gpus.add_devices() = d;
    }
    plugin.runtime_path = options.tasks.runtime_path.empty() ? xpool::FindRuntimeLibrary("")
                                                             : options.tasks.runtime_path;
    plugin.claim = [raw = agent->get()](xpool::v1::ClaimPodSlicesRequest request) {
      return raw->ClaimPodSlices(std::move(request));
    };
    auto started = xpool::agent::DevicePlugin::Start(gpus, plugin);
    if (!started.ok()) {
      g_agent = nullptr;
      std::fprintf(stderr, "xpool-agent: %s\n", started.status().message().c_str());
      return 2;
    }
    kubelet_plugin = std::move(*started);
  }
  // GPUs NVML found are watched: one it no longer answers for is reported unhealthy to the
  // controller (heartbeats), which places nothing new on it, and to the kubelet (ListAndWatch),
  // which then gives it to no new container.
  std::unique_ptr<xpool::agent::HealthWatcher> health;
  if (inventory.empty() && health_interval_ms > 0) {
    if (auto probe = xpool::agent::NvmlHealthProbe()) {
      std::vector<std::string> uuids;
      for (const auto& d : node->devices()) {
        if (d.type() == "gpu") uuids.push_back(d.uuid());
      }
      health = std::make_unique<xpool::agent::HealthWatcher>(
          uuids, probe,
          [plugin = kubelet_plugin.get(), pool_agent = agent->get()](const std::string& uuid,
                                                                     bool healthy) {
            std::fprintf(stderr, "xpool-agent: GPU %s is %s\n", uuid.c_str(),
                         healthy ? "healthy again" : "unhealthy (NVML does not answer for it)");
            pool_agent->SetDeviceHealth(uuid, healthy);
            if (plugin != nullptr) plugin->SetHealth(uuid, healthy);
          },
          std::chrono::milliseconds(health_interval_ms));
    }
  }
  std::printf("xpool-agent: node %s, tasks on %s\n", node->name().c_str(),
              (*agent)->address().c_str());
  std::fflush(stdout);
  (*agent)->Wait();
  return 0;
}
