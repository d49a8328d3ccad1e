#include "controller/model_rating.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/catalog.h"

namespace xpool::controller {

Result<std::vector<std::string>> ModelsRated(const std::map<std::string, int64_t>& model_memory_mib,
                                             double min_bf16_tflops, int64_t min_memory_mib,
                                             const std::vector<std::string>& among) {
  std::vector<std::string> out;
  std::string best;  // for the refusal: the best the pool has
  double best_tflops = -1;
  int64_t best_memory = -1;
  for (const auto& [model, memory] : model_memory_mib) {
    if (!among.empty() && std::find(among.begin(), among.end(), model) == among.end()) continue;
    const CatalogEntry* entry = FindModel(model);
    const double tflops = entry != nullptr ? entry->rating.bf16_tflops : 0;
    if (tflops > best_tflops || (tflops == best_tflops && memory > best_memory)) {
      best = model;
      best_tflops = tflops;
      best_memory = memory;
    }
    if (tflops >= min_bf16_tflops && memory >= min_memory_mib) out.push_back(model);
  }
  if (out.empty()) {
    std::string asked;
    if (min_bf16_tflops > 0) asked = fmt::format("{:g} dense bf16 TFLOPS", min_bf16_tflops);
    if (min_memory_mib > 0) {
      asked += (asked.empty() ? "" : " and ") + fmt::format("{} MiB a device", min_memory_mib);
    }
    return Status::FailedPrecondition("no device model in the pool has at least " + asked +
                                      (best.empty()
                                           ? std::string(" (no device of the models asked for)")
                                           : fmt::format(" (the best: {}, {:g} TFLOPS, {} MiB)",
                                                         best, best_tflops, best_memory)));
  }
  return out;
}

}  // namespace xpool::controller
