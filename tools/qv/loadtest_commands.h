// qv loadtest ...: the load tester's subcommands. One call registers them all.
#pragma once

namespace CLI {
class App;
}

namespace qv::cli {

// Adds `loadtest run`, `loadtest merge` and `loadtest scenarios` to app. A command's exit
// code goes to exit_code: 0 passed, 99 a threshold failed, 2 bad input (the message on
// stderr names the problem).
void add_loadtest_commands(CLI::App& app, int& exit_code);

}  // namespace qv::cli
