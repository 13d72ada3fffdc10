// qv version: the tool's version and the ABI version of host and module.
#include <CLI/CLI.hpp>
#include <iostream>

#include "command.h"
#include "qv_abi.h"

namespace qv::cli {

void add_version_command(CLI::App& app, CommandContext& context) {
  auto* version = app.add_subcommand("version", "Print the qv version and the ABI version");
  version->callback([&context] {
    std::cout << "qv " << QV_VERSION << "\n"
              << "ABI version " << QV_ABI_VERSION << " (module: " << qv_abi_version() << ")\n";
    context.exit_code = 0;
  });
}

}  // namespace qv::cli
