// A CUDA C++ program on the driver API for bench/gpu/runtime_memory.sh.
//   driver_checks quota     VMM (cuMemCreate + cuMemMap), arrays and managed memory, each taken
//                           in 64 MiB pieces until the driver says out of memory
//   driver_checks overhead  time per cuMemAlloc+cuMemFree pair and per cuLaunchKernel
//   driver_checks export MIB SOCKET   VMM memory exported as a file descriptor, handed to the
//                                     first process that connects to SOCKET, then held
//   driver_checks import SOCKET       imports it, and counts the 64 MiB pieces cuMemAlloc gives
//                                     before mapping it, while mapped, and after unmapping
// Run it with and without the runtime preloaded; it links libcuda directly, so it reaches the
// runtime through exported symbols rather than dlsym.
#include <cuda.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#define CHECK(call)                                                             \
  do {                                                                          \
    CUresult rc_ = (call);                                                      \
    if (rc_ != CUDA_SUCCESS) {                                                  \
      std::fprintf(stderr, "%s failed: %d at line %d\n", #call, rc_, __LINE__); \
      std::exit(1);                                                             \
    }                                                                           \
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
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() /
         n;
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
  CHECK(cudaGetFuncBySymbol(&fn, reinterpret_cast<const void*>(Empty)) == cudaSuccess
            ? CUDA_SUCCESS
            : CUDA_ERROR_UNKNOWN);
  for (int i = 0; i < 10000; ++i)
    CHECK(cuLaunchKernel(fn, 1, 1, 1, 32, 1, 1, 0, nullptr, nullptr, nullptr));
  CHECK(cuCtxSynchronize());
  t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < launches; ++i)
    CHECK(cuLaunchKernel(fn, 1, 1, 1, 32, 1, 1, 0, nullptr, nullptr, nullptr));
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
  std::printf(
      "overhead preloaded=%d driver: alloc_free_pair_ns=%.0f launch_ns=%.1f  runtime: "
      "alloc_free_pair_ns=%.0f launch_ns=%.1f\n",
      std::getenv("LD_PRELOAD") != nullptr, pair_ns, launch_ns, rt_pair_ns, rt_launch_ns);
}

static sockaddr_un Address(const char* path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
  return a;
}

// Sends (or receives) one descriptor with the allocation's size over a unix socket.
static void Transfer(const char* path, int* fd, size_t* bytes, bool send) {
  const sockaddr_un a = Address(path);
  int s = socket(AF_UNIX, SOCK_STREAM, 0), c = -1;
  if (send) {
    unlink(path);
    if (bind(s, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) != 0 || listen(s, 1) != 0)
      std::exit(1);
    c = accept(s, nullptr, nullptr);
  } else {
    while (connect(s, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) != 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    c = s;
  }
  iovec iov{bytes, sizeof(*bytes)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  if (send) {
    cmsghdr* cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(cm), fd, sizeof(int));
    if (sendmsg(c, &msg, 0) != sizeof(*bytes)) std::exit(1);
  } else {
    if (recvmsg(c, &msg, MSG_WAITALL) != sizeof(*bytes) || CMSG_FIRSTHDR(&msg) == nullptr)
      std::exit(1);
    std::memcpy(fd, CMSG_DATA(CMSG_FIRSTHDR(&msg)), sizeof(int));
  }
  close(c);
  if (c != s) close(s);
}

static CUmemAllocationProp ShareableProp(CUdevice dev) {
  CUmemAllocationProp prop{};
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.requestedHandleTypes = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
  prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  prop.location.id = dev;
  return prop;
}

static void Export(CUdevice dev, size_t mib, const char* path) {
  const CUmemAllocationProp prop = ShareableProp(dev);
  size_t bytes = mib * kMiB;
  CUmemGenericAllocationHandle h;
  CHECK(cuMemCreate(&h, bytes, &prop, 0));
  int fd = -1;
  CHECK(cuMemExportToShareableHandle(&fd, h, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0));
  Transfer(path, &fd, &bytes, true);
  pause();
}

static int PiecesUntilOom() {
  std::vector<CUdeviceptr> ptrs;
  CUdeviceptr p;
  while (cuMemAlloc(&p, kPiece) == CUDA_SUCCESS) ptrs.push_back(p);
  for (CUdeviceptr q : ptrs) CHECK(cuMemFree(q));
  return static_cast<int>(ptrs.size());
}

static void Import(CUdevice dev, const char* path) {
  // An export of the importer's own first: the driver's exported descriptors all name one file,
  // so the runtime must not take the import for this export.
  const CUmemAllocationProp prop = ShareableProp(dev);
  CUmemGenericAllocationHandle own;
  CHECK(cuMemCreate(&own, kPiece, &prop, 0));
  int own_fd = -1;
  CHECK(cuMemExportToShareableHandle(&own_fd, own, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0));
  int fd = -1;
  size_t bytes = 0;
  Transfer(path, &fd, &bytes, false);
  CUmemGenericAllocationHandle h;
  CHECK(cuMemImportFromShareableHandle(&h, reinterpret_cast<void*>(static_cast<intptr_t>(fd)),
                                       CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR));
  const int before = PiecesUntilOom();
  CUdeviceptr at = 0;
  CHECK(cuMemAddressReserve(&at, bytes, 0, 0, 0));
  const CUresult map_rc = cuMemMap(at, bytes, 0, h, 0);
  int mapped = -1;
  if (map_rc == CUDA_SUCCESS) {
    CUmemAccessDesc access{};
    access.location = ShareableProp(dev).location;
    access.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
    CHECK(cuMemSetAccess(at, bytes, &access, 1));
    CHECK(cuMemsetD8(at, 2, bytes));
    CHECK(cuCtxSynchronize());
    mapped = PiecesUntilOom();
    CHECK(cuMemUnmap(at, bytes));
  }
  const int after = PiecesUntilOom();
  std::printf("import mib=%zu map=%d pieces_before=%d pieces_mapped=%d pieces_after=%d\n",
              bytes / kMiB, map_rc, before, mapped, after);
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
  if (argc > 3 && std::strcmp(argv[1], "export") == 0) Export(dev, std::atoi(argv[2]), argv[3]);
  if (argc > 2 && std::strcmp(argv[1], "import") == 0) {
    Import(dev, argv[2]);
    return 0;
  }
  Vmm(dev);
  Arrays();
  Managed();
  return 0;
}
