// qv_cache_replay: the `qv cache` commands as a program of their own, for developing and
// testing them apart from the full CLI (`qv_cache_replay cache replay ...` is
// `qv cache replay ...`).
#include <CLI/CLI.hpp>

void add_cache_commands(CLI::App& app, int& exit_code);

int main(int argc, char** argv) {
  CLI::App app{"Quantum Voice Edge cache tools"};
  app.name("qv");
  app.require_subcommand(1);
  int exit_code = 0;
  add_cache_commands(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error) == 0 ? 0 : 2;
  }
  return exit_code;
}
