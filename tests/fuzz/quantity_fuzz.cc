// libFuzzer target: the quantity parsers that read what users and the API server write
// (Kubernetes quantities, memory sizes, compute percentages). Checks that no input crashes them
// and that an accepted Kubernetes quantity is non-negative and parses the same again.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/kube_quantity.h"
#include "core/quantity.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto whole = xpool::ParseKubeWholeQuantity(text);
  if (whole.ok()) {
    if (*whole < 0) std::abort();
    auto again = xpool::ParseKubeWholeQuantity(std::to_string(*whole));
    if (!again.ok() || *again != *whole) std::abort();
  }
  auto memory = xpool::ParseMemory(text);
  if (memory.ok() && memory->value() < 0) std::abort();
  auto share = xpool::ParseComputePercent(text);
  if (share.ok() && (share->value() < 10 || share->value() > 1000)) std::abort();
  return 0;
}
