// Declarations of the intercepted driver and NVML entry points (the list is hooks.inc). Each is
// exported under the driver's own name, so a program linked to libcuda reaches it directly, and
// handed out by the dlsym and cuGetProcAddress hooks to programs that resolve the driver at run
// time.
#pragma once

#include "runtime/driver_abi.h"

#define XPOOL_EXPORT __attribute__((visibility("default")))

extern "C" {
XPOOL_EXPORT CUresult cuMemAlloc_v2(CUdeviceptr* dptr, size_t bytes);
XPOOL_EXPORT CUresult cuMemAllocPitch_v2(CUdeviceptr* dptr, size_t* pitch, size_t width_bytes,
                                         size_t height, unsigned int element_bytes);
XPOOL_EXPORT CUresult cuMemAllocManaged(CUdeviceptr* dptr, size_t bytes, unsigned int flags);
XPOOL_EXPORT CUresult cuMemFree_v2(CUdeviceptr dptr);
XPOOL_EXPORT CUresult cuMemAllocAsync(CUdeviceptr* dptr, size_t bytes, CUstream stream);
XPOOL_EXPORT CUresult cuMemAllocAsync_ptsz(CUdeviceptr* dptr, size_t bytes, CUstream stream);
XPOOL_EXPORT CUresult cuMemAllocFromPoolAsync(CUdeviceptr* dptr, size_t bytes, CUmemoryPool pool,
                                              CUstream stream);
XPOOL_EXPORT CUresult cuMemAllocFromPoolAsync_ptsz(CUdeviceptr* dptr, size_t bytes,
                                                   CUmemoryPool pool, CUstream stream);
XPOOL_EXPORT CUresult cuMemFreeAsync(CUdeviceptr dptr, CUstream stream);
XPOOL_EXPORT CUresult cuMemFreeAsync_ptsz(CUdeviceptr dptr, CUstream stream);
XPOOL_EXPORT CUresult cuMemCreate(CUmemGenericAllocationHandle* handle, size_t bytes,
                                  const CUmemAllocationProp* prop, unsigned long long flags);
XPOOL_EXPORT CUresult cuMemRelease(CUmemGenericAllocationHandle handle);
XPOOL_EXPORT CUresult cuArrayCreate_v2(CUarray* array, const CUDA_ARRAY_DESCRIPTOR* desc);
XPOOL_EXPORT CUresult cuArray3DCreate_v2(CUarray* array, const CUDA_ARRAY3D_DESCRIPTOR* desc);
XPOOL_EXPORT CUresult cuArrayDestroy(CUarray array);
XPOOL_EXPORT CUresult cuMipmappedArrayCreate(CUmipmappedArray* array,
                                             const CUDA_ARRAY3D_DESCRIPTOR* desc,
                                             unsigned int levels);
XPOOL_EXPORT CUresult cuMipmappedArrayDestroy(CUmipmappedArray array);
XPOOL_EXPORT CUresult cuIpcGetMemHandle(CUipcMemHandle* handle, CUdeviceptr dptr);
XPOOL_EXPORT CUresult cuIpcOpenMemHandle_v2(CUdeviceptr* dptr, CUipcMemHandle handle,
                                            unsigned int flags);
XPOOL_EXPORT CUresult cuIpcCloseMemHandle(CUdeviceptr dptr);
XPOOL_EXPORT CUresult cuMemExportToShareableHandle(void* shareable,
                                                   CUmemGenericAllocationHandle handle,
                                                   int handle_type, unsigned long long flags);
XPOOL_EXPORT CUresult cuMemImportFromShareableHandle(CUmemGenericAllocationHandle* handle,
                                                     void* os_handle, int handle_type);
XPOOL_EXPORT CUresult cuMemMap(CUdeviceptr ptr, size_t size, size_t offset,
                               CUmemGenericAllocationHandle handle, unsigned long long flags);
XPOOL_EXPORT CUresult cuMemUnmap(CUdeviceptr ptr, size_t size);
XPOOL_EXPORT CUresult cuDevicePrimaryCtxRetain(CUcontext* ctx, CUdevice dev);
XPOOL_EXPORT CUresult cuCtxCreate_v2(CUcontext* ctx, unsigned int flags, CUdevice dev);
XPOOL_EXPORT CUresult cuCtxCreate_v3(CUcontext* ctx, void* affinity, int affinity_count,
                                     unsigned int flags, CUdevice dev);
XPOOL_EXPORT CUresult cuCtxCreate_v4(CUcontext* ctx, void* params, unsigned int flags,
                                     CUdevice dev);
XPOOL_EXPORT CUresult cuMemGetInfo_v2(size_t* free_bytes, size_t* total_bytes);
XPOOL_EXPORT CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice dev);
XPOOL_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t* memory);
XPOOL_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t* memory);
XPOOL_EXPORT CUresult cuLaunchKernel(CUfunction f, unsigned int gx, unsigned int gy,
                                     unsigned int gz, unsigned int bx, unsigned int by,
                                     unsigned int bz, unsigned int shared_bytes, CUstream stream,
                                     void** params, void** extra);
XPOOL_EXPORT CUresult cuLaunchKernel_ptsz(CUfunction f, unsigned int gx, unsigned int gy,
                                          unsigned int gz, unsigned int bx, unsigned int by,
                                          unsigned int bz, unsigned int shared_bytes,
                                          CUstream stream, void** params, void** extra);
XPOOL_EXPORT CUresult cuLaunchKernelEx(const CUlaunchConfig* config, CUfunction f, void** params,
                                       void** extra);
XPOOL_EXPORT CUresult cuLaunchKernelEx_ptsz(const CUlaunchConfig* config, CUfunction f,
                                            void** params, void** extra);
XPOOL_EXPORT CUresult cuLaunchCooperativeKernel(CUfunction f, unsigned int gx, unsigned int gy,
                                                unsigned int gz, unsigned int bx, unsigned int by,
                                                unsigned int bz, unsigned int shared_bytes,
                                                CUstream stream, void** params);
XPOOL_EXPORT CUresult cuLaunchCooperativeKernel_ptsz(CUfunction f, unsigned int gx, unsigned int gy,
                                                     unsigned int gz, unsigned int bx,
                                                     unsigned int by, unsigned int bz,
                                                     unsigned int shared_bytes, CUstream stream,
                                                     void** params);
XPOOL_EXPORT CUresult cuGraphLaunch(CUgraphExec graph, CUstream stream);
XPOOL_EXPORT CUresult cuGraphLaunch_ptsz(CUgraphExec graph, CUstream stream);
XPOOL_EXPORT CUresult cuGetProcAddress(const char* symbol, void** pfn, int version,
                                       cuuint64_t flags);
XPOOL_EXPORT CUresult cuGetProcAddress_v2(const char* symbol, void** pfn, int version,
                                          cuuint64_t flags, CUdriverProcAddressQueryResult* status);
}
