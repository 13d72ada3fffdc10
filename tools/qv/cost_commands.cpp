// qv cost ...: the cost engine from the command line.
//   qv cost estimate USAGE [--json] [--scale X] [--catalogue FILE] [--check]
//       the monthly bill per service, unit costs, the spec's targets, the tier the usage
//       fits, optimisation opportunities, missing inputs
//   qv cost diff A [B] [--scale X] [--json] [--catalogue FILE]
//       what changes from usage A to usage B (or to A scaled: "what will 10x cost?")
//   qv cost forecast HISTORY --months N [--json]
//       the next N months from monthly history ({"history": [...]} or the array alone),
//       with a 95% range
//   qv cost allocate FILE [--split even|proportional|metric] [--metric NAME] [--usage USAGE]
//   [--json]
//       shared costs split across organisations
//   qv cost catalogue [--json] [--catalogue FILE]
//       the prices in force, with their source and the date they were seen
// Files may be "-" for standard input. Tables are for people; --json prints the module's
// answer as it wrote it, for programs.
#include "cost_commands.h"

#include <CLI/CLI.hpp>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <optional>
#include <tuple>
#include <vector>

#include "command.h"
#include "qv/cost/forecast.h"
#include "qv/cost/format.h"
#include "qv/json.h"
#include "qv/json_text.h"
#include "simdjson.h"

namespace qv::cli {

host::Answer run_cost_method(std::string_view method, std::string_view input) {
  // The cost methods ask for no KV or fetch, so one instance without either serves them all.
  static Result<host::Instance> instance = host::Instance::create();
  if (!instance.ok()) return {instance.status(), instance.error().message};
  return instance.value().run(method, input);
}

namespace {

constexpr int kExitTargetFailed = 3;

using cost::grouped;
using cost::money;
using simdjson::dom::element;

// The file's text, or standard input for "-"; on failure, error names the file.
std::optional<std::string> read_text(const std::string& path, std::string& error) {
  auto text = read_input(path);
  if (!text.ok()) {
    error = text.error().message;
    return std::nullopt;
  }
  return std::move(text.value());
}

// ---- Reading the module's answers (simdjson is built without exceptions) ----

// The field, or a null element when absent (simdjson without exceptions reports absence
// as an error code; every reader below then falls back to its default).
element at(element e, const char* key) {
  element value;
  if (e[key].get(value) != simdjson::SUCCESS) return element();
  return value;
}

double number(element e, const char* key) {
  double value = 0;
  if (e[key].get_double().get(value) != simdjson::SUCCESS) return 0;
  return value;
}

std::optional<double> maybe_number(element e, const char* key) {
  double value = 0;
  if (e[key].get_double().get(value) != simdjson::SUCCESS) return std::nullopt;
  return value;
}

std::string text(element e, const char* key) {
  std::string_view value;
  if (e[key].get_string().get(value) != simdjson::SUCCESS) return "";
  return std::string(value);
}

bool flag(element e, const char* key) {
  bool value = false;
  if (e[key].get_bool().get(value) != simdjson::SUCCESS) return false;
  return value;
}

std::vector<element> items(element e, const char* key) {
  std::vector<element> list;
  simdjson::dom::array array;
  if (!e[key].get_array().get(array)) {
    for (element item : array) list.push_back(item);
  }
  return list;
}

// ---- Formatting ----

std::string signed_money(double amount) {
  return (amount > 0 ? "+" : "") + money(amount);
}

// Quantities: whole numbers grouped, fractions to two decimals.
std::string quantity(double value) {
  char buffer[64];
  if (std::fabs(value - std::round(value)) < 1e-9 || std::fabs(value) >= 1000) {
    std::snprintf(buffer, sizeof buffer, "%.0f", value);
  } else {
    std::snprintf(buffer, sizeof buffer, "%.2f", value);
  }
  return grouped(buffer);
}

// A scale factor as given: the shortest digits that read back as it, as the module's answer
// writes it, the whole part grouped ("x0.001", "x1,234.5"), never rounded (to two decimals
// 0.001 would read "x0.00", no usage at all).
std::string factor(double value) {
  std::string digits = JsonWriter().value(value).take();
  if (digits.find('e') == std::string::npos) digits = grouped(digits);
  return "x" + digits;
}

// Round counts as "1M", "100K"; others grouped.
std::string compact(double value) {
  if (value >= 1e6 && std::fmod(value, 1e6) == 0) return quantity(value / 1e6) + "M";
  if (value >= 1e4 && std::fmod(value, 1e3) == 0) return quantity(value / 1e3) + "K";
  return quantity(value);
}

std::string unit_price(double price) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.6g", price);
  std::string digits(buffer);
  const size_t point = digits.find('.');
  if (point != std::string::npos && digits.size() - point == 2) digits += "0";  // $0.6 -> $0.60
  return "$" + digits;
}

// "$0.60 / 1M invocation, 1M included", "stepped: $1 to 100, then $0.5", "not published".
std::string price_text(element price, const std::string& unit) {
  const double per = number(price, "per");
  const std::string per_text = per == 1 ? unit : compact(per) + " " + unit;
  std::string result;
  auto steps = items(price, "steps");
  if (!steps.empty()) {
    result = "stepped:";
    for (size_t i = 0; i < steps.size(); ++i) {
      result += (i ? ", " : " ") + unit_price(number(steps[i], "price"));
      if (auto up_to = maybe_number(steps[i], "upTo")) {
        result += " to " + compact(*up_to);
      } else if (i) {
        result += " beyond";
      }
    }
    result += " / " + per_text;
  } else if (auto flat = maybe_number(price, "price")) {
    result = unit_price(*flat) + " / " + per_text;
  } else {
    return "not published: give it";
  }
  if (const double included = number(price, "included"); included > 0) {
    result += ", " + compact(included) + " incl.";
  }
  return result;
}

void row(const std::string& name, const std::string& amount, const std::string& price,
         const std::string& cost) {
  std::printf("%-44s %20s  %-40s %14s\n", name.c_str(), amount.c_str(), price.c_str(),
              cost.c_str());
}

std::string upper(std::string value) {
  for (auto& c : value) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return value;
}

// ---- Printing answers ----

void print_unit_costs(element unit) {
  auto part = [&](const char* label, const char* key) {
    auto value = maybe_number(unit, key);
    return std::string(label) + " " + (value ? money(*value) : "-");
  };
  std::printf("\nUNIT COSTS  %s · %s · %s · %s · %s\n", part("per call", "perCall").c_str(),
              part("infrastructure per call", "infrastructurePerCall").c_str(),
              part("per transcript", "perTranscript").c_str(),
              part("storage per transcript", "storagePerTranscript").c_str(),
              part("bandwidth per GB", "bandwidthPerGB").c_str());
}

void print_estimate(element e) {
  std::string name = text(e, "name");
  if (name.empty()) name = "(unnamed usage)";
  const double scale = number(e, "scale");
  std::printf("%s: catalogue %s, %s per month%s\n\n", name.c_str(),
              text(e, "catalogueVersion").c_str(), text(e, "currency").c_str(),
              scale != 1 ? (", usage " + factor(scale)).c_str() : "");
  row("SERVICE / COMPONENT", "QUANTITY", "PRICE", "MONTHLY");
  for (element service : items(e, "services")) {
    const bool complete = flag(service, "complete");
    row(text(service, "name") + " " + text(service, "plan"), "", "",
        money(number(service, "cost")) + (complete ? "" : " + ?"));
    for (element component : items(service, "components")) {
      std::string label = "  " + text(component, "name");
      if (!text(component, "option").empty()) label += " (" + text(component, "option") + ")";
      auto amount = maybe_number(component, "quantity");
      auto cost = maybe_number(component, "cost");
      const element price = at(component, "price");
      std::string price_label = price_text(price, text(component, "unit"));
      if (text(component, "priceFrom") == "usage") price_label += " (yours)";
      row(label, amount ? quantity(*amount) + " " + text(component, "unit") : "usage missing",
          price_label, cost ? money(*cost) : "?");
    }
    for (element credit : items(service, "credits")) {
      row("  " + text(credit, "name"), "", "up to " + money(number(credit, "amount")),
          money(-number(credit, "applied")));
    }
  }
  const bool complete = flag(e, "complete");
  std::printf("\n");
  row(complete ? "TOTAL" : "TOTAL (known prices only)", "", "", money(number(e, "total")));
  if (!complete) {
    size_t prices = 0, usage = 0;
    for (element missing : items(e, "missing"))
      (text(missing, "kind") == "price" ? prices : usage)++;
    std::string what;
    if (prices) what = std::to_string(prices) + (prices == 1 ? " price" : " prices");
    if (usage) {
      what += (what.empty() ? "" : " and ") + std::to_string(usage) +
              (usage == 1 ? " usage figure" : " usage figures");
    }
    std::printf("  incomplete: %s to give (MISSING INPUTS below)\n", what.c_str());
  }
  element unit;
  if (!e["unitCosts"].get(unit)) print_unit_costs(unit);

  std::printf(
      "\nTARGETS (spec: infrastructure < $0.01/call, storage < $0.0001/transcript, bandwidth < "
      "$0.05/GB)\n");
  for (element target : items(e, "targets")) {
    std::printf("  %-8s %-30s %s\n", upper(text(target, "status")).c_str(),
                text(target, "name").c_str(), text(target, "detail").c_str());
  }

  element tier;
  if (!e["tier"].get(tier) && !tier.is_null()) {
    std::printf("\nTIER  %s", text(tier, "detail").c_str());
    if (auto estimate = maybe_number(tier, "tierCostEstimate")) {
      // In whole cents: a bill of the estimate to the cent is no amount above or below it.
      const double difference = number(tier, "billMinusTierEstimate");
      const std::string relation =
          difference == 0
              ? "equals it"
              : "is " + money(std::fabs(difference)) + (difference > 0 ? " above it" : " below it");
      std::printf("\n      the tier's estimate is %s/month; this bill %s", money(*estimate).c_str(),
                  relation.c_str());
    }
    if (!text(tier, "currentTier").empty()) {
      std::printf("\n      current tier %s: %s", text(tier, "currentTier").c_str(),
                  flag(tier, "fitsCurrentTier") ? "the peaks fit it" : "the peaks exceed it");
    }
    std::printf("\n");
  }

  auto opportunities = items(e, "opportunities");
  std::printf("\nOPPORTUNITIES (largest first; the spec applies savings above $10/month)\n");
  if (opportunities.empty()) std::printf("  none\n");
  for (element o : opportunities) {
    std::printf("  %12s/month  %-5s %s%s\n               %s\n", money(number(o, "savings")).c_str(),
                flag(o, "worthApplying") ? "apply" : "skip", text(o, "title").c_str(),
                flag(o, "reducesBill") ? "" : " (tier budget, not this bill)",
                text(o, "detail").c_str());
  }
  // Always said, $0.00 too, so a bill with nothing to apply reads as one.
  const double savings = number(e, "savingsWorthApplying");
  std::printf("  worth applying: %s/month off this bill%s\n", money(savings).c_str(),
              savings > 0 ? "" : " (no saving on this bill above $10/month)");

  auto missing = items(e, "missing");
  if (!missing.empty()) {
    std::printf("\nMISSING INPUTS (never guessed: give them in the usage file)\n");
    for (element m : missing) {
      std::printf("  %-5s %-48s %s\n", text(m, "kind").c_str(), text(m, "input").c_str(),
                  text(m, "detail").c_str());
    }
  }
  auto assumptions = items(e, "assumptions");
  if (!assumptions.empty()) {
    std::printf("\nASSUMPTIONS (defaults applied; set the field to change them)\n");
    for (element a : assumptions) {
      std::string_view line;
      if (!a.get_string().get(line))
        std::printf("  - %.*s\n", static_cast<int>(line.size()), line.data());
    }
  }
}

void print_diff(element d) {
  element base, proposed;
  base = at(d, "base");
  proposed = at(d, "proposed");
  auto side = [](const char* label, element s) {
    std::string name = text(s, "name");
    if (number(s, "scale") != 1) name += " " + factor(number(s, "scale"));
    element unit;
    unit = at(s, "unitCosts");
    auto per_call = maybe_number(unit, "perCall");
    std::printf("%-9s %-44s total %14s%s  per call %s  tier %s\n", label, name.c_str(),
                money(number(s, "total")).c_str(), flag(s, "complete") ? "" : " (known prices)",
                per_call ? money(*per_call).c_str() : "-",
                text(s, "tier").empty() ? "-" : text(s, "tier").c_str());
  };
  std::printf("catalogue %s, %s per month\n\n", text(d, "catalogueVersion").c_str(),
              text(d, "currency").c_str());
  side("base", base);
  side("proposed", proposed);
  auto percent = maybe_number(d, "totalDeltaPercent");
  char change[64] = "";
  if (percent) std::snprintf(change, sizeof change, " (%+.1f%%)", *percent);
  // Of two totals of known prices only, the change is that of the known prices too.
  const bool complete = flag(base, "complete") && flag(proposed, "complete");
  std::printf("%-9s %s%s%s\n\n", "change", signed_money(number(d, "totalDelta")).c_str(), change,
              complete ? "" : " (known prices)");

  // A side with missing prices shows its known part and "+?"; its change is unknown.
  std::printf("%-12s %16s %16s %14s\n", "SERVICE", "BASE", "PROPOSED", "CHANGE");
  for (element s : items(d, "services")) {
    const bool base_known = flag(s, "baseComplete"), proposed_known = flag(s, "proposedComplete");
    auto side_cost = [&](const char* key, bool known) {
      return money(number(s, key)) + (known ? "" : " +?");
    };
    std::printf("%-12s %16s %16s %14s\n", text(s, "id").c_str(),
                side_cost("base", base_known).c_str(),
                side_cost("proposed", proposed_known).c_str(),
                base_known && proposed_known ? signed_money(number(s, "delta")).c_str() : "?");
  }
  auto components = items(d, "components");
  if (!components.empty()) {
    std::printf("\nCHANGED COMPONENTS\n");
    for (element c : components) {
      auto q = [&](const char* key) {
        auto v = maybe_number(c, key);
        return v ? quantity(*v) : std::string("?");
      };
      auto cost = [&](const char* key) {
        auto v = maybe_number(c, key);
        return v ? money(*v) : std::string("?");
      };
      auto delta = maybe_number(c, "delta");
      std::string name = text(c, "service") + " " + text(c, "name");
      if (text(c, "baseOption") != text(c, "proposedOption"))
        name += " (" + text(c, "baseOption") + " -> " + text(c, "proposedOption") + ")";
      std::printf("  %-34s %s -> %s %s   %s -> %s   %s\n", name.c_str(), q("baseQuantity").c_str(),
                  q("proposedQuantity").c_str(), text(c, "unit").c_str(), cost("baseCost").c_str(),
                  cost("proposedCost").c_str(), delta ? signed_money(*delta).c_str() : "");
    }
  }
  std::printf("\nTARGETS\n");
  for (element t : items(d, "targets")) {
    auto value = [&](const char* key) {
      auto v = maybe_number(t, key);
      return v ? money(*v) : std::string("-");
    };
    std::printf("  %-28s %-8s -> %-8s (%s -> %s)\n", text(t, "id").c_str(), text(t, "base").c_str(),
                text(t, "proposed").c_str(), value("baseValue").c_str(),
                value("proposedValue").c_str());
  }
}

void print_forecast(element f) {
  element history, backtest, linear, holt, bl, bh;
  history = at(f, "history");
  backtest = at(f, "backtest");
  holt = at(f, "holt");
  bl = at(backtest, "linear");
  bh = at(backtest, "holt");
  linear = at(f, "linear");
  std::printf("history %s to %s (%.0f months)\nmethod: %s\n", text(history, "from").c_str(),
              text(history, "to").c_str(), number(history, "months"), text(f, "reason").c_str());
  const double points = number(backtest, "points");
  std::printf(
      "back-test (%.0f one-month-ahead forecast%s): linear MAE %s RMSE %s; Holt MAE %s RMSE %s "
      "(alpha %.2f, beta %.2f)\n",
      points, points == 1 ? "" : "s", money(number(bl, "mae")).c_str(),
      money(number(bl, "rmse")).c_str(), money(number(bh, "mae")).c_str(),
      money(number(bh, "rmse")).c_str(), number(holt, "alpha"), number(holt, "beta"));
  std::printf("\n%-8s %14s   %s\n", "MONTH", "FORECAST", "95% RANGE");
  for (element p : items(f, "forecast")) {
    std::printf("%-8s %14s   %s to %s\n", text(p, "month").c_str(),
                money(number(p, "cost")).c_str(), money(number(p, "low")).c_str(),
                money(number(p, "high")).c_str());
  }
}

void print_allocation(element a) {
  std::printf("SHARED COSTS\n");
  for (element c : items(a, "sharedCosts")) {
    std::string split = text(c, "split");
    if (split == "metric") split += " " + text(c, "metric");
    std::printf("  %-24s %14s  split %s\n", text(c, "name").c_str(),
                money(number(c, "amount")).c_str(), split.c_str());
  }
  std::printf("  %-24s %14s\n\n", "total", money(number(a, "sharedTotal")).c_str());
  std::printf("%-28s %14s %14s %14s\n", "ORGANIZATION", "DIRECT", "SHARED", "TOTAL");
  for (element o : items(a, "organizations")) {
    std::printf("%-28s %14s %14s %14s\n", text(o, "id").c_str(),
                money(number(o, "directCost")).c_str(), money(number(o, "shared")).c_str(),
                money(number(o, "total")).c_str());
  }
}

void print_catalogue(element c) {
  std::printf("catalogue %s (%s)\n%s\n\n", text(c, "version").c_str(), text(c, "currency").c_str(),
              text(c, "description").c_str());
  for (element service : items(c, "services")) {
    std::printf("%s %s (%s)\n", text(service, "name").c_str(), text(service, "plan").c_str(),
                text(service, "kind").c_str());
    for (element component : items(service, "components")) {
      const std::string unit = text(component, "unit");
      simdjson::dom::object options;
      if (!component["options"].get_object().get(options)) {
        for (auto option : options) {
          std::printf("  %-36s %-42s %s, seen %s\n",
                      (text(component, "name") + " (" + std::string(option.key) + ")").c_str(),
                      price_text(option.value, unit).c_str(), text(option.value, "source").c_str(),
                      text(option.value, "seen").c_str());
        }
      } else {
        std::printf("  %-36s %-42s %s, seen %s\n", text(component, "name").c_str(),
                    price_text(component, unit).c_str(), text(component, "source").c_str(),
                    text(component, "seen").c_str());
      }
    }
    for (element credit : items(service, "credits")) {
      std::printf("  %-36s %-42s %s, seen %s\n", text(credit, "name").c_str(),
                  (money(-number(credit, "amount")) + " / month").c_str(),
                  text(credit, "source").c_str(), text(credit, "seen").c_str());
    }
  }
}

// Prints the answer as JSON (json) or as a table by print; returns the exit code.
// Which file each input field came from, so a message about "usage.calls..." names the
// file it is in; a field "" stands for any other (the file the whole input came from).
using FileOfField = std::vector<std::pair<std::string, std::string>>;

template <typename Print>
int show(const host::Answer& answer, bool json, Print print, const FileOfField& files = {}) {
  if (answer.status != QV_OK) {
    simdjson::dom::parser parser;
    element root;
    std::string message = answer.output;
    if (!parser.parse(answer.output).get(root)) {
      std::string detail = text(root, "message");
      for (const auto& [field, file] : files) {
        const bool about =
            field.empty() || (detail.compare(0, field.size(), field) == 0 &&
                              (detail.size() == field.size() || detail[field.size()] == '.' ||
                               detail[field.size()] == '[' || detail[field.size()] == ' ' ||
                               detail[field.size()] == ':'));
        if (about && !file.empty() && file != "-") {
          detail = file + ": " + detail;
          break;
        }
      }
      if (!detail.empty()) message = text(root, "error") + ": " + detail;
    }
    return fail(message);
  }
  if (json) {
    std::cout << answer.output << "\n";
    return 0;
  }
  simdjson::dom::parser parser;
  element root;
  if (parser.parse(answer.output).get(root))
    return fail("the module's answer is not JSON: " + answer.output);
  print(root);
  std::fflush(stdout);
  return 0;
}

// Appends "key": <text as a JSON string> to an input being written.
void add_text(JsonWriter& input, const char* key, const std::string& text) {
  input.key(key).value(text);
}

// The tier catalogue in force, as tiers.catalogue answers it (the cost module reads the
// tiers as data so that it depends on core only).
std::optional<std::string> tier_catalogue(std::string& error) {
  host::Answer tiers = run_cost_method("tiers.catalogue", "{}");
  if (tiers.status != QV_OK) {
    error = "tiers.catalogue failed: " + tiers.output;
    return std::nullopt;
  }
  return tiers.output;
}

struct CostOptions {
  std::string usage, other, history, file, catalogue, split, metric, usage_for_allocation;
  double scale = 1;
  bool scale_given = false;
  int months = 0;
  bool json = false;
  bool check = false;
};

int estimate_command(const CostOptions& o) {
  std::string error;
  auto usage = read_text(o.usage, error);
  if (!usage) return fail(error);
  auto tiers = tier_catalogue(error);
  if (!tiers) return fail(error);
  JsonWriter input;
  input.begin_object();
  add_text(input, "usage", *usage);
  input.key("tiers").raw(*tiers);
  if (o.scale_given) input.key("scale").value(o.scale);
  if (!o.catalogue.empty()) {
    auto catalogue = read_text(o.catalogue, error);
    if (!catalogue) return fail(error);
    add_text(input, "catalogue", *catalogue);
  }
  input.end_object();
  const host::Answer answer = run_cost_method("cost.estimate", input.str());
  int code = show(answer, o.json, print_estimate, {{"usage", o.usage}, {"catalogue", o.catalogue}});
  if (code == 0 && o.check) {
    simdjson::dom::parser parser;
    element root;
    if (!parser.parse(answer.output).get(root)) {
      for (element target : items(root, "targets")) {
        if (text(target, "status") == "fail") code = kExitTargetFailed;
      }
    }
  }
  return code;
}

int diff_command(const CostOptions& o) {
  if (o.other.empty() && !o.scale_given)
    return fail("cost diff: give a second usage B, or --scale");
  std::string error;
  auto base = read_text(o.usage, error);
  if (!base) return fail(error);
  auto tiers = tier_catalogue(error);
  if (!tiers) return fail(error);
  JsonWriter input;
  input.begin_object();
  add_text(input, "base", *base);
  if (!o.other.empty()) {
    auto proposed = read_text(o.other, error);
    if (!proposed) return fail(error);
    add_text(input, "proposed", *proposed);
  }
  if (o.scale_given) input.key("scale").value(o.scale);
  input.key("tiers").raw(*tiers);
  if (!o.catalogue.empty()) {
    auto catalogue = read_text(o.catalogue, error);
    if (!catalogue) return fail(error);
    add_text(input, "catalogue", *catalogue);
  }
  input.end_object();
  return show(run_cost_method("cost.diff", input.str()), o.json, print_diff,
              {{"base", o.usage}, {"proposed", o.other}, {"catalogue", o.catalogue}});
}

// The module's answer for a text the command parses itself, before the module sees it, and
// simdjson refused: the module's own error for such a text ("input: malformed JSON at line L,
// column C: ..."), positioned in the text as the file holds it. root names the text as the
// module would ("" for the whole input).
host::Answer refused_answer(std::string_view text, const std::string& root,
                            simdjson::error_code refused) {
  const Error error = refused_text_error(text, root, simdjson::error_message(refused));
  return {error.status, error_json(error)};
}

int forecast_command(const CostOptions& o) {
  std::string error;
  auto history = read_text(o.history, error);
  if (!history) return fail(error);
  // HISTORY holds {"history": [...]} or just the array; --months completes the input. A
  // bare array is the input's history, and errors in it are named so.
  const size_t first = history->find_first_not_of(" \t\r\n");
  const std::string root_name =
      first != std::string::npos && (*history)[first] == '[' ? "history" : "";
  const FileOfField files{{"history", o.history}, {"input", o.history}};
  simdjson::dom::parser parser;
  element root;
  if (auto e = parser.parse(*history).get(root)) {
    return show(refused_answer(*history, root_name, e), o.json, print_forecast, files);
  }
  element list = root;
  if (root.is_object() && root["history"].get(list)) {
    return fail(o.history + ": expected an array of {month, cost} or an object with history");
  }
  if (simdjson::dom::object fields; !root.get_object().get(fields)) {
    for (auto field : fields) {
      if (field.key != "history" && field.key != "description") {
        return fail(o.history + ": " + std::string(field.key) +
                    ": unknown field (expected one of: history, description)");
      }
    }
  }
  JsonWriter input;
  input.begin_object()
      .key("history")
      .raw(simdjson::minify(list))
      .key("months")
      .value(o.months)
      .end_object();
  host::Answer answer = run_cost_method("cost.forecast", input.str());
  // The module sees the history minified, on one line, so its errors name the field but no
  // line: the file's own text gives them the line and column, as the module gives them for
  // the texts the other commands send. A bare array is the input's history.
  if (answer.status == QV_INVALID_INPUT) {
    answer.output =
        error_json(with_position({QV_INVALID_INPUT, answer.message()}, *history, root_name));
  }
  return show(answer, o.json, print_forecast, files);
}

// FILE is the method's input ({organizations, sharedCosts, split?, metric?, usage?}). The
// flags are added as fields right after its opening brace, on the same line, so the
// lines of the file stay the lines in the module's messages.
int allocate_command(const CostOptions& o) {
  std::string error;
  auto file = read_text(o.file, error);
  if (!file) return fail(error);
  // Everything but a usage given by --usage is the file's: its own usage and catalogue, and
  // a field it should not have.
  const FileOfField files{
      {"usage", o.usage_for_allocation.empty() ? o.file : o.usage_for_allocation}, {"", o.file}};
  // Refused here, before the flags are added, so that the columns are the file's.
  simdjson::dom::parser parser;
  element root;
  if (auto e = parser.parse(*file).get(root)) {
    return show(refused_answer(*file, "", e), o.json, print_allocation, files);
  }
  if (!root.is_object()) {  // the module names what it expected
    return show(run_cost_method("cost.allocate", *file), o.json, print_allocation, files);
  }
  for (auto [flag_name, field, given] :
       {std::tuple{"--split", "split", !o.split.empty()},
        std::tuple{"--metric", "metric", !o.metric.empty()},
        std::tuple{"--usage", "usage", !o.usage_for_allocation.empty()}}) {
    element ignored;
    if (given && !root[field].get(ignored)) {
      return fail(o.file + " already sets " + field + ": drop " + flag_name + " or the field");
    }
  }
  const size_t brace = file->find('{');  // the root's
  std::string fields;
  auto add = [&](const char* key, const std::string& value) {
    std::string quoted;
    append_json_string(quoted, value);
    fields += "\"" + std::string(key) + "\":" + quoted + ",";
  };
  if (!o.split.empty()) add("split", o.split);
  if (!o.metric.empty()) add("metric", o.metric);
  if (!o.usage_for_allocation.empty()) {
    auto usage = read_text(o.usage_for_allocation, error);
    if (!usage) return fail(error);
    add("usage", *usage);
  }
  // An empty root ({}) takes the fields without the comma that joins them to its own.
  if (simdjson::dom::object own; !fields.empty() && !root.get_object().get(own) && own.size() == 0)
    fields.pop_back();
  std::string input = *file;
  input.insert(brace + 1, fields);
  return show(run_cost_method("cost.allocate", input), o.json, print_allocation, files);
}

int catalogue_command(const CostOptions& o) {
  JsonWriter input;
  input.begin_object();
  if (!o.catalogue.empty()) {
    std::string error;
    auto catalogue = read_text(o.catalogue, error);
    if (!catalogue) return fail(error);
    add_text(input, "catalogue", *catalogue);
  }
  input.end_object();
  return show(run_cost_method("cost.catalogue", input.str()), o.json, print_catalogue,
              {{"catalogue", o.catalogue}});
}

}  // namespace

void add_cost_commands(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<CostOptions>();
  auto* cost = app.add_subcommand(
      "cost", "The cost engine: bills, diffs, forecasts, shared-cost allocation");
  cost->require_subcommand(1);

  auto json_flag = [&](CLI::App* command) {
    command->add_flag("--json", options->json, "Print the module's JSON answer instead of a table");
  };
  auto scale_option = [&](CLI::App* command) {
    command
        ->add_option("--scale", options->scale,
                     "Multiply the usage's volumes (10: what will 10x cost?)")
        ->check(CLI::Validator(
            [](std::string& text) -> std::string {
              const std::optional<double> scale = parse_json_number(text);  // not nan, not hex
              if (!scale || !(*scale > 0 && *scale <= 1e6))
                return "expected a number above 0 and at most 1000000, got '" + text + "'";
              return {};
            },
            "SCALE"))
        ->each([options](const std::string&) { options->scale_given = true; });
  };
  auto catalogue_option = [&](CLI::App* command) {
    command->add_option("--catalogue", options->catalogue,
                        "A pricing catalogue JSON file instead of the built-in one");
  };

  auto* estimate = cost->add_subcommand(
      "estimate", "Price a usage file: bill per service, targets, tier, opportunities");
  estimate->add_option("usage", options->usage, "Usage JSON file, or - for stdin")->required();
  json_flag(estimate);
  scale_option(estimate);
  catalogue_option(estimate);
  estimate->add_flag("--check", options->check, "Exit with 3 when a target fails");
  estimate->callback([options, &exit_code] { exit_code = estimate_command(*options); });

  auto* diff = cost->add_subcommand("diff", "What changes from usage A to usage B, or to A scaled");
  diff->add_option("base", options->usage, "Usage A (JSON file, or -)")->required();
  diff->add_option("proposed", options->other, "Usage B (JSON file); omit it with --scale");
  json_flag(diff);
  scale_option(diff);
  catalogue_option(diff);
  diff->callback([options, &exit_code] { exit_code = diff_command(*options); });

  auto* forecast = cost->add_subcommand("forecast", "The next months from monthly cost history");
  forecast
      ->add_option("history", options->history,
                   "{\"history\": [{\"month\": \"YYYY-MM\", \"cost\": N}, ...]}, as "
                   "examples/cost-history.json, or the array alone (file, or -)")
      ->required();
  // Checked here, as --scale is, so that an out-of-range value is a usage error naming the
  // flag rather than the module's "months: ..." about a field the user never wrote.
  forecast->add_option("--months", options->months, "How many months ahead (1 to 60)")
      ->required()
      ->check(CLI::Range(1, cost::kMaxForecastMonths));
  json_flag(forecast);
  forecast->callback([options, &exit_code] { exit_code = forecast_command(*options); });

  auto* allocate = cost->add_subcommand("allocate", "Split shared costs across organisations");
  allocate->add_option("file", options->file, "{organizations, sharedCosts, ...} (file, or -)")
      ->required();
  allocate->add_option("--split", options->split, "even, proportional (to direct cost) or metric")
      ->check(CLI::IsMember({"even", "proportional", "metric"}));
  allocate->add_option("--metric", options->metric, "The metric of each organisation to split by");
  allocate->add_option("--usage", options->usage_for_allocation,
                       "A usage file whose services sharedCosts may name");
  json_flag(allocate);
  allocate->callback([options, &exit_code] { exit_code = allocate_command(*options); });

  auto* catalogue =
      cost->add_subcommand("catalogue", "The prices in force, with source and date seen");
  json_flag(catalogue);
  catalogue_option(catalogue);
  catalogue->callback([options, &exit_code] { exit_code = catalogue_command(*options); });
}

}  // namespace qv::cli
