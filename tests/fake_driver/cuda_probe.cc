// A stand-in for a CUDA program: it opens libcuda.so.1 and resolves the driver the way the CUDA
// runtime does (dlsym on its own handle, or cuGetProcAddress_v2 with --proc-address), then runs
// the steps given on its command line, printing one line per step for the tests to read.
//
//   ctx DEV | alloc MIB | alloc-until-oom STEP_MIB | free-all | managed MIB | pitch W H |
//   async MIB | vmm MIB | array W H | array3d W H D | mipmap W H | destroy-arrays | meminfo |
//   totalmem DEV | nvml-meminfo INDEX | ready FILE | wait-for FILE | unknown-symbol |
//   passthrough | rtld-next | sleep MS | hold (until killed) |
//   fork-child                  fork a child that, without exec, waits until killed; print its pid
//   vmm-export MIB SOCKET       create VMM memory, export it as a file descriptor and hand it
//                               (with its size) to the first process that connects to SOCKET
//   vmm-export-only MIB         create VMM memory and export it as a descriptor kept to itself
//   vmm-import SOCKET           receive such a descriptor and import it
//   vmm-export-fabric MIB FILE  the same through a fabric handle written to FILE
//   vmm-import-fabric FILE
//   vmm-map-imported | vmm-unmap-imported   map (unmap) every imported handle in full
//   run US SECONDS PATH         launch work of US microseconds back to back for SECONDS through
//                               PATH (kernel | ptsz | ex | coop | graph), then report the share of
//                               the device it got: device time of its work / wall time
//   steps US K N GAP_US         N steps of K launches of US microseconds, each waited for, GAP_US
//                               apart; reports the median and 99th percentile step latency
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "runtime/driver_abi.h"

namespace {

constexpr size_t kMiB = 1024 * 1024;
void* g_cuda = nullptr;
bool g_proc_address = false;
int g_flags = 0;

void* Resolve(const char* name) {
  if (!g_proc_address) return dlsym(g_cuda, name);
  using GetProc =
      CUresult (*)(const char*, void**, int, cuuint64_t, CUdriverProcAddressQueryResult*);
  static auto get_proc = reinterpret_cast<GetProc>(dlsym(g_cuda, "cuGetProcAddress_v2"));
  void* fn = nullptr;
  CUdriverProcAddressQueryResult status = 0;
  // The runtime asks by base name; strip the version suffix as cudart's tables do.
  std::string base = name;
  for (const char* suffix : {"_v2", "_v3", "_v4", "_ptsz"}) {
    const size_t n = std::strlen(suffix);
    if (base.size() > n && base.compare(base.size() - n, n, suffix) == 0)
      base.resize(base.size() - n);
  }
  if (get_proc == nullptr || get_proc(base.c_str(), &fn, 13000, g_flags, &status) != CUDA_SUCCESS) {
    return nullptr;
  }
  return fn;
}

template <typename Fn>
Fn F(const char* name) {
  auto f = reinterpret_cast<Fn>(Resolve(name));
  if (f == nullptr) {
    std::printf("missing %s\n", name);
    std::exit(3);
  }
  return f;
}

std::vector<CUdeviceptr> g_pointers;
std::vector<CUmemGenericAllocationHandle> g_handles;
std::vector<CUarray> g_arrays;
std::vector<CUmipmappedArray> g_mipmaps;

struct Imported {
  CUmemGenericAllocationHandle handle;
  size_t bytes;
  CUdeviceptr at = 0;
};
std::vector<Imported> g_imported;

sockaddr_un SocketAddress(const char* path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
  return addr;
}

// Serves one connection on `path`: sends `bytes` with `fd` attached.
bool SendDescriptor(const char* path, int fd, uint64_t bytes) {
  const int s = socket(AF_UNIX, SOCK_STREAM, 0);
  const sockaddr_un addr = SocketAddress(path);
  unlink(path);
  if (bind(s, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0 || listen(s, 1) != 0)
    return false;
  const int c = accept(s, nullptr, nullptr);
  iovec iov{&bytes, sizeof(bytes)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  cmsghdr* cm = CMSG_FIRSTHDR(&msg);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(cm), &fd, sizeof(int));
  const bool ok = sendmsg(c, &msg, 0) == sizeof(bytes);
  close(c);
  close(s);
  return ok;
}

// Connects to `path` (waiting for it to appear) and receives a descriptor and its size.
int ReceiveDescriptor(const char* path, uint64_t* bytes) {
  const sockaddr_un addr = SocketAddress(path);
  const int s = socket(AF_UNIX, SOCK_STREAM, 0);
  while (connect(s, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  iovec iov{bytes, sizeof(*bytes)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  int fd = -1;
  if (recvmsg(s, &msg, MSG_WAITALL) == sizeof(*bytes) && CMSG_FIRSTHDR(&msg) != nullptr)
    std::memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&msg)), sizeof(int));
  close(s);
  return fd;
}

const char* Outcome(CUresult rc) {
  return rc == CUDA_SUCCESS ? "ok" : (rc == CUDA_ERROR_OUT_OF_MEMORY ? "oom" : "error");
}

void* NvmlHandle() {
  static void* h = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  return h;
}

}  // namespace

int main(int argc, char** argv) {
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; ++i) {
    if (std::strcmp(argv[i], "--proc-address") == 0) g_proc_address = true;
    if (std::strcmp(argv[i], "--per-thread") == 0)
      g_flags = CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM;
  }
  g_cuda = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (g_cuda == nullptr) {
    std::printf("no driver: %s\n", dlerror());
    return 2;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  for (; i < argc; ++i) {
    const std::string step = argv[i];
    auto arg = [&](int k) { return std::atoll(argv[i + k]); };
    if (step == "ctx") {
      F<CUresult (*)(unsigned)>("cuInit")(0);
      CUcontext ctx = nullptr;
      const CUresult rc = F<CUresult (*)(CUcontext*, CUdevice)>("cuDevicePrimaryCtxRetain")(
          &ctx, static_cast<CUdevice>(arg(1)));
      if (rc == CUDA_SUCCESS) F<CUresult (*)(CUcontext)>("cuCtxSetCurrent")(ctx);
      std::printf("ctx %s\n", Outcome(rc));
      ++i;
    } else if (step == "alloc" || step == "managed" || step == "async") {
      CUdeviceptr p = 0;
      const size_t bytes = arg(1) * kMiB;
      CUresult rc;
      if (step == "alloc")
        rc = F<CUresult (*)(CUdeviceptr*, size_t)>("cuMemAlloc_v2")(&p, bytes);
      else if (step == "managed")
        rc = F<CUresult (*)(CUdeviceptr*, size_t, unsigned)>("cuMemAllocManaged")(&p, bytes, 1);
      else
        rc = F<CUresult (*)(CUdeviceptr*, size_t, CUstream)>(
            g_flags ? "cuMemAllocAsync_ptsz" : "cuMemAllocAsync")(&p, bytes, nullptr);
      if (rc == CUDA_SUCCESS) g_pointers.push_back(p);
      std::printf("%s %s\n", step.c_str(), Outcome(rc));
      ++i;
    } else if (step == "alloc-until-oom") {
      auto alloc = F<CUresult (*)(CUdeviceptr*, size_t)>("cuMemAlloc_v2");
      int n = 0;
      CUresult rc = CUDA_SUCCESS;
      for (;; ++n) {
        CUdeviceptr p = 0;
        rc = alloc(&p, arg(1) * kMiB);
        if (rc != CUDA_SUCCESS) break;
        g_pointers.push_back(p);
      }
      std::printf("allocated %d then %s\n", n, Outcome(rc));
      ++i;
    } else if (step == "free-all") {
      auto free_fn = F<CUresult (*)(CUdeviceptr)>("cuMemFree_v2");
      for (CUdeviceptr p : g_pointers) free_fn(p);
      g_pointers.clear();
      std::printf("freed\n");
    } else if (step == "pitch") {
      CUdeviceptr p = 0;
      size_t pitch = 0;
      const CUresult rc = F<CUresult (*)(CUdeviceptr*, size_t*, size_t, size_t, unsigned)>(
          "cuMemAllocPitch_v2")(&p, &pitch, arg(1), arg(2), 4);
      if (rc == CUDA_SUCCESS) g_pointers.push_back(p);
      std::printf("pitch %s %zu\n", Outcome(rc), pitch);
      i += 2;
    } else if (step == "vmm") {
      CUmemAllocationProp prop{};
      prop.type = 1;
      prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
      prop.location.id = 0;
      CUmemGenericAllocationHandle h = 0;
      const CUresult rc =
          F<CUresult (*)(CUmemGenericAllocationHandle*, size_t, const CUmemAllocationProp*,
                         unsigned long long)>("cuMemCreate")(&h, arg(1) * kMiB, &prop, 0);
      if (rc == CUDA_SUCCESS) g_handles.push_back(h);
      std::printf("vmm %s\n", Outcome(rc));
      ++i;
    } else if (step == "vmm-export" || step == "vmm-export-fabric" || step == "vmm-export-only") {
      const bool fabric = step == "vmm-export-fabric";
      const bool send = step == "vmm-export";
      CUmemAllocationProp prop{};
      prop.type = 1;
      prop.requestedHandleTypes =
          fabric ? CU_MEM_HANDLE_TYPE_FABRIC : CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
      prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
      const size_t bytes = arg(1) * kMiB;
      CUmemGenericAllocationHandle h = 0;
      CUresult rc =
          F<CUresult (*)(CUmemGenericAllocationHandle*, size_t, const CUmemAllocationProp*,
                         unsigned long long)>("cuMemCreate")(&h, bytes, &prop, 0);
      auto export_fn =
          F<CUresult (*)(void*, CUmemGenericAllocationHandle, int, unsigned long long)>(
              "cuMemExportToShareableHandle");
      if (rc == CUDA_SUCCESS && fabric) {
        CUmemFabricHandle fh{};
        rc = export_fn(&fh, h, CU_MEM_HANDLE_TYPE_FABRIC, 0);
        FILE* f = std::fopen(argv[i + 2], "wb");
        if (rc == CUDA_SUCCESS && f != nullptr) {
          std::fwrite(fh.data, 1, sizeof(fh.data), f);
          std::fwrite(&bytes, sizeof(bytes), 1, f);
        }
        if (f != nullptr) std::fclose(f);
        std::printf("%s %s\n", step.c_str(), Outcome(rc));
      } else if (rc == CUDA_SUCCESS) {
        int fd = -1;
        rc = export_fn(&fd, h, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0);
        std::printf("%s %s\n", step.c_str(), Outcome(rc));
        if (rc == CUDA_SUCCESS && send) SendDescriptor(argv[i + 2], fd, bytes);
      } else {
        std::printf("%s %s\n", step.c_str(), Outcome(rc));
      }
      i += send || fabric ? 2 : 1;
    } else if (step == "vmm-import" || step == "vmm-import-fabric") {
      auto import_fn = F<CUresult (*)(CUmemGenericAllocationHandle*, void*, int)>(
          "cuMemImportFromShareableHandle");
      uint64_t bytes = 0;
      CUmemGenericAllocationHandle h = 0;
      CUresult rc = CUDA_ERROR_INVALID_VALUE;
      if (step == "vmm-import") {
        const int fd = ReceiveDescriptor(argv[i + 1], &bytes);
        rc = import_fn(&h, reinterpret_cast<void*>(static_cast<intptr_t>(fd)),
                       CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR);
      } else {
        CUmemFabricHandle fh{};
        FILE* f = std::fopen(argv[i + 1], "rb");
        if (f != nullptr && std::fread(fh.data, 1, sizeof(fh.data), f) == sizeof(fh.data) &&
            std::fread(&bytes, sizeof(bytes), 1, f) == 1) {
          rc = import_fn(&h, &fh, CU_MEM_HANDLE_TYPE_FABRIC);
        }
        if (f != nullptr) std::fclose(f);
      }
      if (rc == CUDA_SUCCESS) g_imported.push_back({h, bytes});
      std::printf("%s %s\n", step.c_str(), Outcome(rc));
      ++i;
    } else if (step == "vmm-map-imported") {
      auto reserve = F<CUresult (*)(CUdeviceptr*, size_t, size_t, CUdeviceptr, unsigned long long)>(
          "cuMemAddressReserve");
      auto map = F<CUresult (*)(CUdeviceptr, size_t, size_t, CUmemGenericAllocationHandle,
                                unsigned long long)>("cuMemMap");
      CUresult rc = CUDA_SUCCESS;
      for (Imported& m : g_imported) {
        CUdeviceptr at = 0;
        rc = reserve(&at, m.bytes, 0, 0, 0);
        if (rc == CUDA_SUCCESS) rc = map(at, m.bytes, 0, m.handle, 0);
        if (rc != CUDA_SUCCESS) break;
        m.at = at;
      }
      std::printf("vmm-map %s\n", Outcome(rc));
    } else if (step == "vmm-unmap-imported") {
      auto unmap = F<CUresult (*)(CUdeviceptr, size_t)>("cuMemUnmap");
      for (Imported& m : g_imported) {
        if (m.at != 0) unmap(m.at, m.bytes);
        m.at = 0;
      }
      std::printf("unmapped\n");
    } else if (step == "vmm-release-all") {
      for (auto h : g_handles) F<CUresult (*)(CUmemGenericAllocationHandle)>("cuMemRelease")(h);
      g_handles.clear();
      std::printf("released\n");
    } else if (step == "array" || step == "array3d") {
      CUarray a = nullptr;
      CUresult rc;
      if (step == "array") {
        CUDA_ARRAY_DESCRIPTOR d{static_cast<size_t>(arg(1)), static_cast<size_t>(arg(2)), 0x20, 1};
        rc = F<CUresult (*)(CUarray*, const CUDA_ARRAY_DESCRIPTOR*)>("cuArrayCreate_v2")(&a, &d);
        i += 2;
      } else {
        CUDA_ARRAY3D_DESCRIPTOR d{static_cast<size_t>(arg(1)),
                                  static_cast<size_t>(arg(2)),
                                  static_cast<size_t>(arg(3)),
                                  0x20,
                                  1,
                                  0};
        rc =
            F<CUresult (*)(CUarray*, const CUDA_ARRAY3D_DESCRIPTOR*)>("cuArray3DCreate_v2")(&a, &d);
        i += 3;
      }
      if (rc == CUDA_SUCCESS) g_arrays.push_back(a);
      std::printf("%s %s\n", step.c_str(), Outcome(rc));
    } else if (step == "mipmap") {
      CUmipmappedArray a = nullptr;
      CUDA_ARRAY3D_DESCRIPTOR d{
          static_cast<size_t>(arg(1)), static_cast<size_t>(arg(2)), 0, 0x20, 1, 0};
      const CUresult rc =
          F<CUresult (*)(CUmipmappedArray*, const CUDA_ARRAY3D_DESCRIPTOR*, unsigned)>(
              "cuMipmappedArrayCreate")(&a, &d, 4);
      if (rc == CUDA_SUCCESS) g_mipmaps.push_back(a);
      std::printf("mipmap %s\n", Outcome(rc));
      i += 2;
    } else if (step == "destroy-arrays") {
      for (auto a : g_arrays) F<CUresult (*)(CUarray)>("cuArrayDestroy")(a);
      for (auto a : g_mipmaps) F<CUresult (*)(CUmipmappedArray)>("cuMipmappedArrayDestroy")(a);
      g_arrays.clear();
      g_mipmaps.clear();
      std::printf("destroyed\n");
    } else if (step == "meminfo") {
      size_t free_b = 0, total = 0;
      const CUresult rc = F<CUresult (*)(size_t*, size_t*)>("cuMemGetInfo_v2")(&free_b, &total);
      std::printf("meminfo %s free=%zu total=%zu\n", Outcome(rc), free_b / kMiB, total / kMiB);
    } else if (step == "totalmem") {
      size_t total = 0;
      const CUresult rc = F<CUresult (*)(size_t*, CUdevice)>("cuDeviceTotalMem_v2")(
          &total, static_cast<CUdevice>(arg(1)));
      std::printf("totalmem %s %zu\n", Outcome(rc), total / kMiB);
      ++i;
    } else if (step == "nvml-meminfo") {
      void* nvml = NvmlHandle();
      reinterpret_cast<nvmlReturn_t (*)()>(dlsym(nvml, "nvmlInit_v2"))();
      nvmlDevice_t dev = nullptr;
      reinterpret_cast<nvmlReturn_t (*)(unsigned, nvmlDevice_t*)>(
          dlsym(nvml, "nvmlDeviceGetHandleByIndex_v2"))(static_cast<unsigned>(arg(1)), &dev);
      nvmlMemory_t m{};
      nvmlMemory_v2_t m2{};
      m2.version = nvmlMemory_v2;
      const int rc1 = reinterpret_cast<nvmlReturn_t (*)(nvmlDevice_t, nvmlMemory_t*)>(
          dlsym(nvml, "nvmlDeviceGetMemoryInfo"))(dev, &m);
      const int rc2 = reinterpret_cast<nvmlReturn_t (*)(nvmlDevice_t, nvmlMemory_v2_t*)>(
          dlsym(nvml, "nvmlDeviceGetMemoryInfo_v2"))(dev, &m2);
      std::printf("nvml %d %d total=%llu used=%llu free=%llu v2total=%llu v2used=%llu\n", rc1, rc2,
                  m.total / kMiB, m.used / kMiB, m.free / kMiB, m2.total / kMiB, m2.used / kMiB);
      ++i;
    } else if (step == "ready") {
      FILE* f = std::fopen(argv[i + 1], "w");
      if (f != nullptr) std::fclose(f);
      ++i;
    } else if (step == "sleep") {  // sleep MS: a pause without launches
      std::this_thread::sleep_for(std::chrono::milliseconds(arg(1)));
      ++i;
    } else if (step == "wait-for") {
      while (access(argv[i + 1], F_OK) != 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      ++i;
    } else if (step == "unknown-symbol") {
      std::printf("unknown %s\n",
                  dlsym(g_cuda, "cuNoSuchFunction_v9") == nullptr ? "null" : "found");
    } else if (step == "passthrough") {
      Dl_info info{};
      void* fn = Resolve("cuLaunchKernel");
      dladdr(fn, &info);
      std::printf("passthrough %s\n",
                  info.dli_fname != nullptr && std::strstr(info.dli_fname, "xpool") == nullptr
                      ? "driver"
                      : "runtime");
    } else if (step == "rtld-next") {
      // From the program, RTLD_NEXT must search the objects after the program (the preloaded
      // runtime comes first), exactly as without an interposed dlsym.
      void* global = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
      (void)global;
      void* next = dlsym(RTLD_NEXT, "cuMemAlloc_v2");
      void* deflt = dlsym(RTLD_DEFAULT, "cuMemAlloc_v2");
      std::printf("rtld-next %s\n", next == deflt ? "same" : "different");
    } else if (step == "time-alloc" || step == "time-launch") {
      // ns per cuMemAlloc+cuMemFree pair, or per cuLaunchKernel, over N calls
      // (bench/runtime_overhead.sh)
      const long long n = arg(1);
      auto alloc = F<CUresult (*)(CUdeviceptr*, size_t)>("cuMemAlloc_v2");
      auto free_fn = F<CUresult (*)(CUdeviceptr)>("cuMemFree_v2");
      using Launch = CUresult (*)(void*, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                                  unsigned, CUstream, void**, void**);
      auto launch = F<Launch>("cuLaunchKernel");
      const auto t0 = std::chrono::steady_clock::now();
      for (long long k = 0; k < n; ++k) {
        if (step == "time-alloc") {
          CUdeviceptr p = 0;
          alloc(&p, 2 * kMiB);
          free_fn(p);
        } else {
          launch(nullptr, 0, 1, 1, 32, 1, 1, 0, nullptr, nullptr, nullptr);
        }
      }
      const double ns =
          std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() /
          n;
      std::printf("%s %.1f\n", step.c_str(), ns);
      ++i;
    } else if (step == "run" || step == "steps") {
      using Launch = CUresult (*)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned,
                                  unsigned, unsigned, CUstream, void**, void**);
      using LaunchEx = CUresult (*)(const CUlaunchConfig*, CUfunction, void**, void**);
      using Coop = CUresult (*)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned,
                                unsigned, unsigned, CUstream, void**);
      using Graph = CUresult (*)(CUgraphExec, CUstream);
      const auto micros = static_cast<unsigned>(arg(1));
      const std::string path = step == "run" ? argv[i + 3] : "kernel";
      auto sync = F<CUresult (*)()>("cuCtxSynchronize");
      auto launch_one = [&]() -> CUresult {
        if (path == "ptsz")
          return F<Launch>("cuLaunchKernel_ptsz")(nullptr, micros, 1, 1, 32, 1, 1, 0, nullptr,
                                                  nullptr, nullptr);
        if (path == "ex") {
          const CUlaunchConfig config{micros, 1, 1, 32, 1, 1, 0, nullptr, nullptr, 0};
          return F<LaunchEx>("cuLaunchKernelEx")(&config, nullptr, nullptr, nullptr);
        }
        if (path == "coop")
          return F<Coop>("cuLaunchCooperativeKernel")(nullptr, micros, 1, 1, 32, 1, 1, 0, nullptr,
                                                      nullptr);
        if (path == "graph")
          return F<Graph>("cuGraphLaunch")(
              reinterpret_cast<CUgraphExec>(static_cast<uintptr_t>(micros)), nullptr);
        return F<Launch>("cuLaunchKernel")(nullptr, micros, 1, 1, 32, 1, 1, 0, nullptr, nullptr,
                                           nullptr);
      };
      using Clock = std::chrono::steady_clock;
      if (step == "run") {
        const double seconds = std::atof(argv[i + 2]);
        // PROBE_CPU_US: CPU work between launches, as an eager framework spends it, so that
        // the launcher rather than the device sets the pace.
        const char* cpu_env = std::getenv("PROBE_CPU_US");
        const auto cpu = std::chrono::microseconds(cpu_env != nullptr ? std::atoi(cpu_env) : 0);
        const auto t0 = Clock::now();
        long long n = 0;
        while (std::chrono::duration<double>(Clock::now() - t0).count() < seconds) {
          for (const auto until = Clock::now() + cpu; Clock::now() < until;) {
          }
          if (launch_one() != CUDA_SUCCESS) break;
          ++n;
        }
        sync();
        const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
        std::printf("run %s launches=%lld share=%.3f rate=%.0f\n", path.c_str(), n,
                    n * micros * 1e-6 / wall, n / wall);
        i += 3;
      } else {
        const int per_step = static_cast<int>(arg(2)), n = static_cast<int>(arg(3));
        const auto gap = std::chrono::microseconds(arg(4));
        std::vector<double> latency;
        const auto start = Clock::now();
        for (int k = 0; k < n; ++k) {
          const auto t0 = Clock::now();
          for (int j = 0; j < per_step; ++j) launch_one();
          sync();
          latency.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
          std::this_thread::sleep_for(gap);
        }
        const double wall = std::chrono::duration<double>(Clock::now() - start).count();
        std::sort(latency.begin(), latency.end());
        std::printf("steps p50=%.0f p99=%.0f share=%.3f\n", latency[latency.size() / 2],
                    latency[latency.size() * 99 / 100],
                    static_cast<double>(per_step) * n * micros * 1e-6 / wall);
        i += 4;
      }
    } else if (step == "fork-child") {  // a child that only waits to be killed (no exec)
      const pid_t child = fork();
      if (child == 0) {
        // Off the output pipes, so that whoever reads them sees their end when the parent dies.
        const int null = open("/dev/null", O_WRONLY);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        pause();
        _exit(0);
      }
      std::printf("child %d\n", static_cast<int>(child));
      std::fflush(stdout);
    } else if (step == "hold") {
      pause();
    } else {
      std::printf("unknown step %s\n", step.c_str());
      return 2;
    }
  }
  return 0;
}
