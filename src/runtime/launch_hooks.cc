// The launch hooks: every way a kernel or graph reaches the device passes the compute limiter of
// the current device first (when compute is arbitrated), then the driver.
#include "runtime/compute_limiter.h"
#include "runtime/hooks.h"
#include "runtime/symbol_table.h"

using xpool::runtime::ComputeLimiter;

namespace {

template <typename Launch>
CUresult Limited(CUstream stream, bool per_thread, Launch&& launch) {
  ComputeLimiter* limiter = ComputeLimiter::ForCurrentDevice();
  if (limiter == nullptr) return launch();
  return limiter->Run(stream, per_thread, launch);
}

CUstream StreamOf(const CUlaunchConfig* config) {
  return config != nullptr ? config->hStream : nullptr;
}

}  // namespace

extern "C" {

CUresult cuLaunchKernel(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
                        unsigned int bx, unsigned int by, unsigned int bz,
                        unsigned int shared_bytes, CUstream stream, void** params, void** extra) {
  XPOOL_REAL_OR_FAIL(cuLaunchKernel);
  return Limited(stream, false, [&] {
    return real(f, gx, gy, gz, bx, by, bz, shared_bytes, stream, params, extra);
  });
}

CUresult cuLaunchKernel_ptsz(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
                             unsigned int bx, unsigned int by, unsigned int bz,
                             unsigned int shared_bytes, CUstream stream, void** params,
                             void** extra) {
  XPOOL_REAL_OR_FAIL(cuLaunchKernel_ptsz);
  return Limited(stream, true, [&] {
    return real(f, gx, gy, gz, bx, by, bz, shared_bytes, stream, params, extra);
  });
}

CUresult cuLaunchKernelEx(const CUlaunchConfig* config, CUfunction f, void** params, void** extra) {
  XPOOL_REAL_OR_FAIL(cuLaunchKernelEx);
  return Limited(StreamOf(config), false, [&] { return real(config, f, params, extra); });
}

CUresult cuLaunchKernelEx_ptsz(const CUlaunchConfig* config, CUfunction f, void** params,
                               void** extra) {
  XPOOL_REAL_OR_FAIL(cuLaunchKernelEx_ptsz);
  return Limited(StreamOf(config), true, [&] { return real(config, f, params, extra); });
}

CUresult cuLaunchCooperativeKernel(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
                                   unsigned int bx, unsigned int by, unsigned int bz,
                                   unsigned int shared_bytes, CUstream stream, void** params) {
  XPOOL_REAL_OR_FAIL(cuLaunchCooperativeKernel);
  return Limited(stream, false,
                 [&] { return real(f, gx, gy, gz, bx, by, bz, shared_bytes, stream, params); });
}

CUresult cuLaunchCooperativeKernel_ptsz(CUfunction f, unsigned int gx, unsigned int gy,
                                        unsigned int gz, unsigned int bx, unsigned int by,
                                        unsigned int bz, unsigned int shared_bytes, CUstream stream,
                                        void** params) {
  XPOOL_REAL_OR_FAIL(cuLaunchCooperativeKernel_ptsz);
  return Limited(stream, true,
                 [&] { return real(f, gx, gy, gz, bx, by, bz, shared_bytes, stream, params); });
}

CUresult cuGraphLaunch(CUgraphExec graph, CUstream stream) {
  XPOOL_REAL_OR_FAIL(cuGraphLaunch);
  return Limited(stream, false, [&] { return real(graph, stream); });
}

CUresult cuGraphLaunch_ptsz(CUgraphExec graph, CUstream stream) {
  XPOOL_REAL_OR_FAIL(cuGraphLaunch_ptsz);
  return Limited(stream, true, [&] { return real(graph, stream); });
}

}  // extern "C"
