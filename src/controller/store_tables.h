// The controller's tables in its store, shared by the units of PoolState.
#pragma once

#include <string>

namespace xpool::controller {

inline const std::string kNodesTable = "nodes";
inline const std::string kAllocationsTable = "allocations";

}  // namespace xpool::controller
