// Contexts and the view of device memory: a context's own footprint is charged to the slice once
// it exists, and the driver's and NVML's memory queries report the quota and the slice's usage,
// so frameworks size their caches to the slice and nvidia-smi inside it shows the slice.
#include <algorithm>

#include "runtime/accountant.h"
#include "runtime/hooks.h"
#include "runtime/symbol_table.h"

using xpool::runtime::Accountant;
using xpool::runtime::NvmlSymbol;

namespace {

CUresult AfterContextCreated(CUresult rc, CUdevice dev) {
  if (rc != CUDA_SUCCESS) return rc;
  Accountant& a = Accountant::Get();
  a.RefreshFootprint(a.Physical(dev));
  return rc;
}

struct SliceView {
  bool limited = false;
  uint64_t total = 0;
  uint64_t used = 0;
  uint64_t free() const { return total > used ? total - used : 0; }
};

// `device_total`: what the device itself has. A quota above it is shown as the device's total.
SliceView ViewOf(int physical, uint64_t device_total) {
  Accountant& a = Accountant::Get();
  SliceView v;
  if (physical < 0) return v;
  const auto quota = a.QuotaBytes(physical);
  if (!quota && !a.refusing()) return v;
  v.limited = true;
  v.total = quota ? std::min(static_cast<uint64_t>(*quota), device_total) : 0;
  v.used = static_cast<uint64_t>(std::max<int64_t>(a.SliceUsage(physical), 0));
  return v;
}

int NvmlPhysical(nvmlDevice_t device) {
  using GetIndex = nvmlReturn_t (*)(nvmlDevice_t, unsigned int*);
  auto get_index = reinterpret_cast<GetIndex>(NvmlSymbol("nvmlDeviceGetIndex"));
  unsigned int index = 0;
  if (get_index == nullptr || get_index(device, &index) != NVML_SUCCESS) return -1;
  return static_cast<int>(index);
}

// NVML's memory query (either version) with the slice's figures in place of the device's.
template <typename Memory>
nvmlReturn_t SliceMemoryInfo(nvmlReturn_t (*real)(nvmlDevice_t, Memory*), nvmlDevice_t device,
                             Memory* memory) {
  if (real == nullptr) return NVML_ERROR_UNINITIALIZED;
  const nvmlReturn_t rc = real(device, memory);
  if (rc != NVML_SUCCESS || memory == nullptr) return rc;
  const SliceView v = ViewOf(NvmlPhysical(device), memory->total);
  if (!v.limited) return rc;
  memory->total = v.total;
  memory->used = v.used;
  memory->free = v.free();
  if constexpr (requires { memory->reserved; }) memory->reserved = 0;
  return rc;
}

}  // namespace

extern "C" {

CUresult cuDevicePrimaryCtxRetain(CUcontext* ctx, CUdevice dev) {
  auto real = XPOOL_REAL(cuDevicePrimaryCtxRetain);
  if (real == nullptr) return CUDA_ERROR_NOT_INITIALIZED;
  return AfterContextCreated(real(ctx, dev), dev);
}

CUresult cuCtxCreate_v2(CUcontext* ctx, unsigned int flags, CUdevice dev) {
  auto real = XPOOL_REAL(cuCtxCreate_v2);
  if (real == nullptr) return CUDA_ERROR_NOT_INITIALIZED;
  return AfterContextCreated(real(ctx, flags, dev), dev);
}

CUresult cuCtxCreate_v3(CUcontext* ctx, void* affinity, int affinity_count, unsigned int flags,
                        CUdevice dev) {
  auto real = XPOOL_REAL(cuCtxCreate_v3);
  if (real == nullptr) return CUDA_ERROR_NOT_INITIALIZED;
  return AfterContextCreated(real(ctx, affinity, affinity_count, flags, dev), dev);
}

CUresult cuCtxCreate_v4(CUcontext* ctx, void* params, unsigned int flags, CUdevice dev) {
  auto real = XPOOL_REAL(cuCtxCreate_v4);
  if (real == nullptr) return CUDA_ERROR_NOT_INITIALIZED;
  return AfterContextCreated(real(ctx, params, flags, dev), dev);
}

CUresult cuMemGetInfo_v2(size_t* free_bytes, size_t* total_bytes) {
  auto real = XPOOL_REAL(cuMemGetInfo_v2);
  if (real == nullptr) return CUDA_ERROR_NOT_INITIALIZED;
  const CUresult rc = real(free_bytes, total_bytes);
  if (rc != CUDA_SUCCESS || free_bytes == nullptr || total_bytes == nullptr) return rc;
  Accountant& a = Accountant::Get();
  const int physical = a.CurrentPhysical();
  if (a.QuotaBytes(physical)) a.RefreshFootprint(physical);  // the NVML query only where it matters
  const SliceView v = ViewOf(physical, *total_bytes);
  if (!v.limited) return rc;
  *total_bytes = v.total;
  *free_bytes = std::min<uint64_t>(*free_bytes, v.free());
  return rc;
}

CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice dev) {
  auto real = XPOOL_REAL(cuDeviceTotalMem_v2);
  if (real == nullptr) return CUDA_ERROR_NOT_INITIALIZED;
  const CUresult rc = real(bytes, dev);
  if (rc != CUDA_SUCCESS || bytes == nullptr) return rc;
  const SliceView v = ViewOf(Accountant::Get().Physical(dev), *bytes);
  if (v.limited) *bytes = v.total;
  return rc;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t* memory) {
  return SliceMemoryInfo(XPOOL_REAL(nvmlDeviceGetMemoryInfo), device, memory);
}

nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t* memory) {
  return SliceMemoryInfo(XPOOL_REAL(nvmlDeviceGetMemoryInfo_v2), device, memory);
}

}  // extern "C"
