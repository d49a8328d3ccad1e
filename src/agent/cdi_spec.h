// The Container Device Interface (CDI) spec of a node's GPUs: one device per GPU, named after its
// UUID, giving its device node, and the driver's shared nodes for every one. Container runtimes
// with CDI enabled (containerd 1.7+, CRI-O) read it from a spec directory and inject the devices a
// container is given by name ("xpool.io/gpu=GPU-..."), from the device plugin or, later, a DRA
// driver.
//
// Thread-safety: free functions over values; WriteCdiSpec replaces the file atomically.
#pragma once

#include <string>

#include "core/status.h"
#include "xpool/v1/pool.pb.h"

namespace xpool::agent {

inline constexpr const char* kCdiKind = "xpool.io/gpu";
inline constexpr const char* kDefaultCdiDir = "/var/run/cdi";

// The fully qualified name of a GPU's device: "<kind>=<uuid>".
std::string CdiDeviceName(const std::string& uuid);
// The spec (JSON, CDI version 0.6.0) for the GPUs of `node`, with `dev_dir` where their device
// nodes are (/dev on a host).
std::string CdiSpecJson(const v1::Node& node, const std::string& dev_dir = "/dev");
// Writes the spec to `dir`/xpool.io-gpu.json (a temporary file renamed over it).
Status WriteCdiSpec(const std::string& dir, const v1::Node& node);

}  // namespace xpool::agent
