// Nanoseconds per kernel launch on the legacy stream, for the runtime's per-launch cost:
//   launch_cost CYCLES [N]   N launches (200000) of a kernel spinning CYCLES GPU cycles (0: empty)
// bench/gpu/launch_cost.sh runs it with and without the runtime.
#include <cuda_runtime.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
__global__ void spin(long long cycles) {
  long long t = clock64();
  while (clock64() - t < cycles) {
  }
}
int main(int argc, char** argv) {
  const long long cycles = argc > 1 ? atoll(argv[1]) : 0;
  const int n = argc > 2 ? atoi(argv[2]) : 200000;
  cudaFree(0);
  for (int i = 0; i < 1000; ++i) spin<<<1, 32>>>(cycles);
  cudaDeviceSynchronize();
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) spin<<<1, 32>>>(cycles);
  cudaDeviceSynchronize();
  double ns =
      std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / n;
  printf("cycles=%lld ns_per_launch=%.0f env=%s\n", cycles, ns,
         getenv("XPOOL_COMPUTE_POLICY") ? getenv("XPOOL_COMPUTE_POLICY") : "-");
}
