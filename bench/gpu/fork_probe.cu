// For bench/gpu/fork_probe.sh: launches kernels, forks a child that sleeps 60 s without exec,
// prints both pids as one JSON line, and keeps launching until killed.
#include <cuda_runtime.h>
#include <unistd.h>

#include <cstdio>

__global__ void k(float* x) {
  x[threadIdx.x] += 1;
}
int main() {
  float* x;
  cudaMalloc(&x, 1024);
  for (int i = 0; i < 100; ++i) k<<<1, 32>>>(x);
  cudaDeviceSynchronize();
  pid_t c = fork();
  if (c == 0) {
    sleep(60);
    _exit(0);
  }
  printf("{\"parent\": %d, \"workers\": [%d]}\n", getpid(), c);
  fflush(stdout);
  for (;;) {
    k<<<1, 32>>>(x);
    cudaDeviceSynchronize();
    usleep(1000);
  }
}
