#include "core/model.h"

#include <charconv>

namespace xpool {

std::string_view ToString(DeviceType t) {
  switch (t) {
    case DeviceType::kGpu:
      return "gpu";
    case DeviceType::kNpu:
      return "npu";
    case DeviceType::kFpga:
      return "fpga";
    case DeviceType::kCpu:
      return "cpu";
  }
  return "unknown";
}

Result<DeviceType> ParseDeviceType(std::string_view s) {
  if (s == "gpu") return DeviceType::kGpu;
  if (s == "npu") return DeviceType::kNpu;
  if (s == "fpga") return DeviceType::kFpga;
  if (s == "cpu") return DeviceType::kCpu;
  return Status::InvalidArgument("unknown device type '" + std::string(s) +
                                 "' (expected gpu, npu, fpga or cpu)");
}

std::string_view ToString(AllocationState s) {
  switch (s) {
    case AllocationState::kReserved:
      return "reserved";
    case AllocationState::kBound:
      return "bound";
    case AllocationState::kRunning:
      return "running";
    case AllocationState::kReleased:
      return "released";
  }
  return "unknown";
}

std::string DeviceId::ToString() const {
  return node + "/" + vendor + "-" + std::to_string(index);
}

Result<DeviceId> DeviceId::Parse(std::string_view s) {
  const auto slash = s.rfind('/');
  const auto dash = s.rfind('-');
  if (slash == std::string_view::npos || slash == 0 || dash == std::string_view::npos ||
      dash < slash + 2 || dash + 1 >= s.size()) {
    return Status::InvalidArgument("device id '" + std::string(s) +
                                   "' is not of the form <node>/<vendor>-<index>");
  }
  DeviceId id;
  id.node = std::string(s.substr(0, slash));
  id.vendor = std::string(s.substr(slash + 1, dash - slash - 1));
  if (id.vendor.find('-') != std::string::npos) {
    return Status::InvalidArgument("device id '" + std::string(s) + "' has a '-' in its vendor");
  }
  const auto digits = s.substr(dash + 1);
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), id.index);
  if (ec != std::errc() || ptr != digits.data() + digits.size() || id.index < 0) {
    return Status::InvalidArgument("device id '" + std::string(s) + "' has a bad index");
  }
  return id;
}

}  // namespace xpool
