// The Kubernetes device plugin (API v1beta1) of the agent: it serves on a unix socket in the
// kubelet's device-plugin directory, registers a resource (xpool.io/gpu) with the kubelet, and
// advertises each GPU as `split` virtual devices ("<uuid>::<k>") with its NUMA node. Allocate is
// given device ids only: it claims from the controller the slice the scheduler extender chose for
// the pod (the oldest pod allocation on this node that waits for that many devices) and gives the
// container that slice — its GPUs, memory and compute quotas in the environment, the runtime
// mounted and preloaded. A pod the extender did not place gets k/split of a GPU for k virtual
// devices. When the kubelet restarts (its socket is recreated), the plugin serves a fresh socket
// and registers again.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

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
  // Claims the next `devices` slices of a pod allocation on this node from the controller
  // (Agents.ClaimPodSlices). NotFound: the extender placed no pod here that waits for them.
  // Unset: every container gets k/split of a GPU.
  // With `peek`, only names the slices (GetPreferredAllocation).
  std::function<Result<v1::ClaimPodSlicesResponse>(int devices, bool peek)> claim;
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
    // same name (HostFolder), the only part of slice_dir a container sees besides its GPUs'
    // arbitration files (ArbitrationFile).
    std::string segment_name;
    std::string allocation;  // the pool's allocation, when the extender made one
    // How it takes turns on the device, as the pod's annotations asked (ComputeEnvironment).
    std::map<std::string, std::string> compute_env;
  };
  // `c` names only devices of this node (Allocate checks).
  ContainerSlice SliceFromSplit(const v1beta1::ContainerAllocateRequest& c) const;
  Result<ContainerSlice> SliceFromClaim(const v1::ClaimPodSlicesResponse& claim) const;
  // On the host: the slice's own folder, and the arbitration file of GPU `gpu`.
  std::string HostFolder(const ContainerSlice& slice) const;
  std::string ArbitrationFile(int gpu) const;
  // Makes the slice's folder and its GPUs' arbitration files on the host, so that they can be
  // mounted one by one.
  Status PrepareHostFiles(const ContainerSlice& slice) const;
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
};

}  // namespace xpool::agent
