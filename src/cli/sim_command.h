// `xpool sim`: replays a trace (or the built-in synthetic workload) with scheduling policies.
#pragma once

#include <CLI/CLI.hpp>

namespace xpool::cli {

// Adds the `sim` subcommand; its callback stores the exit code in `*exit_code`.
void AddSimCommand(CLI::App& app, int* exit_code);

}  // namespace xpool::cli
