// Where each intercepted name's real driver function lives, and the translation the dlsym and
// cuGetProcAddress hooks apply: a hooked name (or the address of the driver's function behind
// one) is answered with the hook; everything else passes through untouched.
#pragma once

#include "runtime/driver_abi.h"

namespace xpool::runtime {

enum class Hook : int {
#define XPOOL_HOOK(name) name,
#include "runtime/hooks.inc"
#undef XPOOL_HOOK
  kCount
};

// The driver's (or NVML's) own function behind a hook, resolved on first use; null when the
// library or symbol is missing, in which case the hook fails cleanly.
void* RealFunction(Hook hook);

// dlsym path: `real` is what the real dlsym found for `name`. Returns the hook if `name` is
// intercepted (remembering `real` as the function behind it), else `real`.
void* InterceptByName(const char* name, void* real);

// cuGetProcAddress path: returns the hook whose driver function is `real`, else `real`.
void* InterceptByAddress(void* real);

// Functions the runtime calls for itself and does not intercept. Null if absent.
void* DriverSymbol(const char* name);
// NVML, opened and initialised on first use; null if NVML is absent or fails to initialise.
void* NvmlSymbol(const char* name);

using DlsymFn = void* (*)(void*, const char*);
DlsymFn RealDlsym();

}  // namespace xpool::runtime

#define XPOOL_REAL(name) \
  reinterpret_cast<decltype(&::name)>(::xpool::runtime::RealFunction(::xpool::runtime::Hook::name))

// Declares `real`, the driver's function behind hook `name`, or returns from the hook when the
// driver lacks it.
#define XPOOL_REAL_OR_FAIL(name) \
  auto real = XPOOL_REAL(name);  \
  if (real == nullptr) return CUDA_ERROR_NOT_INITIALIZED
