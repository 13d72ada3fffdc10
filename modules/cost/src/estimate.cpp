#include "qv/cost/estimate.h"

#include "qv/cost/format.h"
#include "qv/cost/order.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string_view>
#include <unordered_set>
#include <utility>

namespace qv::cost {

// The number of inputs missing_inputs would list.
size_t missing_count(const Bill& bill);

namespace {

// Money as billed: whole cents. Each line is rounded to the cent, as an invoice's lines are,
// and subtotals, totals and differences are sums of cents, so the lines of a bill add up
// to its subtotals and its total exactly, and a difference of totals is the difference of
// the totals shown. (Costs stay below 1e15 dollars: cents are exact in an int64_t.)
double in_dollars(int64_t cents) {
  return static_cast<double>(cents) / 100;
}
double difference(double minuend, double subtrahend) {
  return in_dollars(whole_cents(minuend) - whole_cents(subtrahend));
}

// A quantity for sentences: from 1,000 up (or whole) as a grouped whole number
// ("3,000,000", even when the arithmetic left 599,999.9999999999), else to 4 digits.
std::string plain(double value) {
  char buffer[64];
  if ((std::fabs(value) >= 1000 || value == std::floor(value)) && std::fabs(value) < 1e15) {
    format_double(buffer, sizeof buffer, "%.0f", value);
    return grouped(buffer);
  }
  format_double(buffer, sizeof buffer, "%.4g", value);
  return buffer;
}

std::string percent(double ratio) {
  char buffer[32];
  format_double(buffer, sizeof buffer, "%.0f%%", ratio * 100);
  return buffer;
}

std::string price_key(const std::string& service, const std::string& component,
                      const std::string& option) {
  return service + "." + component + (option.empty() ? "" : ":" + option);
}

// What pricing a usage against a catalogue looks up, indexed once per estimate: the services,
// components and options by id or name; the usage's prices by component and option; each
// choice's options in the order messages list them, and its default; and the components each
// credit pays for. A bill is then a look-up per component, so an estimate, which prices the
// usage again for every realtime model, grows with the models and prices (times a
// logarithm), where each bill scanned every price and option. It points into the catalogue
// and the usage, which outlive it. (The look-ups are sorted lists, one type for all: a few
// allocations per estimate, and one instantiation in the WebAssembly bundle.)
class PriceIndex {
 public:
  PriceIndex(const Catalogue& catalogue, const Usage& usage) : catalogue_(catalogue) {
    for (size_t s = 0; s < catalogue.services.size(); ++s) {
      const Service& service = catalogue.services[s];
      names_.push_back({key(&catalogue, service.id), s});
      for (size_t c = 0; c < service.components.size(); ++c) {
        const Component& component = service.components[c];
        names_.push_back({key(&service, component.id), c});
        for (size_t o = 0; o < component.options.size(); ++o) {
          options_.push_back({key(&component, component.options[o].name), o});
        }
      }
    }
    sort(names_);
    sort(options_);
    // The usage's prices; and per component, those naming an option, in the usage's order.
    Places given;
    for (size_t p = 0; p < usage.prices.size(); ++p) {
      const PriceOverride& override = usage.prices[p];
      const Service* service = this->service(override.service);
      const Component* component =
          service ? this->component(*service, override.component) : nullptr;
      if (!component) continue;  // refused by validate_against_catalogue
      prices_.push_back({key(component, override.option), p});
      // (A key without an option, refused by validate_against_catalogue, names none.)
      if (!override.option.empty()) given.push_back({key(component, {}), p});
    }
    sort(prices_);
    sort(given);
    for (const auto& service : catalogue.services) {
      for (const auto& component : service.components) {
        if (component.choice.empty()) continue;
        Choice* choice = find_choice(component.choice);
        if (!choice) {
          choice = &choices_.emplace_back();
          choice->name = component.choice;
          choice->first = component.options.front().name;
        }
        // Each option once (components sharing a choice name the same options): the
        // catalogue's, then those the usage prices.
        auto add = [&](const std::string& name) {
          if (choice->listed.insert(name).second) choice->options.push_back(name);
        };
        for (const auto& option : component.options) add(option.name);
        const Key owner = key(&component, {});
        for (auto it = first(given, owner); it != given.end() && it->first == owner; ++it) {
          add(usage.prices[it->second].option);
        }
      }
      for (const auto& credit : service.credits) {
        auto& places = covered_.emplace_back();
        for (const auto& id : credit.applies_to) {
          if (const size_t* place = find(names_, key(&service, id))) places.push_back(*place);
        }
        std::sort(places.begin(), places.end());
        places.erase(std::unique(places.begin(), places.end()), places.end());
      }
    }
  }

  const Catalogue& catalogue() const { return catalogue_; }

  const Service* service(std::string_view id) const {
    const size_t* place = find(names_, key(&catalogue_, id));
    return place ? &catalogue_.services[*place] : nullptr;
  }
  const Component* component(const Service& service, std::string_view id) const {
    const size_t* place = find(names_, key(&service, id));
    return place ? &service.components[*place] : nullptr;
  }
  const Option* option(const Component& component, std::string_view name) const {
    const size_t* place = find(options_, key(&component, name));
    return place ? &component.options[*place] : nullptr;
  }
  // The usage's price for a component's option ("" for a component without a choice).
  const PriceOverride* price(const Usage& usage, const Component& component,
                             std::string_view option) const {
    const size_t* place = find(prices_, key(&component, option));
    return place ? &usage.prices[*place] : nullptr;
  }
  // Every option a choice can take: the catalogue's, then new ones the usage prices.
  const std::vector<std::string>& options(std::string_view choice) const {
    static const std::vector<std::string> none;
    const Choice* found = find_choice(choice);
    return found ? found->options : none;
  }
  // The option a usage takes for a choice: its pick, else the catalogue's first option.
  std::string_view chosen(const Usage& usage, std::string_view choice) const {
    if (const ChoicePick* pick = usage.pick(choice)) return pick->option;
    const Choice* found = find_choice(choice);
    return found ? found->first : std::string_view();
  }
  // The places, among its service's components, of those each credit pays for, in order;
  // the credits in the catalogue's order, service after service.
  const std::vector<std::vector<size_t>>& covered() const { return covered_; }

 private:
  // A name under its owner (the catalogue, a service, a component), with its place in the
  // owner's list; sorted by name and then place, so the first of a name comes first, as a
  // scan found it.
  using Key = std::pair<std::uintptr_t, std::string_view>;  // (pointers compare by address)
  static Key key(const void* owner, std::string_view name) {
    return {reinterpret_cast<std::uintptr_t>(owner), name};
  }
  using Places = std::vector<std::pair<Key, size_t>>;
  struct Choice {
    std::string_view name, first;
    std::vector<std::string> options;
    std::unordered_set<std::string_view> listed;
  };

  static void sort(Places& places) { std::sort(places.begin(), places.end()); }
  static Places::const_iterator first(const Places& places, const Key& wanted) {
    return std::lower_bound(places.begin(), places.end(), wanted,
                            [](const auto& entry, const Key& k) { return entry.first < k; });
  }
  static const size_t* find(const Places& places, const Key& wanted) {
    auto it = first(places, wanted);
    return it != places.end() && it->first == wanted ? &it->second : nullptr;
  }
  // (A catalogue names a handful of choices.)
  const Choice* find_choice(std::string_view name) const {
    for (const auto& choice : choices_) {
      if (choice.name == name) return &choice;
    }
    return nullptr;
  }
  Choice* find_choice(std::string_view name) {
    return const_cast<Choice*>(std::as_const(*this).find_choice(name));
  }

  const Catalogue& catalogue_;
  Places names_;    // services under the catalogue, components under their service
  Places options_;  // under their component
  Places prices_;   // the usage's, under their component
  std::vector<Choice> choices_;
  std::vector<std::vector<size_t>> covered_;
};

std::string joined(const std::vector<std::string>& names) {
  std::string text;
  for (const auto& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

Status validate_against_catalogue(const Usage& usage, const PriceIndex& index) {
  const Catalogue& catalogue = index.catalogue();
  // (A price given twice is refused by parse_usage.)
  for (const auto& override : usage.prices) {
    const Service* service = index.service(override.service);
    if (!service) {
      return invalid_input(override.path + ": unknown service '" + override.service +
                           "' (known: " + catalogue.service_ids() + ")");
    }
    const Component* component = index.component(*service, override.component);
    if (!component) {
      std::vector<std::string> ids;
      for (const auto& c : service->components) ids.push_back(c.id);
      return invalid_input(override.path + ": unknown component '" + override.component + "' of " +
                           service->id + " (known: " + joined(ids) + ")");
    }
    if (component->choice.empty() && !override.option.empty()) {
      return invalid_input(override.path + ": " + service->id + "." + component->id +
                           " has one price, no options: write \"" + service->id + "." +
                           component->id + "\"");
    }
    if (!component->choice.empty() && override.option.empty()) {
      return invalid_input(
          override.path + ": " + service->id + "." + component->id + " is priced per " +
          component->choice + ": write \"" + service->id + "." + component->id +
          ":OPTION\" (known options: " + joined(index.options(component->choice)) + ")");
    }
  }
  for (const auto& pick : usage.choices) {
    const auto& options = index.options(pick.choice);
    if (options.empty()) {
      return invalid_input(pick.path + ": the catalogue prices nothing by " + pick.choice);
    }
    if (std::find(options.begin(), options.end(), pick.option) == options.end()) {
      return invalid_input(pick.path + ": unknown option '" + pick.option +
                           "' (known: " + joined(options) + "; price another in prices)");
    }
  }
  return ok_status();
}

std::string units_phrase(const Price& price, const std::string& unit) {
  if (price.per == 1) return unit;
  return plain(price.per) + " " + unit + "s";
}

std::optional<double> ratio(double numerator, std::optional<double> denominator) {
  if (!denominator || !(*denominator > 0)) return std::nullopt;
  return numerator / *denominator;
}

TierFit fit_tier(const Quantities& quantities, const TierCatalogue& tiers,
                 const CatalogueTier* current) {
  TierFit fit;
  fit.evaluated = true;
  fit.current = current;
  fit.peaks[0] = quantities.peak_concurrent_calls;
  fit.peaks[1] = quantities.peak_requests_per_second;
  fit.peaks[2] = quantities.active_users;
  if (!fit.peaks[0] && !fit.peaks[1] && !fit.peaks[2]) {
    fit.detail =
        "no peak given (calls.peakConcurrent, api.peakRequestsPerSecond or api.requestsPerMonth, "
        "users.active): the tier cannot be chosen";
    return fit;
  }
  // A peak fits up to 100% of a limit: the question is which tier's price covers the usage,
  // not when to move up, for which tiers.evaluate keeps head-room (its scaleUpThreshold).
  for (const auto& tier : tiers.tiers) {
    bool fits = true;
    for (int m = 0; m < 3; ++m) {
      if (fit.peaks[m] && tier.limits[m] && *fit.peaks[m] > *tier.limits[m]) fits = false;
    }
    if (fits) {
      fit.tier = &tier;
      break;
    }
  }
  const CatalogueTier& measured = fit.tier ? *fit.tier : tiers.tiers.back();
  std::string figures;
  for (int m = 0; m < 3; ++m) {
    if (!fit.peaks[m]) continue;
    if (measured.limits[m]) fit.utilization[m] = *fit.peaks[m] / *measured.limits[m];
    if (!fit.tier && !(measured.limits[m] && *fit.peaks[m] > *measured.limits[m])) continue;
    figures += (figures.empty() ? "" : ", ") + std::string(kTierMetricNames[m]) + " " +
               plain(*fit.peaks[m]);
    if (measured.limits[m]) {
      figures += (fit.tier ? " of " : " > ") + plain(*measured.limits[m]);
      if (fit.tier) figures += " (" + percent(*fit.utilization[m]) + ")";
    }
  }
  fit.detail = fit.tier ? "fits " + fit.tier->name + ": " + figures
                        : "above the top tier " + measured.name + ": " + figures;
  return fit;
}

// Prices a usage validate_against_catalogue found good, by its index. A `choice` given takes
// `option` in place of the usage's pick: the estimate prices each realtime model so, on the
// one index, without a copy of the usage (and its prices) per model.
Result<Bill> price_bill(const Usage& usage, const PriceIndex& index, std::string_view choice = {},
                        std::string_view option = {}) {
  const Catalogue& catalogue = index.catalogue();
  Bill bill;
  bill.quantities = derive_quantities(usage);
  // Figures each within range can still multiply past what a double holds; an infinite
  // quantity would price as "missing" (JSON has no infinity), so it is refused, named.
  for (int q = 0; q < kQuantityCount; ++q) {
    const auto& value = bill.quantities.values[q];
    if (value && !(*value <= 1e18)) {  // NaN and infinity too
      return invalid_input(std::string("usage: ") + quantity_name(static_cast<Quantity>(q)) +
                           " comes to more than 1e18: a figure of the usage is too large");
    }
  }
  bill.services.reserve(catalogue.services.size());
  int64_t total_cents = 0;
  auto covered = index.covered().begin();  // each credit's components, credit after credit
  for (const auto& service : catalogue.services) {
    ServiceCost service_cost;
    service_cost.service = &service;
    int64_t service_cents = 0;
    for (const auto& component : service.components) {
      ComponentCost line;
      line.service = &service;
      line.component = &component;
      if (!component.choice.empty()) {
        line.option = !choice.empty() && component.choice == choice
                          ? option
                          : index.chosen(usage, component.choice);
      }
      if (const Option* listed = index.option(component, line.option)) {
        line.price = listed->price;
      } else if (!component.options.empty()) {
        // An option the usage adds is counted in the same units as the catalogue's options
        // (tokens per 1M): a price given as a number alone means what it means for them.
        line.price.per = component.options.front().price.per;
      }
      if (const PriceOverride* given = index.price(usage, component, line.option)) {
        line.price.published = true;
        line.price.price = given->price.price;
        line.price.steps = given->price.steps;
        if (given->sets_per) line.price.per = given->price.per;
        if (given->sets_included) line.price.included = given->price.included;
        line.price.source = given->price.source;
        line.price.seen = given->price.seen;
        line.price_from_usage = true;
      }
      line.quantity = bill.quantities[component.meter];
      if (line.price.published && line.quantity) {
        const double exact = line.price.cost(*line.quantity);
        // A price within range can still cost past what a double holds (1e308 a minute, or a
        // per of 1e-320); an infinite cost would print as "missing". Refused, named.
        if (!(exact <= 1e15)) {  // NaN and infinity too
          const std::string where = line.price_from_usage
                                        ? key_path(usage.root + ".prices",
                                                   price_key(service.id, component.id, line.option))
                                        : "catalogue: " + service.id + "." + component.id;
          return invalid_input(where + ": the price makes " + service.name + " " + component.name +
                               " cost more than 1e15 for this usage (a price too large, a per too "
                               "small, or a usage figure too large)");
        }
        service_cents += whole_cents(exact);
        line.cost = in_dollars(whole_cents(exact));
      } else {
        service_cost.complete = false;
      }
      service_cost.components.push_back(std::move(line));
    }
    // A credit takes from what the credits before it left of its components, so credits
    // that cover one component together never take it, or the bill, below nothing.
    std::vector<int64_t> uncredited;
    for (const auto& line : service_cost.components) {
      uncredited.push_back(line.cost ? whole_cents(*line.cost) : 0);
    }
    for (const auto& credit : service.credits) {
      const int64_t amount = whole_cents(credit.amount);
      int64_t applied = 0;
      for (size_t i : *covered++) {
        const int64_t take = std::min(amount - applied, uncredited[i]);
        uncredited[i] -= take;
        applied += take;
      }
      service_cents -= applied;
      service_cost.credits.push_back({&credit, in_dollars(applied)});
    }
    service_cost.cost = in_dollars(service_cents);
    total_cents += service_cents;
    bill.complete = bill.complete && service_cost.complete;
    bill.services.push_back(std::move(service_cost));
  }
  bill.total = in_dollars(total_cents);
  return bill;
}

// The cost of the components that meter a quantity, and the service they belong to.
struct MeterCost {
  double cost = 0;
  std::string service;
  std::optional<double> quantity;
};
MeterCost cost_of_meter(const Bill& bill, Quantity meter) {
  MeterCost result;
  result.quantity = bill.quantities[meter];
  int64_t cents = 0;
  for (const auto& service : bill.services) {
    for (const auto& component : service.components) {
      if (component.component->meter == meter && component.cost) {
        cents += whole_cents(*component.cost);
        if (result.service.empty()) result.service = service.service->id;
      }
    }
  }
  result.cost = in_dollars(cents);
  return result;
}

void add_opportunities(Estimate& estimate, const Usage& usage, const PriceIndex& index) {
  const Bill& bill = estimate.bill;
  auto& list = estimate.opportunities;

  // The spec's "Optimize Edge Function Usage": above 1M invocations, what the edge
  // requests cost is what fewer of them can save (the spec priced them at $2 per
  // million; the catalogue's price and allowance are used here).
  const MeterCost edge = cost_of_meter(bill, Quantity::kEdgeRequests);
  if (edge.quantity && *edge.quantity > kSpecEdgeInvocationsThreshold && edge.cost > 0) {
    list.push_back({"edge_function_invocations", "Optimise edge function usage", edge.service,
                    edge.cost, false, true, "medium", "performance",
                    plain(*edge.quantity) + " edge requests a month cost " + money(edge.cost) +
                        " above the allowance; fewer requests per page (batching, static "
                        "responses, longer client caching) save up to that (spec rule: over "
                        "1,000,000 invocations)"});
  }
  // The spec's "Implement Bandwidth Optimization": the transfer above 1 TB.
  const MeterCost transfer = cost_of_meter(bill, Quantity::kEdgeTransferGB);
  if (transfer.quantity && *transfer.quantity > kSpecBandwidthThresholdGB && transfer.cost > 0) {
    list.push_back({"bandwidth", "Optimise bandwidth", transfer.service, transfer.cost, false, true,
                    "high", "performance",
                    plain(*transfer.quantity) + " GB of edge transfer cost " +
                        money(transfer.cost) +
                        " above the 1 TB allowance; compression, smaller payloads and edge "
                        "caching save up to that (spec rule: over 1,000 GB)"});
  }
  // The edge cache: a higher hit ratio sends fewer requests to the origin functions.
  if (auto api = usage[Figure::kApiRequests]) {
    const double current = usage[Figure::kEdgeCacheHitRatio].value_or(0);
    const double target =
        usage[Figure::kTargetEdgeCacheHitRatio].value_or(kDefaultTargetEdgeCacheHitRatio);
    if (current < target) {
      Usage better = usage;
      better[Figure::kEdgeCacheHitRatio] = target;
      auto improved = price_bill(better, index);
      if (improved.ok() && difference(bill.total, improved.value().total) > 0) {
        const double savings = difference(bill.total, improved.value().total);
        list.push_back({"edge_cache_hit_ratio", "Raise the edge cache hit ratio", "vercel", savings,
                        false, true, "medium", "cost",
                        "from " + percent(current) + " to " + percent(target) +
                            ": origin invocations fall from " + plain(*api * (1 - current)) +
                            " to " + plain(*api * (1 - target)) +
                            " a month (the cache module's hit ratio; "
                            "optimisation.targetEdgeCacheHitRatio sets the aim)"});
      }
    }
  }
  // Tier right-sizing: the usage fits a lower tier than the one it is on.
  const TierFit& fit = estimate.tier;
  // (Both point into the same lowest-first list, so `<` compares their places.)
  if (fit.tier && fit.current && fit.tier < fit.current &&
      fit.tier->cost_estimate < fit.current->cost_estimate) {
    list.push_back({"tier_right_sizing", "Move to the " + fit.tier->name + " tier", "",
                    difference(fit.current->cost_estimate, fit.tier->cost_estimate), false, false,
                    "low", "cost",
                    "the peaks fit " + fit.tier->name + " (" + money(fit.tier->cost_estimate) +
                        "/month) but the organisation is on " + fit.current->name + " (" +
                        money(fit.current->cost_estimate) +
                        "/month): the tiers' cost estimates, not lines of this bill"});
  }
  // Realtime model choice: every other model whose prices are all known.
  const std::string model_choice = "realtimeModel";
  const std::string current_model(index.chosen(usage, model_choice));
  std::optional<Opportunity> best;
  for (const auto& model : index.options(model_choice)) {
    if (model == current_model) continue;
    auto priced = price_bill(usage, index, model_choice, model);
    if (!priced.ok()) continue;
    bool all_priced = true;
    for (const auto& service : priced.value().services) {
      for (const auto& component : service.components) {
        if (component.component->choice == model_choice && !component.cost) all_priced = false;
      }
    }
    const double savings = difference(bill.total, priced.value().total);
    if (!all_priced || savings <= 0 || (best && best->savings >= savings)) continue;
    best = Opportunity{"realtime_model",
                       "Use the " + model + " realtime model",
                       "openai",
                       savings,
                       false,
                       true,
                       "low",
                       "quality",
                       "audio priced for " + model + " instead of " + current_model +
                           "; check call quality before switching"};
  }
  if (best) list.push_back(*best);

  for (auto& opportunity : list)
    opportunity.worth_applying = opportunity.savings > kWorthApplyingUsd;
  // Largest savings first; equal savings keep the order above.
  const auto order = ordered_indices(
      list.size(),
      [](const void* context, size_t a, size_t b) {
        const auto& all = *static_cast<const std::vector<Opportunity>*>(context);
        return all[a].savings > all[b].savings;
      },
      &list);
  std::vector<Opportunity> sorted;
  sorted.reserve(list.size());
  for (size_t index : order) sorted.push_back(std::move(list[index]));
  list = std::move(sorted);
  // Summed in cents, as every other amount of the bill: in dollars $150.45 + $100.10 would
  // be 250.54999999999998.
  int64_t worth_applying = 0;
  for (const auto& opportunity : list) {
    if (opportunity.worth_applying && opportunity.reduces_bill) {
      worth_applying += whole_cents(opportunity.savings);
    }
  }
  estimate.savings_worth_applying = in_dollars(worth_applying);
}

void write_optional(JsonWriter& out, const std::optional<double>& value) {
  if (value) {
    out.value(*value);
  } else {
    out.null();
  }
}

void write_unit_costs(JsonWriter& out, const UnitCosts& costs) {
  out.begin_object().key("perCall");
  write_optional(out, costs.per_call.value);
  out.key("infrastructurePerCall");
  write_optional(out, costs.infrastructure_per_call.value);
  out.key("perTranscript");
  write_optional(out, costs.per_transcript.value);
  out.key("storagePerTranscript");
  write_optional(out, costs.storage_per_transcript.value);
  out.key("bandwidthPerGB");
  write_optional(out, costs.bandwidth_per_gb.value);
  out.end_object();
}

void write_tier(JsonWriter& out, const TierFit& fit, double total) {
  if (!fit.evaluated) {
    out.null();
    return;
  }
  out.begin_object().key("fits");
  if (fit.tier) {
    out.value(fit.tier->name).key("tierCostEstimate").value(fit.tier->cost_estimate);
    out.key("billMinusTierEstimate").value(difference(total, fit.tier->cost_estimate));
  } else {
    out.null();
  }
  out.key("peaks").begin_object();
  for (int m = 0; m < 3; ++m) {
    out.key(kTierMetricNames[m]);
    write_optional(out, fit.peaks[m]);
  }
  out.end_object().key("utilization").begin_object();
  for (int m = 0; m < 3; ++m) {
    out.key(kTierMetricNames[m]);
    write_optional(out, fit.utilization[m]);
  }
  out.end_object().key("currentTier");
  if (fit.current) {
    out.value(fit.current->name).key("fitsCurrentTier");
    bool fits_current = true;
    for (int m = 0; m < 3; ++m) {
      if (fit.peaks[m] && fit.current->limits[m] && *fit.peaks[m] > *fit.current->limits[m]) {
        fits_current = false;
      }
    }
    out.value(fits_current);
  } else {
    out.null();
  }
  out.key("detail").value(fit.detail).end_object();
}

void write_targets(JsonWriter& out, const std::vector<Target>& targets) {
  out.begin_array();
  for (const auto& target : targets) {
    out.begin_object().key("id").value(target.id).key("name").value(target.name).key("value");
    write_optional(out, target.actual.value);
    out.key("limit")
        .value(target.limit)
        .key("status")
        .value(target.status)
        .key("complete")
        .value(target.actual.complete)
        .key("detail")
        .value(target.detail)
        .end_object();
  }
  out.end_array();
}

void write_opportunity_list(JsonWriter& out, const std::vector<Opportunity>& list) {
  out.begin_array();
  for (const auto& o : list) {
    out.begin_object()
        .key("id")
        .value(o.id)
        .key("title")
        .value(o.title)
        .key("service")
        .value(o.service)
        .key("savings")
        .value(o.savings)
        .key("worthApplying")
        .value(o.worth_applying)
        .key("reducesBill")
        .value(o.reduces_bill)
        .key("effort")
        .value(o.effort)
        .key("impact")
        .value(o.impact)
        .key("detail")
        .value(o.detail)
        .end_object();
  }
  out.end_array();
}

void write_quantities(JsonWriter& out, const Quantities& quantities) {
  out.begin_object();
  for (int q = 0; q < kQuantityCount; ++q) {
    out.key(quantity_name(static_cast<Quantity>(q)));
    write_optional(out, quantities.values[q]);
  }
  out.end_object();
}

// A short summary of an estimate, for the two sides of a diff.
void write_summary(JsonWriter& out, const Estimate& e) {
  out.begin_object()
      .key("name")
      .value(e.name)
      .key("scale")
      .value(e.scale)
      .key("total")
      .value(e.bill.total)
      .key("complete")
      .value(e.bill.complete)
      .key("unitCosts");
  write_unit_costs(out, e.unit_costs);
  out.key("tier");
  if (e.tier.tier) {
    out.value(e.tier.tier->name);
  } else {
    out.null();
  }
  out.key("missing").value(static_cast<int64_t>(missing_count(e.bill))).end_object();
}

bool differs(const std::optional<double>& a, const std::optional<double>& b) {
  if (a.has_value() != b.has_value()) return true;
  if (!a) return false;
  return std::fabs(*a - *b) > 1e-9 * std::max({1.0, std::fabs(*a), std::fabs(*b)});
}

}  // namespace

// The bill's difference from a tier's costEstimate is taken in whole cents (an int64_t).
static_assert(kMaxTierCostEstimate <= kMaxDollars, "a tier's costEstimate is a cost in range");

Result<TierCatalogue> parse_tier_catalogue(const JsonValue& json) {
  auto tiers = read_catalogue_tiers(json);
  if (!tiers.ok()) return tiers.take_error();
  return TierCatalogue{std::move(tiers.value())};
}

Result<Bill> compute_bill(const Usage& usage, const Catalogue& catalogue) {
  const PriceIndex index(catalogue, usage);
  if (auto s = validate_against_catalogue(usage, index); !s.ok()) return s.take_error();
  return price_bill(usage, index);
}

std::vector<Missing> missing_inputs(const Bill& bill, const std::string& root,
                                    const std::string& currency) {
  std::vector<Missing> list;
  for (const auto& service : bill.services) {
    for (const auto& line : service.components) {
      if (line.price.published && line.quantity) continue;
      const Service& s = *line.service;
      const Component& c = *line.component;
      const std::string what =
          s.name + " " + c.name + (line.option.empty() ? "" : " (" + line.option + ")");
      if (!line.price.published) {
        const bool listed = c.find_option(line.option) != nullptr;
        list.push_back({"price", s.id, c.id,
                        key_path(root + ".prices", price_key(s.id, c.id, line.option)),
                        what + ": give the price in " + currency + " per " +
                            units_phrase(line.price, c.unit) + " (" +
                            (listed ? line.price.source
                                    : std::string("the catalogue has no price for this option")) +
                            ")"});
      }
      if (!line.quantity) {
        const std::string needs =
            describe_needs(bill.quantities.needs[static_cast<int>(c.meter)], root);
        list.push_back({"usage", s.id, c.id, needs,
                        what + " meters " + quantity_name(c.meter) + ": give " + needs});
      }
    }
  }
  return list;
}

size_t missing_count(const Bill& bill) {
  size_t count = 0;
  for (const auto& service : bill.services) {
    for (const auto& line : service.components) {
      count += !line.price.published;
      count += !line.quantity;
    }
  }
  return count;
}

UnitCosts unit_costs(const Bill& bill) {
  UnitCosts costs;
  const auto& q = bill.quantities;
  costs.per_call = {ratio(bill.total, q[Quantity::kCalls]), bill.complete, true};
  costs.per_transcript = {ratio(bill.total, q[Quantity::kTranscripts]), bill.complete, true};

  double infrastructure = 0, storage = 0, bandwidth = 0, bandwidth_gb = 0;
  bool infrastructure_complete = true, storage_complete = true, bandwidth_complete = true;
  bool bandwidth_quantities_known = true;
  for (const auto& service : bill.services) {
    if (service.service->kind == "infrastructure") {
      infrastructure += service.cost;
      infrastructure_complete = infrastructure_complete && service.complete;
    }
    for (const auto& line : service.components) {
      // Category sums are before credits (the catalogue's credits pay for compute).
      if (line.component->category == "storage") {
        storage += line.cost.value_or(0);
        storage_complete = storage_complete && line.cost.has_value();
      } else if (line.component->category == "bandwidth") {
        bandwidth += line.cost.value_or(0);
        bandwidth_gb += line.quantity.value_or(0);
        bandwidth_complete = bandwidth_complete && line.cost.has_value();
        bandwidth_quantities_known = bandwidth_quantities_known && line.quantity.has_value();
      }
    }
  }
  costs.infrastructure_per_call = {ratio(infrastructure, q[Quantity::kCalls]),
                                   infrastructure_complete, true};
  costs.storage_per_transcript = {ratio(storage, q[Quantity::kTranscripts]), storage_complete,
                                  true};
  // A bandwidth component of unknown quantity would add GB as well as cost: then the
  // known ratio bounds nothing.
  costs.bandwidth_per_gb = {ratio(bandwidth, bandwidth_gb), bandwidth_complete,
                            bandwidth_quantities_known};
  return costs;
}

std::vector<Target> check_targets(const UnitCosts& costs) {
  struct Spec {
    const char* id;
    const char* name;
    const UnitCost* actual;
    double limit;
    const char* without;  // why there is no value
  };
  const Spec specs[] = {
      {"infrastructureCostPerCall", "infrastructure cost per call", &costs.infrastructure_per_call,
       kTargetInfrastructurePerCall, "no calls"},
      {"storageCostPerTranscript", "storage cost per transcript", &costs.storage_per_transcript,
       kTargetStoragePerTranscript, "no transcripts"},
      {"bandwidthCostPerGB", "bandwidth cost per GB", &costs.bandwidth_per_gb,
       kTargetBandwidthPerGB, "no bandwidth"},
  };
  std::vector<Target> targets;
  for (const auto& spec : specs) {
    Target target{spec.id, spec.name, *spec.actual, spec.limit, "", ""};
    const auto& value = spec.actual->value;
    const std::string goal = "target < " + money(spec.limit);
    if (!value) {
      target.status = "unknown";
      target.detail = std::string(spec.without) + ": nothing to divide by (" + goal + ")";
    } else if (spec.actual->complete) {
      target.status = *value < spec.limit ? "pass" : "fail";
      target.detail = money(*value) + (*value < spec.limit ? " < " : " >= ") + money(spec.limit);
    } else if (spec.actual->lower_bound && *value >= spec.limit) {
      target.status = "fail";
      target.detail = money(*value) + " on the known prices alone, already >= " + money(spec.limit);
    } else {
      target.status = "unknown";
      target.detail =
          money(*value) + " on the known prices; the missing inputs decide (" + goal + ")";
    }
    targets.push_back(std::move(target));
  }
  return targets;
}

Result<Estimate> estimate(const Usage& usage, const Catalogue& catalogue,
                          const TierCatalogue* tiers) {
  const PriceIndex index(catalogue, usage);
  if (auto s = validate_against_catalogue(usage, index); !s.ok()) return s.take_error();
  auto bill = price_bill(usage, index);
  if (!bill.ok()) return bill.take_error();
  Estimate result;
  result.name = usage.name;
  result.usage_root = usage.root;
  result.bill = std::move(bill.value());
  result.unit_costs = unit_costs(result.bill);
  result.targets = check_targets(result.unit_costs);
  if (tiers) {
    const CatalogueTier* current = nullptr;
    if (!usage.current_tier.empty()) {
      auto found = find_tier(tiers->tiers, usage.current_tier, usage.root + ".currentTier");
      if (!found.ok()) return found.take_error();
      current = found.value();
    }
    result.tier = fit_tier(result.bill.quantities, *tiers, current);
  }
  add_opportunities(result, usage, index);
  return result;
}

void write_estimate(JsonWriter& out, const Estimate& e, const Catalogue& catalogue) {
  const Bill& bill = e.bill;
  out.begin_object()
      .key("name")
      .value(e.name)
      .key("catalogueVersion")
      .value(catalogue.version)
      .key("currency")
      .value(catalogue.currency)
      .key("scale")
      .value(e.scale)
      .key("total")
      .value(bill.total)
      .key("complete")
      .value(bill.complete)
      .key("services")
      .begin_array();
  for (const auto& service : bill.services) {
    out.begin_object()
        .key("id")
        .value(service.service->id)
        .key("name")
        .value(service.service->name)
        .key("plan")
        .value(service.service->plan)
        .key("kind")
        .value(service.service->kind)
        .key("cost")
        .value(service.cost)
        .key("complete")
        .value(service.complete)
        .key("components")
        .begin_array();
    for (const auto& line : service.components) {
      out.begin_object()
          .key("id")
          .value(line.component->id)
          .key("name")
          .value(line.component->name)
          .key("category")
          .value(line.component->category)
          .key("meter")
          .value(quantity_name(line.component->meter))
          .key("unit")
          .value(line.component->unit)
          .key("quantity");
      write_optional(out, line.quantity);
      if (!line.component->choice.empty()) {
        out.key("choice").value(line.component->choice).key("option").value(line.option);
      }
      out.key("price").begin_object();
      write_price_fields(out, line.price);
      out.end_object()
          .key("priceFrom")
          .value(line.price_from_usage ? "usage" : "catalogue")
          .key("billable");
      write_optional(out, line.quantity ? std::optional<double>(line.price.billable(*line.quantity))
                                        : std::nullopt);
      out.key("cost");
      write_optional(out, line.cost);
      out.end_object();
    }
    out.end_array().key("credits").begin_array();
    for (const auto& credit : service.credits) {
      out.begin_object()
          .key("id")
          .value(credit.credit->id)
          .key("name")
          .value(credit.credit->name)
          .key("amount")
          .value(credit.credit->amount)
          .key("applied")
          .value(credit.applied)
          .end_object();
    }
    out.end_array().end_object();
  }
  out.end_array().key("unitCosts");
  write_unit_costs(out, e.unit_costs);
  out.key("targets");
  write_targets(out, e.targets);
  out.key("tier");
  write_tier(out, e.tier, bill.total);
  out.key("opportunities");
  write_opportunity_list(out, e.opportunities);
  out.key("savingsWorthApplying").value(e.savings_worth_applying);
  out.key("missing").begin_array();
  for (const auto& missing : missing_inputs(bill, e.usage_root, catalogue.currency)) {
    out.begin_object()
        .key("kind")
        .value(missing.kind)
        .key("service")
        .value(missing.service)
        .key("component")
        .value(missing.component)
        .key("input")
        .value(missing.input)
        .key("detail")
        .value(missing.detail)
        .end_object();
  }
  out.end_array().key("quantities");
  write_quantities(out, bill.quantities);
  out.key("assumptions").begin_array();
  for (const auto& assumption : describe_assumptions(bill.quantities, e.usage_root)) {
    out.value(assumption);
  }
  out.end_array().end_object();
}

void write_opportunities(JsonWriter& out, const Estimate& e) {
  out.begin_object()
      .key("name")
      .value(e.name)
      .key("total")
      .value(e.bill.total)
      .key("complete")
      .value(e.bill.complete)
      .key("opportunities");
  write_opportunity_list(out, e.opportunities);
  out.key("savingsWorthApplying").value(e.savings_worth_applying).key("savingsShare");
  write_optional(out, ratio(e.savings_worth_applying, e.bill.total));
  out.end_object();
}

void write_diff(JsonWriter& out, const Estimate& base, const Estimate& proposed,
                const Catalogue& catalogue) {
  out.begin_object()
      .key("catalogueVersion")
      .value(catalogue.version)
      .key("currency")
      .value(catalogue.currency)
      .key("base");
  write_summary(out, base);
  out.key("proposed");
  write_summary(out, proposed);
  out.key("totalDelta")
      .value(difference(proposed.bill.total, base.bill.total))
      .key("totalDeltaPercent");
  write_optional(out, base.bill.total > 0
                          ? std::optional<double>((proposed.bill.total - base.bill.total) /
                                                  base.bill.total * 100)
                          : std::nullopt);
  out.key("services").begin_array();
  for (size_t s = 0; s < base.bill.services.size(); ++s) {
    const auto& before = base.bill.services[s];
    const auto& after = proposed.bill.services[s];
    out.begin_object()
        .key("id")
        .value(before.service->id)
        .key("base")
        .value(before.cost)
        .key("proposed")
        .value(after.cost)
        .key("delta")
        .value(difference(after.cost, before.cost))
        .key("baseComplete")  // false: the cost is of the known prices only
        .value(before.complete)
        .key("proposedComplete")
        .value(after.complete)
        .end_object();
  }
  out.end_array().key("components").begin_array();
  for (size_t s = 0; s < base.bill.services.size(); ++s) {
    const auto& before = base.bill.services[s];
    const auto& after = proposed.bill.services[s];
    for (size_t c = 0; c < before.components.size(); ++c) {
      const auto& a = before.components[c];
      const auto& b = after.components[c];
      if (!differs(a.cost, b.cost) && !differs(a.quantity, b.quantity) && a.option == b.option) {
        continue;
      }
      out.begin_object()
          .key("service")
          .value(before.service->id)
          .key("component")
          .value(a.component->id)
          .key("name")
          .value(a.component->name)
          .key("unit")
          .value(a.component->unit)
          .key("baseQuantity");
      write_optional(out, a.quantity);
      out.key("proposedQuantity");
      write_optional(out, b.quantity);
      if (!a.component->choice.empty()) {
        out.key("baseOption").value(a.option).key("proposedOption").value(b.option);
      }
      out.key("baseCost");
      write_optional(out, a.cost);
      out.key("proposedCost");
      write_optional(out, b.cost);
      out.key("delta");
      write_optional(out, a.cost && b.cost ? std::optional<double>(difference(*b.cost, *a.cost))
                                           : std::nullopt);
      out.end_object();
    }
  }
  out.end_array().key("quantities").begin_array();
  for (int q = 0; q < kQuantityCount; ++q) {
    const auto& a = base.bill.quantities.values[q];
    const auto& b = proposed.bill.quantities.values[q];
    if (!differs(a, b)) continue;
    out.begin_object().key("name").value(quantity_name(static_cast<Quantity>(q))).key("base");
    write_optional(out, a);
    out.key("proposed");
    write_optional(out, b);
    out.end_object();
  }
  out.end_array().key("targets").begin_array();
  for (size_t t = 0; t < base.targets.size(); ++t) {
    out.begin_object()
        .key("id")
        .value(base.targets[t].id)
        .key("base")
        .value(base.targets[t].status)
        .key("proposed")
        .value(proposed.targets[t].status)
        .key("baseValue");
    write_optional(out, base.targets[t].actual.value);
    out.key("proposedValue");
    write_optional(out, proposed.targets[t].actual.value);
    out.end_object();
  }
  out.end_array().end_object();
}

}  // namespace qv::cost
