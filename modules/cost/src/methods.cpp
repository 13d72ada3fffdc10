// The cost methods as the ABI serves them. Each parses its JSON input with errors that name
// the field (and, for documents given as text, the line and column), calls the pure
// functions of the engine and writes a JSON answer. None needs the host: every call
// finishes in qv_call_start.
#include <cmath>
#include <string>
#include <unordered_map>

#include "qv/cost/allocate.h"
#include "qv/cost/catalogue.h"
#include "qv/cost/estimate.h"
#include "qv/cost/forecast.h"
#include "qv/cost/input.h"
#include "qv/cost/methods.h"
#include "qv/cost/reader.h"
#include "qv/cost/usage.h"
#include "qv/instance.h"
#include "qv/method_support.h"

namespace qv::cost {

namespace {

// Parsers for the documents a call receives as text, one per field, so each document
// stays readable while the others are parsed. Calls never suspend, so one set per
// instance serves every call.
enum ParserSlot { kUsageSlot, kProposedSlot, kCatalogueSlot, kTiersSlot, kSlotCount };

struct CostState {
  EmbeddedCatalogue embedded;
  JsonParser parsers[kSlotCount];
};

// What cost.estimate, cost.opportunities and cost.diff answer.
enum class Answer { kEstimate, kOpportunities, kDiff };

// The three share their input: one usage ("usage"), or two ("base" and "proposed", or
// "base" and "scale"), with the catalogue, the tiers and the scale.
Result<std::string> run_estimate(std::string_view input, Instance& instance, Answer answer) {
  auto& state = instance.state<CostState>();
  const bool diff = answer == Answer::kDiff;
  auto fields =
      diff ? input_object(input, instance, {"base", "proposed", "scale", "catalogue", "tiers"})
           : input_object(input, instance, {"usage", "catalogue", "tiers", "scale"});
  if (!fields.ok()) return fields.take_error();
  const JsonObject& object = fields.value();
  Reader read;
  auto catalogue =
      read.take(input_catalogue(object, state.parsers[kCatalogueSlot], state.embedded));
  auto tiers = read.take(input_tiers(object, state.parsers[kTiersSlot]));
  auto scale = read.take(input_scale(object));
  const auto proposed_field = object.find("proposed");
  const bool has_proposed = diff && proposed_field && !proposed_field->is_null();
  if (diff && read.ok() && !has_proposed && !object.find("scale")) {
    read.fail("proposed: is required (or scale, to compare base with itself scaled)");
  }
  auto first =
      read.ok() ? read.take(input_usage(object, diff ? "base" : "usage", state.parsers[kUsageSlot]))
                : std::nullopt;
  std::optional<InputUsage> second;
  if (has_proposed && read.ok()) {
    second = read.take(input_usage(object, "proposed", state.parsers[kProposedSlot]));
  }
  if (!read.ok()) return read.take_error();
  const TierCatalogue* tier_catalogue = *tiers ? &**tiers : nullptr;
  // A single estimate is of the usage scaled; a diff compares base with proposed (or base)
  // scaled.
  const InputUsage& scaled_source = !diff ? *first : has_proposed ? *second : *first;
  const Usage scaled = scale_usage(scaled_source.usage, *scale);
  auto after = read.take(estimate(scaled, **catalogue, tier_catalogue));
  if (!after) return scaled_source.source.positioned(read.take_error());
  after->scale = *scale;
  JsonWriter out;
  if (answer == Answer::kEstimate) {
    write_estimate(out, *after, **catalogue);
  } else if (answer == Answer::kOpportunities) {
    write_opportunities(out, *after);
  } else {
    auto before = read.take(estimate(first->usage, **catalogue, tier_catalogue));
    if (!before) return first->source.positioned(read.take_error());
    write_diff(out, *before, *after, **catalogue);
  }
  return out.take();
}

// The split and metric of an object ("split", "metric"), over the given defaults.
void read_split(Reader& read, const JsonObject& fields, Split& split, std::string& metric) {
  if (auto value = read.field(fields, "split")) {
    if (auto text = read.string(*value)) {
      bool known = false;
      for (Split candidate : {Split::kEven, Split::kProportional, Split::kMetric}) {
        if (*text == split_name(candidate)) {
          split = candidate;
          known = true;
        }
      }
      if (!known) {
        read.fail(value->where() + ": unknown split '" + std::string(*text) +
                  "' (known: even, proportional, metric)");
      }
    }
  }
  if (auto text = read.text(fields, "metric", false, true)) metric = std::move(*text);
  if (read.ok() && split == Split::kMetric && metric.empty()) {
    read.fail(fields.child_path("metric") + ": is required for a split by metric");
  }
}

// One entry of sharedCosts: {name, amount} or {service} (its cost in the usage's estimate),
// with split and metric over the defaults.
SharedCost read_shared_cost(Reader& read, const JsonValue& item, const SharedCost& defaults,
                            const Bill* bill, const Catalogue& catalogue) {
  SharedCost cost = defaults;
  cost.path = item.path();
  auto entry = read.object(item);
  if (!entry) return cost;
  read.only(*entry, {"name", "amount", "service", "split", "metric"});
  read_split(read, *entry, cost.split, cost.metric);
  // A metric splits nothing but a split by metric: given with another, it would go unused.
  if (auto metric = entry->find("metric");
      read.ok() && metric && !metric->is_null() && cost.split != Split::kMetric) {
    read.fail(entry->child_path("metric") + ": is for a split by metric, and this cost is split " +
              split_name(cost.split) + ": add \"split\": \"metric\" or drop it");
  }
  auto amount = read.field(*entry, "amount");
  auto service = read.field(*entry, "service");
  cost.name = read.text(*entry, "name").value_or("");
  if (!read.ok()) return cost;
  if (amount && service) {
    read.fail(item.where() + ": give amount or service, not both");
  } else if (amount) {
    cost.amount = read.number(*amount, Bounds::kNonNegative).value_or(0);
    if (read.ok() && cost.name.empty()) read.fail(item.where() + ".name: is required with amount");
  } else if (!service) {
    read.fail(item.where() + ": give amount (with name) or service");
  } else if (!bill) {
    read.fail(service->where() + ": needs usage, to take the service's cost from its estimate");
  } else if (auto id = read.string(*service)) {
    const ServiceCost* found = nullptr;
    for (const auto& line : bill->services) {
      if (line.service->id == *id) found = &line;
    }
    if (!found) {
      read.fail(service->where() + ": unknown service '" + std::string(*id) +
                "' (known: " + catalogue.service_ids() + ")");
    } else if (!found->complete) {
      read.fail(service->where() + ": the estimate of " + found->service->name +
                " is incomplete (see cost.estimate's missing inputs): give its amount instead");
    } else {
      cost.amount = found->cost;
      if (cost.name.empty()) cost.name = found->service->id;
    }
  }
  return cost;
}

Result<std::string> run_allocate(std::string_view input, Instance& instance) {
  auto& state = instance.state<CostState>();
  auto fields = input_object(
      input, instance, {"split", "metric", "sharedCosts", "organizations", "usage", "catalogue"});
  if (!fields.ok()) return fields.take_error();
  Reader read;
  SharedCost defaults;
  read_split(read, fields.value(), defaults.split, defaults.metric);
  if (!read.ok()) return read.take_error();

  auto organisations_json = fields.value().required("organizations");
  if (!organisations_json.ok()) return organisations_json.take_error();
  auto organisations = parse_organisations(organisations_json.value());
  if (!organisations.ok()) return organisations.take_error();

  // Shared costs named by service take their amount from the estimate of the usage.
  auto catalogue = input_catalogue(fields.value(), state.parsers[kCatalogueSlot], state.embedded);
  if (!catalogue.ok()) return catalogue.take_error();
  std::optional<Bill> bill;
  if (auto usage_field = fields.value().find("usage"); usage_field && !usage_field->is_null()) {
    auto parsed = input_usage(fields.value(), "usage", state.parsers[kUsageSlot]);
    if (!parsed.ok()) return parsed.take_error();
    auto priced = compute_bill(parsed.value().usage, *catalogue.value());
    if (!priced.ok()) return parsed.value().source.positioned(priced.take_error());
    bill = std::move(priced.value());
  }

  std::vector<SharedCost> costs;
  auto costs_json = read.field(fields.value(), "sharedCosts", true);
  auto costs_array = costs_json ? read.array(*costs_json) : std::nullopt;
  if (costs_array && costs_array->size() == 0) {
    read.fail(costs_json->where() + ": needs at least one shared cost");
  }
  // Whether a shared cost is split by the top's metric (one split by metric without its own).
  bool top_metric_used = false;
  if (costs_array && read.ok()) {
    // Each name's shared cost, for a name given twice in one pass over the names.
    std::unordered_map<std::string, size_t> named;
    for (const auto& item : costs_array->items()) {
      SharedCost cost =
          read_shared_cost(read, item, defaults, bill ? &*bill : nullptr, *catalogue.value());
      if (auto entry = item.object(); entry.ok() && cost.split == Split::kMetric) {
        const auto own = entry.value().find("metric");
        top_metric_used = top_metric_used || !own || own->is_null();
      }
      if (read.ok()) {
        if (auto [earlier, first] = named.emplace(cost.name, costs.size()); !first) {
          read.fail(item.where() + ".name: '" + cost.name + "' is already " +
                    costs[earlier->second].path + "'s name");
        }
      }
      if (!read.ok()) break;
      costs.push_back(std::move(cost));
    }
  }
  if (auto metric = fields.value().find("metric");
      read.ok() && metric && !metric->is_null() && !top_metric_used) {
    read.fail(metric->where() +
              ": no shared cost is split by it (none is split by metric without a metric of "
              "its own): set \"split\": \"metric\" or drop it");
  }
  if (!read.ok()) return read.take_error();
  auto allocation = allocate(costs, organisations.value(), organisations_json.value().path());
  if (!allocation.ok()) return allocation.take_error();
  JsonWriter out;
  write_allocation(out, costs, organisations.value(), allocation.value());
  return out.take();
}

Result<std::string> run_forecast(std::string_view input, Instance& instance) {
  auto root = instance.parser().parse(input);
  if (!root.ok()) return root.take_error();
  auto result = forecast_from_json(root.value());
  if (!result.ok()) return result.take_error();
  JsonWriter out;
  write_forecast(out, result.value());
  return out.take();
}

Result<std::string> run_catalogue(std::string_view input, Instance& instance) {
  auto& state = instance.state<CostState>();
  auto fields = input_object(input, instance, {"catalogue"});
  if (!fields.ok()) return fields.take_error();
  auto catalogue = input_catalogue(fields.value(), state.parsers[kCatalogueSlot], state.embedded);
  if (!catalogue.ok()) return catalogue.take_error();
  JsonWriter out;
  write_catalogue(out, *catalogue.value());
  return out.take();
}

Result<std::string> run_full_estimate(std::string_view input, Instance& instance) {
  return run_estimate(input, instance, Answer::kEstimate);
}
Result<std::string> run_opportunities(std::string_view input, Instance& instance) {
  return run_estimate(input, instance, Answer::kOpportunities);
}
Result<std::string> run_diff(std::string_view input, Instance& instance) {
  return run_estimate(input, instance, Answer::kDiff);
}

// Every cost method finishes without the host: one coroutine runs them all.
using Runner = Result<std::string> (*)(std::string_view input, Instance& instance);
MethodTask run_synchronously(CallContext& ctx, Instance& instance, Runner runner) {
  // (core positions a refused multi-line input's error, as for every module)
  auto answer = runner(ctx.input(), instance);
  if (answer.ok()) co_return Outcome::answer(std::move(answer.value()));
  co_return Outcome::failure(answer.take_error());
}

MethodTask catalogue_method(CallContext& ctx, Instance& instance) {
  return run_synchronously(ctx, instance, run_catalogue);
}
MethodTask estimate_method(CallContext& ctx, Instance& instance) {
  return run_synchronously(ctx, instance, run_full_estimate);
}
MethodTask opportunities_method(CallContext& ctx, Instance& instance) {
  return run_synchronously(ctx, instance, run_opportunities);
}
MethodTask diff_method(CallContext& ctx, Instance& instance) {
  return run_synchronously(ctx, instance, run_diff);
}
MethodTask allocate_method(CallContext& ctx, Instance& instance) {
  return run_synchronously(ctx, instance, run_allocate);
}
MethodTask forecast_method(CallContext& ctx, Instance& instance) {
  return run_synchronously(ctx, instance, run_forecast);
}

}  // namespace

const Method kCostMethods[] = {
    {"cost.catalogue", catalogue_method},         {"cost.estimate", estimate_method},
    {"cost.opportunities", opportunities_method}, {"cost.diff", diff_method},
    {"cost.allocate", allocate_method},           {"cost.forecast", forecast_method},
};

std::span<const Method> methods() {
  return kCostMethods;
}

}  // namespace qv::cost
