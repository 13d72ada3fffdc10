// qv tiers ...: the tiers module from the command line.
//   qv tiers evaluate FILE|-   the autoscale decision for an organisation's history
//   qv tiers features TIER     the features a tier enables
#include <CLI/CLI.hpp>

#include "command.h"
#include "qv/json.h"

namespace qv::cli {

namespace {

struct TiersOptions {
  std::string file;
  std::string tier;
  OutputStyle style;
};

// file: the input file, named in an error's message ("" when the input is not a file's).
int run_method(const std::string& method, const std::string& input, const OutputStyle& style,
               const std::string& file = "") {
  auto instance = make_instance("");
  if (!instance.ok()) return fail(instance.error().message);
  return print_answer(instance.value().run(method, input), style, file);
}

void add_style_flags(CLI::App& command, OutputStyle& style) {
  command.add_flag("--pretty", style.pretty, "Indent the answer (default on a terminal)");
  command.add_flag("--compact", style.compact, "Print the answer as the module wrote it");
}

}  // namespace

void add_tiers_commands(CLI::App& app, CommandContext& context) {
  auto options = std::make_shared<TiersOptions>();
  auto* tiers = app.add_subcommand("tiers", "Tier evaluation (scale up or down) and feature gates");
  tiers->require_subcommand(1);

  auto* evaluate = tiers->add_subcommand(
      "evaluate", "Decide scale up/down for {organizationId, currentTier, history, ...}");
  evaluate->add_option("file", options->file, "Input JSON file, or - for stdin")->required();
  add_style_flags(*evaluate, options->style);
  evaluate->callback([options, &context] {
    auto input = read_input(options->file);
    context.exit_code =
        input.ok() ? run_method("tiers.evaluate", input.value(), options->style, options->file)
                   : fail(input.error().message);
  });

  auto* features = tiers->add_subcommand("features", "List the features a tier enables");
  features->add_option("tier", options->tier, "Tier name or id, e.g. Growth")->required();
  add_style_flags(*features, options->style);
  features->callback([options, &context] {
    JsonWriter input;
    input.begin_object().key("tier").value(options->tier).end_object();
    context.exit_code = run_method("tiers.features", input.str(), options->style);
  });
}

}  // namespace qv::cli
