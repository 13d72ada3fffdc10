// qv cost ...: the cost engine from the command line (see cost_commands.cpp for the
// subcommands). Registered by the qv CLI's main with add_cost_commands.
#pragma once

#include <string_view>

#include "qv/host/instance.h"

namespace CLI {
class App;
}

namespace qv::cli {

// Registers `qv cost` and its subcommands; a subcommand's callback stores its exit code
// in exit_code (0 success; 2 the request failed: unreadable file or an error from the
// module; 3 with --check: a target failed).
void add_cost_commands(CLI::App& app, int& exit_code);

// The one place the cost commands call a module method: through the native shim, on an
// instance without KV or fetch (the cost methods use neither).
host::Answer run_cost_method(std::string_view method, std::string_view input);

}  // namespace qv::cli
