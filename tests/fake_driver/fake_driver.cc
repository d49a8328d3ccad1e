// A test double of libcuda.so.1 and libnvidia-ml.so.1 for CPU-only CI: one library, installed
// under both names, that implements the driver and NVML calls the runtime's tests exercise.
// Devices hold no memory: allocations are address ranges with sizes, bounded by the device size.
//
//   FAKE_CUDA_DEVICES      number of physical devices (default 2)
//   FAKE_CUDA_DEVICE_MIB   memory per device (default 16384)
//   FAKE_CUDA_CONTEXT_MIB  footprint of a context (default 300)
//   FAKE_CUDA_TIMELINE     file shared by the processes of a test that holds each device's
//                          simulated time line (default /tmp/fake-cuda-timeline)
// Kernels run on a simulated device: a launch takes gridDimX microseconds of device time (a graph
// launch as many microseconds as its handle's value), queued behind the work of every process on
// the device and of its own stream, in real time; events complete when the work before them has.
// CUDA_VISIBLE_DEVICES (numeric) selects and orders the devices CUDA sees; NVML sees them all.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "fake_driver/fake_contents.h"
#include "runtime/driver_abi.h"

#define FAKE_API extern "C" __attribute__((visibility("default")))

namespace {

constexpr uint64_t kMiB = 1024 * 1024;

struct PhysicalDevice {
  uint64_t capacity = 0;
  uint64_t used = 0;     // this process's allocations
  uint64_t managed = 0;  // the part of `used` that is managed memory, which NVML leaves out
  bool has_context = false;
};

struct Allocation {
  int physical;
  uint64_t bytes;
  bool managed;
  bool imported = false;  // another process's memory: it uses none of this process's
};

struct State {
  std::mutex mu;
  std::vector<PhysicalDevice> devices;
  std::vector<int> visible;  // CUDA ordinal -> physical index
  uint64_t context_bytes = 0;
  std::map<uint64_t, Allocation> allocations;  // pointers, VMM handles, arrays
  uint64_t next_address = 0x7f0000000000ull;
  bool initialised = false;
};

State& S() {
  static State* s = [] {
    auto* st = new State;
    const char* n = std::getenv("FAKE_CUDA_DEVICES");
    const char* mib = std::getenv("FAKE_CUDA_DEVICE_MIB");
    const char* ctx = std::getenv("FAKE_CUDA_CONTEXT_MIB");
    const int count = n != nullptr ? std::atoi(n) : 2;
    st->devices.resize(count);
    for (auto& d : st->devices) d.capacity = (mib != nullptr ? std::atoll(mib) : 16384) * kMiB;
    st->context_bytes = (ctx != nullptr ? std::atoll(ctx) : 300) * kMiB;
    const char* vis = std::getenv("CUDA_VISIBLE_DEVICES");
    if (vis == nullptr) {
      for (int i = 0; i < count; ++i) st->visible.push_back(i);
    } else {
      std::string v = vis;
      size_t pos = 0;
      while (pos < v.size()) {
        size_t comma = v.find(',', pos);
        if (comma == std::string::npos) comma = v.size();
        const int idx = std::atoi(v.substr(pos, comma - pos).c_str());
        if (idx >= 0 && idx < count) st->visible.push_back(idx);
        pos = comma + 1;
      }
    }
    return st;
  }();
  return *s;
}

thread_local int t_current = -1;  // physical index of the current context

CUresult Take(int physical, uint64_t bytes, unsigned long long* key, bool managed = false) {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  if (physical < 0 || physical >= static_cast<int>(s.devices.size())) {
    return CUDA_ERROR_INVALID_CONTEXT;
  }
  PhysicalDevice& d = s.devices[physical];
  if (d.used + s.context_bytes + bytes > d.capacity) return CUDA_ERROR_OUT_OF_MEMORY;
  d.used += bytes;
  if (managed) d.managed += bytes;
  *key = s.next_address;
  s.next_address += (bytes + 0xfffff) & ~uint64_t{0xfffff};
  s.next_address += 0x100000;
  s.allocations[*key] = Allocation{physical, bytes, managed};
  return CUDA_SUCCESS;
}

CUresult Give(uint64_t key) {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.allocations.find(key);
  if (it == s.allocations.end()) return CUDA_ERROR_INVALID_VALUE;
  if (!it->second.imported) s.devices[it->second.physical].used -= it->second.bytes;
  if (it->second.managed) s.devices[it->second.physical].managed -= it->second.bytes;
  s.allocations.erase(it);
  fake::ForgetContents(key);
  return CUDA_SUCCESS;
}

int Physical(CUdevice dev) {
  State& s = S();
  return dev >= 0 && dev < static_cast<int>(s.visible.size()) ? s.visible[dev] : -1;
}

CUuuid UuidOf(int physical) {
  CUuuid u{};
  for (int i = 0; i < 16; ++i) u.bytes[i] = static_cast<char>(0xa0 + i);
  u.bytes[15] = static_cast<char>(physical);
  return u;
}

std::string UuidString(int physical) {
  const CUuuid u = UuidOf(physical);
  const auto* b = reinterpret_cast<const unsigned char*>(u.bytes);
  char s[64];
  std::snprintf(s, sizeof(s),
                "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
                b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
                b[14], b[15]);
  return s;
}

CUresult StartContext(CUcontext* ctx, CUdevice dev) {
  const int p = Physical(dev);
  if (p < 0) return CUDA_ERROR_INVALID_DEVICE;
  {
    std::lock_guard<std::mutex> lock(S().mu);
    S().devices[p].has_context = true;
  }
  t_current = p;
  if (ctx != nullptr) *ctx = reinterpret_cast<CUcontext>(static_cast<uintptr_t>(p + 1));
  return CUDA_SUCCESS;
}

int64_t ElementBytes(int format) {
  return format == 0x01 || format == 0x08
             ? 1
             : (format == 0x02 || format == 0x09 || format == 0x10 ? 2 : 4);
}

uint64_t ArrayBytes(const CUDA_ARRAY3D_DESCRIPTOR& d) {
  // Rows padded to 512 bytes, as a real driver pads them: the runtime must ask, not guess.
  const uint64_t row = ((d.Width * ElementBytes(d.Format) * d.NumChannels + 511) / 512) * 512;
  return row * (d.Height ? d.Height : 1) * (d.Depth ? d.Depth : 1);
}

}  // namespace

bool fake::FindAllocation(uint64_t pointer, uint64_t* base, uint64_t* bytes) {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.allocations.upper_bound(pointer);
  if (it == s.allocations.begin()) return false;
  --it;
  if (pointer >= it->first + it->second.bytes) return false;
  *base = it->first;
  *bytes = it->second.bytes;
  return true;
}

FAKE_API CUresult cuInit(unsigned int) {
  S().initialised = true;
  return CUDA_SUCCESS;
}
FAKE_API CUresult cuDriverGetVersion(int* v) {
  *v = 13000;
  return CUDA_SUCCESS;
}
FAKE_API CUresult cuDeviceGetCount(int* n) {
  *n = static_cast<int>(S().visible.size());
  return CUDA_SUCCESS;
}
FAKE_API CUresult cuDeviceGet(CUdevice* d, int ordinal) {
  if (Physical(ordinal) < 0) return CUDA_ERROR_INVALID_DEVICE;
  *d = ordinal;
  return CUDA_SUCCESS;
}
FAKE_API CUresult cuDeviceGetUuid_v2(CUuuid* u, CUdevice dev) {
  const int p = Physical(dev);
  if (p < 0) return CUDA_ERROR_INVALID_DEVICE;
  *u = UuidOf(p);
  return CUDA_SUCCESS;
}
FAKE_API CUresult cuDeviceGetUuid(CUuuid* u, CUdevice dev) {
  return cuDeviceGetUuid_v2(u, dev);
}
FAKE_API CUresult cuDeviceGetName(char* name, int len, CUdevice dev) {
  const int p = Physical(dev);
  if (p < 0) return CUDA_ERROR_INVALID_DEVICE;
  std::snprintf(name, static_cast<size_t>(len), "Fake GPU %d", p);
  return CUDA_SUCCESS;
}
// Values shaped like an H100's where programs read them (compute capability 9.0, 132 SMs,
// 1024 threads a block); the rest differ per attribute and device, so a wrong index shows.
FAKE_API CUresult cuDeviceGetAttribute(int* value, int attribute, CUdevice dev) {
  const int p = Physical(dev);
  if (p < 0) return CUDA_ERROR_INVALID_DEVICE;
  if (attribute <= 0 || attribute >= kDeviceAttributeEnd) return CUDA_ERROR_INVALID_VALUE;
  switch (attribute) {
    case 1:
      *value = 1024;
      break;
    case 16:
      *value = 132;
      break;
    case 75:
      *value = 9;
      break;
    case 76:
      *value = 0;
      break;
    default:
      *value = attribute * 7 + p;
  }
  return CUDA_SUCCESS;
}
FAKE_API CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice dev) {
  const int p = Physical(dev);
  if (p < 0) return CUDA_ERROR_INVALID_DEVICE;
  *bytes = S().devices[p].capacity;
  return CUDA_SUCCESS;
}
FAKE_API CUresult cuDevicePrimaryCtxRetain(CUcontext* ctx, CUdevice dev) {
  return StartContext(ctx, dev);
}
FAKE_API CUresult cuDevicePrimaryCtxRelease_v2(CUdevice) {
  return CUDA_SUCCESS;
}
FAKE_API CUresult cuCtxCreate_v4(CUcontext* ctx, void*, unsigned int, CUdevice dev) {
  return StartContext(ctx, dev);
}
FAKE_API CUresult cuCtxSetCurrent(CUcontext ctx) {
  t_current = static_cast<int>(reinterpret_cast<uintptr_t>(ctx)) - 1;
  return CUDA_SUCCESS;
}
FAKE_API CUresult cuCtxGetDevice(CUdevice* dev) {
  if (t_current < 0) return CUDA_ERROR_INVALID_CONTEXT;
  const auto& vis = S().visible;
  for (size_t i = 0; i < vis.size(); ++i) {
    if (vis[i] == t_current) {
      *dev = static_cast<CUdevice>(i);
      return CUDA_SUCCESS;
    }
  }
  return CUDA_ERROR_INVALID_CONTEXT;
}
FAKE_API CUresult cuMemGetInfo_v2(size_t* free_bytes, size_t* total) {
  if (t_current < 0) return CUDA_ERROR_INVALID_CONTEXT;
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  const PhysicalDevice& d = s.devices[t_current];
  *total = d.capacity;
  *free_bytes = d.capacity - d.used - s.context_bytes;
  return CUDA_SUCCESS;
}
FAKE_API CUresult cuMemAlloc_v2(CUdeviceptr* p, size_t bytes) {
  return Take(t_current, bytes, p);
}
FAKE_API CUresult cuMemAllocManaged(CUdeviceptr* p, size_t bytes, unsigned int) {
  return Take(t_current, bytes, p, /*managed=*/true);
}
FAKE_API CUresult cuMemAllocPitch_v2(CUdeviceptr* p, size_t* pitch, size_t width, size_t height,
                                     unsigned int) {
  *pitch = ((width + 511) / 512) * 512;
  return Take(t_current, *pitch * height, p);
}
FAKE_API CUresult cuMemFree_v2(CUdeviceptr p) {
  return Give(p);
}
FAKE_API CUresult cuMemAllocAsync(CUdeviceptr* p, size_t bytes, CUstream) {
  return Take(t_current, bytes, p);
}
FAKE_API CUresult cuMemAllocAsync_ptsz(CUdeviceptr* p, size_t bytes, CUstream) {
  return Take(t_current, bytes, p);
}
FAKE_API CUresult cuMemAllocFromPoolAsync(CUdeviceptr* p, size_t bytes, CUmemoryPool, CUstream) {
  return Take(t_current, bytes, p);
}
FAKE_API CUresult cuMemAllocFromPoolAsync_ptsz(CUdeviceptr* p, size_t bytes, CUmemoryPool,
                                               CUstream) {
  return Take(t_current, bytes, p);
}
FAKE_API CUresult cuMemFreeAsync(CUdeviceptr p, CUstream) {
  return Give(p);
}
FAKE_API CUresult cuMemFreeAsync_ptsz(CUdeviceptr p, CUstream) {
  return Give(p);
}
FAKE_API CUresult cuMemCreate(CUmemGenericAllocationHandle* h, size_t bytes,
                              const CUmemAllocationProp* prop, unsigned long long) {
  if (prop == nullptr || prop->location.type != CU_MEM_LOCATION_TYPE_DEVICE) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  return Take(Physical(prop->location.id), bytes, h);
}
FAKE_API CUresult cuMemRelease(CUmemGenericAllocationHandle h) {
  return Give(h);
}
// VMM sharing. As with the real driver, every exported descriptor opens the same file: the file
// does not tell exports apart, its open file description does. Each export writes its record
// {physical device, bytes} to the shared file FAKE_CUDA_EXPORT_FILE (default
// /tmp/fake-cuda-exports) at an offset of its own and leaves its description positioned there. A
// fabric handle carries the record itself. Importing makes a handle of the importer's that uses
// none of its memory. Mappings need no backing: address ranges come from cuMemAddressReserve.
struct SharedAllocation {
  int64_t physical;
  uint64_t bytes;
};
int OpenExportDescriptor(const SharedAllocation& shared) {
  static std::atomic<int> exports{0};
  const char* path = std::getenv("FAKE_CUDA_EXPORT_FILE");
  const int fd =
      open(path != nullptr ? path : "/tmp/fake-cuda-exports", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  const off_t at = static_cast<off_t>(getpid()) * 65536 + exports++ * sizeof(shared);
  if (fd < 0 || pwrite(fd, &shared, sizeof(shared), at) != sizeof(shared) ||
      lseek(fd, at, SEEK_SET) != at) {
    return -1;
  }
  return fd;
}
FAKE_API CUresult cuMemExportToShareableHandle(void* out, CUmemGenericAllocationHandle h, int type,
                                               unsigned long long) {
  SharedAllocation shared{};
  {
    std::lock_guard<std::mutex> lock(S().mu);
    auto it = S().allocations.find(h);
    if (it == S().allocations.end()) return CUDA_ERROR_INVALID_VALUE;
    shared = SharedAllocation{it->second.physical, it->second.bytes};
  }
  if (type == CU_MEM_HANDLE_TYPE_FABRIC) {
    std::memcpy(static_cast<CUmemFabricHandle*>(out)->data, &shared, sizeof(shared));
    return CUDA_SUCCESS;
  }
  if (type != CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR) return CUDA_ERROR_INVALID_VALUE;
  const int fd = OpenExportDescriptor(shared);
  if (fd < 0) return CUDA_ERROR_INVALID_VALUE;
  *static_cast<int*>(out) = fd;
  return CUDA_SUCCESS;
}
FAKE_API CUresult cuMemImportFromShareableHandle(CUmemGenericAllocationHandle* h, void* os_handle,
                                                 int type) {
  SharedAllocation shared{};
  if (type == CU_MEM_HANDLE_TYPE_FABRIC) {
    std::memcpy(&shared, static_cast<const CUmemFabricHandle*>(os_handle)->data, sizeof(shared));
  } else {
    const auto fd = static_cast<int>(reinterpret_cast<intptr_t>(os_handle));
    if (type != CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR ||
        pread(fd, &shared, sizeof(shared), lseek(fd, 0, SEEK_CUR)) != sizeof(shared)) {
      return CUDA_ERROR_INVALID_VALUE;
    }
  }
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  *h = s.next_address;
  s.next_address += 0x100000;
  s.allocations[*h] = Allocation{static_cast<int>(shared.physical), shared.bytes, false, true};
  return CUDA_SUCCESS;
}
FAKE_API CUresult cuMemGetAllocationPropertiesFromHandle(CUmemAllocationProp* prop,
                                                         CUmemGenericAllocationHandle h) {
  std::lock_guard<std::mutex> lock(S().mu);
  auto it = S().allocations.find(h);
  if (it == S().allocations.end()) return CUDA_ERROR_INVALID_VALUE;
  *prop = CUmemAllocationProp{};
  prop->type = 1;
  prop->location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  const auto& vis = S().visible;
  for (size_t i = 0; i < vis.size(); ++i) {
    if (vis[i] == it->second.physical) prop->location.id = static_cast<int>(i);
  }
  return CUDA_SUCCESS;
}
FAKE_API CUresult cuMemAddressReserve(CUdeviceptr* ptr, size_t size, size_t, CUdeviceptr,
                                      unsigned long long) {
  std::lock_guard<std::mutex> lock(S().mu);
  *ptr = S().next_address;
  S().next_address += (size + 0xfffff) & ~uint64_t{0xfffff};
  return CUDA_SUCCESS;
}
FAKE_API CUresult cuMemMap(CUdeviceptr, size_t, size_t, CUmemGenericAllocationHandle h,
                           unsigned long long) {
  std::lock_guard<std::mutex> lock(S().mu);
  return S().allocations.count(h) != 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}
FAKE_API CUresult cuMemUnmap(CUdeviceptr, size_t) {
  return CUDA_SUCCESS;
}
FAKE_API CUresult cuArray3DCreate_v2(CUarray* a, const CUDA_ARRAY3D_DESCRIPTOR* d) {
  unsigned long long key = 0;
  const CUresult rc = Take(t_current, ArrayBytes(*d), &key);
  if (rc == CUDA_SUCCESS) *a = reinterpret_cast<CUarray>(key);
  return rc;
}
FAKE_API CUresult cuArrayCreate_v2(CUarray* a, const CUDA_ARRAY_DESCRIPTOR* d) {
  const CUDA_ARRAY3D_DESCRIPTOR d3{d->Width, d->Height, 0, d->Format, d->NumChannels, 0};
  return cuArray3DCreate_v2(a, &d3);
}
FAKE_API CUresult cuArrayDestroy(CUarray a) {
  return Give(reinterpret_cast<uint64_t>(a));
}
FAKE_API CUresult cuArrayGetMemoryRequirements(CUDA_ARRAY_MEMORY_REQUIREMENTS* r, CUarray a,
                                               CUdevice) {
  std::lock_guard<std::mutex> lock(S().mu);
  auto it = S().allocations.find(reinterpret_cast<uint64_t>(a));
  if (it == S().allocations.end()) return CUDA_ERROR_INVALID_VALUE;
  *r = CUDA_ARRAY_MEMORY_REQUIREMENTS{it->second.bytes, 512, {}};
  return CUDA_SUCCESS;
}
FAKE_API CUresult cuMipmappedArrayCreate(CUmipmappedArray* a, const CUDA_ARRAY3D_DESCRIPTOR* d,
                                         unsigned int) {
  unsigned long long key = 0;
  const CUresult rc = Take(t_current, ArrayBytes(*d) * 4 / 3, &key);
  if (rc == CUDA_SUCCESS) *a = reinterpret_cast<CUmipmappedArray>(key);
  return rc;
}
FAKE_API CUresult cuMipmappedArrayDestroy(CUmipmappedArray a) {
  return Give(reinterpret_cast<uint64_t>(a));
}
FAKE_API CUresult cuMipmappedArrayGetMemoryRequirements(CUDA_ARRAY_MEMORY_REQUIREMENTS* r,
                                                        CUmipmappedArray a, CUdevice dev) {
  return cuArrayGetMemoryRequirements(r, reinterpret_cast<CUarray>(a), dev);
}
// The simulated device.
namespace {
int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
std::atomic<int64_t>* BusyUntil(int physical) {
  static std::atomic<int64_t>* timeline = [] {
    const char* path = std::getenv("FAKE_CUDA_TIMELINE");
    const int fd = open(path != nullptr ? path : "/tmp/fake-cuda-timeline", O_RDWR | O_CREAT, 0600);
    const size_t size = 64 * sizeof(std::atomic<int64_t>);
    if (fd < 0 || ftruncate(fd, size) != 0) std::abort();
    void* mem = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    return static_cast<std::atomic<int64_t>*>(mem);
  }();
  return &timeline[physical];
}
std::mutex g_streams_mu;
std::map<CUstream, int64_t> g_stream_tail;  // when the last work queued on each stream ends
std::map<CUevent, int64_t> g_events;        // when each event completes
std::set<CUevent> g_untimed_events;         // created with CU_EVENT_DISABLE_TIMING
uint64_t g_next_event = 1;

int64_t TailOf(CUstream stream) {
  if (stream == nullptr) {  // the legacy stream waits for every stream
    int64_t t = 0;
    for (const auto& [s, tail] : g_stream_tail) t = std::max(t, tail);
    return t;
  }
  return g_stream_tail[stream];
}

void SleepUntil(int64_t t) {
  const int64_t wait = t - NowNs();
  if (wait > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(wait));
}

// Like a real driver's full launch queue: a launch waits while the process's queued work reaches
// more than this far ahead.
constexpr int64_t kLaunchQueueNs = 20'000'000;

CUresult Run(CUstream stream, int64_t micros) {
  if (t_current < 0) return CUDA_ERROR_INVALID_CONTEXT;
  int64_t ahead = 0;
  {
    std::lock_guard<std::mutex> lock(g_streams_mu);
    ahead = TailOf(nullptr);
  }
  SleepUntil(ahead - kLaunchQueueNs);
  std::lock_guard<std::mutex> lock(g_streams_mu);
  std::atomic<int64_t>* busy = BusyUntil(t_current);
  const int64_t after = std::max(NowNs(), TailOf(stream));
  int64_t old = busy->load();
  int64_t end = 0;
  do {
    end = std::max(after, old) + micros * 1000;
  } while (!busy->compare_exchange_weak(old, end));
  g_stream_tail[stream] = end;
  return CUDA_SUCCESS;
}
}  // namespace

FAKE_API CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned, unsigned, unsigned, unsigned,
                                 unsigned, unsigned, CUstream stream, void** params, void** extra) {
  if (CUresult rc = fake::RunKernel(f, params, extra); rc != CUDA_SUCCESS) return rc;
  return Run(stream, gx);
}
FAKE_API CUresult cuLaunchKernel_ptsz(CUfunction, unsigned gx, unsigned, unsigned, unsigned,
                                      unsigned, unsigned, unsigned, CUstream stream, void**,
                                      void**) {
  return Run(stream == nullptr ? CU_STREAM_PER_THREAD : stream, gx);
}
FAKE_API CUresult cuLaunchKernelEx(const CUlaunchConfig* config, CUfunction, void**, void**) {
  return Run(config->hStream, config->gridDimX);
}
FAKE_API CUresult cuLaunchCooperativeKernel(CUfunction, unsigned gx, unsigned, unsigned, unsigned,
                                            unsigned, unsigned, unsigned, CUstream stream, void**) {
  return Run(stream, gx);
}
FAKE_API CUresult cuGraphLaunch(CUgraphExec graph, CUstream stream) {
  return Run(stream, static_cast<int64_t>(reinterpret_cast<uintptr_t>(graph)));
}
FAKE_API CUresult cuStreamCreateWithPriority(CUstream* stream, unsigned int, int) {
  static std::atomic<uintptr_t> next{0x10000};
  *stream = reinterpret_cast<CUstream>(next.fetch_add(16));
  std::lock_guard<std::mutex> lock(g_streams_mu);
  g_stream_tail[*stream] = 0;
  return CUDA_SUCCESS;
}
FAKE_API CUresult cuStreamCreate(CUstream* stream, unsigned int flags) {
  return cuStreamCreateWithPriority(stream, flags, 0);
}
FAKE_API CUresult cuStreamDestroy_v2(CUstream stream) {
  std::lock_guard<std::mutex> lock(g_streams_mu);
  return g_stream_tail.erase(stream) == 1 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}
FAKE_API CUresult cuStreamSynchronize(CUstream stream) {
  int64_t t = 0;
  {
    std::lock_guard<std::mutex> lock(g_streams_mu);
    t = TailOf(stream);
  }
  SleepUntil(t);
  return CUDA_SUCCESS;
}
FAKE_API CUresult cuStreamQuery(CUstream stream) {
  std::lock_guard<std::mutex> lock(g_streams_mu);
  return NowNs() >= TailOf(stream) ? CUDA_SUCCESS : CUDA_ERROR_NOT_READY;
}
FAKE_API CUresult cuStreamWaitEvent(CUstream stream, CUevent event, unsigned int) {
  std::lock_guard<std::mutex> lock(g_streams_mu);
  if (g_events.count(event) == 0) return CUDA_ERROR_INVALID_HANDLE;
  int64_t& tail = g_stream_tail[stream];
  tail = std::max(tail, g_events[event]);
  return CUDA_SUCCESS;
}
FAKE_API CUresult cuEventDestroy_v2(CUevent event) {
  std::lock_guard<std::mutex> lock(g_streams_mu);
  g_untimed_events.erase(event);
  return g_events.erase(event) == 1 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}
FAKE_API CUresult cuStreamIsCapturing(CUstream, int* status) {
  *status = CU_STREAM_CAPTURE_STATUS_NONE;
  return CUDA_SUCCESS;
}
FAKE_API CUresult cuEventCreate(CUevent* event, unsigned int flags) {
  std::lock_guard<std::mutex> lock(g_streams_mu);
  *event = reinterpret_cast<CUevent>(g_next_event++);
  g_events[*event] = 0;
  if ((flags & CU_EVENT_DISABLE_TIMING) != 0) g_untimed_events.insert(*event);
  return CUDA_SUCCESS;
}
FAKE_API CUresult cuEventRecord(CUevent event, CUstream stream) {
  std::lock_guard<std::mutex> lock(g_streams_mu);
  g_events[event] = std::max(TailOf(stream), NowNs());  // reached once the stream gets there
  return CUDA_SUCCESS;
}
FAKE_API CUresult cuEventElapsedTime_v2(float* ms, CUevent start, CUevent end) {
  std::lock_guard<std::mutex> lock(g_streams_mu);
  // As the real driver: only events created with timing have timestamps.
  if (g_untimed_events.count(start) != 0 || g_untimed_events.count(end) != 0) {
    return CUDA_ERROR_INVALID_HANDLE;
  }
  const int64_t a = g_events[start], b = g_events[end];
  if (NowNs() < std::max(a, b)) return CUDA_ERROR_NOT_READY;
  *ms = static_cast<float>(b - a) / 1e6f;
  return CUDA_SUCCESS;
}
FAKE_API CUresult cuEventQuery(CUevent event) {
  std::lock_guard<std::mutex> lock(g_streams_mu);
  return NowNs() >= g_events[event] ? CUDA_SUCCESS : CUDA_ERROR_NOT_READY;
}
FAKE_API CUresult cuEventSynchronize(CUevent event) {
  int64_t t = 0;
  {
    std::lock_guard<std::mutex> lock(g_streams_mu);
    t = g_events[event];
  }
  SleepUntil(t);
  return CUDA_SUCCESS;
}
FAKE_API CUresult cuCtxSynchronize() {
  int64_t t = 0;
  {
    std::lock_guard<std::mutex> lock(g_streams_mu);
    t = TailOf(nullptr);
  }
  SleepUntil(t);
  return CUDA_SUCCESS;
}

namespace {
struct Exported {
  const char* name;
  void* fn;
};
#define FAKE_ENTRY(name) \
  { #name, reinterpret_cast < void*>(&name) }
const Exported kExported[] = {
    FAKE_ENTRY(cuInit),
    FAKE_ENTRY(cuDriverGetVersion),
    FAKE_ENTRY(cuDeviceGetCount),
    FAKE_ENTRY(cuDeviceGet),
    FAKE_ENTRY(cuDeviceGetUuid),
    FAKE_ENTRY(cuDeviceGetUuid_v2),
    FAKE_ENTRY(cuDeviceTotalMem_v2),
    FAKE_ENTRY(cuDeviceGetName),
    FAKE_ENTRY(cuDeviceGetAttribute),
    FAKE_ENTRY(cuDevicePrimaryCtxRetain),
    FAKE_ENTRY(cuDevicePrimaryCtxRelease_v2),
    FAKE_ENTRY(cuCtxCreate_v4),
    FAKE_ENTRY(cuCtxSetCurrent),
    FAKE_ENTRY(cuCtxGetDevice),
    FAKE_ENTRY(cuMemGetInfo_v2),
    FAKE_ENTRY(cuMemAlloc_v2),
    FAKE_ENTRY(cuMemAllocManaged),
    FAKE_ENTRY(cuMemAllocPitch_v2),
    FAKE_ENTRY(cuMemFree_v2),
    FAKE_ENTRY(cuMemAllocAsync),
    FAKE_ENTRY(cuMemAllocAsync_ptsz),
    FAKE_ENTRY(cuMemAllocFromPoolAsync),
    FAKE_ENTRY(cuMemAllocFromPoolAsync_ptsz),
    FAKE_ENTRY(cuMemFreeAsync),
    FAKE_ENTRY(cuMemFreeAsync_ptsz),
    FAKE_ENTRY(cuMemCreate),
    FAKE_ENTRY(cuMemRelease),
    FAKE_ENTRY(cuMemExportToShareableHandle),
    FAKE_ENTRY(cuMemImportFromShareableHandle),
    FAKE_ENTRY(cuMemGetAllocationPropertiesFromHandle),
    FAKE_ENTRY(cuMemAddressReserve),
    FAKE_ENTRY(cuMemMap),
    FAKE_ENTRY(cuMemUnmap),
    FAKE_ENTRY(cuArrayCreate_v2),
    FAKE_ENTRY(cuArray3DCreate_v2),
    FAKE_ENTRY(cuArrayDestroy),
    FAKE_ENTRY(cuArrayGetMemoryRequirements),
    FAKE_ENTRY(cuMipmappedArrayCreate),
    FAKE_ENTRY(cuMipmappedArrayDestroy),
    FAKE_ENTRY(cuMipmappedArrayGetMemoryRequirements),
    FAKE_ENTRY(cuLaunchKernel),
    FAKE_ENTRY(cuLaunchKernel_ptsz),
    FAKE_ENTRY(cuLaunchKernelEx),
    FAKE_ENTRY(cuLaunchCooperativeKernel),
    FAKE_ENTRY(cuGraphLaunch),
    FAKE_ENTRY(cuStreamIsCapturing),
    FAKE_ENTRY(cuStreamCreate),
    FAKE_ENTRY(cuStreamCreateWithPriority),
    FAKE_ENTRY(cuStreamDestroy_v2),
    FAKE_ENTRY(cuStreamSynchronize),
    FAKE_ENTRY(cuStreamQuery),
    FAKE_ENTRY(cuStreamWaitEvent),
    FAKE_ENTRY(cuEventDestroy_v2),
    FAKE_ENTRY(cuEventCreate),
    FAKE_ENTRY(cuEventRecord),
    FAKE_ENTRY(cuEventQuery),
    FAKE_ENTRY(cuEventSynchronize),
    FAKE_ENTRY(cuEventElapsedTime_v2),
    FAKE_ENTRY(cuCtxSynchronize),
};

void* FindExported(const std::string& name) {
  for (const Exported& e : kExported) {
    if (name == e.name) return e.fn;
  }
  return fake::FindContentsFunction(name.c_str());
}
}  // namespace

// Resolves as the real driver does: per-thread variants under the per-thread flag, otherwise the
// newest versioned name.
FAKE_API CUresult cuGetProcAddress_v2(const char* symbol, void** pfn, int, cuuint64_t flags,
                                      CUdriverProcAddressQueryResult* status) {
  std::vector<std::string> candidates;
  if ((flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) != 0) {
    candidates.push_back(std::string(symbol) + "_ptsz");
    candidates.push_back(std::string(symbol) + "_ptds");
  }
  for (const char* v : {"_v4", "_v3", "_v2", ""}) candidates.push_back(std::string(symbol) + v);
  for (const auto& c : candidates) {
    if (void* fn = FindExported(c)) {
      *pfn = fn;
      if (status != nullptr) *status = CU_GET_PROC_ADDRESS_SUCCESS;
      return CUDA_SUCCESS;
    }
  }
  if (std::string(symbol) == "cuGetProcAddress") {
    *pfn = reinterpret_cast<void*>(&cuGetProcAddress_v2);
    if (status != nullptr) *status = CU_GET_PROC_ADDRESS_SUCCESS;
    return CUDA_SUCCESS;
  }
  *pfn = nullptr;
  if (status != nullptr) *status = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
  return CUDA_ERROR_NOT_FOUND;
}
FAKE_API CUresult cuGetProcAddress(const char* symbol, void** pfn, int version, cuuint64_t flags) {
  return cuGetProcAddress_v2(symbol, pfn, version, flags, nullptr);
}

// NVML: every physical device, whatever CUDA_VISIBLE_DEVICES says.
namespace {
nvmlDevice_t HandleOf(int physical) {
  return reinterpret_cast<nvmlDevice_t>(static_cast<uintptr_t>(0x1000 + physical));
}
int PhysicalOf(nvmlDevice_t h) {
  const auto p = static_cast<int>(reinterpret_cast<uintptr_t>(h)) - 0x1000;
  return p >= 0 && p < static_cast<int>(S().devices.size()) ? p : -1;
}
uint64_t ProcessUse(int p) {
  const PhysicalDevice& d = S().devices[p];
  return d.has_context ? d.used - d.managed + S().context_bytes : 0;
}
}  // namespace

FAKE_API nvmlReturn_t nvmlInit_v2() {
  return NVML_SUCCESS;
}
FAKE_API nvmlReturn_t nvmlShutdown() {
  return NVML_SUCCESS;
}
FAKE_API nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int* n) {
  *n = static_cast<unsigned>(S().devices.size());
  return NVML_SUCCESS;
}
FAKE_API nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int i, nvmlDevice_t* h) {
  if (i >= S().devices.size()) return NVML_ERROR_INVALID_ARGUMENT;
  *h = HandleOf(static_cast<int>(i));
  return NVML_SUCCESS;
}
// FAKE_NVML_LOST_FILE names a file; while it exists, the devices whose indexes it lists (one a
// line) are lost, as a GPU that fell off the bus: NVML answers GPU_IS_LOST for them.
bool Lost(int p) {
  const char* path = std::getenv("FAKE_NVML_LOST_FILE");
  if (path == nullptr) return false;
  std::ifstream in(path);
  int index = -1;
  while (in >> index) {
    if (index == p) return true;
  }
  return false;
}
constexpr nvmlReturn_t kNvmlGpuIsLost = 15;

FAKE_API nvmlReturn_t nvmlDeviceGetHandleByUUID(const char* uuid, nvmlDevice_t* h) {
  for (size_t i = 0; i < S().devices.size(); ++i) {
    if (UuidString(static_cast<int>(i)) == uuid) {
      if (Lost(static_cast<int>(i))) return kNvmlGpuIsLost;
      *h = HandleOf(static_cast<int>(i));
      return NVML_SUCCESS;
    }
  }
  return NVML_ERROR_NOT_FOUND;
}
FAKE_API nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t h, unsigned int* i) {
  const int p = PhysicalOf(h);
  if (p < 0) return NVML_ERROR_INVALID_ARGUMENT;
  *i = static_cast<unsigned>(p);
  return NVML_SUCCESS;
}
FAKE_API nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t h, char* out, unsigned int len) {
  const int p = PhysicalOf(h);
  if (p < 0) return NVML_ERROR_INVALID_ARGUMENT;
  std::snprintf(out, len, "%s", UuidString(p).c_str());
  return NVML_SUCCESS;
}
FAKE_API nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t h, nvmlMemory_t* m) {
  const int p = PhysicalOf(h);
  if (p < 0) return NVML_ERROR_INVALID_ARGUMENT;
  if (Lost(p)) return kNvmlGpuIsLost;
  std::lock_guard<std::mutex> lock(S().mu);
  m->total = S().devices[p].capacity;
  m->used = ProcessUse(p);
  m->free = m->total - m->used;
  return NVML_SUCCESS;
}
FAKE_API nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t h, nvmlMemory_v2_t* m) {
  nvmlMemory_t v1{};
  const nvmlReturn_t rc = nvmlDeviceGetMemoryInfo(h, &v1);
  if (rc != NVML_SUCCESS) return rc;
  m->total = v1.total;
  m->reserved = 0;
  m->free = v1.free;
  m->used = v1.used;
  return NVML_SUCCESS;
}
// Discovery: the fake's devices are "NVIDIA H100 80GB HBM3" at bus 0000:1X:00.0, and devices 2k
// and 2k+1 are joined by 4 NVLinks (links 0-3); nothing else is linked.
struct FakePciInfo {
  char busIdLegacy[16];
  unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
  char busId[32];
};
void FillPci(int p, FakePciInfo* pci) {
  *pci = FakePciInfo{};
  pci->bus = static_cast<unsigned>(0x10 + p);
  std::snprintf(pci->busId, sizeof(pci->busId), "00000000:%02X:00.0", 0x10 + p);
  std::snprintf(pci->busIdLegacy, sizeof(pci->busIdLegacy), "0000:%02X:00.0", 0x10 + p);
}
FAKE_API nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t h, char* out, unsigned int len) {
  if (PhysicalOf(h) < 0) return NVML_ERROR_INVALID_ARGUMENT;
  std::snprintf(out, len, "NVIDIA H100 80GB HBM3");
  return NVML_SUCCESS;
}
FAKE_API nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t h, FakePciInfo* pci) {
  const int p = PhysicalOf(h);
  if (p < 0) return NVML_ERROR_INVALID_ARGUMENT;
  FillPci(p, pci);
  return NVML_SUCCESS;
}
FAKE_API nvmlReturn_t nvmlDeviceGetNvLinkState(nvmlDevice_t h, unsigned int link, int* active) {
  const int p = PhysicalOf(h);
  if (p < 0) return NVML_ERROR_INVALID_ARGUMENT;
  const bool has_peer = (p ^ 1) < static_cast<int>(S().devices.size());
  *active = has_peer && link < 4 ? 1 : 0;
  return NVML_SUCCESS;
}
FAKE_API nvmlReturn_t nvmlDeviceGetNvLinkRemotePciInfo_v2(nvmlDevice_t h, unsigned int link,
                                                          FakePciInfo* pci) {
  const int p = PhysicalOf(h);
  if (p < 0 || link >= 4 || (p ^ 1) >= static_cast<int>(S().devices.size())) {
    return NVML_ERROR_INVALID_ARGUMENT;
  }
  FillPci(p ^ 1, pci);
  return NVML_SUCCESS;
}
// Only the calling process is known to the fake, as it would be in a PID namespace of its own.
FAKE_API nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t h, unsigned int* count,
                                                              nvmlProcessInfo_t* infos) {
  const int p = PhysicalOf(h);
  if (p < 0) return NVML_ERROR_INVALID_ARGUMENT;
  std::lock_guard<std::mutex> lock(S().mu);
  if (!S().devices[p].has_context) {
    *count = 0;
    return NVML_SUCCESS;
  }
  if (*count < 1) {
    *count = 1;
    return NVML_ERROR_INSUFFICIENT_SIZE;
  }
  *count = 1;
  infos[0] = nvmlProcessInfo_t{static_cast<unsigned>(getpid()), ProcessUse(p), 0, 0};
  return NVML_SUCCESS;
}
