#include "agent/device_plugin.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <string_view>

#include "agent/cdi_spec.h"
#include "agent/compute_env.h"
#include "agent/container_paths.h"
#include "runtime/compute_arbiter.h"
#include "runtime/config.h"

namespace xpool::agent {
namespace {

// Allocate calls remembered for telling init containers' pods apart (ContainerIdentity).
constexpr size_t kAllocateRecords = 4096;

// A name for a container's slice from its device ids (sorted): FNV-1a, 64 bits.
std::string SliceNameOf(const std::vector<std::string>& ids) {
  uint64_t h = 1469598103934665603ULL;
  for (const auto& id : ids) {
    for (const char c : id + "\n") {
      h ^= static_cast<unsigned char>(c);
      h *= 1099511628211ULL;
    }
  }
  char hex[17];  // NOLINT(modernize-avoid-c-arrays): snprintf buffer
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(h));
  return std::string("xpool-k8s-") + hex;
}

std::string UuidOf(const std::string& id) {
  const size_t sep = id.find("::");
  return sep == std::string::npos ? id : id.substr(0, sep);
}

// Which file a path names: inode and change time (a socket made anew may reuse the inode).
std::pair<ino_t, int64_t> IdentityOf(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return {0, 0};
  return {st.st_ino, int64_t{st.st_ctim.tv_sec} * 1'000'000'000 + st.st_ctim.tv_nsec};
}

}  // namespace

DevicePlugin::DevicePlugin(v1::Node node, DevicePluginOptions options)
    : node_(std::move(node)),
      options_(std::move(options)),
      pod_resources_(options_.pod_resources_socket) {
  for (int i = 0; i < node_.devices_size(); ++i) {
    gpu_of_uuid_[node_.devices(i).uuid()] = i;
    healthy_[node_.devices(i).uuid()] = node_.devices(i).healthy();
  }
}

Result<std::unique_ptr<DevicePlugin>> DevicePlugin::Start(const v1::Node& node,
                                                          const DevicePluginOptions& options) {
  if (options.split < 1 || options.split > 100) {
    return Status::InvalidArgument("the split count must be 1..100");
  }
  if (node.devices_size() == 0) return Status::InvalidArgument("no GPU to advertise");
  if (!options.cdi_dir.empty()) {
    if (Status s = WriteCdiSpec(options.cdi_dir, node); !s.ok()) return s;
  }
  std::unique_ptr<DevicePlugin> plugin(new DevicePlugin(node, options));
  if (Status s = plugin->Serve(); !s.ok()) return s;
  if (Status s = plugin->Register(); !s.ok()) {
    // The kubelet may come later: the watcher tries again until it takes the registration.
    std::fprintf(stderr, "xpool-agent: device plugin: %s\n", s.message().c_str());
  } else {
    plugin->registered_ = true;
  }
  plugin->watcher_ = std::thread([raw = plugin.get()] { raw->Watch(); });
  return plugin;
}

DevicePlugin::~DevicePlugin() {
  Shutdown();
  if (watcher_.joinable()) watcher_.join();
}

void DevicePlugin::Shutdown() {
  if (stop_.exchange(true)) return;
  changed_.notify_all();
  std::lock_guard<std::mutex> lock(mu_);
  if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
}

Status DevicePlugin::Serve() {
  const std::string path = options_.dir + "/" + options_.socket_name;
  std::unique_ptr<grpc::Server> old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    old = std::move(server_);
  }
  if (old != nullptr) old->Shutdown(std::chrono::system_clock::now());
  unlink(path.c_str());
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + path, grpc::InsecureServerCredentials());
  builder.RegisterService(this);
  auto server = builder.BuildAndStart();
  if (server == nullptr) return Status::IoError("cannot serve the device plugin on " + path);
  std::lock_guard<std::mutex> lock(mu_);
  server_ = std::move(server);
  return Status::Ok();
}

Status DevicePlugin::Register() {
  const std::string kubelet = options_.dir + "/kubelet.sock";
  auto channel = grpc::CreateChannel("unix:" + kubelet, grpc::InsecureChannelCredentials());
  auto registration = v1beta1::Registration::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1beta1::RegisterRequest request;
  request.set_version("v1beta1");
  request.set_endpoint(options_.socket_name);
  request.set_resource_name(options_.resource);
  request.mutable_options()->set_get_preferred_allocation_available(true);
  request.mutable_options()->set_pre_start_required(true);
  v1beta1::Empty empty;
  const grpc::Status s = registration->Register(&context, request, &empty);
  if (!s.ok())
    return Status::IoError("cannot register with the kubelet at " + kubelet + ": " +
                           s.error_message());
  std::fprintf(stderr, "xpool-agent: device plugin %s registered with the kubelet (%d GPUs x %d)\n",
               options_.resource.c_str(), node_.devices_size(), options_.split);
  return Status::Ok();
}

void DevicePlugin::Watch() {
  const std::string kubelet = options_.dir + "/kubelet.sock";
  auto seen = IdentityOf(kubelet);
  bool registered = registered_;
  while (!stop_.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const auto now = IdentityOf(kubelet);
    if (now.first == 0 || (now == seen && registered)) continue;
    // A new kubelet socket: the kubelet restarted and dropped every plugin socket.
    seen = now;
    registered = Serve().ok() && Register().ok();
  }
}

v1beta1::ListAndWatchResponse DevicePlugin::DeviceList() const {
  v1beta1::ListAndWatchResponse list;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& d : node_.devices()) {
    for (int k = 0; k < options_.split; ++k) {
      v1beta1::Device* v = list.add_devices();
      v->set_id(d.uuid() + "::" + std::to_string(k));
      v->set_health(healthy_.at(d.uuid()) ? "Healthy" : "Unhealthy");
      if (d.numa_node() >= 0) v->mutable_topology()->add_nodes()->set_id(d.numa_node());
    }
  }
  return list;
}

void DevicePlugin::SetHealth(const std::string& uuid, bool healthy) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = healthy_.find(uuid);
    if (it == healthy_.end() || it->second == healthy) return;
    it->second = healthy;
    ++version_;
  }
  changed_.notify_all();
}

grpc::Status DevicePlugin::GetDevicePluginOptions(grpc::ServerContext*, const v1beta1::Empty*,
                                                  v1beta1::DevicePluginOptions* response) {
  response->set_get_preferred_allocation_available(true);
  response->set_pre_start_required(true);
  return grpc::Status::OK;
}

grpc::Status DevicePlugin::ListAndWatch(grpc::ServerContext* context, const v1beta1::Empty*,
                                        grpc::ServerWriter<v1beta1::ListAndWatchResponse>* writer) {
  uint64_t sent = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    sent = version_;
  }
  if (!writer->Write(DeviceList())) return grpc::Status::OK;
  while (!stop_.load() && !context->IsCancelled()) {
    std::unique_lock<std::mutex> lock(mu_);
    changed_.wait_for(lock, std::chrono::milliseconds(500),
                      [&] { return stop_.load() || version_ != sent; });
    if (version_ == sent) continue;
    sent = version_;
    lock.unlock();
    if (!writer->Write(DeviceList())) break;
  }
  return grpc::Status::OK;
}

grpc::Status DevicePlugin::GetPreferredAllocation(
    grpc::ServerContext*, const v1beta1::PreferredAllocationRequest* request,
    v1beta1::PreferredAllocationResponse* response) {
  for (const auto& c : request->container_requests()) {
    // The required ones, then as few GPUs as possible: the GPUs with the most available
    // virtual devices first, so that a container's share comes from one GPU where it can.
    std::vector<std::string> chosen(c.must_include_deviceids().begin(),
                                    c.must_include_deviceids().end());
    // First the GPUs the scheduler extender chose for the pod being admitted, so that the
    // kubelet's count of virtual devices per GPU follows the slices actually held.
    if (options_.claim) {
      v1::ClaimPodSlicesRequest peek;
      peek.set_devices(c.allocation_size());
      peek.set_peek(true);
      auto next = options_.claim(peek);
      if (next.ok()) {
        for (const auto& slice : next->slices()) {
          for (const auto& id : c.available_deviceids()) {
            if (UuidOf(id) == slice.device_uuid() &&
                std::find(chosen.begin(), chosen.end(), id) == chosen.end()) {
              if (static_cast<int>(chosen.size()) < c.allocation_size()) chosen.push_back(id);
              break;
            }
          }
        }
      }
    }
    std::map<std::string, std::vector<std::string>> by_gpu;
    for (const auto& id : c.available_deviceids()) {
      if (std::find(chosen.begin(), chosen.end(), id) == chosen.end())
        by_gpu[UuidOf(id)].push_back(id);
    }
    std::vector<std::pair<std::string, std::vector<std::string>>> gpus(by_gpu.begin(),
                                                                       by_gpu.end());
    std::stable_sort(gpus.begin(), gpus.end(), [](const auto& a, const auto& b) {
      return a.second.size() > b.second.size();
    });
    for (const auto& [uuid, ids] : gpus) {
      for (const auto& id : ids) {
        if (static_cast<int>(chosen.size()) >= c.allocation_size()) break;
        chosen.push_back(id);
      }
    }
    auto* out = response->add_container_responses();
    for (const auto& id : chosen) out->add_deviceids(id);
  }
  return grpc::Status::OK;
}

Result<std::vector<std::string>> DevicePlugin::KnownIds(
    const google::protobuf::RepeatedPtrField<std::string>& ids) const {
  if (ids.empty()) return Status::InvalidArgument("no devices to allocate");
  std::vector<std::string> out(ids.begin(), ids.end());
  for (const auto& id : out) {
    if (gpu_of_uuid_.count(UuidOf(id)) == 0) return Status::InvalidArgument("unknown device " + id);
  }
  std::sort(out.begin(), out.end());
  return out;
}

DevicePlugin::ContainerSlice DevicePlugin::SliceFromSplit(
    const std::vector<std::string>& ids) const {
  std::map<std::string, int> shares;  // GPU uuid -> virtual devices
  for (const auto& id : ids) ++shares[UuidOf(id)];
  // The runtime holds every GPU of the container to one quota: the smallest share among them.
  int share = options_.split;
  ContainerSlice slice;
  slice.memory_mib = INT64_MAX;
  for (const auto& [uuid, k] : shares) {
    share = std::min(share, k);
    slice.memory_mib =
        std::min(slice.memory_mib, node_.devices(gpu_of_uuid_.at(uuid)).memory_mib());
    slice.gpus.push_back(gpu_of_uuid_.at(uuid));
  }
  slice.memory_mib = slice.memory_mib * share / options_.split;
  slice.core_percent = 100 * share / options_.split;
  slice.segment_name = SliceNameOf(ids);
  return slice;
}

Status DevicePlugin::ApplyClaim(const v1::ClaimPodSlicesResponse& claim,
                                ContainerSlice& slice) const {
  for (const auto& s : claim.slices()) {
    if (gpu_of_uuid_.count(s.device_uuid()) == 0) {
      return Status::FailedPrecondition("the controller gave " + claim.allocation().id() +
                                        " a device this node does not have: " + s.device_uuid());
    }
    slice.memory_mib = s.memory_mib();
    slice.core_percent = s.compute_milli() / 10;
  }
  slice.allocation = claim.allocation().id();
  slice.compute_env = ComputeEnvironment(claim.allocation().request());
  return Status::Ok();
}

Result<DevicePlugin::ContainerSlice> DevicePlugin::DecidedSlice(
    const std::vector<std::string>& ids) const {
  ContainerSlice slice = SliceFromSplit(ids);
  if (!options_.claim) return slice;
  std::deque<AllocateRecord> records;
  {
    std::lock_guard<std::mutex> lock(records_mu_);
    records = records_;
  }
  // The kubelet records a container's devices as soon as Allocate returns; a moment's wait
  // covers a List that raced it.
  Result<ContainerIdentity> who = Status::NotFound("unasked");
  for (int attempt = 0; attempt < 10; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto listed = pod_resources_.List(options_.resource);
    if (!listed.ok()) return listed.status();
    who = IdentifyContainer(ids, *listed, records);
    if (who.ok() || who.status().code() != StatusCode::kNotFound) break;
  }
  if (!who.ok()) return who.status();
  v1::ClaimPodSlicesRequest request;
  request.set_devices(static_cast<int32_t>(ids.size()));
  request.set_pod_namespace(who->pod_namespace);
  request.set_pod_name(who->pod_name);
  request.set_container(who->container);
  request.set_may_be_init_container(who->may_be_init_container);
  for (int gpu : slice.gpus) request.add_device_uuids(node_.devices(gpu).uuid());
  auto claim = options_.claim(request);
  const std::string container =
      who->pod_namespace + "/" + who->pod_name + " " +
      (who->container.empty() ? std::string("(an init container)") : who->container);
  if (!claim.ok() && claim.status().code() == StatusCode::kNotFound) {
    std::fprintf(stderr, "xpool-agent: device plugin: %s gets %d/%d of its GPU: %s\n",
                 container.c_str(), slice.core_percent * options_.split / 100, options_.split,
                 claim.status().message().c_str());
    return slice;
  }
  if (!claim.ok()) {
    return Status::IoError("cannot claim the slice of " + container + ": " +
                           claim.status().message());
  }
  if (Status s = ApplyClaim(*claim, slice); !s.ok()) return s;
  std::fprintf(stderr, "xpool-agent: device plugin: %s starts with %s (%lld MiB, %d %%)\n",
               container.c_str(), slice.allocation.c_str(),
               static_cast<long long>(slice.memory_mib), slice.core_percent);
  return slice;
}

grpc::Status DevicePlugin::Allocate(grpc::ServerContext*, const v1beta1::AllocateRequest* request,
                                    v1beta1::AllocateResponse* response) {
  // The file that makes every process of the container load the runtime.
  const std::string preload = options_.dir + "/xpool-ld.so.preload";
  if (!options_.runtime_path.empty())
    std::ofstream(preload) << container_paths::kContainerRuntimePath << "\n";
  for (const auto& c : request->container_requests()) {
    auto ids = KnownIds(c.devices_ids());
    if (!ids.ok()) return {grpc::StatusCode::INVALID_ARGUMENT, ids.status().message()};
    const ContainerSlice slice = SliceFromSplit(*ids);
    if (Status s = PrepareHostFiles(slice); !s.ok()) {
      return {grpc::StatusCode::INTERNAL, s.message()};
    }
    {
      std::lock_guard<std::mutex> lock(records_mu_);
      records_.push_back(AllocateRecord{*ids});
      if (records_.size() > kAllocateRecords) records_.pop_front();
    }
    DescribeContainer(slice, preload, response->add_container_responses());
  }
  return grpc::Status::OK;
}

grpc::Status DevicePlugin::PreStartContainer(grpc::ServerContext*,
                                             const v1beta1::PreStartContainerRequest* request,
                                             v1beta1::PreStartContainerResponse*) {
  auto ids = KnownIds(request->devices_ids());
  if (!ids.ok()) return {grpc::StatusCode::INVALID_ARGUMENT, ids.status().message()};
  auto slice = DecidedSlice(*ids);
  if (!slice.ok()) {
    std::fprintf(stderr, "xpool-agent: device plugin: a container with %s cannot start: %s\n",
                 ids->front().c_str(), slice.status().message().c_str());
    return {grpc::StatusCode::FAILED_PRECONDITION, slice.status().message()};
  }
  if (Status s = WriteSettings(*slice); !s.ok()) return {grpc::StatusCode::INTERNAL, s.message()};
  return grpc::Status::OK;
}

}  // namespace xpool::agent
