// libFuzzer target: the runtime's configuration, read from the environment of every process it is
// loaded into. The input is split at NUL bytes into the values of the XPOOL_* variables, in a
// fixed order; a value that is malformed must come back as the configuration's error, never as a
// crash or as a limit silently dropped. The whole input is also read as a slice settings file.
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "runtime/config.h"

namespace {
std::map<std::string, std::string> g_env;
const char* Lookup(const char* name) {
  auto it = g_env.find(name);
  return it == g_env.end() ? nullptr : it->second.c_str();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace xpool::runtime;
  static const std::vector<const char*> kNames = {
      kEnvGpuMemory,   kEnvGpuCore,  kEnvComputePolicy, kEnvPriority,      kEnvComputePeriod,
      kEnvComputeWait, kEnvLogLevel, kEnvComputeQueue,  kEnvComputeQuantum};
  g_env.clear();
  const std::string text(reinterpret_cast<const char*>(data), size);
  size_t start = 0;
  for (const char* name : kNames) {
    if (start > text.size()) break;
    const size_t end = text.find('\0', start);
    g_env[name] = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  const RuntimeConfig c = LoadConfig(&Lookup);
  if (c.error.empty()) {
    if (c.compute.share_percent < 1 || c.compute.share_percent > 100) std::abort();
    if (c.compute.queue_us < 100 || c.compute.quantum_ms < 1) std::abort();
  }
  // The same bytes as a slice settings file (XPOOL_SLICE_SETTINGS): what parses formats back to
  // the same settings.
  auto settings = ParseSliceSettings(text);
  if (settings.ok()) {
    auto again = ParseSliceSettings(FormatSliceSettings(*settings));
    if (!again.ok() || *again != *settings) std::abort();
  }
  return 0;
}
