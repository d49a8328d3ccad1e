// The listing commands' printers, shared with `xpool up --demo`.
#pragma once

#include <string>

namespace xpool::cli {

// `xpool nodes` / `xpool devices` (devices = true): returns the exit code.
int ListNodes(const std::string& controller, const std::string& output, bool devices);
// `xpool allocs` (all: released ones too; watch: follow changes).
int ListAllocations(const std::string& controller, const std::string& output, bool all,
                    bool watch = false);

// `xpool queue`: the waiting requests in the order they are tried.
int ListQueue(const std::string& controller, const std::string& output);

}  // namespace xpool::cli
