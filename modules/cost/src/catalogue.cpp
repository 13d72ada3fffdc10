#include "qv/cost/catalogue.h"

#include <algorithm>
#include <cmath>

namespace qv::cost {

namespace {

constexpr const char* kQuantityNames[kQuantityCount] = {"months",
                                                        "calls",
                                                        "callMinutes",
                                                        "transcripts",
                                                        "apiRequests",
                                                        "edgeRequests",
                                                        "originInvocations",
                                                        "activeCpuHours",
                                                        "edgeTransferGB",
                                                        "databaseComputeHours",
                                                        "databaseEgressGB",
                                                        "databaseDiskGB",
                                                        "userAudioMinutes",
                                                        "assistantAudioMinutes",
                                                        "audioInputTokens",
                                                        "audioOutputTokens",
                                                        "transcriptionMinutes",
                                                        "agentSessionMinutes",
                                                        "participantMinutes",
                                                        "mediaGB",
                                                        "redisCommands",
                                                        "redisStorageGB"};

constexpr std::string_view kCategories[] = {"compute", "requests", "bandwidth", "storage",
                                            "media",   "ai",       "platform"};
constexpr std::string_view kKinds[] = {"infrastructure", "ai"};

template <size_t N>
bool one_of(std::string_view value, const std::string_view (&allowed)[N]) {
  return std::find(std::begin(allowed), std::end(allowed), value) != std::end(allowed);
}

template <size_t N>
std::string list(const std::string_view (&allowed)[N]) {
  std::string names;
  for (auto name : allowed) names += (names.empty() ? "" : ", ") + std::string(name);
  return names;
}

Result<std::string> required_text(const JsonObject& fields, std::string_view name) {
  auto value = fields.required(name);
  if (!value.ok()) return value.take_error();
  auto text = value.value().string();
  if (!text.ok()) return text.take_error();
  if (text.value().empty()) return invalid_input(value.value().where() + ": must not be empty");
  return std::string(text.value());
}

Result<std::string> optional_text(const JsonObject& fields, std::string_view name) {
  auto value = fields.find(name);
  if (!value || value->is_null()) return std::string();
  auto text = value->string();
  if (!text.ok()) return text.take_error();
  return std::string(text.value());
}

// A finite number in [min, +inf) (or (min, +inf) when exclusive).
Result<double> number_at_least(const JsonValue& value, double min, bool exclusive) {
  auto number = value.number();
  if (!number.ok()) return number.take_error();
  const double n = number.value();
  if (!std::isfinite(n)) return invalid_input(value.where() + ": must be a finite number");
  if (exclusive ? !(n > min) : !(n >= min)) {
    return invalid_input(value.where() + (min == 0 && !exclusive ? ": must not be negative"
                                                                 : ": must be greater than 0"));
  }
  return n;
}

bool looks_like_date(std::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (text[i] < '0' || text[i] > '9') return false;
  }
  return true;
}

Result<std::vector<Step>> parse_steps(const JsonValue& json) {
  auto array = json.array();
  if (!array.ok()) return array.take_error();
  if (array.value().size() == 0) return invalid_input(json.where() + ": needs at least one step");
  std::vector<Step> steps;
  const auto items = array.value().items();
  for (size_t i = 0; i < items.size(); ++i) {
    auto object = items[i].object();
    if (!object.ok()) return object.take_error();
    if (auto s = object.value().only_fields({"upTo", "price"}); !s.ok()) return s.take_error();
    Step step;
    auto price = object.value().required("price");
    if (!price.ok()) return price.take_error();
    auto amount = number_at_least(price.value(), 0, false);
    if (!amount.ok()) return amount.take_error();
    step.price = amount.value();
    auto up_to = object.value().find("upTo");
    const bool last = i + 1 == items.size();
    if (up_to && !up_to->is_null()) {
      if (last) {
        return invalid_input(up_to->where() +
                             ": the last step has no upTo, so every quantity has a price");
      }
      auto limit = number_at_least(*up_to, 0, true);
      if (!limit.ok()) return limit.take_error();
      if (!steps.empty() && !(limit.value() > *steps.back().up_to)) {
        return invalid_input(up_to->where() + ": must be above the previous step's upTo");
      }
      step.up_to = limit.value();
    } else if (!last) {
      return invalid_input(items[i].where() + ".upTo: is required on every step but the last");
    }
    steps.push_back(step);
  }
  return steps;
}

Result<Credit> parse_credit(const JsonValue& json, const Service& service) {
  auto object = json.object();
  if (!object.ok()) return object.take_error();
  const auto& fields = object.value();
  if (auto s = fields.only_fields({"id", "name", "amount", "appliesTo", "source", "seen"});
      !s.ok()) {
    return s.take_error();
  }
  Credit credit;
  for (auto [name, out] : {std::pair{"id", &credit.id}, std::pair{"name", &credit.name},
                           std::pair{"source", &credit.source}, std::pair{"seen", &credit.seen}}) {
    auto text = required_text(fields, name);
    if (!text.ok()) return text.take_error();
    *out = std::move(text.value());
  }
  auto amount = fields.required("amount");
  if (!amount.ok()) return amount.take_error();
  auto value = number_at_least(amount.value(), 0, false);
  if (!value.ok()) return value.take_error();
  credit.amount = value.value();
  auto applies = fields.required("appliesTo");
  if (!applies.ok()) return applies.take_error();
  auto ids = applies.value().array();
  if (!ids.ok()) return ids.take_error();
  for (const auto& item : ids.value().items()) {
    auto id = item.string();
    if (!id.ok()) return id.take_error();
    if (!service.find_component(id.value())) {
      return invalid_input(item.where() + ": no component '" + std::string(id.value()) +
                           "' in service '" + service.id + "'");
    }
    credit.applies_to.emplace_back(id.value());
  }
  if (credit.applies_to.empty()) {
    return invalid_input(applies.value().where() + ": needs at least one component");
  }
  return credit;
}

// A catalogue price must say where and when it was seen.
Status check_provenance(const Price& price, const std::string& where) {
  if (price.source.empty())
    return invalid_input(where + ".source: is required (where the price was seen)");
  if (price.seen.empty())
    return invalid_input(where + ".seen: is required (the date the price was seen)");
  return ok_status();
}

Result<Component> parse_component(const JsonValue& json) {
  auto object = json.object();
  if (!object.ok()) return object.take_error();
  const auto& fields = object.value();
  if (auto s = fields.only_fields({"id", "name", "meter", "unit", "category", "choice", "options",
                                   "price", "steps", "per", "included", "source", "seen"});
      !s.ok()) {
    return s.take_error();
  }
  Component component;
  for (auto [name, out] :
       {std::pair{"id", &component.id}, std::pair{"name", &component.name},
        std::pair{"unit", &component.unit}, std::pair{"category", &component.category}}) {
    auto text = required_text(fields, name);
    if (!text.ok()) return text.take_error();
    *out = std::move(text.value());
  }
  if (!one_of(component.category, kCategories)) {
    return invalid_input(fields.child_path("category") + ": unknown category '" +
                         component.category + "' (known: " + list(kCategories) + ")");
  }
  auto meter = required_text(fields, "meter");
  if (!meter.ok()) return meter.take_error();
  auto quantity = find_quantity(meter.value());
  if (!quantity) {
    return invalid_input(fields.child_path("meter") + ": unknown quantity '" + meter.value() +
                         "' (known: " + quantity_names() + ")");
  }
  component.meter = *quantity;
  auto choice = optional_text(fields, "choice");
  if (!choice.ok()) return choice.take_error();
  component.choice = std::move(choice.value());

  // Component-level price fields; with a choice they are the defaults of every option.
  Price base;
  if (!component.choice.empty() && (fields.find("price") || fields.find("steps"))) {
    return invalid_input(fields.child_path(fields.find("price") ? "price" : "steps") +
                         ": a component with a choice gives the price of each option");
  }
  auto shared = parse_price_fields(fields, base);
  if (!shared.ok()) return shared.take_error();
  base = std::move(shared.value());

  if (component.choice.empty()) {
    if (fields.find("options")) {
      return invalid_input(fields.child_path("options") + ": options need a choice");
    }
    if (!fields.find("price") && !fields.find("steps")) {
      return invalid_input(fields.child_path("price") +
                           ": is required (null when no vendor publishes it)");
    }
    if (auto s = check_provenance(base, fields.path()); !s.ok()) return s.take_error();
    component.options.push_back({"", std::move(base)});
    return component;
  }
  auto options_json = fields.required("options");
  if (!options_json.ok()) return options_json.take_error();
  auto options = options_json.value().object();
  if (!options.ok()) return options.take_error();
  for (auto field : options.value().raw()) {
    JsonValue option_json(field.value, options.value().child_path(field.key));
    auto option = option_json.object();
    if (!option.ok()) return option.take_error();
    if (auto s =
            option.value().only_fields({"price", "steps", "per", "included", "source", "seen"});
        !s.ok()) {
      return s.take_error();
    }
    if (!option.value().find("price") && !option.value().find("steps")) {
      return invalid_input(option.value().child_path("price") +
                           ": is required (null when no vendor publishes it)");
    }
    auto price = parse_price_fields(option.value(), base);
    if (!price.ok()) return price.take_error();
    if (auto s = check_provenance(price.value(), option_json.path()); !s.ok()) {
      return s.take_error();
    }
    component.options.push_back({std::string(field.key), std::move(price.value())});
  }
  if (component.options.empty()) {
    return invalid_input(options_json.value().where() + ": needs at least one option");
  }
  return component;
}

Result<Service> parse_service(const JsonValue& json) {
  auto object = json.object();
  if (!object.ok()) return object.take_error();
  const auto& fields = object.value();
  if (auto s = fields.only_fields({"id", "name", "plan", "kind", "components", "credits"});
      !s.ok()) {
    return s.take_error();
  }
  Service service;
  for (auto [name, out] : {std::pair{"id", &service.id}, std::pair{"name", &service.name},
                           std::pair{"kind", &service.kind}}) {
    auto text = required_text(fields, name);
    if (!text.ok()) return text.take_error();
    *out = std::move(text.value());
  }
  if (!one_of(service.kind, kKinds)) {
    return invalid_input(fields.child_path("kind") + ": unknown kind '" + service.kind +
                         "' (known: " + list(kKinds) + ")");
  }
  auto plan = optional_text(fields, "plan");
  if (!plan.ok()) return plan.take_error();
  service.plan = std::move(plan.value());
  auto components_json = fields.required("components");
  if (!components_json.ok()) return components_json.take_error();
  auto components = components_json.value().array();
  if (!components.ok()) return components.take_error();
  for (const auto& item : components.value().items()) {
    auto component = parse_component(item);
    if (!component.ok()) return component.take_error();
    if (service.find_component(component.value().id)) {
      return invalid_input(item.where() + ".id: '" + component.value().id +
                           "' is already used by an earlier component");
    }
    service.components.push_back(std::move(component.value()));
  }
  if (service.components.empty()) {
    return invalid_input(components_json.value().where() + ": needs at least one component");
  }
  if (auto credits_json = fields.find("credits")) {
    auto credits = credits_json->array();
    if (!credits.ok()) return credits.take_error();
    for (const auto& item : credits.value().items()) {
      auto credit = parse_credit(item, service);
      if (!credit.ok()) return credit.take_error();
      service.credits.push_back(std::move(credit.value()));
    }
  }
  return service;
}

}  // namespace

const char* quantity_name(Quantity quantity) {
  return kQuantityNames[static_cast<int>(quantity)];
}

std::optional<Quantity> find_quantity(std::string_view name) {
  for (int q = 0; q < kQuantityCount; ++q) {
    if (name == kQuantityNames[q]) return static_cast<Quantity>(q);
  }
  return std::nullopt;
}

std::string quantity_names() {
  std::string names;
  for (const char* name : kQuantityNames) names += (names.empty() ? "" : ", ") + std::string(name);
  return names;
}

double Price::billable(double quantity) const {
  return std::max(0.0, quantity - included);
}

double Price::cost(double quantity) const {
  if (steps.empty()) return billable(quantity) * price / per;
  // Graduated: each step prices the units of [previous upTo, upTo) that lie above the
  // allowance and below the quantity.
  double total = 0;
  double lower = 0;
  for (const auto& step : steps) {
    const double upper = step.up_to ? *step.up_to : quantity;
    const double units = std::min(upper, quantity) - std::max(lower, included);
    if (units > 0) total += units * step.price / per;
    if (!step.up_to || *step.up_to >= quantity) break;
    lower = *step.up_to;
  }
  return total;
}

const Option* Component::find_option(std::string_view name) const {
  for (const auto& option : options) {
    if (option.name == name) return &option;
  }
  return nullptr;
}

const Component* Service::find_component(std::string_view id) const {
  for (const auto& component : components) {
    if (component.id == id) return &component;
  }
  return nullptr;
}

const Service* Catalogue::find_service(std::string_view id) const {
  for (const auto& service : services) {
    if (service.id == id) return &service;
  }
  return nullptr;
}

std::string Catalogue::service_ids() const {
  std::string ids;
  for (const auto& service : services) ids += (ids.empty() ? "" : ", ") + service.id;
  return ids;
}

Result<Price> parse_price_fields(const JsonObject& fields, const Price& base) {
  Price price = base;
  auto flat = fields.find("price");
  auto steps = fields.find("steps");
  if (flat && !flat->is_null() && steps) {
    return invalid_input(steps->where() + ": give either price or steps, not both");
  }
  if (flat) {
    price.steps.clear();
    if (flat->is_null()) {
      price.published = false;
      price.price = 0;
    } else {
      auto amount = number_at_least(*flat, 0, false);
      if (!amount.ok()) return amount.take_error();
      price.published = true;
      price.price = amount.value();
    }
  }
  if (steps) {
    auto parsed = parse_steps(*steps);
    if (!parsed.ok()) return parsed.take_error();
    price.published = true;
    price.price = 0;
    price.steps = std::move(parsed.value());
  }
  if (auto per = fields.find("per")) {
    auto value = number_at_least(*per, 0, true);
    if (!value.ok()) return value.take_error();
    price.per = value.value();
  }
  if (auto included = fields.find("included")) {
    auto value = number_at_least(*included, 0, false);
    if (!value.ok()) return value.take_error();
    price.included = value.value();
  }
  for (auto [name, out] : {std::pair{"source", &price.source}, std::pair{"seen", &price.seen}}) {
    if (auto value = fields.find(name)) {
      auto text = value->string();
      if (!text.ok()) return text.take_error();
      out->assign(text.value());
    }
  }
  if (!price.seen.empty() && !looks_like_date(price.seen)) {
    return invalid_input(fields.child_path("seen") + ": expected a date YYYY-MM-DD, got '" +
                         price.seen + "'");
  }
  return price;
}

void write_price_fields(JsonWriter& out, const Price& price) {
  if (price.steps.empty()) {
    out.key("price");
    if (price.published) {
      out.value(price.price);
    } else {
      out.null();
    }
  } else {
    out.key("steps").begin_array();
    for (const auto& step : price.steps) {
      out.begin_object();
      if (step.up_to) out.key("upTo").value(*step.up_to);
      out.key("price").value(step.price).end_object();
    }
    out.end_array();
  }
  out.key("per").value(price.per).key("included").value(price.included);
  out.key("source").value(price.source).key("seen").value(price.seen);
}

Result<Catalogue> parse_catalogue(const JsonValue& json) {
  auto object = json.object();
  if (!object.ok()) return object.take_error();
  const auto& fields = object.value();
  if (auto s = fields.only_fields({"format", "version", "currency", "description", "services"});
      !s.ok()) {
    return s.take_error();
  }
  Catalogue catalogue;
  if (auto format = fields.find("format")) {
    auto value = format->integer(1, 1);
    if (!value.ok()) {
      return invalid_input(format->where() + ": this engine reads catalogue format 1");
    }
  }
  for (auto [name, out] :
       {std::pair{"version", &catalogue.version}, std::pair{"currency", &catalogue.currency}}) {
    auto text = required_text(fields, name);
    if (!text.ok()) return text.take_error();
    *out = std::move(text.value());
  }
  auto description = optional_text(fields, "description");
  if (!description.ok()) return description.take_error();
  catalogue.description = std::move(description.value());
  auto services_json = fields.required("services");
  if (!services_json.ok()) return services_json.take_error();
  auto services = services_json.value().array();
  if (!services.ok()) return services.take_error();
  for (const auto& item : services.value().items()) {
    auto service = parse_service(item);
    if (!service.ok()) return service.take_error();
    if (catalogue.find_service(service.value().id)) {
      return invalid_input(item.where() + ".id: '" + service.value().id +
                           "' is already used by an earlier service");
    }
    catalogue.services.push_back(std::move(service.value()));
  }
  if (catalogue.services.empty()) {
    return invalid_input(services_json.value().where() + ": needs at least one service");
  }
  return catalogue;
}

void write_catalogue(JsonWriter& out, const Catalogue& catalogue) {
  out.begin_object()
      .key("format")
      .value(catalogue.format)
      .key("version")
      .value(catalogue.version)
      .key("currency")
      .value(catalogue.currency)
      .key("description")
      .value(catalogue.description)
      .key("services")
      .begin_array();
  for (const auto& service : catalogue.services) {
    out.begin_object()
        .key("id")
        .value(service.id)
        .key("name")
        .value(service.name)
        .key("plan")
        .value(service.plan)
        .key("kind")
        .value(service.kind)
        .key("components")
        .begin_array();
    for (const auto& component : service.components) {
      out.begin_object()
          .key("id")
          .value(component.id)
          .key("name")
          .value(component.name)
          .key("meter")
          .value(quantity_name(component.meter))
          .key("unit")
          .value(component.unit)
          .key("category")
          .value(component.category);
      if (component.choice.empty()) {
        write_price_fields(out, component.options.front().price);
      } else {
        out.key("choice").value(component.choice).key("options").begin_object();
        for (const auto& option : component.options) {
          out.key(option.name).begin_object();
          write_price_fields(out, option.price);
          out.end_object();
        }
        out.end_object();
      }
      out.end_object();
    }
    out.end_array().key("credits").begin_array();
    for (const auto& credit : service.credits) {
      out.begin_object()
          .key("id")
          .value(credit.id)
          .key("name")
          .value(credit.name)
          .key("amount")
          .value(credit.amount)
          .key("appliesTo")
          .begin_array();
      for (const auto& id : credit.applies_to) out.value(id);
      out.end_array()
          .key("source")
          .value(credit.source)
          .key("seen")
          .value(credit.seen)
          .end_object();
    }
    out.end_array().end_object();
  }
  out.end_array().end_object();
}

}  // namespace qv::cost
