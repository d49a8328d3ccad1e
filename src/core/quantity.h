// Typed integer quantities: memory in MiB, device compute in 1/1000 of a device, CPU in
// millicores. Integers so that sums never drift; distinct types so units cannot be mixed.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace xpool {

template <typename Tag>
class Quantity {
 public:
  constexpr Quantity() = default;
  constexpr explicit Quantity(int64_t v) : v_(v) {}
  constexpr int64_t value() const { return v_; }
  constexpr auto operator<=>(const Quantity&) const = default;
  constexpr Quantity operator+(Quantity o) const { return Quantity(v_ + o.v_); }
  constexpr Quantity operator-(Quantity o) const { return Quantity(v_ - o.v_); }
  constexpr Quantity operator*(int64_t k) const { return Quantity(v_ * k); }
  constexpr Quantity& operator+=(Quantity o) {
    v_ += o.v_;
    return *this;
  }
  constexpr Quantity& operator-=(Quantity o) {
    v_ -= o.v_;
    return *this;
  }

 private:
  int64_t v_ = 0;
};

struct MiBTag {};
struct MilliDeviceTag {};
struct MilliCpuTag {};
using MiB = Quantity<MiBTag>;                  // mebibytes
using MilliDevice = Quantity<MilliDeviceTag>;  // 1000 = one whole device
using MilliCpu = Quantity<MilliCpuTag>;        // 1000 = one core

inline constexpr MilliDevice kWholeDevice{1000};

// Parses a memory size: a plain integer is MiB; suffixes Mi, Gi, Ti are binary (case-sensitive,
// as Kubernetes writes them). "8GB", "-1", "1.5Gi", "" are refused with a message naming the input.
Result<MiB> ParseMemory(std::string_view text);

// Parses a compute share given in percent of a device ("30", "30%"), 1..100, into milli-devices.
Result<MilliDevice> ParseComputePercent(std::string_view text);

std::string FormatMemory(MiB m);  // "8Gi", "512Mi", "1536Mi"

}  // namespace xpool
