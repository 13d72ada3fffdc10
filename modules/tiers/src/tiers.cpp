#include "qv/tiers/tiers.h"

#include "qv/tiers/admission.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace qv::tiers {

static_assert(kMetricCount == kTierLimitCount && kApiRequestsPerSecond == kTierRateLimit,
              "a tier's limits are core's tier limits");

namespace {

Catalogue make_default_catalogue() {
  Catalogue catalogue;
  Tier startup{
      "tier-1",
      "Startup",
      {50, 100, 100},
      std::nullopt,  // burst: one second of maxAPIRPS
      500,
      {"voiceAI", "basicAnalytics", "knowledgeBase", "asanaIntegration", "realTimeDashboard"},
      ""};
  Tier growth{"tier-2",
              "Growth",
              {500, 1000, 1000},
              std::nullopt,
              2000,
              {"voiceAI", "advancedAnalytics", "knowledgeBase", "allIntegrations",
               "realTimeDashboard", "A_BTesting", "bulkOperations"},
              ""};
  Tier enterprise{
      "tier-3",
      "Enterprise",
      {5000, 10000, 10000},
      std::nullopt,
      10000,
      {"voiceAI", "enterpriseAnalytics", "advancedKnowledgeBase", "allIntegrations",
       "realTimeDashboard", "A_BTesting", "bulkOperations", "customModels", "dedicatedSupport"},
      "99.95%"};
  catalogue.tiers = {startup, growth, enterprise};
  return catalogue;
}

std::string percent(double ratio) {
  char buffer[32];
  format_double(buffer, sizeof buffer, "%.1f%%", ratio * 100);
  return buffer;
}

// A utilisation above the threshold, as a percentage with one decimal, or with as many more (up
// to 6) as it takes to read above the threshold's: 40.0001 calls of 50 is 80.0002%, not the
// "80.0%" that "above 80.0%" would contradict.
std::string percent_above(double ratio, double threshold) {
  char value[48];
  char limit[48];
  for (int decimals = 1;; ++decimals) {
    format_double(value, sizeof value, "%.*f%%", decimals, ratio * 100);
    format_double(limit, sizeof limit, "%.*f%%", decimals, threshold * 100);
    if (decimals == 6 || std::strcmp(value, limit) != 0) return value;
  }
}

Result<double> non_negative(const JsonValue& value) {
  auto number = value.number();
  if (!number.ok()) return number.take_error();
  if (number.value() < 0) return invalid_input(value.where() + ": must not be negative");
  return number.value();
}

Status parse_policy(const JsonValue& json, Policy& policy) {
  auto object = json.object();
  if (!object.ok()) return object.take_error();
  auto& fields = object.value();
  if (auto s = fields.only_fields({"scaleUpThreshold", "scaleUpDays", "scaleDownThreshold",
                                   "scaleDownDays", "cooldownDays"});
      !s.ok()) {
    return s;
  }
  auto read_ratio = [&](const char* name, double& out) -> Status {
    auto value = fields.find(name);
    if (!value) return ok_status();
    auto number = value->number();
    if (!number.ok()) return number.take_error();
    if (!(number.value() > 0 && number.value() <= 1)) {
      return invalid_input(value->where() + ": must be above 0 and at most 1");
    }
    out = number.value();
    return ok_status();
  };
  auto read_days = [&](const char* name, int& out, int64_t min) -> Status {
    auto value = fields.find(name);
    if (!value) return ok_status();
    auto days = value->integer(min, 3650);
    if (!days.ok()) return days.take_error();
    out = static_cast<int>(days.value());
    return ok_status();
  };
  Policy parsed = policy;
  for (auto status : {read_ratio("scaleUpThreshold", parsed.scale_up_threshold),
                      read_days("scaleUpDays", parsed.scale_up_days, 1),
                      read_ratio("scaleDownThreshold", parsed.scale_down_threshold),
                      read_days("scaleDownDays", parsed.scale_down_days, 1),
                      read_days("cooldownDays", parsed.cooldown_days, 0)}) {
    if (!status.ok()) return status;
  }
  if (parsed.scale_down_threshold >= parsed.scale_up_threshold) {
    return invalid_input(fields.child_path("scaleDownThreshold") +
                         ": must be below scaleUpThreshold, or a tier could scale both ways");
  }
  policy = parsed;
  return ok_status();
}

Status parse_admission(const JsonValue& json, AdmissionPolicy& admission) {
  auto object = json.object();
  if (!object.ok()) return object.take_error();
  auto& fields = object.value();
  if (auto s = fields.only_fields(
          {"leaseFraction", "leaseMs", "callLeaseMs", "failOpen", "failOpenShare", "kvRetryMs"});
      !s.ok()) {
    return s;
  }
  AdmissionPolicy parsed = admission;
  struct Range {
    const char* name;
    double* out;
    double min, max;
  };
  for (const Range& range : {Range{"leaseFraction", &parsed.lease_fraction, 0, 1},
                             Range{"leaseMs", &parsed.lease_ms, 1, 60000},
                             Range{"callLeaseMs", &parsed.call_lease_ms, 1000, 86400000},
                             Range{"failOpenShare", &parsed.fail_open_share, 0, 1},
                             Range{"kvRetryMs", &parsed.kv_retry_ms, 0, 600000}}) {
    auto value = fields.find(range.name);
    if (!value) continue;
    auto number = value->number();
    if (!number.ok()) return number.take_error();
    if (number.value() < range.min || number.value() > range.max) {
      return invalid_input(value->where() + ": must be between " + std::to_string(range.min) +
                           " and " + std::to_string(range.max));
    }
    *range.out = number.value();
  }
  // A share of 0 would give each isolate a bucket that never refills: fail-closed by
  // accident, with answers that say otherwise. failOpen: false is that, said plainly.
  if (auto value = fields.find("failOpenShare"); value && parsed.fail_open_share <= 0) {
    return invalid_input(value->where() +
                         ": must be above 0 (failOpen: false refuses while the KV is down)");
  }
  if (auto value = fields.find("failOpen")) {
    auto flag = value->boolean();
    if (!flag.ok()) return flag.take_error();
    parsed.fail_open = flag.value();
  }
  admission = parsed;
  return ok_status();
}

}  // namespace

const char* metric_name(int metric) {
  return kTierMetricNames[metric];
}

std::vector<std::string> Catalogue::all_features() const {
  std::vector<std::string> all;
  for (const auto& tier : tiers) {
    for (const auto& feature : tier.features) {
      if (std::find(all.begin(), all.end(), feature) == all.end()) all.push_back(feature);
    }
  }
  return all;
}

const Catalogue& default_catalogue() {
  static const Catalogue catalogue = make_default_catalogue();
  return catalogue;
}

Result<Catalogue> parse_catalogue(const JsonValue& json) {
  auto tiers = read_catalogue_tiers(json);
  if (!tiers.ok()) return tiers.take_error();
  Catalogue catalogue;
  catalogue.tiers = std::move(tiers.value());
  auto object = json.object();  // an object, as read_catalogue_tiers found
  auto& fields = object.value();
  if (auto policy = fields.find("policy")) {
    if (auto s = parse_policy(*policy, catalogue.policy); !s.ok()) return s.take_error();
  }
  if (auto admission = fields.find("admission")) {
    if (auto s = parse_admission(*admission, catalogue.admission); !s.ok()) {
      return s.take_error();
    }
  }
  return catalogue;
}

void write_catalogue(JsonWriter& out, const Catalogue& catalogue) {
  out.begin_object().key("tiers").begin_array();
  for (const auto& tier : catalogue.tiers) {
    out.begin_object().key("id").value(tier.id).key("name").value(tier.name);
    for (int m = 0; m < kMetricCount; ++m) out.key(kTierLimitFields[m]).value(tier.limits[m]);
    out.key("apiBurst").value(tier.api_burst);
    out.key("costEstimate").value(tier.cost_estimate).key("features").begin_object();
    for (const auto& feature : tier.features) out.key(feature).value(true);
    out.end_object().key("sla");
    if (tier.sla.empty()) {
      out.null();
    } else {
      out.value(tier.sla);
    }
    out.end_object();
  }
  const Policy& p = catalogue.policy;
  const AdmissionPolicy& a = catalogue.admission;
  out.end_array()
      .key("policy")
      .begin_object()
      .key("scaleUpThreshold")
      .value(p.scale_up_threshold)
      .key("scaleUpDays")
      .value(p.scale_up_days)
      .key("scaleDownThreshold")
      .value(p.scale_down_threshold)
      .key("scaleDownDays")
      .value(p.scale_down_days)
      .key("cooldownDays")
      .value(p.cooldown_days)
      .end_object()
      .key("admission")
      .begin_object()
      .key("leaseFraction")
      .value(a.lease_fraction)
      .key("leaseMs")
      .value(a.lease_ms)
      .key("callLeaseMs")
      .value(a.call_lease_ms)
      .key("failOpen")
      .value(a.fail_open)
      .key("failOpenShare")
      .value(a.fail_open_share)
      .key("kvRetryMs")
      .value(a.kv_retry_ms)
      .end_object()
      .end_object();
}

Result<EvaluateInput> parse_evaluate_input(const JsonValue& json, const Catalogue& catalogue) {
  auto object = json.object();
  if (!object.ok()) return object.take_error();
  auto& fields = object.value();
  if (auto s = fields.only_fields({"organizationId", "currentTier", "history", "lastTierChange"});
      !s.ok()) {
    return s.take_error();
  }
  EvaluateInput input;
  auto org = fields.required("organizationId");
  if (!org.ok()) return org.take_error();
  auto org_text = org.value().string();
  if (!org_text.ok()) return org_text.take_error();
  // The same ids admission and autoscale take, so an answer names an organisation the rest
  // of the platform can key state by.
  if (auto s = check_id("organizationId", org_text.value()); !s.ok()) return s.take_error();
  input.organization_id.assign(org_text.value());

  auto tier_json = fields.required("currentTier");
  if (!tier_json.ok()) return tier_json.take_error();
  auto tier_name = tier_json.value().string();
  if (!tier_name.ok()) return tier_name.take_error();
  auto current = find_tier(catalogue.tiers, tier_name.value(), "currentTier");
  if (!current.ok()) return current.take_error();
  input.current = current.value();

  if (auto last = fields.find("lastTierChange"); last && !last->is_null()) {
    auto text = last->string();
    if (!text.ok()) return text.take_error();
    input.last_change = parse_date(text.value());
    if (!input.last_change) {
      return invalid_input(last->where() + ": expected a date YYYY-MM-DD, got '" +
                           std::string(text.value()) + "'");
    }
  }

  auto history_json = fields.required("history");
  if (!history_json.ok()) return history_json.take_error();
  auto history = history_json.value().array();
  if (!history.ok()) return history.take_error();
  const std::vector<JsonValue> items = history.value().items();
  std::vector<std::pair<Day, size_t>> days;  // with the item's index, for duplicate messages
  for (const auto& item : items) {
    auto entry = item.object();
    if (!entry.ok()) return entry.take_error();
    auto& entry_fields = entry.value();
    if (auto s = entry_fields.only_fields(
            {"date", "concurrentCalls", "apiRequestsPerSecond", "activeUsers"});
        !s.ok()) {
      return s.take_error();
    }
    Day day;
    auto date = entry_fields.required("date");
    if (!date.ok()) return date.take_error();
    auto date_text = date.value().string();
    if (!date_text.ok()) return date_text.take_error();
    auto parsed = parse_date(date_text.value());
    if (!parsed) {
      return invalid_input(date.value().where() + ": expected a date YYYY-MM-DD, got '" +
                           std::string(date_text.value()) + "'");
    }
    day.day = *parsed;
    for (int m = 0; m < kMetricCount; ++m) {
      auto value = entry_fields.find(metric_name(m));
      if (!value || value->is_null()) continue;  // not reported that day
      auto number = non_negative(*value);
      if (!number.ok()) return number.take_error();
      // (A thousand times the largest limit: past it, utilisation stops reading as a number.)
      if (!(number.value() <= kMaxLimit * 1000)) {
        return invalid_input(value->where() + ": must be at most 1000000000000");
      }
      day.values[m] = number.value();
    }
    days.emplace_back(day, days.size());
  }
  std::stable_sort(days.begin(), days.end(),
                   [](const auto& a, const auto& b) { return a.first.day < b.first.day; });
  for (size_t i = 1; i < days.size(); ++i) {
    if (days[i].first.day == days[i - 1].first.day) {
      return invalid_input(items[days[i].second].path() +
                           ".date: " + format_date(days[i].first.day) + " appears twice (also at " +
                           items[days[i - 1].second].path() + ")");
    }
  }
  for (auto& entry : days) input.history.push_back(entry.first);
  if (input.last_change && !input.history.empty() &&
      *input.last_change > input.history.back().day) {
    return invalid_input("lastTierChange: " + format_date(*input.last_change) +
                         " is after the latest day of the history (" +
                         format_date(input.history.back().day) + ")");
  }
  return input;
}

namespace {

// Utilisation of a day's metrics against a tier; nullopt where either side is missing.
void utilisation(const Day& day, const Tier& tier, std::optional<double> (&out)[kMetricCount]) {
  for (int m = 0; m < kMetricCount; ++m) {
    out[m] = (day.values[m] && tier.limits[m]) ? std::optional(*day.values[m] / *tier.limits[m])
                                               : std::nullopt;
  }
}

bool is_high(const Day& day, const Tier& tier, const Policy& policy) {
  std::optional<double> u[kMetricCount];
  utilisation(day, tier, u);
  for (const auto& value : u) {
    if (value && *value > policy.scale_up_threshold) return true;
  }
  return false;
}

// Low only when every limited metric was reported and is below the threshold: a day
// with a metric missing cannot prove the tier is oversized.
bool is_low(const Day& day, const Tier& tier, const Policy& policy) {
  std::optional<double> u[kMetricCount];
  utilisation(day, tier, u);
  bool any_limit = false;
  for (int m = 0; m < kMetricCount; ++m) {
    if (!tier.limits[m]) continue;
    any_limit = true;
    if (!u[m] || *u[m] >= policy.scale_down_threshold) return false;
  }
  return any_limit;
}

// Days in the run of consecutive calendar days ending at the latest entry that satisfy pred.
template <typename Pred>
int streak(const std::vector<Day>& history, Pred pred) {
  int count = 0;
  for (size_t i = history.size(); i-- > 0;) {
    if (i + 1 < history.size() && history[i].day + 1 != history[i + 1].day) break;  // a gap
    if (!pred(history[i])) break;
    ++count;
  }
  return count;
}

// Whether the peak of the last `days` days stays at or under the scale-up threshold on
// every limited metric of tier: a tier that fits would not scale straight back up.
bool fits(const std::vector<Day>& history, int days, const Tier& tier, const Policy& policy) {
  for (size_t i = history.size() - static_cast<size_t>(days); i < history.size(); ++i) {
    if (is_high(history[i], tier, policy)) return false;
  }
  return true;
}

// The metrics tier limits that some of the last `days` days did not report, each with how many
// days it is missing on ("activeUsers, missing on 6"), or "" when every one was reported. A
// missing figure is no usage only to is_high: it cannot show that tier would hold the day.
std::string unreported(const std::vector<Day>& history, int days, const Tier& tier) {
  std::string missing;
  for (int m = 0; m < kMetricCount; ++m) {
    if (!tier.limits[m]) continue;
    int count = 0;
    for (size_t i = history.size() - static_cast<size_t>(days); i < history.size(); ++i) {
      if (!history[i].values[m]) ++count;
    }
    if (count > 0) {
      missing += (missing.empty() ? "" : "; ") + std::string(metric_name(m)) + ", missing on " +
                 std::to_string(count);
    }
  }
  return missing;
}

}  // namespace

Decision evaluate(const EvaluateInput& input, const Catalogue& catalogue) {
  const Policy& policy = catalogue.policy;
  Decision decision;
  decision.organization_id = input.organization_id;
  decision.current = decision.recommended = input.current;
  decision.reason = "no_change";
  if (input.history.empty()) {
    decision.reason = "no_history";
    decision.detail = "no daily metrics were given";
    return decision;
  }
  const Tier& current = *input.current;
  const auto& history = input.history;
  const Day& latest = history.back();
  decision.as_of = latest.day;
  utilisation(latest, current, decision.utilization);
  decision.high_days = streak(history, [&](const Day& d) { return is_high(d, current, policy); });
  decision.low_days = streak(history, [&](const Day& d) { return is_low(d, current, policy); });

  const int index = catalogue.index_of(current);
  const int top = static_cast<int>(catalogue.tiers.size()) - 1;
  const bool wants_up = decision.high_days >= policy.scale_up_days;
  const bool wants_down = decision.low_days >= policy.scale_down_days;

  // A scale-down waits cooldownDays after the last change, as HPA's scale-down stabilisation
  // window does; a scale-up does not (HPA's scale-up stabilisation is 0 s): an organisation
  // whose high streak is long enough is overloaded now, whatever changed before. A change up to
  // cooldownDays after the history's latest day holds both: these metrics are older than it (a
  // late batch), and acting on them would undo it. A change dated further ahead than that holds
  // nothing up: it came from a history that ran ahead, and must not freeze the tier until the
  // calendar catches up.
  const bool ahead = input.last_change && *input.last_change > latest.day;
  const bool held =
      input.last_change &&
      (ahead ? (wants_up || wants_down) && *input.last_change - latest.day <= policy.cooldown_days
             : wants_down && latest.day - *input.last_change < policy.cooldown_days);
  if (held) {
    decision.reason = "cooldown";
    decision.detail =
        "the tier changed on " + format_date(*input.last_change) +
        (ahead ? ", after this history's latest day (" + format_date(latest.day) +
                     "): its metrics are older than the change"
               : "; no scale-down within " + std::to_string(policy.cooldown_days) + " days of it");
    return decision;
  }
  if (wants_up) {
    if (index == top) {
      decision.reason = "at_top_tier";
      decision.detail = current.name + " is the top tier; utilisation has been above " +
                        percent(policy.scale_up_threshold) + " for " +
                        std::to_string(decision.high_days) + " days";
      return decision;
    }
    // The lowest higher tier that holds the recent peak, or the top tier.
    int target = top;
    for (int t = index + 1; t < top; ++t) {
      if (fits(history, policy.scale_up_days, catalogue.tiers[t], policy)) {
        target = t;
        break;
      }
    }
    decision.recommended = &catalogue.tiers[target];
    decision.scale_up = true;
    decision.reason = "scale_up";
    std::string over;
    for (int m = 0; m < kMetricCount; ++m) {
      if (decision.utilization[m] && *decision.utilization[m] > policy.scale_up_threshold) {
        over += (over.empty() ? "" : ", ") + std::string(metric_name(m)) + " at " +
                percent_above(*decision.utilization[m], policy.scale_up_threshold);
      }
    }
    decision.detail = "utilisation above " + percent(policy.scale_up_threshold) + " of " +
                      current.name + " for " + std::to_string(decision.high_days) +
                      " consecutive days (" + over + ")";
    return decision;
  }
  if (wants_down) {
    if (index == 0) {
      decision.reason = "at_bottom_tier";
      decision.detail = current.name + " is the lowest tier";
      return decision;
    }
    const Tier& lower = catalogue.tiers[index - 1];
    // The low days need only the metrics this tier limits; the lower tier may limit one this
    // tier leaves unlimited, and a day without its figure cannot show the lower tier fits.
    if (auto missing = unreported(history, policy.scale_down_days, lower); !missing.empty()) {
      decision.detail = "utilisation has been below " + percent(policy.scale_down_threshold) +
                        " for " + std::to_string(decision.low_days) + " days, but " + lower.name +
                        " limits what some of the last " + std::to_string(policy.scale_down_days) +
                        " days did not report (" + missing + "), so nothing shows " + lower.name +
                        " would hold it";
      return decision;
    }
    if (!fits(history, policy.scale_down_days, lower, policy)) {
      decision.detail = "utilisation has been below " + percent(policy.scale_down_threshold) +
                        " for " + std::to_string(decision.low_days) +
                        " days, but the peak of the "
                        "last " +
                        std::to_string(policy.scale_down_days) + " days would exceed " +
                        percent(policy.scale_up_threshold) + " of " + lower.name;
      return decision;
    }
    decision.recommended = &lower;
    decision.scale_down = true;
    decision.reason = "scale_down";
    decision.detail = "every utilisation below " + percent(policy.scale_down_threshold) + " of " +
                      current.name + " for " + std::to_string(decision.low_days) +
                      " consecutive days";
    return decision;
  }
  decision.detail = "high utilisation on " + std::to_string(decision.high_days) + " of " +
                    std::to_string(policy.scale_up_days) + " days needed, low on " +
                    std::to_string(decision.low_days) + " of " +
                    std::to_string(policy.scale_down_days);
  return decision;
}

void write_decision(JsonWriter& out, const Decision& decision) {
  out.begin_object()
      .key("organizationId")
      .value(decision.organization_id)
      .key("currentTier")
      .value(decision.current->name)
      .key("recommendedTier")
      .value(decision.recommended->name)
      .key("scaleUp")
      .value(decision.scale_up)
      .key("scaleDown")
      .value(decision.scale_down)
      .key("reason")
      .value(decision.reason)
      .key("detail")
      .value(decision.detail)
      .key("utilization")
      .begin_object();
  for (int m = 0; m < kMetricCount; ++m) out.key(metric_name(m)).value(decision.utilization[m]);
  out.end_object()
      .key("highUtilizationDays")
      .value(decision.high_days)
      .key("lowUtilizationDays")
      .value(decision.low_days)
      .key("asOf");
  if (decision.as_of) {
    out.value(format_date(*decision.as_of));
  } else {
    out.null();
  }
  out.end_object();
}

Result<FeatureCheck> check_feature(const Catalogue& catalogue, const Tier& tier,
                                   std::string_view feature) {
  FeatureCheck check;
  bool above = false;  // past the caller's tier: tiers are ordered lowest first
  for (const auto& candidate : catalogue.tiers) {
    const bool has = std::find(candidate.features.begin(), candidate.features.end(), feature) !=
                     candidate.features.end();
    if (has) {
      check.available_in.push_back(&candidate);
      if (above && !check.enabled && !check.upgrade_tier) check.upgrade_tier = &candidate;
    }
    if (&candidate == &tier) {
      check.enabled = has;
      above = true;
    }
  }
  if (check.available_in.empty()) {
    std::string known;
    for (const auto& name : catalogue.all_features()) known += (known.empty() ? "" : ", ") + name;
    return not_found("feature: unknown feature '" + std::string(feature) + "' (known: " + known +
                     ")");
  }
  return check;
}

}  // namespace qv::tiers
