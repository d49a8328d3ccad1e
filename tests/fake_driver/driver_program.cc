// A program written against the CUDA driver API, as a user's would be: it opens libcuda.so.1,
// loads a module, moves data, launches kernels on streams with events, and prints what it
// computed. Run once with the local driver and once through a remote session, its output must
// be the same (tests/remote/remote_session.sh; bench/gpu/remote.sh on a GPU, with a cubin of
// bench/gpu/lib/remote_kernels.cu as the module).
//
//   driver_program [--proc-address] --module FILE STEP...
//     describe            the device as the program sees it
//     compute N           saxpy and fill32 over N floats; prints checksums of the results
//     alloc-until-oom MIB allocate MIB at a time until refused; prints how many fit
//     unsupported         call a driver function the remote client does not implement
//     maps                print the driver library this process has mapped
//     ready FILE          create FILE (tests wait for it)
//     hold                sleep until killed
//     sync-every MS       synchronise every MS ms until it fails; prints the error and how long
//                         the failing call took
//     run US SECONDS      launch kernels of US microseconds of (fake) device time back to back
//                         for SECONDS, waiting after every 20; prints the launches made
//     bench SECONDS       round trips of an empty synchronisation (p50, µs) and launches/s
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "runtime/driver_abi.h"

namespace {

void* g_cuda = nullptr;
bool g_proc_address = false;

void* Resolve(const char* name) {
  if (!g_proc_address) return dlsym(g_cuda, name);
  using GetProc =
      CUresult (*)(const char*, void**, int, cuuint64_t, CUdriverProcAddressQueryResult*);
  static auto get_proc = reinterpret_cast<GetProc>(dlsym(g_cuda, "cuGetProcAddress_v2"));
  std::string base = name;
  for (const char* suffix : {"_v2", "_v3", "_v4"}) {
    const size_t n = std::strlen(suffix);
    if (base.size() > n && base.compare(base.size() - n, n, suffix) == 0)
      base.resize(base.size() - n);
  }
  void* fn = nullptr;
  CUdriverProcAddressQueryResult status = 0;
  if (get_proc == nullptr || get_proc(base.c_str(), &fn, 13000, 0, &status) != CUDA_SUCCESS) {
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

#define CHECK(call)                                                \
  do {                                                             \
    const CUresult rc_ = (call);                                   \
    if (rc_ != CUDA_SUCCESS) {                                     \
      std::printf("error %d at %s:%d\n", rc_, __FILE__, __LINE__); \
      std::exit(4);                                                \
    }                                                              \
  } while (0)

uint64_t Fnv(const void* data, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= static_cast<const uint8_t*>(data)[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

std::string g_module_image;
CUmodule g_module = nullptr;

void Start() {
  CHECK(F<CUresult (*)(unsigned)>("cuInit")(0));
  CUdevice dev = 0;
  CHECK(F<CUresult (*)(CUdevice*, int)>("cuDeviceGet")(&dev, 0));
  CUcontext ctx = nullptr;
  CHECK(F<CUresult (*)(CUcontext*, CUdevice)>("cuDevicePrimaryCtxRetain")(&ctx, dev));
  CHECK(F<CUresult (*)(CUcontext)>("cuCtxSetCurrent")(ctx));
}

void Describe() {
  int count = 0, version = 0;
  CHECK(F<CUresult (*)(int*)>("cuDeviceGetCount")(&count));
  CHECK(F<CUresult (*)(int*)>("cuDriverGetVersion")(&version));
  char name[128] = {};
  CHECK(F<CUresult (*)(char*, int, CUdevice)>("cuDeviceGetName")(name, sizeof(name), 0));
  size_t total = 0;
  CHECK(F<CUresult (*)(size_t*, CUdevice)>("cuDeviceTotalMem_v2")(&total, 0));
  CUuuid uuid{};
  CHECK(F<CUresult (*)(CUuuid*, CUdevice)>("cuDeviceGetUuid_v2")(&uuid, 0));
  auto attribute = F<CUresult (*)(int*, int, CUdevice)>("cuDeviceGetAttribute");
  uint64_t attributes = 0;
  int answered = 0;
  for (int a = 1; a < kDeviceAttributeEnd; ++a) {
    int v = 0;
    if (attribute(&v, a, 0) == CUDA_SUCCESS) {
      attributes = attributes * 31 + static_cast<uint32_t>(v);
      ++answered;
    }
  }
  int major = 0, minor = 0;
  CHECK(attribute(&major, 75, 0));
  CHECK(attribute(&minor, 76, 0));
  std::printf("devices %d name '%s' memory %zu MiB capability %d.%d\n", count, name, total >> 20,
              major, minor);
  std::printf("uuid %016llx attributes %d hash %016llx\n",
              static_cast<unsigned long long>(Fnv(uuid.bytes, 16)), answered,
              static_cast<unsigned long long>(attributes));
}

void LoadModule() {
  if (g_module != nullptr) return;
  CHECK(F<CUresult (*)(CUmodule*, const void*)>("cuModuleLoadData")(&g_module,
                                                                    g_module_image.data()));
}

using LaunchKernelFn = CUresult (*)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned,
                                    unsigned, unsigned, CUstream, void**, void**);

// A kernel of the module given with --module, loading it on first use.
CUfunction KernelNamed(const char* name) {
  LoadModule();
  CUfunction f = nullptr;
  CHECK(F<CUresult (*)(CUfunction*, CUmodule, const char*)>("cuModuleGetFunction")(&f, g_module,
                                                                                   name));
  return f;
}

void Compute(size_t n) {
  const CUfunction saxpy = KernelNamed("saxpy");
  const CUfunction fill = KernelNamed("fill32");
  auto alloc = F<CUresult (*)(CUdeviceptr*, size_t)>("cuMemAlloc_v2");
  CUdeviceptr x = 0, y = 0, z = 0;
  const size_t bytes = n * sizeof(float);
  CHECK(alloc(&x, bytes));
  CHECK(alloc(&y, bytes));
  CHECK(alloc(&z, bytes));
  std::vector<float> host(n);
  for (size_t i = 0; i < n; ++i) host[i] = static_cast<float>(i % 1000) * 0.5f + 0.25f;
  CHECK(
      F<CUresult (*)(CUdeviceptr, const void*, size_t)>("cuMemcpyHtoD_v2")(x, host.data(), bytes));

  CUstream stream = nullptr;
  CHECK(F<CUresult (*)(CUstream*, unsigned)>("cuStreamCreate")(&stream, 1));
  auto event_create = F<CUresult (*)(CUevent*, unsigned)>("cuEventCreate");
  CUevent start = nullptr, end = nullptr;
  CHECK(event_create(&start, 0));
  CHECK(event_create(&end, 0));
  auto record = F<CUresult (*)(CUevent, CUstream)>("cuEventRecord");
  auto launch = F<LaunchKernelFn>("cuLaunchKernel");
  const unsigned blocks = static_cast<unsigned>((n + 255) / 256);
  unsigned one_bits = 0x3f800000u;  // 1.0f
  auto count = static_cast<unsigned>(n);
  CHECK(record(start, stream));
  void* fill_args[] = {&y, &one_bits, &count};
  CHECK(launch(fill, blocks, 1, 1, 256, 1, 1, 0, stream, fill_args, nullptr));
  float a = 2.0f;
  void* saxpy_args[] = {&y, &x, &a, &count};
  CHECK(launch(saxpy, blocks, 1, 1, 256, 1, 1, 0, stream, saxpy_args, nullptr));
  // The same kernel with its parameters packed in one buffer, the other way the driver takes them.
  struct {
    CUdeviceptr y, x;
    float a;
    unsigned n;
  } packed{y, x, -0.5f, count};
  size_t packed_size = sizeof(packed);
  void* extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, &packed, CU_LAUNCH_PARAM_BUFFER_SIZE,
                   &packed_size, CU_LAUNCH_PARAM_END};
  CHECK(launch(saxpy, blocks, 1, 1, 256, 1, 1, 0, stream, nullptr, extra));
  CHECK(record(end, stream));
  std::vector<float> result(n);
  CHECK(F<CUresult (*)(void*, CUdeviceptr, size_t, CUstream)>("cuMemcpyDtoHAsync_v2")(
      result.data(), y, bytes, stream));
  CHECK(F<CUresult (*)(CUstream)>("cuStreamSynchronize")(stream));
  double sum = 0;
  for (float v : result) sum += v;
  std::printf("saxpy n %zu sum %.3f hash %016llx\n", n, sum,
              static_cast<unsigned long long>(Fnv(result.data(), bytes)));

  // Memsets and device-to-device copies on the null stream, read back synchronously.
  CHECK(F<CUresult (*)(CUdeviceptr, unsigned, size_t)>("cuMemsetD32_v2")(z, 0x40400000u, n));
  CHECK(F<CUresult (*)(CUdeviceptr, unsigned char, size_t)>("cuMemsetD8_v2")(z, 0, bytes / 2));
  CHECK(F<CUresult (*)(CUdeviceptr, CUdeviceptr, size_t)>("cuMemcpyDtoD_v2")(x, z, bytes / 4));
  CHECK(F<CUresult (*)(void*, CUdeviceptr, size_t)>("cuMemcpyDtoH_v2")(result.data(), x, bytes));
  std::printf("copies hash %016llx\n", static_cast<unsigned long long>(Fnv(result.data(), bytes)));

  CHECK(F<CUresult (*)(CUevent)>("cuEventSynchronize")(end));
  float ms = -1;
  CHECK(F<CUresult (*)(float*, CUevent, CUevent)>("cuEventElapsedTime_v2")(&ms, start, end));
  std::printf("elapsed %s\n", ms >= 0 ? "measured" : "negative");
  size_t free_bytes = 0, total = 0;
  CHECK(F<CUresult (*)(size_t*, size_t*)>("cuMemGetInfo_v2")(&free_bytes, &total));
  std::printf("meminfo total %zu MiB\n", total >> 20);
  auto free_fn = F<CUresult (*)(CUdeviceptr)>("cuMemFree_v2");
  CHECK(free_fn(x));
  CHECK(free_fn(y));
  CHECK(free_fn(z));
  CHECK(F<CUresult (*)(CUevent)>("cuEventDestroy_v2")(start));
  CHECK(F<CUresult (*)(CUevent)>("cuEventDestroy_v2")(end));
  CHECK(F<CUresult (*)(CUstream)>("cuStreamDestroy_v2")(stream));
  CHECK(F<CUresult (*)()>("cuCtxSynchronize")());
}

void AllocUntilOom(size_t mib) {
  auto alloc = F<CUresult (*)(CUdeviceptr*, size_t)>("cuMemAlloc_v2");
  int n = 0;
  CUresult rc = CUDA_SUCCESS;
  for (;; ++n) {
    CUdeviceptr p = 0;
    rc = alloc(&p, mib << 20);
    if (rc != CUDA_SUCCESS) break;
  }
  std::printf("allocated %d then %s\n", n, rc == CUDA_ERROR_OUT_OF_MEMORY ? "oom" : "error");
}

void Unsupported() {
  using GetProc =
      CUresult (*)(const char*, void**, int, cuuint64_t, CUdriverProcAddressQueryResult*);
  auto get_proc = F<GetProc>("cuGetProcAddress_v2");
  void* fn = nullptr;
  CUdriverProcAddressQueryResult status = 0;
  const CUresult found = get_proc("cuGraphCreate", &fn, 13000, 0, &status);
  if (found != CUDA_SUCCESS || fn == nullptr) {
    std::printf("cuGraphCreate not found (%d)\n", found);
    return;
  }
  void* graph = nullptr;
  const CUresult rc = reinterpret_cast<CUresult (*)(void**, unsigned)>(fn)(&graph, 0);
  std::printf("cuGraphCreate returned %d\n", rc);
}

void Maps() {
  std::ifstream maps("/proc/self/maps");
  std::string line, found = "none";
  while (std::getline(maps, line)) {
    if (line.find("libcuda.so") != std::string::npos) found = line.substr(line.find('/'));
  }
  std::printf("driver %s\n", found.c_str());
}

void SyncEvery(int ms) {
  auto sync = F<CUresult (*)()>("cuCtxSynchronize");
  for (;;) {
    const auto t0 = std::chrono::steady_clock::now();
    const CUresult rc = sync();
    const double took =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (rc != CUDA_SUCCESS) {
      std::printf("sync failed with %d after %.0f ms\n", rc, took);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  }
}

void Run(unsigned micros, double seconds) {
  const CUfunction fill = KernelNamed("fill32");
  CUdeviceptr buf = 0;
  CHECK(F<CUresult (*)(CUdeviceptr*, size_t)>("cuMemAlloc_v2")(&buf, 4));
  auto sync = F<CUresult (*)()>("cuCtxSynchronize");
  auto launch = F<LaunchKernelFn>("cuLaunchKernel");
  unsigned value = 1, n = 1;
  void* args[] = {&buf, &value, &n};
  long launches = 0;
  // The fake device runs a launch for gridDimX microseconds.
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until) {
    for (int i = 0; i < 20; ++i)
      CHECK(launch(fill, micros, 1, 1, 1, 1, 1, 0, nullptr, args, nullptr));
    CHECK(sync());
    launches += 20;
  }
  std::printf("ran %ld launches\n", launches);
}

void Bench(double seconds) {
  const CUfunction fill = KernelNamed("fill32");
  CUdeviceptr buf = 0;
  CHECK(F<CUresult (*)(CUdeviceptr*, size_t)>("cuMemAlloc_v2")(&buf, 4096));
  auto sync = F<CUresult (*)()>("cuCtxSynchronize");
  auto launch = F<LaunchKernelFn>("cuLaunchKernel");
  using Clock = std::chrono::steady_clock;
  std::vector<double> rtt;
  const auto until = Clock::now() + std::chrono::duration<double>(seconds / 2);
  while (Clock::now() < until) {
    const auto t0 = Clock::now();
    CHECK(sync());
    rtt.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  std::sort(rtt.begin(), rtt.end());
  unsigned value = 7, n = 1;
  void* args[] = {&buf, &value, &n};
  long launches = 0;
  const auto t0 = Clock::now();
  const auto launch_until = t0 + std::chrono::duration<double>(seconds / 2);
  while (Clock::now() < launch_until) {
    for (int i = 0; i < 1000; ++i)
      CHECK(launch(fill, 1, 1, 1, 32, 1, 1, 0, nullptr, args, nullptr));
    launches += 1000;
  }
  CHECK(sync());
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("sync round trip p50 %.1f us p99 %.1f us (%zu)\n", rtt[rtt.size() / 2],
              rtt[rtt.size() * 99 / 100], rtt.size());
  std::printf("launches %.0f per second\n", launches / elapsed);
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; ++i) {
    if (std::strcmp(argv[i], "--proc-address") == 0) g_proc_address = true;
    if (std::strcmp(argv[i], "--module") == 0 && i + 1 < argc) {
      std::ifstream in(argv[++i], std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      g_module_image = ss.str();
      g_module_image.push_back('\0');  // text images end with a NUL
    }
  }
  g_cuda = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (g_cuda == nullptr) {
    std::printf("no driver: %s\n", dlerror());
    return 2;
  }
  const bool needs_device = i < argc && std::strcmp(argv[i], "maps") != 0;
  if (needs_device) Start();
  for (; i < argc; ++i) {
    const std::string step = argv[i];
    auto next = [&] { return i + 1 < argc ? argv[++i] : ""; };
    if (step == "describe")
      Describe();
    else if (step == "compute")
      Compute(std::strtoull(next(), nullptr, 10));
    else if (step == "alloc-until-oom")
      AllocUntilOom(std::strtoull(next(), nullptr, 10));
    else if (step == "unsupported")
      Unsupported();
    else if (step == "maps")
      Maps();
    else if (step == "ready")
      std::ofstream(next()) << getpid() << "\n";
    else if (step == "hold")
      for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
    else if (step == "run") {
      const unsigned us = static_cast<unsigned>(std::atoi(next()));
      Run(us, std::strtod(next(), nullptr));
    } else if (step == "sync-every")
      SyncEvery(std::atoi(next()));
    else if (step == "bench")
      Bench(std::strtod(next(), nullptr));
    else {
      std::printf("unknown step %s\n", step.c_str());
      return 2;
    }
  }
  return 0;
}
