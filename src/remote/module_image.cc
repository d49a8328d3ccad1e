#include "remote/module_image.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace xpool::remote {
namespace {

constexpr uint32_t kFatbinMagic = 0xBA55ED50;
constexpr uint32_t kFatbinWrapperMagic = 0x466243B1;
constexpr uint32_t kElfSectionNoBits = 8;

template <typename T>
T Load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

Status Truncated(const char* what) {
  return Status::InvalidArgument(std::string("module image: truncated ") + what);
}

Result<size_t> ElfBytes(const uint8_t* p, size_t readable) {
  constexpr size_t kElfHeader = 64;
  if (readable < kElfHeader) return Truncated("ELF header");
  if (p[4] != 2) return Status::InvalidArgument("module image: not a 64-bit ELF");
  const uint64_t phoff = Load<uint64_t>(p + 0x20), shoff = Load<uint64_t>(p + 0x28);
  const uint16_t phentsize = Load<uint16_t>(p + 0x36), phnum = Load<uint16_t>(p + 0x38);
  const uint16_t shentsize = Load<uint16_t>(p + 0x3A), shnum = Load<uint16_t>(p + 0x3C);
  if (phoff > kMaxModuleImage || shoff > kMaxModuleImage || (shnum > 0 && shentsize < 0x28) ||
      (phnum > 0 && phentsize < 0x28)) {
    return Status::InvalidArgument("module image: ELF header out of range");
  }
  uint64_t end = kElfHeader;
  const uint64_t ph_end = phoff + uint64_t{phnum} * phentsize;
  const uint64_t sh_end = shoff + uint64_t{shnum} * shentsize;
  if (ph_end > readable || sh_end > readable) return Truncated("ELF headers");
  end = std::max({end, ph_end, sh_end});
  for (uint16_t i = 0; i < shnum; ++i) {
    const uint8_t* sh = p + shoff + uint64_t{i} * shentsize;
    if (Load<uint32_t>(sh + 4) == kElfSectionNoBits) continue;
    const uint64_t off = Load<uint64_t>(sh + 0x18), size = Load<uint64_t>(sh + 0x20);
    if (off > kMaxModuleImage || size > kMaxModuleImage) {
      return Status::InvalidArgument("module image: ELF section out of range");
    }
    end = std::max(end, off + size);
  }
  for (uint16_t i = 0; i < phnum; ++i) {
    const uint8_t* ph = p + phoff + uint64_t{i} * phentsize;
    const uint64_t off = Load<uint64_t>(ph + 8), size = Load<uint64_t>(ph + 0x20);
    if (off > kMaxModuleImage || size > kMaxModuleImage) {
      return Status::InvalidArgument("module image: ELF segment out of range");
    }
    end = std::max(end, off + size);
  }
  if (end > kMaxModuleImage) return Status::InvalidArgument("module image over 1 GiB");
  if (end > readable) return Truncated("ELF image");
  return static_cast<size_t>(end);
}

}  // namespace

Result<ModuleImage> MeasureModuleImage(const void* image, size_t readable) {
  if (image == nullptr) return Status::InvalidArgument("module image: null");
  const auto* p = static_cast<const uint8_t*>(image);
  if (readable >= 4 && std::memcmp(p,
                                   "\x7f"
                                   "ELF",
                                   4) == 0) {
    auto bytes = ElfBytes(p, readable);
    if (!bytes.ok()) return bytes.status();
    return ModuleImage{p, *bytes};
  }
  if (readable >= 16 && Load<uint32_t>(p) == kFatbinMagic) {
    const uint64_t total = uint64_t{Load<uint16_t>(p + 6)} + Load<uint64_t>(p + 8);
    if (Load<uint16_t>(p + 6) < 16 || total > kMaxModuleImage) {
      return Status::InvalidArgument("module image: fatbin header out of range");
    }
    if (total > readable) return Truncated("fatbin");
    return ModuleImage{p, static_cast<size_t>(total)};
  }
  if (readable >= 16 && Load<uint32_t>(p) == kFatbinWrapperMagic) {
    // The wrapper points elsewhere: followed only when the pointer is the program's own.
    if (readable != SIZE_MAX) return Status::InvalidArgument("module image: fatbin wrapper");
    return MeasureModuleImage(reinterpret_cast<const void*>(Load<uintptr_t>(p + 8)), SIZE_MAX);
  }
  const size_t limit = std::min(readable, kMaxModuleImage);
  const void* nul = std::memchr(p, 0, limit);
  if (nul == nullptr) return Status::InvalidArgument("module image: text without its end");
  return ModuleImage{p, static_cast<size_t>(static_cast<const uint8_t*>(nul) - p) + 1};
}

}  // namespace xpool::remote
