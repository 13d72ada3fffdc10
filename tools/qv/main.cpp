// qv: the native command line of Quantum Voice Edge. Each family of subcommands lives in
// its own file and registers itself here.
#include <CLI/CLI.hpp>

#include "cache_commands.h"
#include "command.h"
#include "cost_commands.h"
#include "loadtest_commands.h"

int main(int argc, char** argv) {
  CLI::App app{"qv: Quantum Voice Edge native tools (modules run through the native shim)"};
  app.require_subcommand(1);
  qv::cli::CommandContext context;
  qv::cli::add_version_command(app, context);
  qv::cli::add_call_command(app, context);
  qv::cli::add_tiers_commands(app, context);
  qv::cli::add_loadtest_commands(app, context.exit_code);
  qv::cli::add_cache_commands(app, context.exit_code);
  qv::cli::add_cost_commands(app, context.exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // --help is a success; every usage error (an unknown flag, a bad value) exits 2, as the
    // commands' own bad-input errors do, rather than CLI11's own numbers (105, 106, ...).
    const int code = app.exit(error);
    return code == 0 ? 0 : 2;
  }
  return context.exit_code;
}
