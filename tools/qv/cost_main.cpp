// qv with the cost commands only: the entry point of this branch's CLI until the full qv
// (main.cpp, the native shim, the other command families) is merged; then main.cpp calls
// add_cost_commands and this file goes.
#include <CLI/CLI.hpp>

#include "cost_commands.h"

int main(int argc, char** argv) {
  CLI::App app{"qv: Quantum Voice Edge native tools"};
  app.require_subcommand(1);
  int exit_code = 0;
  qv::cli::add_cost_commands(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }
  return exit_code;
}
