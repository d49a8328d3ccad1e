// The driver calls the client sends to its server: memory, copies, memsets, modules, launches,
// streams and events. Calls whose results the program does not read are posted without waiting;
// the rest wait for their reply.
#include <cstring>
#include <mutex>
#include <set>
#include <string>

#include "remote/client/client_log.h"
#include "remote/client/connection.h"
#include "remote/client/handles.h"
#include "remote/module_image.h"

#define XPOOL_REMOTE_API extern "C" __attribute__((visibility("default")))

namespace xpool::remote {
namespace {

Connection* Session() {
  return Connection::Get();
}

struct Payload {
  std::vector<uint8_t> bytes;
  Writer w{&bytes};
};

CUresult CopyToDevice(CUdeviceptr dst, const void* src, size_t n, CUstream stream) {
  Connection* c = Session();
  if (c == nullptr) return CUDA_ERROR_NO_DEVICE;
  if (src == nullptr && n > 0) return CUDA_ERROR_INVALID_VALUE;
  const auto* p = static_cast<const uint8_t*>(src);
  for (size_t done = 0; done < n;) {
    const size_t part = std::min<size_t>(n - done, kCopyChunk);
    Payload m;
    m.w.U64(dst + done);
    m.w.U64(StreamId(stream));
    m.w.Raw(p + done, part);
    if (CUresult rc = c->Post(Op::kMemcpyHtoD, m.bytes); rc != CUDA_SUCCESS) return rc;
    done += part;
  }
  return CUDA_SUCCESS;
}

Payload CopyFromDeviceRequest(CUdeviceptr src, size_t n, CUstream stream) {
  Payload m;
  m.w.U64(src);
  m.w.U64(n);
  m.w.U64(StreamId(stream));
  return m;
}

CUresult Memset(CUdeviceptr dst, uint32_t value, uint32_t element_bytes, size_t count,
                CUstream stream) {
  Connection* c = Session();
  if (c == nullptr) return CUDA_ERROR_NO_DEVICE;
  Payload m;
  m.w.U64(dst);
  m.w.U32(value);
  m.w.U32(element_bytes);
  m.w.U64(count);
  m.w.U64(StreamId(stream));
  return c->Post(Op::kMemset, m.bytes);
}

CUresult PostOnObject(Op op, uint64_t id) {
  Connection* c = Session();
  if (c == nullptr) return CUDA_ERROR_NO_DEVICE;
  Payload m;
  m.w.U64(id);
  return c->Post(op, m.bytes);
}

CUresult CallOnObject(Op op, uint64_t id) {
  Connection* c = Session();
  if (c == nullptr) return CUDA_ERROR_NO_DEVICE;
  Payload m;
  m.w.U64(id);
  return c->Call(op, m.bytes);
}

// Images this session has sent, by hash: each travels once.
std::mutex g_sent_mu;
std::set<uint64_t> g_sent_images;

CUresult LoadModule(CUmodule* module, const void* image) {
  Connection* c = Session();
  if (c == nullptr) return CUDA_ERROR_NO_DEVICE;
  if (module == nullptr) return CUDA_ERROR_INVALID_VALUE;
  auto measured = MeasureModuleImage(image, SIZE_MAX);
  if (!measured.ok()) {
    ClientLog("cuModuleLoadData: %s", measured.status().message().c_str());
    return CUDA_ERROR_INVALID_IMAGE;
  }
  const uint64_t hash = ImageHash(measured->data, measured->bytes);
  bool send_image = false;
  {
    std::lock_guard<std::mutex> lock(g_sent_mu);
    send_image = g_sent_images.insert(hash).second;
  }
  auto* record = new RemoteObject{c->NewId()};
  const size_t total = send_image ? measured->bytes : 0;
  // Parts of a large image go ahead without waiting; the last one waits for the load.
  size_t done = 0;
  CUresult rc = CUDA_SUCCESS;
  do {
    const size_t part = std::min<size_t>(total - done, kCopyChunk);
    Payload m;
    m.w.U64(record->id);
    m.w.U64(hash);
    m.w.U64(total);
    m.w.U64(done);
    m.w.Raw(measured->data + done, part);
    done += part;
    rc = done < total ? c->Post(Op::kModuleLoad, m.bytes) : c->Call(Op::kModuleLoad, m.bytes);
  } while (rc == CUDA_SUCCESS && done < total);
  if (rc != CUDA_SUCCESS) {
    if (send_image) {
      std::lock_guard<std::mutex> lock(g_sent_mu);
      g_sent_images.erase(hash);
    }
    delete record;
    return rc;
  }
  *module = HandleOf<CUmodule>(record);
  return CUDA_SUCCESS;
}

}  // namespace
}  // namespace xpool::remote

using namespace xpool::remote;  // NOLINT(google-build-using-namespace): the C ABI below

XPOOL_REMOTE_API CUresult cuMemAlloc_v2(CUdeviceptr* ptr, size_t bytes) {
  Connection* c = Session();
  if (c == nullptr) return CUDA_ERROR_NO_DEVICE;
  if (ptr == nullptr) return CUDA_ERROR_INVALID_VALUE;
  Payload m;
  m.w.U64(bytes);
  std::vector<uint8_t> reply;
  const CUresult rc = c->Call(Op::kMemAlloc, m.bytes, &reply);
  if (rc != CUDA_SUCCESS) return rc;
  Reader r(reply.data(), reply.size());
  *ptr = r.U64();
  return r.failed() ? CUDA_ERROR_DEVICE_UNAVAILABLE : CUDA_SUCCESS;
}
XPOOL_REMOTE_API CUresult cuMemFree_v2(CUdeviceptr ptr) {
  return PostOnObject(Op::kMemFree, ptr);
}
XPOOL_REMOTE_API CUresult cuMemGetInfo_v2(size_t* free_bytes, size_t* total) {
  Connection* c = Session();
  if (c == nullptr) return CUDA_ERROR_NO_DEVICE;
  std::vector<uint8_t> reply;
  const CUresult rc = c->Call(Op::kMemGetInfo, {}, &reply);
  if (rc != CUDA_SUCCESS) return rc;
  Reader r(reply.data(), reply.size());
  const uint64_t f = r.U64(), t = r.U64();
  if (r.failed()) return CUDA_ERROR_DEVICE_UNAVAILABLE;
  if (free_bytes != nullptr) *free_bytes = f;
  if (total != nullptr) *total = t;
  return CUDA_SUCCESS;
}

XPOOL_REMOTE_API CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, size_t n) {
  return CopyToDevice(dst, src, n, nullptr);
}
XPOOL_REMOTE_API CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, size_t n,
                                               CUstream stream) {
  return CopyToDevice(dst, src, n, stream);
}
XPOOL_REMOTE_API CUresult cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, size_t n) {
  Connection* c = Session();
  if (c == nullptr) return CUDA_ERROR_NO_DEVICE;
  if (dst == nullptr && n > 0) return CUDA_ERROR_INVALID_VALUE;
  return c->Call(Op::kMemcpyDtoH, CopyFromDeviceRequest(src, n, nullptr).bytes, nullptr, dst, n);
}
XPOOL_REMOTE_API CUresult cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, size_t n,
                                               CUstream stream) {
  Connection* c = Session();
  if (c == nullptr) return CUDA_ERROR_NO_DEVICE;
  if (dst == nullptr && n > 0) return CUDA_ERROR_INVALID_VALUE;
  return c->PostRead(Op::kMemcpyDtoH, CopyFromDeviceRequest(src, n, stream).bytes, dst, n);
}
XPOOL_REMOTE_API CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n,
                                               CUstream stream) {
  Connection* c = Session();
  if (c == nullptr) return CUDA_ERROR_NO_DEVICE;
  Payload m;
  m.w.U64(dst);
  m.w.U64(src);
  m.w.U64(n);
  m.w.U64(StreamId(stream));
  return c->Post(Op::kMemcpyDtoD, m.bytes);
}
XPOOL_REMOTE_API CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t n) {
  return cuMemcpyDtoDAsync_v2(dst, src, n, nullptr);
}
XPOOL_REMOTE_API CUresult cuMemsetD8_v2(CUdeviceptr dst, unsigned char v, size_t n) {
  return Memset(dst, v, 1, n, nullptr);
}
XPOOL_REMOTE_API CUresult cuMemsetD16_v2(CUdeviceptr dst, unsigned short v, size_t n) {
  return Memset(dst, v, 2, n, nullptr);
}
XPOOL_REMOTE_API CUresult cuMemsetD32_v2(CUdeviceptr dst, unsigned int v, size_t n) {
  return Memset(dst, v, 4, n, nullptr);
}
XPOOL_REMOTE_API CUresult cuMemsetD8Async(CUdeviceptr dst, unsigned char v, size_t n, CUstream s) {
  return Memset(dst, v, 1, n, s);
}
XPOOL_REMOTE_API CUresult cuMemsetD16Async(CUdeviceptr dst, unsigned short v, size_t n,
                                           CUstream s) {
  return Memset(dst, v, 2, n, s);
}
XPOOL_REMOTE_API CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned int v, size_t n, CUstream s) {
  return Memset(dst, v, 4, n, s);
}

XPOOL_REMOTE_API CUresult cuModuleLoadData(CUmodule* module, const void* image) {
  return LoadModule(module, image);
}
// JIT options tune compilation on the device's side; the server's driver picks its defaults.
XPOOL_REMOTE_API CUresult cuModuleLoadDataEx(CUmodule* module, const void* image, unsigned int,
                                             void*, void**) {
  return LoadModule(module, image);
}
XPOOL_REMOTE_API CUresult cuModuleLoadFatBinary(CUmodule* module, const void* fatbin) {
  return LoadModule(module, fatbin);
}
XPOOL_REMOTE_API CUresult cuModuleUnload(CUmodule module) {
  if (module == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  const CUresult rc = PostOnObject(Op::kModuleUnload, IdOf(module));
  delete reinterpret_cast<RemoteObject*>(module);
  return rc;
}
XPOOL_REMOTE_API CUresult cuModuleGetFunction(CUfunction* function, CUmodule module,
                                              const char* name) {
  Connection* c = Session();
  if (c == nullptr) return CUDA_ERROR_NO_DEVICE;
  if (function == nullptr || module == nullptr || name == nullptr) return CUDA_ERROR_INVALID_VALUE;
  const uint64_t id = c->NewId();
  Payload m;
  m.w.U64(id);
  m.w.U64(IdOf(module));
  m.w.String(name);
  std::vector<uint8_t> reply;
  const CUresult rc = c->Call(Op::kModuleGetFunction, m.bytes, &reply);
  if (rc != CUDA_SUCCESS) return rc;
  Reader r(reply.data(), reply.size());
  auto layout = DecodeParamLayout(&r);
  if (!layout.ok()) return CUDA_ERROR_DEVICE_UNAVAILABLE;
  *function = reinterpret_cast<CUfunction>(new RemoteFunction{id, std::move(*layout)});
  return CUDA_SUCCESS;
}
XPOOL_REMOTE_API CUresult cuFuncGetParamInfo(CUfunction function, size_t index, size_t* offset,
                                             size_t* size) {
  if (function == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  const auto* f = reinterpret_cast<const RemoteFunction*>(function);
  if (index >= f->layout.params.size()) return CUDA_ERROR_INVALID_VALUE;
  if (offset != nullptr) *offset = f->layout.params[index].offset;
  if (size != nullptr) *size = f->layout.params[index].size;
  return CUDA_SUCCESS;
}

XPOOL_REMOTE_API CUresult cuLaunchKernel(CUfunction function, unsigned gx, unsigned gy, unsigned gz,
                                         unsigned bx, unsigned by, unsigned bz,
                                         unsigned shared_bytes, CUstream stream, void** params,
                                         void** extra) {
  Connection* c = Session();
  if (c == nullptr) return CUDA_ERROR_NO_DEVICE;
  if (function == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  const auto* f = reinterpret_cast<const RemoteFunction*>(function);
  // The parameters packed at the offsets cuFuncGetParamInfo gives, as the driver packs them.
  thread_local std::string packed;
  packed.assign(f->layout.BufferBytes(), '\0');
  if (params != nullptr) {
    for (size_t i = 0; i < f->layout.params.size(); ++i) {
      if (params[i] == nullptr) return CUDA_ERROR_INVALID_VALUE;
      std::memcpy(packed.data() + f->layout.params[i].offset, params[i], f->layout.params[i].size);
    }
  } else if (extra != nullptr) {
    const void* buffer = nullptr;
    size_t buffer_bytes = 0;
    for (size_t i = 0; extra[i] != CU_LAUNCH_PARAM_END; i += 2) {
      if (extra[i] == CU_LAUNCH_PARAM_BUFFER_POINTER) buffer = extra[i + 1];
      if (extra[i] == CU_LAUNCH_PARAM_BUFFER_SIZE) {
        buffer_bytes = *static_cast<const size_t*>(extra[i + 1]);
      }
    }
    if (buffer == nullptr || buffer_bytes < packed.size()) return CUDA_ERROR_INVALID_VALUE;
    std::memcpy(packed.data(), buffer, packed.size());
  } else if (!f->layout.params.empty()) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  Launch launch;
  launch.function = f->id;
  launch.grid[0] = gx, launch.grid[1] = gy, launch.grid[2] = gz;
  launch.block[0] = bx, launch.block[1] = by, launch.block[2] = bz;
  launch.shared_bytes = shared_bytes;
  launch.stream = StreamId(stream);
  launch.params = packed;
  thread_local std::vector<uint8_t> payload;
  payload.clear();
  EncodeLaunch(launch, &payload);
  return c->Post(Op::kLaunchKernel, payload);
}

XPOOL_REMOTE_API CUresult cuStreamCreateWithPriority(CUstream* stream, unsigned int flags,
                                                     int priority) {
  Connection* c = Session();
  if (c == nullptr) return CUDA_ERROR_NO_DEVICE;
  if (stream == nullptr) return CUDA_ERROR_INVALID_VALUE;
  auto* record = new RemoteObject{c->NewId()};
  Payload m;
  m.w.U64(record->id);
  m.w.U32(flags);
  m.w.I32(priority);
  if (CUresult rc = c->Post(Op::kStreamCreate, m.bytes); rc != CUDA_SUCCESS) {
    delete record;
    return rc;
  }
  *stream = HandleOf<CUstream>(record);
  return CUDA_SUCCESS;
}
XPOOL_REMOTE_API CUresult cuStreamCreate(CUstream* stream, unsigned int flags) {
  return cuStreamCreateWithPriority(stream, flags, 0);
}
XPOOL_REMOTE_API CUresult cuStreamDestroy_v2(CUstream stream) {
  if (StreamId(stream) < kFirstClientId) return CUDA_ERROR_INVALID_HANDLE;
  const CUresult rc = PostOnObject(Op::kStreamDestroy, StreamId(stream));
  delete reinterpret_cast<RemoteObject*>(stream);
  return rc;
}
XPOOL_REMOTE_API CUresult cuStreamSynchronize(CUstream stream) {
  return CallOnObject(Op::kStreamSynchronize, StreamId(stream));
}
XPOOL_REMOTE_API CUresult cuStreamQuery(CUstream stream) {
  return CallOnObject(Op::kStreamQuery, StreamId(stream));
}
XPOOL_REMOTE_API CUresult cuStreamWaitEvent(CUstream stream, CUevent event, unsigned int flags) {
  Connection* c = Session();
  if (c == nullptr) return CUDA_ERROR_NO_DEVICE;
  if (event == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  Payload m;
  m.w.U64(StreamId(stream));
  m.w.U64(IdOf(event));
  m.w.U32(flags);
  return c->Post(Op::kStreamWaitEvent, m.bytes);
}

XPOOL_REMOTE_API CUresult cuEventCreate(CUevent* event, unsigned int flags) {
  Connection* c = Session();
  if (c == nullptr) return CUDA_ERROR_NO_DEVICE;
  if (event == nullptr) return CUDA_ERROR_INVALID_VALUE;
  auto* record = new RemoteObject{c->NewId()};
  Payload m;
  m.w.U64(record->id);
  m.w.U32(flags);
  if (CUresult rc = c->Post(Op::kEventCreate, m.bytes); rc != CUDA_SUCCESS) {
    delete record;
    return rc;
  }
  *event = HandleOf<CUevent>(record);
  return CUDA_SUCCESS;
}
XPOOL_REMOTE_API CUresult cuEventDestroy_v2(CUevent event) {
  if (event == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  const CUresult rc = PostOnObject(Op::kEventDestroy, IdOf(event));
  delete reinterpret_cast<RemoteObject*>(event);
  return rc;
}
XPOOL_REMOTE_API CUresult cuEventRecord(CUevent event, CUstream stream) {
  Connection* c = Session();
  if (c == nullptr) return CUDA_ERROR_NO_DEVICE;
  if (event == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  Payload m;
  m.w.U64(IdOf(event));
  m.w.U64(StreamId(stream));
  return c->Post(Op::kEventRecord, m.bytes);
}
XPOOL_REMOTE_API CUresult cuEventSynchronize(CUevent event) {
  if (event == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  return CallOnObject(Op::kEventSynchronize, IdOf(event));
}
XPOOL_REMOTE_API CUresult cuEventQuery(CUevent event) {
  if (event == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  return CallOnObject(Op::kEventQuery, IdOf(event));
}
XPOOL_REMOTE_API CUresult cuEventElapsedTime_v2(float* ms, CUevent start, CUevent end) {
  Connection* c = Session();
  if (c == nullptr) return CUDA_ERROR_NO_DEVICE;
  if (ms == nullptr || start == nullptr || end == nullptr) return CUDA_ERROR_INVALID_VALUE;
  Payload m;
  m.w.U64(IdOf(start));
  m.w.U64(IdOf(end));
  std::vector<uint8_t> reply;
  const CUresult rc = c->Call(Op::kEventElapsedTime, m.bytes, &reply);
  if (rc != CUDA_SUCCESS) return rc;
  Reader r(reply.data(), reply.size());
  *ms = r.F32();
  return r.failed() ? CUDA_ERROR_DEVICE_UNAVAILABLE : CUDA_SUCCESS;
}
XPOOL_REMOTE_API CUresult cuEventElapsedTime(float* ms, CUevent start, CUevent end) {
  return cuEventElapsedTime_v2(ms, start, end);
}
XPOOL_REMOTE_API CUresult cuCtxSynchronize() {
  Connection* c = Session();
  if (c == nullptr) return CUDA_ERROR_NO_DEVICE;
  return c->Call(Op::kCtxSynchronize, {});
}
