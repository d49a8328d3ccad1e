// The remote client's symbol table, behind cuGetProcAddress: its own functions by their newest
// version, and for any other name of the driver API a function that logs the name once and
// returns CUDA_ERROR_NOT_SUPPORTED, so that a program meets a clear error, not a missing symbol.
//
// Thread-safety: safe from any thread.
#pragma once

#include <string_view>

#include "runtime/driver_abi.h"

namespace xpool::remote {

// The function for `symbol` (a base name, as the CUDA runtime asks): per-thread-stream variants
// first when the flags ask for them, then the newest version. nullptr for a name the driver API
// does not have.
void* ResolveDriverSymbol(std::string_view symbol, cuuint64_t flags);

}  // namespace xpool::remote
