// The Kubernetes device plugin (API v1beta1) of the agent: it serves on a unix socket in the
// kubelet's device-plugin directory, registers a resource (xpool.io/gpu) with the kubelet, and
// advertises each GPU as `split` virtual devices ("<uuid>::<k>") with its NUMA node.
//
// Allocate is given device ids only, so it gives the container what follows from them alone: its
// GPUs, the runtime mounted and preloaded, a slice folder of its own, and a settings file that is
// still empty (XPOOL_SLICE_SETTINGS). The plugin asks the kubelet to call PreStartContainer before
// the container starts; by then the kubelet's pod-resources API lists which pod and container
// hold those ids (ContainerIdentity), and the plugin claims from the controller the slice the
// scheduler extender decided for exactly that container and writes its quotas and compute
// settings into the file. A pod the extender did not place gets k/split of a GPU for k virtual
// devices. When the kubelet restarts (its socket is recreated), the plugin serves a fresh socket
// and registers again.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/container_identity.h"
#include "agent/pod_resources.h"
#include "core/status.h"
#include "k8s/deviceplugin/v1beta1/api.grpc.pb.h"
#include "xpool/v1/pool.pb.h"

namespace xpool::agent {

struct DevicePluginOptions {
  std::string dir = "/var/lib/kubelet/device-plugins";
  std::string resource = "xpool.io/gpu";
  std::string socket_name = "xpool.sock";
  int split = 10;            // virtual devices per GPU
  std::string runtime_path;  // libxpool-cuda.so on the host; mounted into containers
  std::string slice_dir = "/dev/shm";
  // Agents.ClaimPodSlices of the controller, for this node: a container's slice, or with peek
  // the GPUs to prefer. NotFound: the extender made no allocation for it. Unset: every
  // container gets k/split of a GPU.
  std::function<Result<v1::ClaimPodSlicesResponse>(v1::ClaimPodSlicesRequest)> claim;
  std::string pod_resources_socket = kDefaultPodResourcesSocket;
  // Where to write the GPUs' CDI spec (cdi_spec.h); then containers are given their GPUs as CDI
  // devices instead of device nodes, and the container runtime must have CDI enabled. Empty:
  // device nodes.
  std::string cdi_dir;
};

class DevicePlugin final : public v1beta1::DevicePlugin::Service {
 public:
  static Result<std::unique_ptr<DevicePlugin>> Start(const v1::Node& node,
                                                     const DevicePluginOptions& options);
  ~DevicePlugin() override;
  DevicePlugin(const DevicePlugin&) = delete;
  DevicePlugin& operator=(const DevicePlugin&) = delete;

  // Marks a GPU (by UUID) healthy or not; ListAndWatch streams send the new list.
  void SetHealth(const std::string& uuid, bool healthy);
  void Shutdown();

  grpc::Status GetDevicePluginOptions(grpc::ServerContext* context, const v1beta1::Empty* request,
                                      v1beta1::DevicePluginOptions* response) override;
  grpc::Status ListAndWatch(grpc::ServerContext* context, const v1beta1::Empty* request,
                            grpc::ServerWriter<v1beta1::ListAndWatchResponse>* writer) override;
  grpc::Status GetPreferredAllocation(grpc::ServerContext* context,
                                      const v1beta1::PreferredAllocationRequest* request,
                                      v1beta1::PreferredAllocationResponse* response) override;
  grpc::Status Allocate(grpc::ServerContext* context, const v1beta1::AllocateRequest* request,
                        v1beta1::AllocateResponse* response) override;
  grpc::Status PreStartContainer(grpc::ServerContext* context,
                                 const v1beta1::PreStartContainerRequest* request,
                                 v1beta1::PreStartContainerResponse* response) override;

 private:
  DevicePlugin(v1::Node node, DevicePluginOptions options);
  Status Serve();     // (re)creates the socket and its server
  Status Register();  // with the kubelet
  void Watch();       // re-serves and re-registers when the kubelet's socket is recreated
  v1beta1::ListAndWatchResponse DeviceList() const;
  // What one container is given.
  struct ContainerSlice {
    std::vector<int> gpus;  // indexes into node_.devices()
    int64_t memory_mib = 0;
    int core_percent = 100;
    // The runtime's shared segment: a file of this name in a folder of the slice's own of the
    // same name (HostFolder), the only part of slice_dir a container sees besides its settings
    // file (SettingsFile) and its GPUs' arbitration files (ArbitrationFile). Named after the
    // device ids, which no two containers hold at once.
    std::string segment_name;
    std::string allocation;  // the pool's allocation, when the extender made one
    // How it takes turns on the device, as the pod's annotations asked (ComputeEnvironment).
    std::map<std::string, std::string> compute_env;
  };
  // The ids, sorted, when all are devices of this node.
  Result<std::vector<std::string>> KnownIds(
      const google::protobuf::RepeatedPtrField<std::string>& ids) const;
  // `ids` sorted, of this node.
  ContainerSlice SliceFromSplit(const std::vector<std::string>& ids) const;
  // The claim's quotas and settings on top of `slice` (its GPUs stay the kubelet's).
  Status ApplyClaim(const v1::ClaimPodSlicesResponse& claim, ContainerSlice& slice) const;
  // The container's slice as decided for it (PreStartContainer).
  Result<ContainerSlice> DecidedSlice(const std::vector<std::string>& ids) const;
  // On the host: the slice's own folder, its settings file, and the arbitration file of GPU
  // `gpu`.
  std::string HostFolder(const ContainerSlice& slice) const;
  std::string SettingsFile(const ContainerSlice& slice) const;
  std::string ArbitrationFile(int gpu) const;
  // Makes the slice's folder (emptied), its settings file (empty) and its GPUs' arbitration
  // files on the host, so that they can be mounted one by one.
  Status PrepareHostFiles(const ContainerSlice& slice) const;
  Status WriteSettings(const ContainerSlice& slice) const;
  void DescribeContainer(const ContainerSlice& slice, const std::string& preload,
                         v1beta1::ContainerAllocateResponse* out) const;

  v1::Node node_;
  DevicePluginOptions options_;
  std::map<std::string, int> gpu_of_uuid_;  // index into node_.devices()
  std::unique_ptr<grpc::Server> server_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  uint64_t version_ = 0;  // bumped on every health change
  std::map<std::string, bool> healthy_;
  std::atomic<bool> stop_{false};
  bool registered_ = false;  // by Start; the watcher's from then on
  std::thread watcher_;
  PodResourcesClient pod_resources_;
  mutable std::mutex records_mu_;
  std::deque<AllocateRecord> records_;  // the latest Allocate calls, oldest first
};

}  // namespace xpool::agent
