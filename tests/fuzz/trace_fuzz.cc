// libFuzzer target: the trace loaders (openb node and pod lists, as `xpool sim` reads them). No
// input may crash them; an accepted list is well formed.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "sim/trace.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (auto nodes = xpool::sim::ParseNodes(text, "fuzz"); nodes.ok()) {
    for (const auto& n : *nodes) {
      if (n.gpus < 0 || n.cpu_milli < 0 || n.memory_mib < 0) std::abort();
    }
  }
  if (auto pods = xpool::sim::ParsePods(text, "fuzz"); pods.ok()) {
    for (const auto& p : *pods) {
      if (p.num_gpu < 0 || p.gpu_milli < 0 || p.cpu_milli < 0) std::abort();
    }
  }
  return 0;
}
