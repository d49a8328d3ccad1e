// Launch-bound work in C++, to tell the runtime's share of a CPU-paced launcher apart from
// PyTorch's eager path:   launch_bound SPIN_US CYCLES SECONDS
// Before each launch of a kernel spinning CYCLES GPU cycles, the CPU works SPIN_US microseconds;
// prints the launches per second over SECONDS (after a 1 s warm-up).
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
  if (argc != 4) {
    std::fprintf(stderr, "usage: launch_bound SPIN_US CYCLES SECONDS\n");
    return 2;
  }
  const auto cpu = std::chrono::microseconds(std::atoi(argv[1]));
  const long long cycles = std::atoll(argv[2]);
  const double seconds = std::atof(argv[3]);
  using Clock = std::chrono::steady_clock;
  cudaFree(0);
  long long n = 0;
  const auto run = [&](double s) {
    n = 0;
    const auto t0 = Clock::now();
    while (std::chrono::duration<double>(Clock::now() - t0).count() < s) {
      for (const auto until = Clock::now() + cpu; Clock::now() < until;) {
      }
      spin<<<1, 32>>>(cycles);
      ++n;
    }
    cudaDeviceSynchronize();
    return std::chrono::duration<double>(Clock::now() - t0).count();
  };
  run(1.0);
  const double wall = run(seconds);
  const char* share = std::getenv("XPOOL_GPU_CORE");
  std::printf("launch_bound spin_us=%s cycles=%lld share=%s rate=%.0f\n", argv[1], cycles,
              share != nullptr ? share : "-", n / wall);
}
