// Host nanoseconds per driver call on the paths the compute limiter takes at a launch, measured
// on the real driver: driver_call_cost [N]. Each figure is the mean over N calls after a warm-up.
#include <cuda.h>
#include <cuda_runtime.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

__global__ void empty_kernel() {}

template <typename F>
double NsPerCall(int n, F&& f) {
  for (int i = 0; i < n / 10; ++i) f(i);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) f(i);
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() /
         n;
}

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 100000;
  cudaFree(0);
  CUstream stream = nullptr;
  std::vector<CUevent> timed(64), untimed(64);
  for (auto& e : timed) cuEventCreate(&e, CU_EVENT_DEFAULT);
  for (auto& e : untimed) cuEventCreate(&e, CU_EVENT_DISABLE_TIMING);
  const auto launch = [](int) { empty_kernel<<<1, 32>>>(); };
  std::printf("launch_empty %.0f\n", NsPerCall(n, launch));
  cudaDeviceSynchronize();
  std::printf("launch_then_record_timed %.0f\n", NsPerCall(n, [&](int i) {
                launch(i);
                cuEventRecord(timed[i % 64], stream);
              }));
  cudaDeviceSynchronize();
  std::printf("launch_then_record_untimed %.0f\n", NsPerCall(n, [&](int i) {
                launch(i);
                cuEventRecord(untimed[i % 64], stream);
              }));
  cudaDeviceSynchronize();
  std::printf("query_completed %.0f\n",
              NsPerCall(n, [&](int i) { (void)cuEventQuery(timed[i % 64]); }));
  std::printf("elapsed %.0f\n", NsPerCall(n, [&](int i) {
                float ms = 0;
                (void)cuEventElapsedTime(&ms, timed[i % 64], timed[(i + 1) % 64]);
              }));
  std::printf("synchronize_completed %.0f\n",
              NsPerCall(n, [&](int i) { (void)cuEventSynchronize(timed[i % 64]); }));
  std::printf("stream_is_capturing %.0f\n", NsPerCall(n, [&](int) {
                CUstreamCaptureStatus s;
                (void)cuStreamIsCapturing(stream, &s);
              }));
  std::printf("ctx_get_device %.0f\n", NsPerCall(n, [&](int) {
                CUdevice d;
                (void)cuCtxGetDevice(&d);
              }));
  return 0;
}
