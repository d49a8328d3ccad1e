#include "remote/client/proc_table.h"

#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include "remote/client/client_log.h"
#include "runtime/driver_abi.h"

// The implemented functions, declared without their parameters: only their addresses are taken.
#define XPOOL_EXPORT(name) extern "C" CUresult name();
#include "remote/client/exports.inc"
#undef XPOOL_EXPORT

namespace xpool::remote {
namespace {

struct Entry {
  const char* name;
  void* fn;
};

const Entry kImplemented[] = {
#define XPOOL_EXPORT(name) {#name, reinterpret_cast<void*>(&name)},
#include "remote/client/exports.inc"
#undef XPOOL_EXPORT
};

CUresult ReportUnsupported(const char* name) {
  static std::mutex mu;
  static std::set<std::string> reported;
  std::lock_guard<std::mutex> lock(mu);
  if (reported.insert(name).second) ClientLog("%s is not supported remotely", name);
  return CUDA_ERROR_NOT_SUPPORTED;
}

#define XPOOL_DRIVER_NAME(name)      \
  CUresult Unsupported_##name() {    \
    return ReportUnsupported(#name); \
  }
#include "remote/client/driver_names.inc"
#undef XPOOL_DRIVER_NAME

const Entry kUnsupported[] = {
#define XPOOL_DRIVER_NAME(name) {#name, reinterpret_cast<void*>(&Unsupported_##name)},
#include "remote/client/driver_names.inc"
#undef XPOOL_DRIVER_NAME
};

template <size_t N>
void* Find(const Entry (&table)[N], std::string_view name) {
  for (const Entry& e : table) {
    if (name == e.name) return e.fn;
  }
  return nullptr;
}

}  // namespace

void* ResolveDriverSymbol(std::string_view symbol, cuuint64_t flags) {
  std::string candidates[7];
  int n = 0;
  if ((flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) != 0) {
    candidates[n++] = std::string(symbol) + "_ptsz";
    candidates[n++] = std::string(symbol) + "_ptds";
  }
  for (const char* v : {"_v4", "_v3", "_v2", ""}) candidates[n++] = std::string(symbol) + v;
  for (int i = 0; i < n; ++i) {
    if (void* fn = Find(kImplemented, candidates[i])) return fn;
  }
  for (int i = 0; i < n; ++i) {
    if (void* fn = Find(kUnsupported, candidates[i])) return fn;
  }
  return nullptr;
}

}  // namespace xpool::remote
