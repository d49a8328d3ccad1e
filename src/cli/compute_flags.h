// The compute flags `xpool exec` and `xpool run` share: --compute-policy, --priority and
// --compute-period, checked on the client the way the runtime will read them.
#pragma once

#include <string>

#include "core/status.h"

namespace xpool::cli {

// Each flag as the user gave it (empty: not given). The error names the flag
// ("--priority: priority 'x' is not one of normal, high"). Returns the period in milliseconds,
// 0 when not given.
Result<int> CheckComputeFlags(const std::string& policy, const std::string& priority,
                              const std::string& period);

}  // namespace xpool::cli
