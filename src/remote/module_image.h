// How many bytes a module image handed to cuModuleLoadData occupies. The driver API passes only
// a pointer; the size follows from the image's own format: an ELF cubin (its headers and
// sections), a fatbin (its header's size fields), the fatbin wrapper the CUDA runtime registers
// (which points at a fatbin), or NUL-terminated text (PTX).
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/status.h"

namespace xpool::remote {

struct ModuleImage {
  const uint8_t* data;
  size_t bytes;
};

// `readable` bounds how far the image may be read: the caller's knowledge of the mapping (a
// fuzzer passes its buffer's size), or SIZE_MAX for a pointer the program vouches for.
Result<ModuleImage> MeasureModuleImage(const void* image, size_t readable);

inline constexpr size_t kMaxModuleImage = size_t{1} << 30;

}  // namespace xpool::remote
