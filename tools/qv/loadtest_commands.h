// qv loadtest ...: the load tester's subcommands. One call registers them all.
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace qv::cli {

// Adds `loadtest run`, `loadtest merge` and `loadtest scenarios` to app. A command's exit
// code goes to exit_code: 0 passed, 99 a threshold failed, 2 bad input (the message on
// stderr names the problem).
void add_loadtest_commands(CLI::App& app, int& exit_code);

// A usage error the argument parser found in a loadtest command (a flag without its value,
// say), printed as the load tester's other errors are: "qv loadtest: --url: ...", then where
// to find help. Returns the exit code, 2 (bad input).
int loadtest_usage_error(const std::string& message);

}  // namespace qv::cli
