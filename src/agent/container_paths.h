// The paths a container is given and the host files behind them: shared by the device plugin's
// two halves (device_plugin.cc, the protocol; device_plugin_container.cc, the container).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>

#include "core/status.h"

namespace xpool::agent::container_paths {

inline constexpr std::string_view kContainerRuntimePath = "/usr/local/xpool/lib/libxpool-cuda.so";
// Where a container finds its slice's segment and its GPUs' arbitration files. Each is mounted
// on its own: a container never sees the host's slice folder, and so no other pod's segment.
inline constexpr std::string_view kContainerSliceDir = "/var/run/xpool/slice";
inline constexpr std::string_view kContainerComputeDir = "/var/run/xpool/compute";
inline constexpr std::string_view kContainerSettings = "/var/run/xpool/settings";
// Below the host's slice folder: one folder per container slice.
inline constexpr std::string_view kPodSlicesFolder = "xpool-pods";

// Makes `path` (or keeps it) with exactly `mode`.
inline Status MakeFolder(const std::string& path, mode_t mode) {
  if (mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    return Status::IoError("cannot make '" + path + "': " + std::strerror(errno));
  }
  chmod(path.c_str(), mode);  // whatever the umask
  return Status::Ok();
}

}  // namespace xpool::agent::container_paths
