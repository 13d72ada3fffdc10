#include "qv/cost/catalogue.h"

#include "qv/cost/format.h"
#include "qv/cost/reader.h"
#include "qv/date.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

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

// Records "PATH.id: 'ID' is already used by an earlier KIND" when an earlier item of a list
// had the id, else adds the id to the list's ids: one pass over a list, where each item was
// compared with every earlier one.
void check_new_id(Reader& read, std::unordered_set<std::string>& ids, const JsonValue& item,
                  const std::string& id, const char* kind) {
  if (read.ok() && !ids.insert(id).second) {
    read.fail(item.where() + ".id: '" + id + "' is already used by an earlier " + kind);
  }
}

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

// A calendar date YYYY-MM-DD (2026-02-30 is not one), from the year 1.
bool looks_like_date(std::string_view text) {
  return parse_date(text).has_value() && text.substr(0, 4) != "0000";
}

std::vector<Step> read_steps(Reader& read, const JsonValue& json) {
  std::vector<Step> steps;
  auto array = read.array(json);
  if (!array) return steps;
  if (array->size() == 0) {
    read.fail(json.where() + ": needs at least one step");
    return steps;
  }
  const auto items = array->items();
  for (size_t i = 0; i < items.size() && read.ok(); ++i) {
    auto object = read.object(items[i]);
    if (!object) break;
    read.only(*object, {"upTo", "price"});
    Step step;
    step.price = read.number(*object, "price", Bounds::kNonNegative, true).value_or(0);
    auto up_to = read.field(*object, "upTo");
    const bool last = i + 1 == items.size();
    if (up_to && last) {
      read.fail(up_to->where() +
                ": the last step must not have one (it prices every quantity above the step "
                "before it)");
    } else if (up_to) {
      step.up_to = read.number(*up_to, Bounds::kPositive);
      if (step.up_to && !steps.empty() && !(*step.up_to > *steps.back().up_to)) {
        read.fail(up_to->where() + ": must be above the previous step's upTo");
      }
    } else if (!last && read.ok()) {
      read.fail(items[i].where() + ".upTo: is required on every step but the last");
    }
    steps.push_back(step);
  }
  return steps;
}

// The price fields of an object over price: price | steps, per, included, source, seen.
void read_price_fields(Reader& read, const JsonObject& fields, Price& price) {
  if (!read.ok()) return;
  auto flat = fields.find("price");
  auto steps = fields.find("steps");
  if (flat && !flat->is_null() && steps) {
    read.fail(steps->where() + ": give either price or steps, not both");
    return;
  }
  if (flat) {
    price.steps.clear();
    price.published = !flat->is_null();
    price.price = price.published ? read.number(*flat, Bounds::kNonNegative).value_or(0) : 0;
  }
  if (steps) {
    price.steps = read_steps(read, *steps);
    price.published = true;
    price.price = 0;
  }
  if (auto per = read.number(fields, "per", Bounds::kPositive)) price.per = *per;
  if (auto included = read.number(fields, "included", Bounds::kNonNegative))
    price.included = *included;
  if (auto source = read.text(fields, "source")) price.source = std::move(*source);
  if (auto seen = read.text(fields, "seen")) price.seen = std::move(*seen);
  if (read.ok() && !price.seen.empty() && !looks_like_date(price.seen)) {
    read.fail(fields.child_path("seen") + ": expected a date YYYY-MM-DD, got '" + price.seen + "'");
  }
}

// A catalogue price must say where and when it was seen.
void check_provenance(Reader& read, const Price& price, const std::string& where) {
  if (!read.ok()) return;
  if (price.source.empty()) {
    read.fail(where + ".source: is required (where the price was seen)");
  } else if (price.seen.empty()) {
    read.fail(where + ".seen: is required (the date the price was seen)");
  }
}

// component_ids: the service's, so each id of appliesTo is one look-up, not a scan of them.
Credit read_credit(Reader& read, const JsonValue& json, const Service& service,
                   const std::unordered_set<std::string>& component_ids) {
  Credit credit;
  auto object = read.object(json);
  if (!object) return credit;
  read.only(*object, {"id", "name", "amount", "appliesTo", "source", "seen"});
  for (auto [name, out] : {std::pair{"id", &credit.id}, std::pair{"name", &credit.name},
                           std::pair{"source", &credit.source}, std::pair{"seen", &credit.seen}}) {
    *out = read.text(*object, name, true, true).value_or("");
  }
  if (read.ok() && !looks_like_date(credit.seen)) {
    read.fail(object->child_path("seen") + ": expected a date YYYY-MM-DD, got '" + credit.seen +
              "'");
  }
  credit.amount = read.number(*object, "amount", Bounds::kNonNegative, true).value_or(0);
  // The estimate takes a credit in whole cents (an int64_t): far larger amounts do not fit.
  if (read.ok() && !(credit.amount <= kMaxDollars))
    read.fail(above_max_dollars(object->child_path("amount"), "an amount"));
  auto applies = read.field(*object, "appliesTo", true);
  auto ids = applies ? read.array(*applies) : std::nullopt;
  if (!ids) return credit;
  for (const auto& item : ids->items()) {
    auto id = read.string(item);
    if (!id) break;
    if (!component_ids.count(std::string(*id))) {
      read.fail(item.where() + ": no component '" + std::string(*id) + "' in service '" +
                service.id + "'");
      break;
    }
    credit.applies_to.emplace_back(*id);
  }
  if (read.ok() && credit.applies_to.empty()) {
    read.fail(applies->where() + ": needs at least one component");
  }
  return credit;
}

Component read_component(Reader& read, const JsonValue& json) {
  Component component;
  auto object = read.object(json);
  if (!object) return component;
  const JsonObject& fields = *object;
  read.only(fields, {"id", "name", "meter", "unit", "category", "choice", "options", "price",
                     "steps", "per", "included", "source", "seen"});
  for (auto [name, out] :
       {std::pair{"id", &component.id}, std::pair{"name", &component.name},
        std::pair{"unit", &component.unit}, std::pair{"category", &component.category}}) {
    *out = read.text(fields, name, true, true).value_or("");
  }
  if (read.ok() && !one_of(component.category, kCategories)) {
    read.fail(fields.child_path("category") + ": unknown category '" + component.category +
              "' (known: " + list(kCategories) + ")");
  }
  if (auto meter = read.text(fields, "meter", true, true)) {
    if (auto quantity = find_quantity(*meter)) {
      component.meter = *quantity;
    } else {
      read.fail(fields.child_path("meter") + ": unknown quantity '" + *meter +
                "' (known: " + quantity_names() + ")");
    }
  }
  component.choice = read.text(fields, "choice").value_or("");
  if (!read.ok()) return component;

  // Component-level price fields; with a choice they are the defaults of every option.
  const bool priced_here = fields.find("price") || fields.find("steps");
  if (!component.choice.empty() && priced_here) {
    read.fail(fields.child_path(fields.find("price") ? "price" : "steps") +
              ": a component with a choice gives the price of each option");
    return component;
  }
  Price base;
  read_price_fields(read, fields, base);
  if (component.choice.empty()) {
    if (fields.find("options")) {
      read.fail(fields.child_path("options") + ": options need a choice");
    } else if (!priced_here) {
      read.fail(fields.child_path("price") + ": is required (null when no vendor publishes it)");
    }
    check_provenance(read, base, fields.path());
    component.options.push_back({"", std::move(base)});
    return component;
  }
  auto options_json = read.field(fields, "options", true);
  auto options = options_json ? read.object(*options_json) : std::nullopt;
  if (!options) return component;
  // An option given twice: JSON.parse keeps the last, a usage picking it would be priced by
  // the first. Refused, in one pass over the names (core's unique_fields).
  if (auto unique = options->unique_fields(); !unique.ok()) read.fail(unique.take_error());
  for (auto field : options->raw()) {
    JsonValue option_json = options->member(field.key, field.value);
    auto option = read.object(option_json);
    if (!option) break;
    read.only(*option, {"price", "steps", "per", "included", "source", "seen"});
    if (read.ok() && !option->find("price") && !option->find("steps")) {
      read.fail(option->child_path("price") + ": is required (null when no vendor publishes it)");
    }
    Price price = base;
    read_price_fields(read, *option, price);
    check_provenance(read, price, option_json.path());
    if (!read.ok()) break;
    component.options.push_back({std::string(field.key), std::move(price)});
  }
  if (read.ok() && component.options.empty()) {
    read.fail(options_json->where() + ": needs at least one option");
  }
  return component;
}

Service read_service(Reader& read, const JsonValue& json) {
  Service service;
  auto object = read.object(json);
  if (!object) return service;
  const JsonObject& fields = *object;
  read.only(fields, {"id", "name", "plan", "kind", "components", "credits"});
  for (auto [name, out] : {std::pair{"id", &service.id}, std::pair{"name", &service.name},
                           std::pair{"kind", &service.kind}}) {
    *out = read.text(fields, name, true, true).value_or("");
  }
  if (read.ok() && !one_of(service.kind, kKinds)) {
    read.fail(fields.child_path("kind") + ": unknown kind '" + service.kind +
              "' (known: " + list(kKinds) + ")");
  }
  service.plan = read.text(fields, "plan").value_or("");
  auto components_json = read.field(fields, "components", true);
  std::unordered_set<std::string> component_ids;
  if (auto components = components_json ? read.array(*components_json) : std::nullopt) {
    for (const auto& item : components->items()) {
      Component component = read_component(read, item);
      check_new_id(read, component_ids, item, component.id, "component");
      if (!read.ok()) break;
      service.components.push_back(std::move(component));
    }
    if (read.ok() && service.components.empty()) {
      read.fail(components_json->where() + ": needs at least one component");
    }
  }
  if (auto credits_json = read.field(fields, "credits")) {
    if (auto credits = read.array(*credits_json)) {
      std::unordered_set<std::string> ids;
      for (const auto& item : credits->items()) {
        Credit credit = read_credit(read, item, service, component_ids);
        check_new_id(read, ids, item, credit.id, "credit");
        if (!read.ok()) break;
        service.credits.push_back(std::move(credit));
      }
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
  Reader read;
  Price price = base;
  read_price_fields(read, fields, price);
  if (!read.ok()) return read.take_error();
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
  Reader read;
  Catalogue catalogue;
  auto object = read.object(json);
  if (!object) return read.take_error();
  const JsonObject& fields = *object;
  read.only(fields, {"format", "version", "currency", "description", "services"});
  if (auto format = read.field(fields, "format"); format && !format->integer(1, 1).ok()) {
    read.fail(format->where() + ": this engine reads catalogue format 1");
  }
  catalogue.version = read.text(fields, "version", true, true).value_or("");
  catalogue.currency = read.text(fields, "currency", true, true).value_or("");
  catalogue.description = read.text(fields, "description").value_or("");
  auto services_json = read.field(fields, "services", true);
  if (auto services = services_json ? read.array(*services_json) : std::nullopt) {
    std::unordered_set<std::string> ids;
    for (const auto& item : services->items()) {
      Service service = read_service(read, item);
      check_new_id(read, ids, item, service.id, "service");
      if (!read.ok()) break;
      catalogue.services.push_back(std::move(service));
    }
    if (read.ok() && catalogue.services.empty()) {
      read.fail(services_json->where() + ": needs at least one service");
    }
  }
  if (!read.ok()) return read.take_error();
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
