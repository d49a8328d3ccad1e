// The resource model shared by every xpool part: devices, requests for slices of them, and the
// allocations that grant those requests. Plain value types; no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/quantity.h"
#include "core/status.h"

namespace xpool {

enum class DeviceType { kGpu, kNpu, kFpga, kCpu };
std::string_view ToString(DeviceType t);
Result<DeviceType> ParseDeviceType(std::string_view s);

// What a device can do, from the catalog or a measured calibration. Zero means "not supported
// in hardware" (e.g. bf16 on a V100) or "not published".
struct ComputeRating {
  double bf16_tflops = 0;  // dense, no sparsity
  double fp16_tflops = 0;  // dense, tensor/matrix units where present
  double fp32_tflops = 0;  // dense, vector units
  double memory_gib = 0;
  double bandwidth_gbs = 0;  // memory bandwidth, GB/s
};

// Stable identity: "<node>/<vendor>-<index>", plus the vendor's UUID when there is one.
struct DeviceId {
  std::string node;
  std::string vendor;
  int index = 0;
  std::string ToString() const;
  static Result<DeviceId> Parse(std::string_view s);
  bool operator==(const DeviceId&) const = default;
};

enum class LinkKind { kNvlink, kPcie, kXgmi };
struct Link {
  int peer_index = 0;  // device index on the same node
  LinkKind kind = LinkKind::kPcie;
  double bandwidth_gbs = 0;
};

enum class Health { kHealthy, kUnhealthy };

struct Device {
  DeviceId id;
  std::string uuid;
  DeviceType type = DeviceType::kGpu;
  std::string model;  // catalog model name, or an inventory's own (e.g. the trace's "G2")
  std::string architecture;
  std::vector<std::string> features;  // "fp8", "nvlink", "mig", ...
  MiB memory;
  int numa_node = -1;
  std::vector<Link> links;
  Health health = Health::kHealthy;
  ComputeRating rating;
};

enum class Isolation { kShared, kMig, kExclusive };

// Which devices a request may land on. Empty fields match anything.
struct Selector {
  std::optional<DeviceType> type;
  std::string vendor;
  std::vector<std::string> models;  // any of these models
  double min_bf16_tflops = 0;
  std::vector<std::string> features;  // all of these
};

// A request for `device_count` slices of `compute` and `memory` each, plus host CPU and memory.
// A sharing request has device_count == 1 and compute below one whole device.
struct Request {
  int device_count = 0;
  MilliDevice compute;  // per device
  MiB memory;           // per device; 0 = no device-memory bound
  MilliCpu cpu;
  MiB host_memory;
  Selector selector;
  Isolation isolation = Isolation::kShared;
  bool same_node = true;
  std::string gang;
  std::string tenant;
  int priority = 0;

  bool is_sharing() const { return device_count == 1 && compute < kWholeDevice; }
  MilliDevice total_compute() const { return compute * device_count; }
};

struct Slice {
  DeviceId device;
  MiB memory;
  MilliDevice compute;
};

enum class AllocationState { kReserved, kBound, kRunning, kReleased };
std::string_view ToString(AllocationState s);

struct Allocation {
  std::string id;
  std::string owner;
  std::string node;
  std::vector<Slice> slices;
  AllocationState state = AllocationState::kReserved;
  int64_t created_unix_ms = 0;
  int64_t updated_unix_ms = 0;
};

}  // namespace xpool
