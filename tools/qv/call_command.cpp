// qv call METHOD [INPUT_JSON|-]: runs any method of the bundle through the native shim,
// with an in-memory KV (or Redis) and libcurl for fetches, and prints its JSON answer.
#include <CLI/CLI.hpp>

#include "command.h"

namespace qv::cli {

namespace {

struct CallOptions {
  std::string method;
  std::string input = "{}";
  std::string redis_url;
  OutputStyle style;
};

int run_call(const CallOptions& options) {
  std::string input = options.input;
  if (input == "-") {
    auto text = read_input("-");
    if (!text.ok()) return fail(text.error().message);
    input = std::move(text.value());
  }
  auto instance = make_instance(options.redis_url);
  if (!instance.ok()) return fail(instance.error().message);
  return print_answer(instance.value().run(options.method, input), options.style);
}

}  // namespace

void add_call_command(CLI::App& app, CommandContext& context) {
  auto options = std::make_shared<CallOptions>();
  auto* call = app.add_subcommand("call", "Run a module method and print its JSON answer");
  call->add_option("method", options->method, "Method name, e.g. tiers.evaluate")->required();
  call->add_option("input", options->input, "Input JSON text, or - to read stdin (default {})");
  call->add_option("--redis", options->redis_url,
                   "KV in Redis at redis://host:port[/db] (default: an empty in-memory KV)");
  call->add_flag("--pretty", options->style.pretty, "Indent the answer");
  call->add_flag("--compact", options->style.compact, "Print the answer as the module wrote it");
  call->callback([options, &context] { context.exit_code = run_call(*options); });
}

}  // namespace qv::cli
