// The cost methods as the ABI serves them. Each parses its JSON input with errors that name
// the field (and, for documents given as text, the line and column), calls the pure
// functions of the engine and writes a JSON answer. None needs the host: every call
// finishes in qv_call_start.
#include <cmath>
#include <memory>

#include "qv/cost/allocate.h"
#include "qv/cost/catalogue.h"
#include "qv/cost/estimate.h"
#include "qv/cost/forecast.h"
#include "qv/cost/methods.h"
#include "qv/cost/text_position.h"
#include "qv/cost/usage.h"
#include "qv/instance.h"

namespace qv::cost {

namespace {

// Parsers for the documents a call receives as text, one per field, so each document
// stays readable while the others are parsed. Calls never suspend, so one set per
// instance serves every call.
enum ParserSlot { kUsageSlot, kProposedSlot, kCatalogueSlot, kTiersSlot, kSlotCount };

struct CostState {
  bool loaded = false;
  std::shared_ptr<const Catalogue> embedded;  // parsed on first use
  Error embedded_error;
  JsonParser parsers[kSlotCount];
};

Result<std::shared_ptr<const Catalogue>> embedded_catalogue(CostState& state) {
  if (!state.loaded) {
    state.loaded = true;
    JsonParser parser;
    auto root = parser.parse(embedded_catalogue_json());
    auto catalogue =
        root.ok() ? parse_catalogue(root.value()) : Result<Catalogue>(root.take_error());
    if (catalogue.ok()) {
      state.embedded = std::make_shared<const Catalogue>(std::move(catalogue.value()));
    } else {
      state.embedded_error = {QV_INTERNAL, "catalogue: the embedded catalogue is invalid (" +
                                               catalogue.error().message + ")"};
    }
  }
  if (!state.embedded) return state.embedded_error;
  return state.embedded;
}

// A document within the input: an object, or the text of a file given as a JSON string.
// text and root say where its field paths point, for positioned errors.
struct Document {
  JsonValue value;
  std::string_view text;
  std::string root;

  Error positioned(Error error) const { return with_position(std::move(error), text, root); }
};

Result<Document> document(const JsonValue& field, JsonParser& parser, std::string_view input) {
  if (auto text = field.string(); text.ok()) {
    auto parsed = parse_positioned(parser, text.value(), field.path());
    if (!parsed.ok()) return parsed.take_error();
    return Document{parsed.value(), text.value(), field.path()};
  }
  return Document{field, input, ""};
}

Result<JsonObject> input_object(std::string_view input, Instance& instance,
                                std::initializer_list<std::string_view> fields) {
  auto root = parse_positioned(instance.parser(), input, "");
  if (!root.ok()) return root.take_error();
  auto object = root.value().object();
  if (!object.ok()) return object.take_error();
  if (auto s = object.value().only_fields(fields); !s.ok()) return s.take_error();
  return object;
}

// The catalogue of a call: the input's "catalogue" when given, else the embedded one.
Result<std::shared_ptr<const Catalogue>> call_catalogue(const JsonObject& fields, CostState& state,
                                                        std::string_view input) {
  auto field = fields.find("catalogue");
  if (!field || field->is_null()) return embedded_catalogue(state);
  auto doc = document(*field, state.parsers[kCatalogueSlot], input);
  if (!doc.ok()) return doc.take_error();
  auto catalogue = parse_catalogue(doc.value().value);
  if (!catalogue.ok()) return doc.value().positioned(catalogue.take_error());
  return std::make_shared<const Catalogue>(std::move(catalogue.value()));
}

// The usage in field `name` (required), with the document it came from.
struct ParsedUsage {
  Usage usage;
  Document source;
};
Result<ParsedUsage> call_usage(const JsonObject& fields, std::string_view name, JsonParser& parser,
                               std::string_view input) {
  auto field = fields.required(name);
  if (!field.ok()) return field.take_error();
  auto doc = document(field.value(), parser, input);
  if (!doc.ok()) return doc.take_error();
  auto usage = parse_usage(doc.value().value);
  if (!usage.ok()) return doc.value().positioned(usage.take_error());
  return ParsedUsage{std::move(usage.value()), doc.value()};
}

Result<std::optional<TierCatalogue>> call_tiers(const JsonObject& fields, CostState& state,
                                                std::string_view input) {
  auto field = fields.find("tiers");
  if (!field || field->is_null()) return std::optional<TierCatalogue>();
  auto doc = document(*field, state.parsers[kTiersSlot], input);
  if (!doc.ok()) return doc.take_error();
  auto tiers = parse_tier_catalogue(doc.value().value);
  if (!tiers.ok()) return doc.value().positioned(tiers.take_error());
  return std::optional<TierCatalogue>(std::move(tiers.value()));
}

Result<double> call_scale(const JsonObject& fields) {
  auto field = fields.find("scale");
  if (!field || field->is_null()) return 1.0;
  auto number = field->number();
  if (!number.ok()) return number.take_error();
  if (!(number.value() > 0) || !(number.value() <= 1e6)) {
    return invalid_input(field->where() + ": must be above 0 and at most 1000000");
  }
  return number.value();
}

Outcome finish(Result<std::string> answer, std::string_view input) {
  if (answer.ok()) return Outcome::answer(std::move(answer.value()));
  return Outcome::failure(with_position(answer.take_error(), input, ""));
}

// cost.estimate and cost.opportunities share their input and differ in what they write.
Result<std::string> run_estimate(std::string_view input, Instance& instance,
                                 bool opportunities_only) {
  auto& state = instance.state<CostState>();
  auto fields = input_object(input, instance, {"usage", "catalogue", "tiers", "scale"});
  if (!fields.ok()) return fields.take_error();
  auto catalogue = call_catalogue(fields.value(), state, input);
  if (!catalogue.ok()) return catalogue.take_error();
  auto tiers = call_tiers(fields.value(), state, input);
  if (!tiers.ok()) return tiers.take_error();
  auto scale = call_scale(fields.value());
  if (!scale.ok()) return scale.take_error();
  auto parsed = call_usage(fields.value(), "usage", state.parsers[kUsageSlot], input);
  if (!parsed.ok()) return parsed.take_error();
  const Usage usage = scale.value() == 1 ? std::move(parsed.value().usage)
                                         : scale_usage(parsed.value().usage, scale.value());
  const TierCatalogue* tier_catalogue = tiers.value() ? &*tiers.value() : nullptr;
  auto result = estimate(usage, *catalogue.value(), tier_catalogue);
  if (!result.ok()) return parsed.value().source.positioned(result.take_error());
  result.value().scale = scale.value();
  JsonWriter out;
  if (opportunities_only) {
    write_opportunities(out, result.value());
  } else {
    write_estimate(out, result.value(), *catalogue.value());
  }
  return out.take();
}

Result<std::string> run_diff(std::string_view input, Instance& instance) {
  auto& state = instance.state<CostState>();
  auto fields = input_object(input, instance, {"base", "proposed", "scale", "catalogue", "tiers"});
  if (!fields.ok()) return fields.take_error();
  auto catalogue = call_catalogue(fields.value(), state, input);
  if (!catalogue.ok()) return catalogue.take_error();
  auto tiers = call_tiers(fields.value(), state, input);
  if (!tiers.ok()) return tiers.take_error();
  auto scale = call_scale(fields.value());
  if (!scale.ok()) return scale.take_error();
  const auto proposed_field = fields.value().find("proposed");
  const bool has_proposed = proposed_field && !proposed_field->is_null();
  if (!has_proposed && !fields.value().find("scale")) {
    return invalid_input("proposed: is required (or scale, to compare base with itself scaled)");
  }
  auto base = call_usage(fields.value(), "base", state.parsers[kUsageSlot], input);
  if (!base.ok()) return base.take_error();
  std::optional<ParsedUsage> proposed;
  if (has_proposed) {
    auto parsed = call_usage(fields.value(), "proposed", state.parsers[kProposedSlot], input);
    if (!parsed.ok()) return parsed.take_error();
    proposed = std::move(parsed.value());
  } else {
    proposed = base.value();
  }
  const Usage proposed_usage = scale_usage(proposed->usage, scale.value());
  const TierCatalogue* tier_catalogue = tiers.value() ? &*tiers.value() : nullptr;
  auto before = estimate(base.value().usage, *catalogue.value(), tier_catalogue);
  if (!before.ok()) return base.value().source.positioned(before.take_error());
  auto after = estimate(proposed_usage, *catalogue.value(), tier_catalogue);
  if (!after.ok()) return proposed->source.positioned(after.take_error());
  after.value().scale = scale.value();
  JsonWriter out;
  write_diff(out, before.value(), after.value(), *catalogue.value());
  return out.take();
}

Result<Split> parse_split(const JsonValue& value) {
  auto text = value.string();
  if (!text.ok()) return text.take_error();
  for (Split split : {Split::kEven, Split::kProportional, Split::kMetric}) {
    if (text.value() == split_name(split)) return split;
  }
  return invalid_input(value.where() + ": unknown split '" + std::string(text.value()) +
                       "' (known: even, proportional, metric)");
}

// The split and metric of an object ("split", "metric"), over the given defaults.
Status read_split(const JsonObject& fields, Split& split, std::string& metric) {
  if (auto value = fields.find("split"); value && !value->is_null()) {
    auto parsed = parse_split(*value);
    if (!parsed.ok()) return parsed.take_error();
    split = parsed.value();
  }
  if (auto value = fields.find("metric"); value && !value->is_null()) {
    auto text = value->string();
    if (!text.ok()) return text.take_error();
    if (text.value().empty()) return invalid_input(value->where() + ": must not be empty");
    metric.assign(text.value());
  }
  if (split == Split::kMetric && metric.empty()) {
    return invalid_input(fields.child_path("metric") + ": is required for a split by metric");
  }
  return ok_status();
}

Result<std::string> run_allocate(std::string_view input, Instance& instance) {
  auto& state = instance.state<CostState>();
  auto fields = input_object(
      input, instance, {"split", "metric", "sharedCosts", "organizations", "usage", "catalogue"});
  if (!fields.ok()) return fields.take_error();
  Split default_split = Split::kEven;
  std::string default_metric;
  if (auto s = read_split(fields.value(), default_split, default_metric); !s.ok())
    return s.take_error();

  auto organisations_json = fields.value().required("organizations");
  if (!organisations_json.ok()) return organisations_json.take_error();
  auto organisations = parse_organisations(organisations_json.value());
  if (!organisations.ok()) return organisations.take_error();

  // Shared costs named by service take their amount from the estimate of the usage.
  auto catalogue = call_catalogue(fields.value(), state, input);
  if (!catalogue.ok()) return catalogue.take_error();
  std::optional<Bill> bill;
  if (auto usage_field = fields.value().find("usage"); usage_field && !usage_field->is_null()) {
    auto parsed = call_usage(fields.value(), "usage", state.parsers[kUsageSlot], input);
    if (!parsed.ok()) return parsed.take_error();
    auto priced = compute_bill(parsed.value().usage, *catalogue.value());
    if (!priced.ok()) return parsed.value().source.positioned(priced.take_error());
    bill = std::move(priced.value());
  }

  auto costs_json = fields.value().required("sharedCosts");
  if (!costs_json.ok()) return costs_json.take_error();
  auto costs_array = costs_json.value().array();
  if (!costs_array.ok()) return costs_array.take_error();
  if (costs_array.value().size() == 0) {
    return invalid_input(costs_json.value().where() + ": needs at least one shared cost");
  }
  std::vector<SharedCost> costs;
  for (const auto& item : costs_array.value().items()) {
    auto object = item.object();
    if (!object.ok()) return object.take_error();
    const auto& entry = object.value();
    if (auto s = entry.only_fields({"name", "amount", "service", "split", "metric"}); !s.ok()) {
      return s.take_error();
    }
    SharedCost cost;
    cost.path = item.path();
    cost.split = default_split;
    cost.metric = default_metric;
    if (auto s = read_split(entry, cost.split, cost.metric); !s.ok()) return s.take_error();
    auto amount = entry.find("amount");
    auto service = entry.find("service");
    if (amount && service) {
      return invalid_input(item.where() + ": give amount or service, not both");
    }
    if (auto name = entry.find("name"); name && !name->is_null()) {
      auto text = name->string();
      if (!text.ok()) return text.take_error();
      cost.name.assign(text.value());
    }
    if (amount) {
      auto number = amount->number();
      if (!number.ok()) return number.take_error();
      if (!std::isfinite(number.value()) || number.value() < 0) {
        return invalid_input(amount->where() + ": must not be negative");
      }
      cost.amount = number.value();
      if (cost.name.empty()) return invalid_input(item.where() + ".name: is required with amount");
    } else if (service) {
      auto id = service->string();
      if (!id.ok()) return id.take_error();
      if (!bill) {
        return invalid_input(service->where() +
                             ": needs usage, to take the service's cost from its estimate");
      }
      const ServiceCost* found = nullptr;
      for (const auto& line : bill->services) {
        if (line.service->id == id.value()) found = &line;
      }
      if (!found) {
        return invalid_input(service->where() + ": unknown service '" + std::string(id.value()) +
                             "' (known: " + catalogue.value()->service_ids() + ")");
      }
      if (!found->complete) {
        return invalid_input(
            service->where() + ": the estimate of " + found->service->name +
            " is incomplete (see cost.estimate's missing inputs): give its amount instead");
      }
      cost.amount = found->cost;
      if (cost.name.empty()) cost.name = found->service->id;
    } else {
      return invalid_input(item.where() + ": give amount (with name) or service");
    }
    for (const auto& earlier : costs) {
      if (earlier.name == cost.name) {
        return invalid_input(item.where() + ".name: '" + cost.name + "' is already " +
                             earlier.path + "'s name");
      }
    }
    costs.push_back(std::move(cost));
  }
  auto allocation = allocate(costs, organisations.value(), organisations_json.value().path());
  if (!allocation.ok()) return allocation.take_error();
  JsonWriter out;
  write_allocation(out, costs, organisations.value(), allocation.value());
  return out.take();
}

Result<std::string> run_forecast(std::string_view input, Instance& instance) {
  auto root = parse_positioned(instance.parser(), input, "");
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
  auto catalogue = call_catalogue(fields.value(), state, input);
  if (!catalogue.ok()) return catalogue.take_error();
  JsonWriter out;
  write_catalogue(out, *catalogue.value());
  return out.take();
}

MethodTask catalogue_method(CallContext& ctx, Instance& instance) {
  co_return finish(run_catalogue(ctx.input(), instance), ctx.input());
}
MethodTask estimate_method(CallContext& ctx, Instance& instance) {
  co_return finish(run_estimate(ctx.input(), instance, false), ctx.input());
}
MethodTask opportunities_method(CallContext& ctx, Instance& instance) {
  co_return finish(run_estimate(ctx.input(), instance, true), ctx.input());
}
MethodTask diff_method(CallContext& ctx, Instance& instance) {
  co_return finish(run_diff(ctx.input(), instance), ctx.input());
}
MethodTask allocate_method(CallContext& ctx, Instance& instance) {
  co_return finish(run_allocate(ctx.input(), instance), ctx.input());
}
MethodTask forecast_method(CallContext& ctx, Instance& instance) {
  co_return finish(run_forecast(ctx.input(), instance), ctx.input());
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
