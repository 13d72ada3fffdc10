// What every subcommand family of the qv CLI shares: how it reports its exit code, how it
// reads input, runs a module method through the native shim and prints the answer. Each
// family registers its subcommands with an add_*_commands function, in its own .cpp.
#pragma once

#include <memory>
#include <string>

#include "qv/host/instance.h"

namespace CLI {
class App;
}

namespace qv::cli {

// Exit codes: 0 success; 2 the request failed (the module answered with an error, or the
// input could not be read); CLI11's own codes for usage errors.
inline constexpr int kExitFailed = 2;

// State shared by the subcommands of one run: the exit code a callback chose.
struct CommandContext {
  int exit_code = 0;
};

void add_version_command(CLI::App& app, CommandContext& context);
void add_call_command(CLI::App& app, CommandContext& context);
void add_tiers_commands(CLI::App& app, CommandContext& context);

// Reads a file, or standard input for "-". Errors name the file.
Result<std::string> read_input(const std::string& path_or_dash);

// How a command's answers are printed: pretty when asked, or when stdout is a terminal
// and compact was not asked for.
struct OutputStyle {
  bool pretty = false;
  bool compact = false;
  bool use_pretty() const;
};

// An instance over the native shim with CurlFetcher and, for KV, RedisKv when redis_url
// is given, else an empty MemoryKv.
Result<host::Instance> make_instance(const std::string& redis_url);

// Prints an answer: its JSON on stdout when ok, the module's bytes as they are (indenting adds
// whitespace only; returns 0), else "qv: STATUS: message" on stderr (returns kExitFailed).
// file: the input file the whole input came from, named before the message
// ("qv: STATUS: FILE: message") unless it is "" or "-" (stdin).
int print_answer(const host::Answer& answer, const OutputStyle& style,
                 const std::string& file = "");

// Prints "qv: message" on stderr and returns kExitFailed.
int fail(const std::string& message);

}  // namespace qv::cli
