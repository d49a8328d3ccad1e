// kubelet_harness DIR: the kubelet's half of the device plugin protocol, for tests. It serves
// Registration on DIR/kubelet.sock and the pod-resources API (List) on DIR/pod-resources.sock;
// once a plugin registers it calls GetDevicePluginOptions, ListAndWatch (the first list),
// GetPreferredAllocation (3 of all devices), Allocate (those 3, for container c of pod default/p)
// and PreStartContainer, printing one line per answer and the settings file the plugin wrote;
// then it restarts as the kubelet does (its socket deleted and made anew) and waits for the plugin
// to register again. Exit status 1 on any failure.
//
// kubelet_harness DIR --commands FILE: admits pods as the test says instead. After registration it
// reads FILE as lines are appended to it: `skip N` counts the first N devices as taken by other
// pods; `prefer N` calls GetPreferredAllocation for N of the devices not used yet and prints the
// ids; `admit NS/POD CONTAINER N [init]` calls Allocate for N device ids not used before and
// records them for the pod-resources API as the kubelet does (an init container is not listed);
// `reuse NS/POD CONTAINER FROM` calls Allocate with the ids of container FROM of the same pod (the
// kubelet hands an init container's devices on); `start NS/POD CONTAINER` calls PreStartContainer
// with the container's ids and prints the settings file the plugin wrote; `quit` ends.
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "k8s/deviceplugin/v1beta1/api.grpc.pb.h"
#include "k8s/podresources/v1/api.grpc.pb.h"

namespace {

// The pod-resources API as the kubelet serves it: app containers with their devices, ordinary
// init containers left out.
class PodResources final : public ::v1::PodResourcesLister::Service {
 public:
  void Add(const std::string& pod, const std::string& container, const std::string& resource,
           const std::vector<std::string>& ids, bool listed) {
    std::lock_guard<std::mutex> lock(mu_);
    containers_[pod][container] = Entry{resource, ids, listed};
  }
  std::vector<std::string> IdsOf(const std::string& pod, const std::string& container) {
    std::lock_guard<std::mutex> lock(mu_);
    return containers_[pod][container].ids;
  }
  grpc::Status List(grpc::ServerContext*, const ::v1::ListPodResourcesRequest*,
                    ::v1::ListPodResourcesResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [pod, containers] : containers_) {
      auto* p = response->add_pod_resources();
      p->set_namespace_(pod.substr(0, pod.find('/')));
      p->set_name(pod.substr(pod.find('/') + 1));
      for (const auto& [name, entry] : containers) {
        if (!entry.listed) continue;
        auto* c = p->add_containers();
        c->set_name(name);
        auto* d = c->add_devices();
        d->set_resource_name(entry.resource);
        for (const auto& id : entry.ids) d->add_device_ids(id);
      }
    }
    return grpc::Status::OK;
  }

 private:
  struct Entry {
    std::string resource;
    std::vector<std::string> ids;
    bool listed = true;
  };
  std::mutex mu_;
  std::map<std::string, std::map<std::string, Entry>> containers_;
};

class Registration final : public v1beta1::Registration::Service {
 public:
  grpc::Status Register(grpc::ServerContext*, const v1beta1::RegisterRequest* request,
                        v1beta1::Empty*) override {
    std::lock_guard<std::mutex> lock(mu_);
    last_ = *request;
    ++count_;
    done_.notify_all();
    return grpc::Status::OK;
  }
  bool WaitFor(int count, v1beta1::RegisterRequest* out) {
    std::unique_lock<std::mutex> lock(mu_);
    const bool ok = done_.wait_for(lock, std::chrono::seconds(15), [&] { return count_ >= count; });
    *out = last_;
    return ok;
  }

 private:
  std::mutex mu_;
  std::condition_variable done_;
  v1beta1::RegisterRequest last_;
  int count_ = 0;
};

std::unique_ptr<grpc::Server> Serve(const std::string& path, grpc::Service* service) {
  unlink(path.c_str());
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + path, grpc::InsecureServerCredentials());
  builder.RegisterService(service);
  return builder.BuildAndStart();
}

int Fail(const char* what) {
  std::printf("FAILED %s\n", what);
  return 1;
}

// One line about a container's answer: its environment and mounts.
void PrintAllocated(const v1beta1::ContainerAllocateResponse& r) {
  const auto env = [&](const char* k) {
    auto it = r.envs().find(k);
    return it == r.envs().end() ? std::string("-") : it->second;
  };
  std::printf("allocated CUDA_VISIBLE_DEVICES=%s", env("CUDA_VISIBLE_DEVICES").c_str());
  for (const char* k : {"XPOOL_GPU_MEMORY", "XPOOL_GPU_CORE", "XPOOL_SLICE", "XPOOL_SLICE_SETTINGS",
                        "XPOOL_COMPUTE_DIR"}) {
    if (r.envs().count(k) != 0) std::printf(" %s=%s", k, env(k).c_str());
  }
  std::printf(" mounts");
  for (const auto& m : r.mounts()) {
    // host:container where they differ
    if (m.host_path() == m.container_path()) {
      std::printf(" %s", m.container_path().c_str());
    } else {
      std::printf(" %s:%s%s", m.host_path().c_str(), m.container_path().c_str(),
                  m.read_only() ? ":ro" : "");
    }
  }
  std::printf(" devices %d", r.devices_size());
  for (const auto& cdi : r.cdi_devices()) std::printf(" cdi %s", cdi.name().c_str());
  std::printf("\n");
  std::fflush(stdout);
}

// The host file mounted at the container's settings path, or "".
std::string SettingsHostPath(const v1beta1::ContainerAllocateResponse& r) {
  for (const auto& m : r.mounts()) {
    if (m.container_path() == "/var/run/xpool/settings") return m.host_path();
  }
  return "";
}

// PreStartContainer for `ids`, then one line: the settings file's lines, comments left out.
void Start(v1beta1::DevicePlugin::Stub& plugin, const std::string& who,
           const std::vector<std::string>& ids, const std::string& settings_path) {
  grpc::ClientContext ctx;
  v1beta1::PreStartContainerRequest request;
  for (const auto& id : ids) request.add_devices_ids(id);
  v1beta1::PreStartContainerResponse response;
  const grpc::Status s = plugin.PreStartContainer(&ctx, request, &response);
  if (!s.ok()) {
    std::printf("start %s refused: %s\n", who.c_str(), s.error_message().c_str());
    std::fflush(stdout);
    return;
  }
  std::ifstream in(settings_path);
  std::string line, settings;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] != '#') settings += " " + line;
  }
  std::printf("started %s:%s\n", who.c_str(), settings.c_str());
  std::fflush(stdout);
}

// --commands: Allocate calls as the test appends them to `path`.
int RunCommands(v1beta1::DevicePlugin::Stub& plugin, const std::string& path, PodResources& pods,
                const std::string& resource) {
  std::map<std::string, std::string> settings_of;  // "ns/pod/container" -> host settings file
  v1beta1::ListAndWatchResponse list;
  {
    grpc::ClientContext ctx;
    auto reader = plugin.ListAndWatch(&ctx, v1beta1::Empty());
    if (!reader->Read(&list)) return Fail("list");
    ctx.TryCancel();
    (void)reader->Finish();
  }
  std::set<std::string> used;
  size_t done = 0;  // commands run
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
       std::chrono::steady_clock::now() < deadline;
       std::this_thread::sleep_for(std::chrono::milliseconds(50))) {
    std::ifstream in(path);
    std::string line;
    for (size_t i = 0; std::getline(in, line); ++i) {
      if (i < done) continue;
      ++done;
      if (line == "quit") return 0;
      int n = 0;
      if (std::sscanf(line.c_str(), "skip %d", &n) == 1) {  // the first N devices are taken
        for (int k = 0; k < n && k < list.devices_size(); ++k) used.insert(list.devices(k).id());
        continue;
      }
      if (std::sscanf(line.c_str(), "prefer %d", &n) == 1) {
        grpc::ClientContext ctx;
        v1beta1::PreferredAllocationRequest request;
        auto* c = request.add_container_requests();
        for (const auto& d : list.devices()) {
          if (used.count(d.id()) == 0) c->add_available_deviceids(d.id());
        }
        c->set_allocation_size(n);
        v1beta1::PreferredAllocationResponse preferred;
        if (!plugin.GetPreferredAllocation(&ctx, request, &preferred).ok()) return Fail("prefer");
        std::string ids;
        for (const auto& id : preferred.container_responses(0).deviceids()) ids += id + " ";
        std::printf("preferred %s\n", ids.c_str());
        std::fflush(stdout);
        continue;
      }
      if (std::sscanf(line.c_str(), "watch-health %d", &n) == 1) {
        // ListAndWatch until a list has N healthy devices (10 s at most).
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        auto reader = plugin.ListAndWatch(&ctx, v1beta1::Empty());
        v1beta1::ListAndWatchResponse update;
        int healthy = -1;
        while (healthy != n && reader->Read(&update)) {
          healthy = 0;
          for (const auto& d : update.devices()) healthy += d.health() == "Healthy" ? 1 : 0;
        }
        std::printf("health %d of %d\n", healthy, update.devices_size());
        std::fflush(stdout);
        ctx.TryCancel();
        (void)reader->Finish();
        continue;
      }
      std::istringstream words(line);
      std::string verb, pod, container, extra;
      words >> verb >> pod >> container >> extra;
      const std::string who = pod + "/" + container;
      if (verb == "start") {
        Start(plugin, who, pods.IdsOf(pod, container), settings_of[who]);
        continue;
      }
      std::vector<std::string> ids;
      bool listed = true;
      if (verb == "admit") {
        std::string init;
        words >> init;
        listed = init != "init";
        n = std::atoi(extra.c_str());
        for (const auto& d : list.devices()) {
          if (static_cast<int>(ids.size()) < n && used.insert(d.id()).second) ids.push_back(d.id());
        }
      } else if (verb == "reuse") {
        ids = pods.IdsOf(pod, extra);
      } else {
        return Fail(line.c_str());
      }
      grpc::ClientContext ctx;
      v1beta1::AllocateRequest request;
      auto* c = request.add_container_requests();
      for (const auto& id : ids) c->add_devices_ids(id);
      v1beta1::AllocateResponse response;
      const grpc::Status s = plugin.Allocate(&ctx, request, &response);
      if (!s.ok()) {
        std::printf("allocate refused: %s\n", s.error_message().c_str());
        std::fflush(stdout);
        continue;
      }
      // The kubelet records the devices once Allocate has answered.
      pods.Add(pod, container, resource, ids, listed);
      settings_of[who] = SettingsHostPath(response.container_responses(0));
      std::printf("%s ", who.c_str());
      PrintAllocated(response.container_responses(0));
    }
  }
  return Fail("no quit command within 60 s");
}

}  // namespace

int main(int argc, char** argv) {
  const bool commands = argc == 4 && std::string(argv[2]) == "--commands";
  if (argc != 2 && !commands) return Fail("usage: kubelet_harness DIR [--commands FILE]");
  const std::string dir = argv[1];
  Registration registration;
  auto server = Serve(dir + "/kubelet.sock", &registration);
  if (server == nullptr) return Fail("serve kubelet.sock");
  PodResources pods;
  auto pod_resources = Serve(dir + "/pod-resources.sock", &pods);
  if (pod_resources == nullptr) return Fail("serve pod-resources.sock");
  std::printf("kubelet ready\n");
  std::fflush(stdout);
  v1beta1::RegisterRequest reg;
  if (!registration.WaitFor(1, &reg)) return Fail("no registration");
  std::printf("registered %s endpoint %s version %s preferred %d prestart %d\n",
              reg.resource_name().c_str(), reg.endpoint().c_str(), reg.version().c_str(),
              reg.options().get_preferred_allocation_available() ? 1 : 0,
              reg.options().pre_start_required() ? 1 : 0);

  auto plugin = v1beta1::DevicePlugin::NewStub(grpc::CreateChannel(
      "unix:" + dir + "/" + reg.endpoint(), grpc::InsecureChannelCredentials()));
  if (commands) return RunCommands(*plugin, argv[3], pods, reg.resource_name());
  {
    grpc::ClientContext ctx;
    v1beta1::DevicePluginOptions options;
    if (!plugin->GetDevicePluginOptions(&ctx, v1beta1::Empty(), &options).ok())
      return Fail("options");
    std::printf("options preferred %d prestart %d\n",
                options.get_preferred_allocation_available() ? 1 : 0,
                options.pre_start_required() ? 1 : 0);
  }
  v1beta1::ListAndWatchResponse list;
  {
    grpc::ClientContext ctx;
    auto reader = plugin->ListAndWatch(&ctx, v1beta1::Empty());
    if (!reader->Read(&list)) return Fail("list");
    ctx.TryCancel();
    (void)reader->Finish();
    int healthy = 0;
    for (const auto& d : list.devices()) healthy += d.health() == "Healthy" ? 1 : 0;
    std::printf("devices %d healthy %d first %s numa %s\n", list.devices_size(), healthy,
                list.devices(0).id().c_str(),
                list.devices(0).topology().nodes().empty()
                    ? "none"
                    : std::to_string(list.devices(0).topology().nodes(0).id()).c_str());
  }
  v1beta1::PreferredAllocationResponse preferred;
  {
    grpc::ClientContext ctx;
    v1beta1::PreferredAllocationRequest request;
    auto* c = request.add_container_requests();
    // Every device but the first GPU's first, which is said to be required from the second GPU.
    for (const auto& d : list.devices()) c->add_available_deviceids(d.id());
    c->set_allocation_size(3);
    if (!plugin->GetPreferredAllocation(&ctx, request, &preferred).ok()) return Fail("preferred");
    std::string ids;
    for (const auto& id : preferred.container_responses(0).deviceids()) ids += id + " ";
    std::printf("preferred %s\n", ids.c_str());
  }
  {
    grpc::ClientContext ctx;
    v1beta1::AllocateRequest request;
    auto* c = request.add_container_requests();
    for (const auto& id : preferred.container_responses(0).deviceids()) c->add_devices_ids(id);
    v1beta1::AllocateResponse response;
    if (!plugin->Allocate(&ctx, request, &response).ok()) return Fail("allocate");
    PrintAllocated(response.container_responses(0));
    const std::vector<std::string> ids(c->devices_ids().begin(), c->devices_ids().end());
    pods.Add("default/p", "c", reg.resource_name(), ids, true);
    Start(*plugin, "default/p/c", ids, SettingsHostPath(response.container_responses(0)));
    grpc::ClientContext bad_ctx;
    v1beta1::AllocateRequest bad;
    bad.add_container_requests()->add_devices_ids("GPU-nope::0");
    std::printf("unknown device: %s\n",
                plugin->Allocate(&bad_ctx, bad, &response).ok() ? "accepted" : "refused");
  }
  // The kubelet restarts: its socket goes and comes back; the plugin must register again.
  server->Shutdown(std::chrono::system_clock::now());
  server = Serve(dir + "/kubelet.sock", &registration);
  if (!registration.WaitFor(2, &reg)) return Fail("no registration after the kubelet restarted");
  std::printf("registered again %s\n", reg.resource_name().c_str());
  return 0;
}
