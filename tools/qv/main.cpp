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
  // --help is a success; every usage error (an unknown flag, a bad value) exits 2, as the
  // commands' own bad-input errors do, rather than CLI11's own numbers (105, 106, ...). The
  // load tester's are prefixed as its other errors are ("qv loadtest: --url: ...").
  auto usage_error = [&app](const CLI::ParseError& error) {
    const auto parsed = app.get_subcommands();
    if (error.get_exit_code() != 0 && !parsed.empty() && parsed.front()->get_name() == "loadtest")
      return qv::cli::loadtest_usage_error(error.what());
    return app.exit(error) == 0 ? 0 : 2;
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::RequiredError& error) {
    // CLI11 checks that a subcommand was given before it looks at extra arguments, so a
    // misspelt command ('qv cots', 'qv cost estmate') was told only "A subcommand is
    // required". Name the word it did not know, and the commands it knows there; a command
    // left out (nothing, or a flag, where a command goes) is told so, with the same list.
    CLI::App* deepest = &app;
    std::string command = "qv";
    while (!deepest->get_subcommands().empty()) {
      deepest = deepest->get_subcommands().front();
      command += " " + deepest->get_name();
    }
    const std::vector<std::string> extras = deepest->remaining();
    if (deepest->get_require_subcommand_min() > 0) {
      std::string known;
      for (const CLI::App* each : deepest->get_subcommands({}))
        known += (known.empty() ? "" : ", ") + each->get_name();
      if (!extras.empty() && extras.front().rfind("-", 0) != 0)
        std::cerr << command << ": unknown command '" << extras.front() << "'";
      else
        std::cerr << command << ": a command is required";
      std::cerr << " (commands: " << known << ")\nRun with --help for more information.\n";
      return 2;
    }
    return usage_error(error);
  } catch (const CLI::ParseError& error) {
    return usage_error(error);
  }
  return context.exit_code;
}
