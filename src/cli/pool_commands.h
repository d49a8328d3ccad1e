// The standalone pool from the command line: `xpool up` (controller and a local agent in one
// process), `xpool nodes`, `devices`, `allocs`, `run`, `release`.
#pragma once

#include <CLI/CLI.hpp>

namespace xpool::cli {

// Adds the subcommands; their callbacks store the exit code in `*exit_code`.
void AddPoolCommands(CLI::App& app, int* exit_code);

}  // namespace xpool::cli
