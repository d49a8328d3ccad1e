// The device plugin's container half: the host files behind a container's slice (its folder,
// settings file and GPUs' arbitration files), the settings written when it starts, and what
// Allocate tells the kubelet to give it.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "agent/cdi_spec.h"
#include "agent/container_paths.h"
#include "agent/device_plugin.h"
#include "runtime/compute_arbiter.h"
#include "runtime/config.h"

namespace xpool::agent {

using namespace container_paths;  // NOLINT(google-build-using-namespace): the paths' own unit

std::string DevicePlugin::HostFolder(const ContainerSlice& slice) const {
  return options_.slice_dir + "/" + std::string(kPodSlicesFolder) + "/" + slice.segment_name;
}

std::string DevicePlugin::SettingsFile(const ContainerSlice& slice) const {
  return HostFolder(slice) + ".settings";
}

std::string DevicePlugin::ArbitrationFile(int gpu) const {
  return options_.slice_dir + "/" + runtime::ComputeSegmentName(node_.devices(gpu).uuid());
}

Status DevicePlugin::PrepareHostFiles(const ContainerSlice& slice) const {
  // The parent is searchable but not listable: a slice's folder is found only by its name.
  if (Status s = MakeFolder(options_.slice_dir + "/" + std::string(kPodSlicesFolder), 0711);
      !s.ok()) {
    return s;
  }
  // The container's processes may run as any user.
  if (Status s = MakeFolder(HostFolder(slice), 0777); !s.ok()) return s;
  // Whatever a container that held these devices before left behind.
  unlink((HostFolder(slice) + "/" + slice.segment_name).c_str());
  // Empty until PreStartContainer writes it: a runtime that finds it so refuses to allocate.
  const std::string settings = SettingsFile(slice);
  const int fd = open(settings.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IoError("cannot make '" + settings + "': " + std::strerror(errno));
  fchmod(fd, 0644);
  close(fd);
  for (int gpu : slice.gpus) {
    // An empty file: the first runtime to open it lays the segment out (ComputeArbiter::Open).
    const std::string path = ArbitrationFile(gpu);
    const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) return Status::IoError("cannot make '" + path + "': " + std::strerror(errno));
    fchmod(fd, 0666);  // slices of different users share the device
    close(fd);
  }
  return Status::Ok();
}

Status DevicePlugin::WriteSettings(const ContainerSlice& slice) const {
  runtime::SliceSettings settings = {{runtime::kEnvGpuMemory, std::to_string(slice.memory_mib)}};
  if (slice.core_percent < 100) {
    settings[runtime::kEnvGpuCore] = std::to_string(slice.core_percent);
  }
  for (const auto& [name, value] : slice.compute_env) settings[name] = value;
  if (!slice.allocation.empty()) settings[runtime::kEnvAllocation] = slice.allocation;
  const std::string text = runtime::FormatSliceSettings(settings);
  // Rewritten in place: a container restarted with it has the file's inode mounted.
  const std::string path = SettingsFile(slice);
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IoError("cannot write '" + path + "': " + std::strerror(errno));
  const bool written = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  if (!written) return Status::IoError("cannot write '" + path + "'");
  return Status::Ok();
}

void DevicePlugin::DescribeContainer(const ContainerSlice& slice, const std::string& preload,
                                     v1beta1::ContainerAllocateResponse* out) const {
  std::string visible;
  for (int gpu : slice.gpus) visible += (visible.empty() ? "" : ",") + node_.devices(gpu).uuid();
  auto& env = *out->mutable_envs();
  env["CUDA_VISIBLE_DEVICES"] = visible;
  env["NVIDIA_VISIBLE_DEVICES"] = visible;
  env["XPOOL_SLICE"] = std::string(kContainerSliceDir) + "/" + slice.segment_name;
  // Quotas and compute settings: written when the container starts (PreStartContainer).
  env[runtime::kEnvSliceSettings] = std::string(kContainerSettings);
  // Every container on a GPU arbitrates in one file: the host's, mounted below.
  env["XPOOL_COMPUTE_DIR"] = std::string(kContainerComputeDir);
  if (!options_.runtime_path.empty()) {
    auto* lib = out->add_mounts();
    lib->set_host_path(options_.runtime_path);
    lib->set_container_path(std::string(kContainerRuntimePath));
    lib->set_read_only(true);
    auto* ld = out->add_mounts();
    ld->set_host_path(preload);
    ld->set_container_path("/etc/ld.so.preload");
    ld->set_read_only(true);
  }
  auto* folder = out->add_mounts();  // the slice's segment, seen by every process of the slice
  folder->set_host_path(HostFolder(slice));
  folder->set_container_path(std::string(kContainerSliceDir));
  auto* settings = out->add_mounts();
  settings->set_host_path(SettingsFile(slice));
  settings->set_container_path(std::string(kContainerSettings));
  settings->set_read_only(true);
  for (int gpu : slice.gpus) {
    auto* arbitration = out->add_mounts();
    arbitration->set_host_path(ArbitrationFile(gpu));
    arbitration->set_container_path(std::string(kContainerComputeDir) + "/" +
                                    runtime::ComputeSegmentName(node_.devices(gpu).uuid()));
  }
  if (!options_.cdi_dir.empty()) {
    // The container runtime injects each GPU's device nodes from the spec.
    for (int gpu : slice.gpus) {
      out->add_cdi_devices()->set_name(CdiDeviceName(node_.devices(gpu).uuid()));
    }
    return;
  }
  std::set<std::string> nodes{"/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"};
  for (int gpu : slice.gpus)
    nodes.insert("/dev/nvidia" + std::to_string(node_.devices(gpu).index()));
  for (const auto& path : nodes) {
    if (access(path.c_str(), F_OK) != 0) continue;  // the kubelet refuses paths that do not exist
    auto* dev = out->add_devices();
    dev->set_host_path(path);
    dev->set_container_path(path);
    dev->set_permissions("rw");
  }
}

}  // namespace xpool::agent
