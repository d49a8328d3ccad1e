// Wall-clock time as the pool stores it: milliseconds since the Unix epoch.
#pragma once

#include <chrono>
#include <cstdint>

namespace xpool {

inline int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace xpool
