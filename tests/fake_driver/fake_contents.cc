#include "fake_driver/fake_contents.h"

#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#define FAKE_API extern "C" __attribute__((visibility("default")))

namespace fake {
namespace {

std::mutex g_mu;
std::map<uint64_t, std::vector<uint8_t>> g_contents;  // by allocation base

// The bytes [p, p + n) of device memory, or nullptr when they are not all in one allocation.
uint8_t* Bytes(CUdeviceptr p, size_t n) {
  uint64_t base = 0, bytes = 0;
  if (!FindAllocation(p, &base, &bytes) || n > base + bytes - p) return nullptr;
  std::lock_guard<std::mutex> lock(g_mu);
  std::vector<uint8_t>& contents = g_contents[base];
  if (contents.size() != bytes) contents.resize(bytes);
  return contents.data() + (p - base);
}

CUresult Memset(CUdeviceptr dst, uint32_t value, size_t element, size_t count) {
  uint8_t* d = Bytes(dst, element * count);
  if (d == nullptr) return CUDA_ERROR_INVALID_VALUE;
  for (size_t i = 0; i < count; ++i) std::memcpy(d + i * element, &value, element);
  return CUDA_SUCCESS;
}

struct Kernel {
  const char* name;
  std::vector<std::pair<size_t, size_t>> params;  // offset, size
  CUresult (*run)(const std::vector<const void*>& args);
};

template <typename T>
T Arg(const std::vector<const void*>& args, size_t i) {
  T v;
  std::memcpy(&v, args[i], sizeof(T));
  return v;
}

CUresult Saxpy(const std::vector<const void*>& args) {
  const auto n = Arg<uint32_t>(args, 3);
  auto* y = reinterpret_cast<float*>(Bytes(Arg<CUdeviceptr>(args, 0), n * sizeof(float)));
  const auto* x =
      reinterpret_cast<const float*>(Bytes(Arg<CUdeviceptr>(args, 1), n * sizeof(float)));
  if (y == nullptr || x == nullptr) return CUDA_ERROR_LAUNCH_FAILED;
  const auto a = Arg<float>(args, 2);
  for (uint32_t i = 0; i < n; ++i) y[i] = a * x[i] + y[i];
  return CUDA_SUCCESS;
}

CUresult Fill32(const std::vector<const void*>& args) {
  return Memset(Arg<CUdeviceptr>(args, 0), Arg<uint32_t>(args, 1), 4, Arg<uint32_t>(args, 2)) ==
                 CUDA_SUCCESS
             ? CUDA_SUCCESS
             : CUDA_ERROR_LAUNCH_FAILED;
}

const Kernel kKernels[] = {
    {"saxpy", {{0, 8}, {8, 8}, {16, 4}, {20, 4}}, &Saxpy},
    {"fill32", {{0, 8}, {8, 4}, {12, 4}}, &Fill32},
};

constexpr char kModuleMagic[] = "xpool-fake-module\n";

struct Module {
  std::set<std::string> kernels;
};
std::set<const Module*> g_modules;  // guarded by g_mu

const Kernel* KernelOf(CUfunction f) {
  for (const Kernel& k : kKernels) {
    if (reinterpret_cast<CUfunction>(const_cast<Kernel*>(&k)) == f) return &k;
  }
  return nullptr;
}

CUresult LoadModule(CUmodule* module, const void* image) {
  const char* text = static_cast<const char*>(image);
  if (text == nullptr || std::strncmp(text, kModuleMagic, sizeof(kModuleMagic) - 1) != 0) {
    return CUDA_ERROR_INVALID_IMAGE;
  }
  auto* m = new Module;
  std::string rest(text + sizeof(kModuleMagic) - 1);
  for (size_t pos = 0; pos < rest.size();) {
    const size_t nl = std::min(rest.find('\n', pos), rest.size());
    if (nl > pos) m->kernels.insert(rest.substr(pos, nl - pos));
    pos = nl + 1;
  }
  std::lock_guard<std::mutex> lock(g_mu);
  g_modules.insert(m);
  *module = reinterpret_cast<CUmodule>(m);
  return CUDA_SUCCESS;
}

}  // namespace

void ForgetContents(uint64_t base) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_contents.erase(base);
}

CUresult RunKernel(CUfunction f, void** params, void** extra) {
  const Kernel* k = KernelOf(f);
  if (k == nullptr) return CUDA_SUCCESS;
  std::vector<const void*> args;
  if (params != nullptr) {
    for (size_t i = 0; i < k->params.size(); ++i) args.push_back(params[i]);
  } else if (extra != nullptr) {
    const uint8_t* buffer = nullptr;
    for (size_t i = 0; extra[i] != CU_LAUNCH_PARAM_END; i += 2) {
      if (extra[i] == CU_LAUNCH_PARAM_BUFFER_POINTER) buffer = static_cast<uint8_t*>(extra[i + 1]);
    }
    if (buffer == nullptr) return CUDA_ERROR_INVALID_VALUE;
    for (const auto& [offset, size] : k->params) args.push_back(buffer + offset);
  } else {
    return CUDA_ERROR_INVALID_VALUE;
  }
  return k->run(args);
}

}  // namespace fake

using fake::Bytes;

FAKE_API CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, size_t n) {
  uint8_t* d = Bytes(dst, n);
  if (d == nullptr) return CUDA_ERROR_INVALID_VALUE;
  std::memcpy(d, src, n);
  return CUDA_SUCCESS;
}
FAKE_API CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, size_t n, CUstream) {
  return cuMemcpyHtoD_v2(dst, src, n);
}
FAKE_API CUresult cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, size_t n) {
  const uint8_t* s = Bytes(src, n);
  if (s == nullptr) return CUDA_ERROR_INVALID_VALUE;
  std::memcpy(dst, s, n);
  return CUDA_SUCCESS;
}
FAKE_API CUresult cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, size_t n, CUstream) {
  return cuMemcpyDtoH_v2(dst, src, n);
}
FAKE_API CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t n) {
  uint8_t* d = Bytes(dst, n);
  const uint8_t* s = Bytes(src, n);
  if (d == nullptr || s == nullptr) return CUDA_ERROR_INVALID_VALUE;
  std::memmove(d, s, n);
  return CUDA_SUCCESS;
}
FAKE_API CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream) {
  return cuMemcpyDtoD_v2(dst, src, n);
}
FAKE_API CUresult cuMemsetD8_v2(CUdeviceptr dst, unsigned char v, size_t n) {
  return fake::Memset(dst, v, 1, n);
}
FAKE_API CUresult cuMemsetD16_v2(CUdeviceptr dst, unsigned short v, size_t n) {
  return fake::Memset(dst, v, 2, n);
}
FAKE_API CUresult cuMemsetD32_v2(CUdeviceptr dst, unsigned int v, size_t n) {
  return fake::Memset(dst, v, 4, n);
}
FAKE_API CUresult cuMemsetD8Async(CUdeviceptr dst, unsigned char v, size_t n, CUstream) {
  return fake::Memset(dst, v, 1, n);
}
FAKE_API CUresult cuMemsetD16Async(CUdeviceptr dst, unsigned short v, size_t n, CUstream) {
  return fake::Memset(dst, v, 2, n);
}
FAKE_API CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned int v, size_t n, CUstream) {
  return fake::Memset(dst, v, 4, n);
}
FAKE_API CUresult cuModuleLoadData(CUmodule* module, const void* image) {
  return fake::LoadModule(module, image);
}
FAKE_API CUresult cuModuleLoadDataEx(CUmodule* module, const void* image, unsigned, void*, void**) {
  return fake::LoadModule(module, image);
}
FAKE_API CUresult cuModuleUnload(CUmodule module) {
  std::lock_guard<std::mutex> lock(fake::g_mu);
  auto* m = reinterpret_cast<fake::Module*>(module);
  if (fake::g_modules.erase(m) == 0) return CUDA_ERROR_INVALID_HANDLE;
  delete m;
  return CUDA_SUCCESS;
}
FAKE_API CUresult cuModuleGetFunction(CUfunction* f, CUmodule module, const char* name) {
  std::lock_guard<std::mutex> lock(fake::g_mu);
  auto* m = reinterpret_cast<fake::Module*>(module);
  if (fake::g_modules.count(m) == 0) return CUDA_ERROR_INVALID_HANDLE;
  if (m->kernels.count(name) == 0) return CUDA_ERROR_NOT_FOUND;
  for (const fake::Kernel& k : fake::kKernels) {
    if (std::strcmp(k.name, name) == 0) {
      *f = reinterpret_cast<CUfunction>(const_cast<fake::Kernel*>(&k));
      return CUDA_SUCCESS;
    }
  }
  return CUDA_ERROR_NOT_FOUND;
}
FAKE_API CUresult cuFuncGetParamInfo(CUfunction f, size_t index, size_t* offset, size_t* size) {
  const fake::Kernel* k = fake::KernelOf(f);
  if (k == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  if (index >= k->params.size()) return CUDA_ERROR_INVALID_VALUE;
  *offset = k->params[index].first;
  *size = k->params[index].second;
  return CUDA_SUCCESS;
}

namespace fake {

void* FindContentsFunction(const char* name) {
#define CONTENTS_ENTRY(fn) \
  { #fn, reinterpret_cast < void*>(&fn) }
  static const std::pair<const char*, void*> kTable[] = {
      CONTENTS_ENTRY(cuMemcpyHtoD_v2),    CONTENTS_ENTRY(cuMemcpyHtoDAsync_v2),
      CONTENTS_ENTRY(cuMemcpyDtoH_v2),    CONTENTS_ENTRY(cuMemcpyDtoHAsync_v2),
      CONTENTS_ENTRY(cuMemcpyDtoD_v2),    CONTENTS_ENTRY(cuMemcpyDtoDAsync_v2),
      CONTENTS_ENTRY(cuMemsetD8_v2),      CONTENTS_ENTRY(cuMemsetD16_v2),
      CONTENTS_ENTRY(cuMemsetD32_v2),     CONTENTS_ENTRY(cuMemsetD8Async),
      CONTENTS_ENTRY(cuMemsetD16Async),   CONTENTS_ENTRY(cuMemsetD32Async),
      CONTENTS_ENTRY(cuModuleLoadData),   CONTENTS_ENTRY(cuModuleLoadDataEx),
      CONTENTS_ENTRY(cuModuleUnload),     CONTENTS_ENTRY(cuModuleGetFunction),
      CONTENTS_ENTRY(cuFuncGetParamInfo),
  };
#undef CONTENTS_ENTRY
  for (const auto& [n, fn] : kTable) {
    if (std::strcmp(n, name) == 0) return fn;
  }
  return nullptr;
}

}  // namespace fake
