#include "runtime/symbol_table.h"

#include <dlfcn.h>

#include <atomic>
#include <cstring>
#include <mutex>

#include "runtime/compute_limiter.h"
#include "runtime/hooks.h"

extern "C" {
// Read by the dlsym trampoline in interpose.cc; hidden like everything not in hooks.inc.
void* xpool_real_dlsym = nullptr;
void* xpool_init_real_dlsym() {
  void* fn = dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.34");
  if (fn == nullptr) fn = dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.2.5");
  __atomic_store_n(&xpool_real_dlsym, fn, __ATOMIC_RELEASE);
  return fn;
}
}

namespace xpool::runtime {
namespace {

struct Entry {
  const char* name;
  void* hook;
  bool nvml;
  std::atomic<void*> real{nullptr};
};

// NOLINTNEXTLINE(modernize-avoid-c-arrays): sized by hooks.inc
Entry g_entries[] = {
#define XPOOL_HOOK(name) {#name, reinterpret_cast<void*>(&::name), #name[0] == 'n'},
#include "runtime/hooks.inc"
#undef XPOOL_HOOK
};
static_assert(sizeof(g_entries) / sizeof(g_entries[0]) == static_cast<size_t>(Hook::kCount));

void* OpenLibrary(const char* soname) {
  void* h = dlopen(soname, RTLD_LAZY | RTLD_NOLOAD);
  if (h == nullptr) h = dlopen(soname, RTLD_LAZY);
  return h;
}

void* CudaLibrary() {
  static void* handle = OpenLibrary("libcuda.so.1");
  return handle;
}

void* NvmlLibrary() {
  static void* handle = OpenLibrary("libnvidia-ml.so.1");
  return handle;
}

void* LookUp(void* library, const char* name) {
  if (library == nullptr) return nullptr;
  return RealDlsym()(library, name);
}

// Fills in every driver entry nobody has resolved yet, so cuGetProcAddress answers can be
// matched by address.
void ResolveAllDriverEntries() {
  static std::once_flag once;
  std::call_once(once, [] {
    for (Entry& e : g_entries) {
      if (e.nvml || e.real.load(std::memory_order_acquire) != nullptr) continue;
      void* p = LookUp(CudaLibrary(), e.name);
      void* expected = nullptr;
      if (p != nullptr) e.real.compare_exchange_strong(expected, p);
    }
  });
}

// Launch hooks stand between a program and the driver only when compute is arbitrated, so that
// without a compute share launches cost nothing extra.
bool Wanted(const Entry& e) {
  const bool launch =
      std::strncmp(e.name, "cuLaunch", 8) == 0 || std::strncmp(e.name, "cuGraphLaunch", 13) == 0;
  return !launch || ComputeLimiter::Enabled();
}

}  // namespace

DlsymFn RealDlsym() {
  void* fn = __atomic_load_n(&xpool_real_dlsym, __ATOMIC_ACQUIRE);
  if (fn == nullptr) fn = xpool_init_real_dlsym();
  return reinterpret_cast<DlsymFn>(fn);
}

void* RealFunction(Hook hook) {
  Entry& e = g_entries[static_cast<int>(hook)];
  void* p = e.real.load(std::memory_order_acquire);
  if (p != nullptr) return p;
  // Next definition after this library: the driver, when the program links it directly.
  p = RealDlsym()(RTLD_NEXT, e.name);
  if (p == nullptr || p == e.hook) p = LookUp(e.nvml ? NvmlLibrary() : CudaLibrary(), e.name);
  if (p == e.hook) p = nullptr;
  void* expected = nullptr;
  if (p != nullptr && !e.real.compare_exchange_strong(expected, p)) p = expected;
  return p;
}

void* InterceptByName(const char* name, void* real) {
  if (name == nullptr || real == nullptr) return real;
  if (std::strncmp(name, "cu", 2) != 0 && std::strncmp(name, "nvml", 4) != 0) return real;
  for (Entry& e : g_entries) {
    if (std::strcmp(e.name, name) != 0) continue;
    if (real == e.hook) return real;
    void* expected = nullptr;
    e.real.compare_exchange_strong(expected, real);
    return Wanted(e) ? e.hook : real;
  }
  return real;
}

void* InterceptByAddress(void* real) {
  if (real == nullptr) return real;
  ResolveAllDriverEntries();
  for (Entry& e : g_entries) {
    if (e.real.load(std::memory_order_acquire) == real) return Wanted(e) ? e.hook : real;
  }
  return real;
}

void* DriverSymbol(const char* name) {
  return LookUp(CudaLibrary(), name);
}

void* NvmlSymbol(const char* name) {
  static const bool ready = [] {
    auto init = reinterpret_cast<nvmlReturn_t (*)()>(LookUp(NvmlLibrary(), "nvmlInit_v2"));
    return init != nullptr && init() == NVML_SUCCESS;
  }();
  return ready ? LookUp(NvmlLibrary(), name) : nullptr;
}

}  // namespace xpool::runtime
