// qv: the native command line of Quantum Voice Edge. Each family of subcommands lives in
// its own file and registers itself here.
#include <CLI/CLI.hpp>

#include "loadtest_commands.h"

int main(int argc, char** argv) {
  CLI::App app{"qv: Quantum Voice Edge native tools"};
  app.require_subcommand(1);
  int exit_code = 0;
  qv::cli::add_loadtest_commands(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }
  return exit_code;
}
