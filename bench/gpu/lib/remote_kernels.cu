// The kernels of tests/fake_driver/driver_program.cc for a real GPU, built to a cubin by
// bench/gpu/remote.sh; the same names and parameters as the fake driver's.
extern "C" __global__ void saxpy(float* y, const float* x, float a, unsigned n) {
  const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = a * x[i] + y[i];
}
extern "C" __global__ void fill32(unsigned* dst, unsigned value, unsigned n) {
  const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) dst[i] = value;
}
