#include "remote/server/real_driver.h"

#include <dlfcn.h>

#include <string>

namespace xpool::remote {
namespace {

// Resolves the first of `names` the driver has into `fn`; false when it has none.
template <typename Fn>
bool Bind(void* lib, Fn* fn, std::initializer_list<const char*> names, std::string* missing) {
  for (const char* name : names) {
    if (void* p = dlsym(lib, name)) {
      *fn = reinterpret_cast<Fn>(p);
      return true;
    }
  }
  if (!missing->empty()) *missing += ", ";
  *missing += *names.begin();
  return false;
}

}  // namespace

Result<RealDriver> OpenRealDriver() {
  void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr)
    return Status::FailedPrecondition(std::string("no CUDA driver: ") + dlerror());
  RealDriver d{};
  std::string missing;
  Bind(lib, &d.Init, {"cuInit"}, &missing);
  Bind(lib, &d.DriverGetVersion, {"cuDriverGetVersion"}, &missing);
  Bind(lib, &d.DeviceGet, {"cuDeviceGet"}, &missing);
  Bind(lib, &d.DeviceGetName, {"cuDeviceGetName"}, &missing);
  Bind(lib, &d.DeviceGetAttribute, {"cuDeviceGetAttribute"}, &missing);
  Bind(lib, &d.DeviceTotalMem, {"cuDeviceTotalMem_v2"}, &missing);
  Bind(lib, &d.DeviceGetUuid, {"cuDeviceGetUuid_v2", "cuDeviceGetUuid"}, &missing);
  Bind(lib, &d.PrimaryCtxRetain, {"cuDevicePrimaryCtxRetain"}, &missing);
  Bind(lib, &d.CtxSetCurrent, {"cuCtxSetCurrent"}, &missing);
  Bind(lib, &d.CtxSynchronize, {"cuCtxSynchronize"}, &missing);
  Bind(lib, &d.MemAlloc, {"cuMemAlloc_v2"}, &missing);
  Bind(lib, &d.MemFree, {"cuMemFree_v2"}, &missing);
  Bind(lib, &d.MemGetInfo, {"cuMemGetInfo_v2"}, &missing);
  Bind(lib, &d.MemcpyHtoD, {"cuMemcpyHtoD_v2"}, &missing);
  Bind(lib, &d.MemcpyHtoDAsync, {"cuMemcpyHtoDAsync_v2"}, &missing);
  Bind(lib, &d.MemcpyDtoH, {"cuMemcpyDtoH_v2"}, &missing);
  Bind(lib, &d.MemcpyDtoHAsync, {"cuMemcpyDtoHAsync_v2"}, &missing);
  Bind(lib, &d.MemcpyDtoDAsync, {"cuMemcpyDtoDAsync_v2"}, &missing);
  Bind(lib, &d.MemsetD8Async, {"cuMemsetD8Async"}, &missing);
  Bind(lib, &d.MemsetD16Async, {"cuMemsetD16Async"}, &missing);
  Bind(lib, &d.MemsetD32Async, {"cuMemsetD32Async"}, &missing);
  Bind(lib, &d.ModuleLoadData, {"cuModuleLoadData"}, &missing);
  Bind(lib, &d.ModuleUnload, {"cuModuleUnload"}, &missing);
  Bind(lib, &d.ModuleGetFunction, {"cuModuleGetFunction"}, &missing);
  Bind(lib, &d.FuncGetParamInfo, {"cuFuncGetParamInfo"}, &missing);
  Bind(lib, &d.LaunchKernel, {"cuLaunchKernel"}, &missing);
  Bind(lib, &d.StreamCreateWithPriority, {"cuStreamCreateWithPriority"}, &missing);
  Bind(lib, &d.StreamDestroy, {"cuStreamDestroy_v2"}, &missing);
  Bind(lib, &d.StreamSynchronize, {"cuStreamSynchronize"}, &missing);
  Bind(lib, &d.StreamQuery, {"cuStreamQuery"}, &missing);
  Bind(lib, &d.StreamWaitEvent, {"cuStreamWaitEvent"}, &missing);
  Bind(lib, &d.EventCreate, {"cuEventCreate"}, &missing);
  Bind(lib, &d.EventDestroy, {"cuEventDestroy_v2"}, &missing);
  Bind(lib, &d.EventRecord, {"cuEventRecord"}, &missing);
  Bind(lib, &d.EventSynchronize, {"cuEventSynchronize"}, &missing);
  Bind(lib, &d.EventQuery, {"cuEventQuery"}, &missing);
  Bind(lib, &d.EventElapsedTime, {"cuEventElapsedTime_v2", "cuEventElapsedTime"}, &missing);
  if (!missing.empty()) {
    return Status::FailedPrecondition("the CUDA driver lacks " + missing +
                                      " (remote sessions need CUDA 12.4 or later)");
  }
  return d;
}

}  // namespace xpool::remote
