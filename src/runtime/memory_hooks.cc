// The memory hooks: every call that takes device memory is admitted against the slice's quota
// before it reaches the driver, and every call that gives memory back returns its charge. A call
// over quota returns CUDA_ERROR_OUT_OF_MEMORY and changes nothing else.
#include <algorithm>
#include <cstring>
#include <utility>

#include "runtime/accountant.h"
#include "runtime/hooks.h"
#include "runtime/log.h"
#include "runtime/symbol_table.h"

using xpool::runtime::Accountant;
using xpool::runtime::DriverSymbol;
using xpool::runtime::LogLevel;
using xpool::runtime::ObjectKind;

namespace {

// Admits `bytes` on the current device, runs the allocation, and keeps or returns the charge.
template <typename Call>
CUresult CountedAllocation(ObjectKind kind, CUdeviceptr* dptr, int64_t bytes, Call&& call,
                           bool resident = true) {
  Accountant& a = Accountant::Get();
  if (a.refusing()) return CUDA_ERROR_OUT_OF_MEMORY;
  const int physical = a.CurrentPhysical();
  if (physical < 0) return call();  // no current context: the driver reports its own error
  if (!a.Charge(physical, bytes, resident)) return CUDA_ERROR_OUT_OF_MEMORY;
  const CUresult rc = call();
  if (rc != CUDA_SUCCESS || dptr == nullptr) {
    a.Uncharge(physical, bytes, resident);
    return rc;
  }
  a.Track(kind, *dptr, physical, bytes, resident);
  return rc;
}

template <typename Call>
CUresult CountedFree(ObjectKind kind, uint64_t key, Call&& call) {
  const CUresult rc = call();
  if (rc == CUDA_SUCCESS) Accountant::Get().Untrack(kind, key);
  return rc;
}

int64_t ElementBytes(int format) {
  switch (format) {
    case 0x01:
    case 0x08:
      return 1;  // 8-bit integers
    case 0x02:
    case 0x09:
    case 0x10:
      return 2;  // 16-bit integers, half
    default:
      return 4;  // 32-bit integers and float; an upper bound for the packed formats
  }
}

int64_t EstimateArrayBytes(size_t width, size_t height, size_t depth, int format,
                           unsigned channels) {
  return static_cast<int64_t>(std::max<size_t>(width, 1) * std::max<size_t>(height, 1) *
                              std::max<size_t>(depth, 1)) *
         ElementBytes(format) * std::max(channels, 1u);
}

// The driver's own figure for an array's footprint where it offers one.
template <typename Object>
int64_t ArrayBytes(const char* requirements_fn, Object object, int64_t estimate) {
  using Requirements = CUresult (*)(CUDA_ARRAY_MEMORY_REQUIREMENTS*, Object, CUdevice);
  using GetDevice = CUresult (*)(CUdevice*);
  auto requirements = reinterpret_cast<Requirements>(DriverSymbol(requirements_fn));
  auto get_device = reinterpret_cast<GetDevice>(DriverSymbol("cuCtxGetDevice"));
  CUdevice dev = 0;
  CUDA_ARRAY_MEMORY_REQUIREMENTS r{};
  if (requirements != nullptr && get_device != nullptr && get_device(&dev) == CUDA_SUCCESS &&
      requirements(&r, object, dev) == CUDA_SUCCESS && r.size > 0) {
    return static_cast<int64_t>(r.size);
  }
  return estimate;
}

// For calls whose footprint the driver knows only afterwards (pitched rows, arrays): admits an
// estimate, runs the call, then settles the charge on the size `measure` reports for the new
// object (as {key, bytes}). If the real size no longer fits, the object is destroyed and the call
// refused.
template <typename Create, typename Measure, typename Destroy>
CUresult CountedBySize(ObjectKind kind, int64_t estimate, Create&& create, Measure&& measure,
                       Destroy&& destroy) {
  Accountant& a = Accountant::Get();
  if (a.refusing()) return CUDA_ERROR_OUT_OF_MEMORY;
  const int physical = a.CurrentPhysical();
  if (physical < 0) return create();
  if (!a.Charge(physical, estimate)) return CUDA_ERROR_OUT_OF_MEMORY;
  const CUresult rc = create();
  if (rc != CUDA_SUCCESS) {
    a.Uncharge(physical, estimate);
    return rc;
  }
  const auto [key, actual] = measure();
  if (!a.Settle(physical, estimate, actual)) {
    destroy();
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  a.Track(kind, key, physical, actual);
  return rc;
}

// Arrays: sized by the driver's memory requirements once they exist.
template <typename Object, typename Create>
CUresult CountedArray(ObjectKind kind, Object* array, int64_t estimate, const char* requirements_fn,
                      Create&& create, CUresult (*destroy)(Object)) {
  return CountedBySize(
      kind, estimate, create,
      [&] {
        return std::pair<uint64_t, int64_t>(reinterpret_cast<uint64_t>(*array),
                                            ArrayBytes(requirements_fn, *array, estimate));
      },
      [&] {
        if (destroy != nullptr) destroy(*array);
        *array = nullptr;
      });
}

}  // namespace

extern "C" {

CUresult cuMemAlloc_v2(CUdeviceptr* dptr, size_t bytes) {
  XPOOL_REAL_OR_FAIL(cuMemAlloc_v2);
  return CountedAllocation(ObjectKind::kPointer, dptr, static_cast<int64_t>(bytes),
                           [&] { return real(dptr, bytes); });
}

CUresult cuMemAllocManaged(CUdeviceptr* dptr, size_t bytes, unsigned int flags) {
  XPOOL_REAL_OR_FAIL(cuMemAllocManaged);
  // Charged in full, though NVML's per-process figure leaves managed memory out.
  return CountedAllocation(
      ObjectKind::kPointer, dptr, static_cast<int64_t>(bytes),
      [&] { return real(dptr, bytes, flags); }, /*resident=*/false);
}

CUresult cuMemAllocPitch_v2(CUdeviceptr* dptr, size_t* pitch, size_t width_bytes, size_t height,
                            unsigned int element_bytes) {
  XPOOL_REAL_OR_FAIL(cuMemAllocPitch_v2);
  // Admit the width rounded to the driver's usual 512-byte pitch, then settle on the real pitch.
  const auto estimate = static_cast<int64_t>(((width_bytes + 511) / 512) * 512 * height);
  return CountedBySize(
      ObjectKind::kPointer, estimate,
      [&] { return real(dptr, pitch, width_bytes, height, element_bytes); },
      [&] { return std::pair<uint64_t, int64_t>(*dptr, static_cast<int64_t>(*pitch * height)); },
      [&] {
        if (auto free_fn = XPOOL_REAL(cuMemFree_v2)) free_fn(*dptr);
      });
}

CUresult cuMemFree_v2(CUdeviceptr dptr) {
  XPOOL_REAL_OR_FAIL(cuMemFree_v2);
  return CountedFree(ObjectKind::kPointer, dptr, [&] { return real(dptr); });
}

CUresult cuMemAllocAsync(CUdeviceptr* dptr, size_t bytes, CUstream stream) {
  XPOOL_REAL_OR_FAIL(cuMemAllocAsync);
  return CountedAllocation(ObjectKind::kPointer, dptr, static_cast<int64_t>(bytes),
                           [&] { return real(dptr, bytes, stream); });
}

CUresult cuMemAllocAsync_ptsz(CUdeviceptr* dptr, size_t bytes, CUstream stream) {
  XPOOL_REAL_OR_FAIL(cuMemAllocAsync_ptsz);
  return CountedAllocation(ObjectKind::kPointer, dptr, static_cast<int64_t>(bytes),
                           [&] { return real(dptr, bytes, stream); });
}

CUresult cuMemAllocFromPoolAsync(CUdeviceptr* dptr, size_t bytes, CUmemoryPool pool,
                                 CUstream stream) {
  XPOOL_REAL_OR_FAIL(cuMemAllocFromPoolAsync);
  return CountedAllocation(ObjectKind::kPointer, dptr, static_cast<int64_t>(bytes),
                           [&] { return real(dptr, bytes, pool, stream); });
}

CUresult cuMemAllocFromPoolAsync_ptsz(CUdeviceptr* dptr, size_t bytes, CUmemoryPool pool,
                                      CUstream stream) {
  XPOOL_REAL_OR_FAIL(cuMemAllocFromPoolAsync_ptsz);
  return CountedAllocation(ObjectKind::kPointer, dptr, static_cast<int64_t>(bytes),
                           [&] { return real(dptr, bytes, pool, stream); });
}

CUresult cuMemFreeAsync(CUdeviceptr dptr, CUstream stream) {
  XPOOL_REAL_OR_FAIL(cuMemFreeAsync);
  return CountedFree(ObjectKind::kPointer, dptr, [&] { return real(dptr, stream); });
}

CUresult cuMemFreeAsync_ptsz(CUdeviceptr dptr, CUstream stream) {
  XPOOL_REAL_OR_FAIL(cuMemFreeAsync_ptsz);
  return CountedFree(ObjectKind::kPointer, dptr, [&] { return real(dptr, stream); });
}

CUresult cuMemCreate(CUmemGenericAllocationHandle* handle, size_t bytes,
                     const CUmemAllocationProp* prop, unsigned long long flags) {
  XPOOL_REAL_OR_FAIL(cuMemCreate);
  Accountant& a = Accountant::Get();
  if (prop == nullptr || prop->location.type != CU_MEM_LOCATION_TYPE_DEVICE) {
    return real(handle, bytes, prop, flags);  // host memory: not the device's
  }
  if (a.refusing()) return CUDA_ERROR_OUT_OF_MEMORY;
  const int physical = a.Physical(prop->location.id);
  const auto charge = static_cast<int64_t>(bytes);
  if (!a.Charge(physical, charge)) return CUDA_ERROR_OUT_OF_MEMORY;
  const CUresult rc = real(handle, bytes, prop, flags);
  if (rc != CUDA_SUCCESS || handle == nullptr) {
    a.Uncharge(physical, charge);
    return rc;
  }
  a.Track(ObjectKind::kVmmHandle, *handle, physical, charge);
  return rc;
}

CUresult cuMemRelease(CUmemGenericAllocationHandle handle) {
  XPOOL_REAL_OR_FAIL(cuMemRelease);
  const CUresult rc = CountedFree(ObjectKind::kVmmHandle, handle, [&] { return real(handle); });
  if (rc == CUDA_SUCCESS) Accountant::Get().ForgetHandle(handle);
  return rc;
}

CUresult cuArrayCreate_v2(CUarray* array, const CUDA_ARRAY_DESCRIPTOR* desc) {
  XPOOL_REAL_OR_FAIL(cuArrayCreate_v2);
  if (desc == nullptr) return real(array, desc);
  const int64_t estimate =
      EstimateArrayBytes(desc->Width, desc->Height, 1, desc->Format, desc->NumChannels);
  return CountedArray(
      ObjectKind::kArray, array, estimate, "cuArrayGetMemoryRequirements",
      [&] { return real(array, desc); }, XPOOL_REAL(cuArrayDestroy));
}

CUresult cuArray3DCreate_v2(CUarray* array, const CUDA_ARRAY3D_DESCRIPTOR* desc) {
  XPOOL_REAL_OR_FAIL(cuArray3DCreate_v2);
  if (desc == nullptr) return real(array, desc);
  const int64_t estimate =
      EstimateArrayBytes(desc->Width, desc->Height, desc->Depth, desc->Format, desc->NumChannels);
  return CountedArray(
      ObjectKind::kArray, array, estimate, "cuArrayGetMemoryRequirements",
      [&] { return real(array, desc); }, XPOOL_REAL(cuArrayDestroy));
}

CUresult cuArrayDestroy(CUarray array) {
  XPOOL_REAL_OR_FAIL(cuArrayDestroy);
  return CountedFree(ObjectKind::kArray, reinterpret_cast<uint64_t>(array),
                     [&] { return real(array); });
}

CUresult cuMipmappedArrayCreate(CUmipmappedArray* array, const CUDA_ARRAY3D_DESCRIPTOR* desc,
                                unsigned int levels) {
  XPOOL_REAL_OR_FAIL(cuMipmappedArrayCreate);
  if (desc == nullptr) return real(array, desc, levels);
  // Level 0 plus the smaller levels come to at most 4/3 of level 0 in 2D (8/7 in 3D).
  const int64_t estimate =
      EstimateArrayBytes(desc->Width, desc->Height, desc->Depth, desc->Format, desc->NumChannels) *
      4 / 3;
  return CountedArray(
      ObjectKind::kMipmappedArray, array, estimate, "cuMipmappedArrayGetMemoryRequirements",
      [&] { return real(array, desc, levels); }, XPOOL_REAL(cuMipmappedArrayDestroy));
}

CUresult cuMipmappedArrayDestroy(CUmipmappedArray array) {
  XPOOL_REAL_OR_FAIL(cuMipmappedArrayDestroy);
  return CountedFree(ObjectKind::kMipmappedArray, reinterpret_cast<uint64_t>(array),
                     [&] { return real(array); });
}

}  // extern "C"
