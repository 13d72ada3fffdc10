// qv cost ...: the cost engine from the command line (see cost_commands.cpp for the
// subcommands). Registered by the qv CLI's main with add_cost_commands.
#pragma once

#include <string>
#include <string_view>

#include "qv_abi.h"

namespace CLI {
class App;
}

namespace qv::cli {

// Registers `qv cost` and its subcommands; a subcommand's callback stores its exit code
// in exit_code (0 success; 2 the request failed: unreadable file or an error from the
// module; 3 with --check: a target failed).
void add_cost_commands(CLI::App& app, int& exit_code);

// A finished module call: its status and its output (the answer, or the error object).
struct CostAnswer {
  qv_status status = QV_INTERNAL;
  std::string output;
};

// The one place the cost commands call a module method. The cost methods never ask the
// host for operations, so this drives the exported C functions of qv_abi.h directly; with
// the native shim it becomes host::Instance::run(method, input).
CostAnswer run_cost_method(std::string_view method, std::string_view input);

}  // namespace qv::cli
