// xpool: the command line for users and operators.
#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/exec_command.h"
#include "cli/pool_commands.h"
#include "cli/shares_command.h"
#include "cli/sim_command.h"

int main(int argc, char** argv) {
  CLI::App app{"xpool: pools accelerators across nodes and schedules work onto slices of them"};
  app.set_version_flag("--version", "xpool " XPOOL_VERSION);
  app.require_subcommand(1);
  int exit_code = 0;
  xpool::cli::AddSimCommand(app, &exit_code);
  xpool::cli::AddExecCommand(app, &exit_code);
  xpool::cli::AddSharesCommand(app, &exit_code);
  xpool::cli::AddPoolCommands(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "xpool: " << e.what() << "\n"
              << "run 'xpool --help' for usage\n";
    return 2;
  }
  return exit_code;
}
