// Requests that name a rating instead of a model: which of the pool's models have it. Pure.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace xpool::controller {

// The models of `model_memory_mib` (model -> the memory of its largest device; of `among`, when
// not empty) rated at least this: the catalog's dense bf16 TFLOPS (a model the catalog does not
// know has none) and `min_memory_mib` a device. 0 is no bound. FailedPrecondition naming the
// bounds and the best model there is when none is.
Result<std::vector<std::string>> ModelsRated(const std::map<std::string, int64_t>& model_memory_mib,
                                             double min_bf16_tflops, int64_t min_memory_mib,
                                             const std::vector<std::string>& among);

}  // namespace xpool::controller
