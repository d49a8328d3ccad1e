// `xpool shares`: what the compute arbitration segments on this machine say, one per device: the
// policy, each slice's share, priority, period and device time used, and its processes.
#pragma once

#include <CLI/CLI.hpp>

namespace xpool::cli {

// Adds the `shares` subcommand; its callback stores the exit code in `*exit_code`.
void AddSharesCommand(CLI::App& app, int* exit_code);

}  // namespace xpool::cli
