// The fake driver's device memory contents, copies, memsets, modules and kernels (the rest of the
// fake is in fake_driver.cc). Memory gets real bytes only when something writes or reads it, so
// tests that only count allocations hold no host memory.
//
// Modules: an image is the text "xpool-fake-module\n" followed by the names of the kernels it
// holds, one per line, NUL-terminated. Kernels the fake can run (on the host, at launch):
//   saxpy(float* y, const float* x, float a, unsigned n)   y[i] = a * x[i] + y[i]
//   fill32(unsigned* dst, unsigned value, unsigned n)
//
// Thread-safety: every function may be called from any thread.
#pragma once

#include <cstdint>

#include "runtime/driver_abi.h"

namespace fake {

// The allocation holding `pointer` (fake_driver.cc).
bool FindAllocation(uint64_t pointer, uint64_t* base, uint64_t* bytes);
// Drops the contents of a freed allocation.
void ForgetContents(uint64_t base);
// Runs a launch's kernel when `f` is one of the fake's kernels; ignores other handles (the
// timing tests launch with made-up ones).
CUresult RunKernel(CUfunction f, void** params, void** extra);
// This file's exported driver functions, for cuGetProcAddress.
void* FindContentsFunction(const char* name);

}  // namespace fake
