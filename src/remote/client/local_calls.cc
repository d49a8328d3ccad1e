// The driver calls the client answers itself: initialisation, the session's one device (from the
// description the server sent when the session opened), contexts, error strings, and symbol
// lookup. In a remote session the program sees one device, the slice, and one context on it.
#include <climits>
#include <cstring>
#include <mutex>
#include <set>
#include <string>

#include "remote/client/client_log.h"
#include "remote/client/connection.h"
#include "remote/client/proc_table.h"

#define XPOOL_REMOTE_API extern "C" __attribute__((visibility("default")))

namespace xpool::remote {
namespace {

// The client implements the driver API of CUDA 13.0.
constexpr int kClientApiVersion = 13000;
// The session's one context; its address is its handle.
char g_context_tag;
CUcontext Context() {
  return reinterpret_cast<CUcontext>(&g_context_tag);
}
thread_local CUcontext t_current = nullptr;
thread_local int t_pushed = 0;
unsigned int g_primary_flags = 0;

const DeviceDescription* Device(CUdevice dev) {
  Connection* c = Connection::Get();
  return c != nullptr && dev == 0 ? &c->device() : nullptr;
}

struct ErrorText {
  CUresult code;
  const char* name;
  const char* text;
};
constexpr ErrorText kErrors[] = {
    {0, "CUDA_SUCCESS", "no error"},
    {1, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {2, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {3, "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
    {46, "CUDA_ERROR_DEVICE_UNAVAILABLE", "the remote GPU's server cannot be reached"},
    {100, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"},
    {101, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
    {200, "CUDA_ERROR_INVALID_IMAGE", "device kernel image is invalid"},
    {201, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
    {400, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
    {500, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
    {600, "CUDA_ERROR_NOT_READY", "device not ready"},
    {719, "CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure"},
    {800, "CUDA_ERROR_NOT_PERMITTED", "operation not permitted"},
    {801, "CUDA_ERROR_NOT_SUPPORTED", "operation not supported"},
    {999, "CUDA_ERROR_UNKNOWN", "unknown error"},
};

}  // namespace
}  // namespace xpool::remote

using namespace xpool::remote;  // NOLINT(google-build-using-namespace): the C ABI below

XPOOL_REMOTE_API CUresult cuInit(unsigned int) {
  return Connection::Get() != nullptr ? CUDA_SUCCESS : CUDA_ERROR_NO_DEVICE;
}
XPOOL_REMOTE_API CUresult cuDriverGetVersion(int* version) {
  if (version == nullptr) return CUDA_ERROR_INVALID_VALUE;
  // The lower of the client's API and the server's driver: what the program may use.
  const DeviceDescription* d = Device(0);
  *version =
      d != nullptr && d->driver_version < kClientApiVersion ? d->driver_version : kClientApiVersion;
  return CUDA_SUCCESS;
}
XPOOL_REMOTE_API CUresult cuDeviceGetCount(int* count) {
  if (count == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *count = Device(0) != nullptr ? 1 : 0;
  return CUDA_SUCCESS;
}
XPOOL_REMOTE_API CUresult cuDeviceGet(CUdevice* dev, int ordinal) {
  if (dev == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (Device(ordinal) == nullptr) return CUDA_ERROR_INVALID_DEVICE;
  *dev = ordinal;
  return CUDA_SUCCESS;
}
XPOOL_REMOTE_API CUresult cuDeviceGetName(char* name, int len, CUdevice dev) {
  const DeviceDescription* d = Device(dev);
  if (d == nullptr) return CUDA_ERROR_INVALID_DEVICE;
  if (name == nullptr || len <= 0) return CUDA_ERROR_INVALID_VALUE;
  std::snprintf(name, static_cast<size_t>(len), "%s", d->name.c_str());
  return CUDA_SUCCESS;
}
XPOOL_REMOTE_API CUresult cuDeviceGetAttribute(int* value, int attribute, CUdevice dev) {
  const DeviceDescription* d = Device(dev);
  if (d == nullptr) return CUDA_ERROR_INVALID_DEVICE;
  if (value == nullptr || attribute <= 0 ||
      static_cast<size_t>(attribute) >= d->attributes.size() ||
      d->attributes[attribute] == INT32_MIN) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  *value = d->attributes[attribute];
  return CUDA_SUCCESS;
}
XPOOL_REMOTE_API CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice dev) {
  const DeviceDescription* d = Device(dev);
  if (d == nullptr) return CUDA_ERROR_INVALID_DEVICE;
  if (bytes == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *bytes = d->total_memory;
  return CUDA_SUCCESS;
}
XPOOL_REMOTE_API CUresult cuDeviceGetUuid_v2(CUuuid* uuid, CUdevice dev) {
  const DeviceDescription* d = Device(dev);
  if (d == nullptr) return CUDA_ERROR_INVALID_DEVICE;
  if (uuid == nullptr) return CUDA_ERROR_INVALID_VALUE;
  std::memcpy(uuid->bytes, d->uuid, sizeof(uuid->bytes));
  return CUDA_SUCCESS;
}
XPOOL_REMOTE_API CUresult cuDeviceGetUuid(CUuuid* uuid, CUdevice dev) {
  return cuDeviceGetUuid_v2(uuid, dev);
}
XPOOL_REMOTE_API CUresult cuDeviceComputeCapability(int* major, int* minor, CUdevice dev) {
  constexpr int kMajor = 75, kMinor = 76;  // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR/MINOR
  if (major == nullptr || minor == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (CUresult rc = cuDeviceGetAttribute(major, kMajor, dev); rc != CUDA_SUCCESS) return rc;
  return cuDeviceGetAttribute(minor, kMinor, dev);
}

XPOOL_REMOTE_API CUresult cuDevicePrimaryCtxRetain(CUcontext* ctx, CUdevice dev) {
  if (Device(dev) == nullptr) return CUDA_ERROR_INVALID_DEVICE;
  if (ctx == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *ctx = Context();
  return CUDA_SUCCESS;
}
XPOOL_REMOTE_API CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev) {
  return Device(dev) != nullptr ? CUDA_SUCCESS : CUDA_ERROR_INVALID_DEVICE;
}
XPOOL_REMOTE_API CUresult cuDevicePrimaryCtxGetState(CUdevice dev, unsigned int* flags,
                                                     int* active) {
  if (Device(dev) == nullptr) return CUDA_ERROR_INVALID_DEVICE;
  if (flags != nullptr) *flags = g_primary_flags;
  if (active != nullptr) *active = 1;
  return CUDA_SUCCESS;
}
XPOOL_REMOTE_API CUresult cuDevicePrimaryCtxSetFlags_v2(CUdevice dev, unsigned int flags) {
  if (Device(dev) == nullptr) return CUDA_ERROR_INVALID_DEVICE;
  g_primary_flags = flags;
  return CUDA_SUCCESS;
}
XPOOL_REMOTE_API CUresult cuDevicePrimaryCtxReset_v2(CUdevice dev) {
  return Device(dev) != nullptr ? CUDA_SUCCESS : CUDA_ERROR_INVALID_DEVICE;
}
XPOOL_REMOTE_API CUresult cuCtxCreate_v2(CUcontext* ctx, unsigned int, CUdevice dev) {
  if (CUresult rc = cuDevicePrimaryCtxRetain(ctx, dev); rc != CUDA_SUCCESS) return rc;
  t_current = *ctx;
  return CUDA_SUCCESS;
}
XPOOL_REMOTE_API CUresult cuCtxCreate_v4(CUcontext* ctx, void*, unsigned int flags, CUdevice dev) {
  return cuCtxCreate_v2(ctx, flags, dev);
}
XPOOL_REMOTE_API CUresult cuCtxDestroy_v2(CUcontext ctx) {
  if (ctx != Context()) return CUDA_ERROR_INVALID_CONTEXT;
  if (t_current == ctx) t_current = nullptr;
  return CUDA_SUCCESS;
}
XPOOL_REMOTE_API CUresult cuCtxSetCurrent(CUcontext ctx) {
  if (ctx != nullptr && ctx != Context()) return CUDA_ERROR_INVALID_CONTEXT;
  t_current = ctx;
  return CUDA_SUCCESS;
}
XPOOL_REMOTE_API CUresult cuCtxGetCurrent(CUcontext* ctx) {
  if (ctx == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *ctx = t_current;
  return CUDA_SUCCESS;
}
XPOOL_REMOTE_API CUresult cuCtxPushCurrent_v2(CUcontext ctx) {
  if (ctx != Context()) return CUDA_ERROR_INVALID_CONTEXT;
  ++t_pushed;
  t_current = ctx;
  return CUDA_SUCCESS;
}
XPOOL_REMOTE_API CUresult cuCtxPopCurrent_v2(CUcontext* ctx) {
  if (t_pushed == 0 && t_current == nullptr) return CUDA_ERROR_INVALID_CONTEXT;
  if (ctx != nullptr) *ctx = t_current;
  if (t_pushed > 0) --t_pushed;
  if (t_pushed == 0) t_current = nullptr;
  return CUDA_SUCCESS;
}
XPOOL_REMOTE_API CUresult cuCtxGetDevice(CUdevice* dev) {
  if (dev == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (t_current == nullptr) return CUDA_ERROR_INVALID_CONTEXT;
  *dev = 0;
  return CUDA_SUCCESS;
}
XPOOL_REMOTE_API CUresult cuCtxGetApiVersion(CUcontext, unsigned int* version) {
  if (version == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *version = 3020;  // the context ABI every current driver reports
  return CUDA_SUCCESS;
}
XPOOL_REMOTE_API CUresult cuCtxGetFlags(unsigned int* flags) {
  if (flags == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *flags = g_primary_flags;
  return CUDA_SUCCESS;
}

XPOOL_REMOTE_API CUresult cuGetErrorName(CUresult error, const char** name) {
  if (name == nullptr) return CUDA_ERROR_INVALID_VALUE;
  for (const ErrorText& e : kErrors) {
    if (e.code == error) {
      *name = e.name;
      return CUDA_SUCCESS;
    }
  }
  *name = nullptr;
  return CUDA_ERROR_INVALID_VALUE;
}
XPOOL_REMOTE_API CUresult cuGetErrorString(CUresult error, const char** text) {
  if (text == nullptr) return CUDA_ERROR_INVALID_VALUE;
  for (const ErrorText& e : kErrors) {
    if (e.code == error) {
      *text = e.text;
      return CUDA_SUCCESS;
    }
  }
  *text = nullptr;
  return CUDA_ERROR_INVALID_VALUE;
}

// The CUDA runtime's private tables: none is answered yet (the next stage of docs/remote.md).
XPOOL_REMOTE_API CUresult cuGetExportTable(const void** table, const CUuuid* id) {
  if (table != nullptr) *table = nullptr;
  char hex[33] = {};
  for (int i = 0; id != nullptr && i < 16; ++i) {
    std::snprintf(hex + 2 * i, 3, "%02x", static_cast<unsigned char>(id->bytes[i]));
  }
  ClientLog("cuGetExportTable(%s) is not supported remotely", hex);
  return CUDA_ERROR_NOT_SUPPORTED;
}

XPOOL_REMOTE_API CUresult cuGetProcAddress_v2(const char* symbol, void** fn, int, cuuint64_t flags,
                                              CUdriverProcAddressQueryResult* status) {
  if (symbol == nullptr || fn == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *fn = ResolveDriverSymbol(symbol, flags);
  if (status != nullptr) {
    *status = *fn != nullptr ? CU_GET_PROC_ADDRESS_SUCCESS : CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
  }
  return *fn != nullptr ? CUDA_SUCCESS : CUDA_ERROR_NOT_FOUND;
}
XPOOL_REMOTE_API CUresult cuGetProcAddress(const char* symbol, void** fn, int version,
                                           cuuint64_t flags) {
  return cuGetProcAddress_v2(symbol, fn, version, flags, nullptr);
}
