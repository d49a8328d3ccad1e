// `xpool exec`: runs a command on the local GPUs with the pooling runtime injected, holding it to
// a memory quota; the first way to use a slice before any controller exists.
#pragma once

#include <CLI/CLI.hpp>

namespace xpool::cli {

// Adds the `exec` subcommand; its callback stores the command's exit code in `*exit_code`.
void AddExecCommand(CLI::App& app, int* exit_code);

}  // namespace xpool::cli
