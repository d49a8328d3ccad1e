// Seed lists on the command line: "42", "42-51", "1,5,9", "42-45,50".
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace xpool::sim {

Result<std::vector<uint64_t>> ParseSeeds(std::string_view text);

}  // namespace xpool::sim
