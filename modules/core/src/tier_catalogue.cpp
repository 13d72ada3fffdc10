#include "qv/tier_catalogue.h"

#include <cmath>
#include <string>
#include <unordered_map>

namespace qv {

namespace {

Result<CatalogueTier> read_tier(const JsonValue& json) {
  auto object = json.object();
  if (!object.ok()) return object.take_error();
  auto& fields = object.value();
  if (auto s = fields.only_fields({"id", "name", "maxConcurrentCalls", "maxAPIRPS", "maxUsers",
                                   "apiBurst", "costEstimate", "features", "sla"});
      !s.ok()) {
    return s.take_error();
  }
  CatalogueTier tier;
  for (auto [name, out] : {std::pair{"id", &tier.id}, std::pair{"name", &tier.name}}) {
    auto value = fields.required(name);
    if (!value.ok()) return value.take_error();
    auto text = value.value().string();
    if (!text.ok()) return text.take_error();
    if (text.value().empty()) return invalid_input(value.value().where() + ": must not be empty");
    out->assign(text.value());
  }
  for (int m = 0; m < kTierLimitCount; ++m) {
    auto value = fields.find(kTierLimitFields[m]);
    if (!value || value->is_null()) continue;  // no limit on this metric
    auto number = value->number();
    if (!number.ok()) return number.take_error();
    if (!(number.value() > 0)) {
      return invalid_input(value->where() + ": must be greater than 0 (omit it for no limit)");
    }
    if (!(number.value() <= kMaxTierLimit)) {
      return invalid_input(value->where() + ": must be at most 1000000000 (omit it for no limit)");
    }
    if (m != kTierRateLimit && number.value() != std::floor(number.value())) {
      return invalid_input(value->where() + ": must be a whole number");
    }
    tier.limits[m] = number.value();
  }
  if (auto burst = fields.find("apiBurst"); burst && !burst->is_null()) {
    auto number = burst->number();
    if (!number.ok()) return number.take_error();
    if (!(number.value() >= 1 && number.value() <= kMaxTierLimit))
      return invalid_input(burst->where() + ": must be between 1 and 1000000000");
    tier.api_burst = number.value();
  }
  // The bucket holds the burst, or a second's worth of requests: at least one request.
  if (const auto& rate = tier.limits[kTierRateLimit]; rate && *rate < 1 && !tier.api_burst) {
    return invalid_input(fields.child_path(kTierLimitFields[kTierRateLimit]) +
                         ": below 1 request per second needs an apiBurst of at least 1");
  }
  if (auto cost = fields.find("costEstimate")) {
    auto number = cost->number();
    if (!number.ok()) return number.take_error();
    if (number.value() < 0) return invalid_input(cost->where() + ": must not be negative");
    if (!(number.value() <= kMaxTierCostEstimate))
      return invalid_input(cost->where() + ": must be at most 10000000000000");
    tier.cost_estimate = number.value();
  }
  if (auto features = fields.find("features")) {
    auto map = features->object();
    if (!map.ok()) return map.take_error();
    // A feature given twice: JSON.parse keeps the last flag, this reader took each (one
    // enabled, one not, disagreed). Refused, in one pass over the names.
    if (auto s = map.value().unique_fields(); !s.ok()) return s.take_error();
    for (auto field : map.value().raw()) {
      JsonValue flag = map.value().member(field.key, field.value);
      auto enabled = flag.boolean();
      if (!enabled.ok()) return enabled.take_error();
      if (enabled.value()) tier.features.emplace_back(field.key);
    }
  }
  if (auto sla = fields.find("sla"); sla && !sla->is_null()) {
    auto text = sla->string();
    if (!text.ok()) return text.take_error();
    tier.sla.assign(text.value());
  }
  return tier;
}

std::string limit_text(double limit) {
  char buffer[32];
  format_double(buffer, sizeof buffer, "%.15g", limit);
  return buffer;
}

// Tiers are ordered lowest first: scaling up moves to a later tier, scaling down to the one
// before, and the lowest tier that holds a peak is the first that does. So on every metric
// a tier's limit is at least the one of the tier before it, and a metric that tier leaves
// unlimited stays unlimited. costEstimate is not ordered: nothing decides by the order of
// prices (the cost engine compares two tiers' estimates itself). `json` is the tier's
// object, `previous_json` the one before it; the error names the field and the tier before
// by their paths.
Status check_order(const JsonValue& previous_json, const CatalogueTier& previous,
                   const JsonValue& json, const CatalogueTier& tier) {
  const std::string at = " (" + previous_json.where() + ")";
  const char* why =
      "; tiers are ordered lowest first, each with limits at least those of the tier before it";
  for (int m = 0; m < kTierLimitCount; ++m) {
    const auto& lower = previous.limits[m];
    const auto& limit = tier.limits[m];
    if (!limit || (lower && *limit >= *lower)) continue;
    const std::string field = json.object().value().find(kTierLimitFields[m])->where();
    if (!lower) {
      return invalid_input(field + ": a limit of " + limit_text(*limit) + ", where " +
                           previous.name + at + " has none (omit it for no limit)" + why);
    }
    return invalid_input(field + ": " + limit_text(*limit) + " is below " + previous.name + "'s " +
                         limit_text(*lower) + at + why);
  }
  return ok_status();
}

}  // namespace

Result<std::vector<CatalogueTier>> read_catalogue_tiers(const JsonValue& catalogue) {
  auto object = catalogue.object();
  if (!object.ok()) return object.take_error();
  auto& fields = object.value();
  if (auto s = fields.only_fields({"tiers", "policy", "admission"}); !s.ok()) {
    return s.take_error();
  }
  auto tiers_json = fields.required("tiers");
  if (!tiers_json.ok()) return tiers_json.take_error();
  auto array = tiers_json.value().array();
  if (!array.ok()) return array.take_error();
  if (array.value().size() == 0) {
    return invalid_input(tiers_json.value().where() + ": needs at least one tier");
  }
  std::vector<CatalogueTier> tiers;
  // Each id and name with the first tier that has it as either: a label used again is found
  // in one pass, where each tier was compared with every earlier one.
  std::unordered_map<std::string, size_t> labelled;
  const auto items = array.value().items();
  for (size_t i = 0; i < items.size(); ++i) {
    auto tier = read_tier(items[i]);
    if (!tier.ok()) return tier.take_error();
    const std::string* used = nullptr;  // the label of the earliest tier that has one
    size_t earliest = i;
    for (const std::string* label : {&tier.value().id, &tier.value().name}) {
      auto earlier = labelled.find(*label);
      if (earlier != labelled.end() && earlier->second < earliest) {
        used = label;
        earliest = earlier->second;
      }
    }
    if (used) {
      return invalid_input(items[i].where() + ": '" + *used +
                           "' is already used by an earlier tier");
    }
    labelled.emplace(tier.value().id, i);
    labelled.emplace(tier.value().name, i);
    if (i > 0) {
      if (auto s = check_order(items[i - 1], tiers.back(), items[i], tier.value()); !s.ok()) {
        return s.take_error();
      }
    }
    tiers.push_back(std::move(tier.value()));
  }
  return tiers;
}

Result<const CatalogueTier*> find_tier(const std::vector<CatalogueTier>& tiers,
                                       std::string_view id_or_name, std::string_view path) {
  for (const auto& tier : tiers) {
    if (tier.id == id_or_name || tier.name == id_or_name) return &tier;
  }
  std::string known;
  for (const auto& tier : tiers) {
    known += (known.empty() ? "" : ", ") + tier.name + " (" + tier.id + ")";
  }
  return not_found(std::string(path) + ": unknown tier '" + std::string(id_or_name) +
                   "' (known: " + known + ")");
}

}  // namespace qv
