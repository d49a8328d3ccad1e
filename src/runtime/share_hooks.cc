// Device memory shared between processes: legacy IPC handles and VMM shareable handles. Memory
// exported by a process of this slice is already charged to the slice, so an importer in the
// same slice pays nothing more; memory imported from elsewhere is charged to the importer (IPC at
// open, VMM when mapped, since only the mapping says how much of the allocation it uses).
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

#include "runtime/accountant.h"
#include "runtime/hooks.h"
#include "runtime/symbol_table.h"

using xpool::runtime::Accountant;
using xpool::runtime::DriverSymbol;
using xpool::runtime::ObjectKind;

namespace {

uint64_t Fnv1a(const void* data, size_t size, uint64_t seed = 1469598103934665603ull) {
  uint64_t x = seed;
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < size; ++i) x = (x ^ p[i]) * 1099511628211ull;
  return x;
}

uint64_t IpcKey(const CUipcMemHandle& h) {
  return Fnv1a(h.reserved, sizeof(h.reserved));
}

// A file descriptor exported by the driver names a file that every export shares, so the file
// does not identify an export. Its open file description does, and survives being passed to
// another process: the exporter keeps a duplicate of the descriptor and records {pid, duplicate}
// under this tag; an importer asks the kernel (kcmp) whether its descriptor is the same one.
constexpr uint64_t kFdExportTag = 0xfdull << 56;

uint64_t FdExportKey(pid_t pid, int kept_fd) {
  return kFdExportTag | (static_cast<uint64_t>(static_cast<uint32_t>(pid)) << 24) |
         (static_cast<uint64_t>(kept_fd) & 0xffffff);
}

bool SameOpenFile(uint64_t key, int fd) {
  if ((key & (0xffull << 56)) != kFdExportTag) return false;
  const auto pid = static_cast<pid_t>((key >> 24) & 0xffffffff);
  const auto kept_fd = static_cast<int>(key & 0xffffff);
  constexpr int kKcmpFile = 0;
  return syscall(SYS_kcmp, getpid(), pid, kKcmpFile, fd, kept_fd) == 0;
}

uint64_t FabricKey(const CUmemFabricHandle& h) {
  return Fnv1a(h.data, sizeof(h.data), 0x766d6d2d6661ull);  // NOLINT: seed tags fabric keys
}

// Records an export so that importers in this slice recognise it.
void NoteVmmExport(const void* shareable, CUmemGenericAllocationHandle handle, int handle_type) {
  Accountant& a = Accountant::Get();
  if (handle_type == CU_MEM_HANDLE_TYPE_FABRIC) {
    a.NoteExport(FabricKey(*static_cast<const CUmemFabricHandle*>(shareable)));
  } else if (handle_type == CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR) {
    const int kept = fcntl(*static_cast<const int*>(shareable), F_DUPFD_CLOEXEC, 0);
    if (kept < 0) return;
    a.KeepExportDescriptor(handle, kept);
    a.NoteExport(FdExportKey(getpid(), kept));
  }
}

// Whether an import names memory a process of this slice exported.
bool ExportedHere(void* os_handle, int handle_type) {
  Accountant& a = Accountant::Get();
  if (handle_type == CU_MEM_HANDLE_TYPE_FABRIC) {
    return a.IsExportedHere(FabricKey(*static_cast<const CUmemFabricHandle*>(os_handle)));
  }
  if (handle_type == CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR) {
    const auto fd = static_cast<int>(reinterpret_cast<intptr_t>(os_handle));
    return a.AnyExportHere([fd](uint64_t key) { return SameOpenFile(key, fd); });
  }
  return false;
}

// The physical device an allocation handle's memory lives on; -1 when not device memory.
int PhysicalOfHandle(CUmemGenericAllocationHandle handle) {
  using Properties = CUresult (*)(CUmemAllocationProp*, CUmemGenericAllocationHandle);
  static auto properties =
      reinterpret_cast<Properties>(DriverSymbol("cuMemGetAllocationPropertiesFromHandle"));
  CUmemAllocationProp prop{};
  if (properties == nullptr || properties(&prop, handle) != CUDA_SUCCESS ||
      prop.location.type != CU_MEM_LOCATION_TYPE_DEVICE) {
    return -1;
  }
  return Accountant::Get().Physical(prop.location.id);
}

}  // namespace

extern "C" {

CUresult cuIpcGetMemHandle(CUipcMemHandle* handle, CUdeviceptr dptr) {
  XPOOL_REAL_OR_FAIL(cuIpcGetMemHandle);
  const CUresult rc = real(handle, dptr);
  if (rc == CUDA_SUCCESS && handle != nullptr) Accountant::Get().NoteExport(IpcKey(*handle));
  return rc;
}

CUresult cuIpcOpenMemHandle_v2(CUdeviceptr* dptr, CUipcMemHandle handle, unsigned int flags) {
  XPOOL_REAL_OR_FAIL(cuIpcOpenMemHandle_v2);
  Accountant& a = Accountant::Get();
  const CUresult rc = real(dptr, handle, flags);
  if (rc != CUDA_SUCCESS || dptr == nullptr || a.IsExportedHere(IpcKey(handle))) return rc;
  using Range = CUresult (*)(CUdeviceptr*, size_t*, CUdeviceptr);
  auto range = reinterpret_cast<Range>(DriverSymbol("cuMemGetAddressRange_v2"));
  size_t bytes = 0;
  CUdeviceptr base = 0;
  if (range == nullptr || range(&base, &bytes, *dptr) != CUDA_SUCCESS) return rc;
  const int physical = a.CurrentPhysical();
  if (!a.Charge(physical, static_cast<int64_t>(bytes))) {
    XPOOL_REAL(cuIpcCloseMemHandle)(*dptr);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  a.Track(ObjectKind::kIpcImport, *dptr, physical, static_cast<int64_t>(bytes));
  return rc;
}

CUresult cuIpcCloseMemHandle(CUdeviceptr dptr) {
  XPOOL_REAL_OR_FAIL(cuIpcCloseMemHandle);
  const CUresult rc = real(dptr);
  if (rc == CUDA_SUCCESS) Accountant::Get().Untrack(ObjectKind::kIpcImport, dptr);
  return rc;
}

CUresult cuMemExportToShareableHandle(void* shareable, CUmemGenericAllocationHandle handle,
                                      int handle_type, unsigned long long flags) {
  XPOOL_REAL_OR_FAIL(cuMemExportToShareableHandle);
  const CUresult rc = real(shareable, handle, handle_type, flags);
  if (rc == CUDA_SUCCESS && shareable != nullptr) NoteVmmExport(shareable, handle, handle_type);
  return rc;
}

CUresult cuMemImportFromShareableHandle(CUmemGenericAllocationHandle* handle, void* os_handle,
                                        int handle_type) {
  XPOOL_REAL_OR_FAIL(cuMemImportFromShareableHandle);
  // Asked before the call: the driver may close a descriptor it consumed.
  const bool exported_here = os_handle != nullptr && ExportedHere(os_handle, handle_type);
  const CUresult rc = real(handle, os_handle, handle_type);
  if (rc == CUDA_SUCCESS && handle != nullptr && !exported_here) {
    Accountant::Get().NoteForeignHandle(*handle);
  }
  return rc;
}

CUresult cuMemMap(CUdeviceptr ptr, size_t size, size_t offset, CUmemGenericAllocationHandle handle,
                  unsigned long long flags) {
  XPOOL_REAL_OR_FAIL(cuMemMap);
  Accountant& a = Accountant::Get();
  if (!a.IsForeignHandle(handle)) return real(ptr, size, offset, handle, flags);
  if (a.refusing()) return CUDA_ERROR_OUT_OF_MEMORY;
  // The exporter's process holds this memory in the driver's per-process figures, so it is not
  // resident here.
  const int physical = PhysicalOfHandle(handle);
  const auto bytes = static_cast<int64_t>(size);
  if (!a.Charge(physical, bytes, /*resident=*/false)) return CUDA_ERROR_OUT_OF_MEMORY;
  const CUresult rc = real(ptr, size, offset, handle, flags);
  if (rc != CUDA_SUCCESS) {
    a.Uncharge(physical, bytes, /*resident=*/false);
    return rc;
  }
  a.Track(ObjectKind::kImportedMapping, ptr, physical, bytes, /*resident=*/false);
  return rc;
}

CUresult cuMemUnmap(CUdeviceptr ptr, size_t size) {
  XPOOL_REAL_OR_FAIL(cuMemUnmap);
  const CUresult rc = real(ptr, size);
  // Only whole mappings can be unmapped, so the mapping's start names its charge.
  if (rc == CUDA_SUCCESS) Accountant::Get().Untrack(ObjectKind::kImportedMapping, ptr);
  return rc;
}

}  // extern "C"
