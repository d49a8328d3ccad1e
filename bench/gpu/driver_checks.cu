// A CUDA C++ program on the driver API for bench/gpu/runtime_memory.sh.
//   driver_checks quota     VMM (cuMemCreate + cuMemMap), arrays and managed memory, each taken
//                           in 64 MiB pieces until the driver says out of memory
//   driver_checks overhead  time per cuMemAlloc+cuMemFree pair and per cuLaunchKernel
// Run it with and without the runtime preloaded; it links libcuda directly, so it reaches the
// runtime through exported symbols rather than dlsym.
#include <cuda.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#define CHECK(call)                                                         \
  do {                                                                      \
    CUresult rc_ = (call);                                                  \
    if (rc_ != CUDA_SUCCESS) {                                              \
      std::fprintf(stderr, "%s failed: %d at line %d\n", #call, rc_, __LINE__); \
      std::exit(1);                                                         \
    }                                                                       \
  } while (0)

constexpr size_t kMiB = 1024 * 1024;
constexpr size_t kPiece = 64 * kMiB;

__global__ void Empty() {}

// nvidia-smi's per-process figure, asked from outside the slice.
static void ShowUsage() {
  if (std::system("env -u LD_PRELOAD nvidia-smi --query-compute-apps=pid,used_memory "
                  "--format=csv,noheader") != 0) {
    std::printf("nvidia-smi failed\n");
  }
}

static int Vmm(CUdevice dev) {
  CUmemAllocationProp prop{};
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  prop.location.id = dev;
  std::vector<CUmemGenericAllocationHandle> handles;
  CUdeviceptr base = 0;
  const size_t span = 64ull * 1024 * kMiB;
  CHECK(cuMemAddressReserve(&base, span, 0, 0, 0));
  CUmemAccessDesc access{};
  access.location = prop.location;
  access.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
  CUresult rc = CUDA_SUCCESS;
  while (true) {
    CUmemGenericAllocationHandle h;
    rc = cuMemCreate(&h, kPiece, &prop, 0);
    if (rc != CUDA_SUCCESS) break;
    const CUdeviceptr at = base + handles.size() * kPiece;
    CHECK(cuMemMap(at, kPiece, 0, h, 0));
    CHECK(cuMemSetAccess(at, kPiece, &access, 1));
    CHECK(cuMemsetD8(at, 1, kPiece));
    handles.push_back(h);
  }
  CHECK(cuCtxSynchronize());
  std::printf("vmm pieces=%zu last=%d\n", handles.size(), rc);
  std::fflush(stdout);
  ShowUsage();
  for (size_t i = 0; i < handles.size(); ++i) {
    CHECK(cuMemUnmap(base + i * kPiece, kPiece));
    CHECK(cuMemRelease(handles[i]));
  }
  CHECK(cuMemAddressFree(base, span));
  return static_cast<int>(handles.size());
}

static int Arrays() {
  std::vector<CUarray> arrays;
  CUDA_ARRAY3D_DESCRIPTOR d{};
  d.Width = 4096;
  d.Height = 4096;
  d.Format = CU_AD_FORMAT_FLOAT;
  d.NumChannels = 1;  // 64 MiB
  CUresult rc;
  while (true) {
    CUarray a;
    rc = cuArray3DCreate(&a, &d);
    if (rc != CUDA_SUCCESS) break;
    arrays.push_back(a);
  }
  std::printf("arrays pieces=%zu last=%d\n", arrays.size(), rc);
  std::fflush(stdout);
  ShowUsage();
  for (CUarray a : arrays) CHECK(cuArrayDestroy(a));
  return static_cast<int>(arrays.size());
}

static int Managed() {
  std::vector<CUdeviceptr> ptrs;
  CUresult rc;
  while (ptrs.size() < 1024) {  // never more than the quota allows; stop at 64 GiB regardless
    CUdeviceptr p;
    rc = cuMemAllocManaged(&p, kPiece, CU_MEM_ATTACH_GLOBAL);
    if (rc != CUDA_SUCCESS) break;
    CHECK(cuMemsetD8(p, 1, kPiece));
    ptrs.push_back(p);
  }
  CHECK(cuCtxSynchronize());
  std::printf("managed pieces=%zu last=%d\n", ptrs.size(), rc);
  for (CUdeviceptr p : ptrs) CHECK(cuMemFree(p));
  return static_cast<int>(ptrs.size());
}

static double NsPer(std::chrono::steady_clock::time_point t0, int n) {
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / n;
}

static void Overhead() {
  // Warm up, then time pairs of 2 MiB alloc+free and launches of an empty kernel.
  const int pairs = 20000, launches = 200000;
  CUdeviceptr p;
  for (int i = 0; i < 1000; ++i) {
    CHECK(cuMemAlloc(&p, 2 * kMiB));
    CHECK(cuMemFree(p));
  }
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < pairs; ++i) {
    CHECK(cuMemAlloc(&p, 2 * kMiB));
    CHECK(cuMemFree(p));
  }
  const double pair_ns = NsPer(t0, pairs);
  CUfunction fn;
  CHECK(cudaGetFuncBySymbol(&fn, reinterpret_cast<const void*>(Empty)) == cudaSuccess ? CUDA_SUCCESS : CUDA_ERROR_UNKNOWN);
  for (int i = 0; i < 10000; ++i) CHECK(cuLaunchKernel(fn, 1, 1, 1, 32, 1, 1, 0, nullptr, nullptr, nullptr));
  CHECK(cuCtxSynchronize());
  t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < launches; ++i) CHECK(cuLaunchKernel(fn, 1, 1, 1, 32, 1, 1, 0, nullptr, nullptr, nullptr));
  const double launch_ns = NsPer(t0, launches);
  CHECK(cuCtxSynchronize());
  // The same through the CUDA runtime, which reaches the driver through dlsym.
  void* q;
  t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < pairs; ++i) {
    if (cudaMalloc(&q, 2 * kMiB) != cudaSuccess || cudaFree(q) != cudaSuccess) std::exit(1);
  }
  const double rt_pair_ns = NsPer(t0, pairs);
  t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < launches; ++i) Empty<<<1, 32>>>();
  const double rt_launch_ns = NsPer(t0, launches);
  if (cudaDeviceSynchronize() != cudaSuccess) std::exit(1);
  std::printf("overhead preloaded=%d driver: alloc_free_pair_ns=%.0f launch_ns=%.1f  runtime: "
              "alloc_free_pair_ns=%.0f launch_ns=%.1f\n",
              std::getenv("LD_PRELOAD") != nullptr, pair_ns, launch_ns, rt_pair_ns, rt_launch_ns);
}

int main(int argc, char** argv) {
  CHECK(cuInit(0));
  CUdevice dev;
  CHECK(cuDeviceGet(&dev, 0));
  CUcontext ctx;
  CHECK(cuDevicePrimaryCtxRetain(&ctx, dev));
  CHECK(cuCtxSetCurrent(ctx));
  if (argc > 1 && std::strcmp(argv[1], "overhead") == 0) {
    Overhead();
    return 0;
  }
  Vmm(dev);
  Arrays();
  Managed();
  return 0;
}
