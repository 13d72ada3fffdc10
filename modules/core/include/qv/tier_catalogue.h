// A tier catalogue's tiers, as the tiers module reads and writes them (tiers.configure,
// tiers.catalogue) and the cost engine reads them (the `tiers` input of cost.estimate and
// cost.diff, tiers.catalogue's answer or one given by hand). Modules never call one
// another, so the two share here the tiers' fields, the rule of their order, the reader
// of a catalogue's tiers by every rule tiers.configure keeps and the finding of a tier by
// its id or name, with one message for a tier not found.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "qv/json.h"
#include "qv/result.h"

namespace qv {

inline constexpr int kTierLimitCount = 3;
// Concurrent calls, API requests per second, users (the tiers module's Metric order).
inline constexpr const char* kTierLimitFields[kTierLimitCount] = {"maxConcurrentCalls", "maxAPIRPS",
                                                                  "maxUsers"};
// The metrics those limits bound, as tiers.evaluate's history and both modules' answers
// (utilisation, peaks) name them.
inline constexpr const char* kTierMetricNames[kTierLimitCount] = {
    "concurrentCalls", "apiRequestsPerSecond", "activeUsers"};
// maxAPIRPS, a rate: the one limit that need not be a whole number.
inline constexpr int kTierRateLimit = 1;
// The largest limit or burst a tier takes: the rate limiter's integer arithmetic stays
// exact far beyond it.
inline constexpr double kMaxTierLimit = 1e9;
// The largest costEstimate: the cost engine compares bills with it in whole cents (an
// int64_t).
inline constexpr double kMaxTierCostEstimate = 1e13;
// A tier's limits in that order; none: no limit on that metric.
using TierLimitValues = std::optional<double>[kTierLimitCount];

struct CatalogueTier {
  std::string id;    // "tier-1"
  std::string name;  // "Startup"
  // Per metric; nullopt: no limit on that metric (never counts towards utilisation).
  TierLimitValues limits;
  // Requests an idle organisation may make at once (GCRA burst); default: maxAPIRPS.
  std::optional<double> api_burst;
  double cost_estimate = 0;           // USD per month
  std::vector<std::string> features;  // enabled feature names
  std::string sla;                    // "" when the tier has no SLA
};

// Reads a catalogue object {"tiers": [...], "policy"?, "admission"?}: its fields (no other),
// and its tiers, lowest first, by every rule a catalogue's tiers keep (docs/tiers.md): at
// least one; each with a non-empty id and name used by no earlier tier (as id or name: a
// tier may be named by either); limits above 0 and at most kMaxTierLimit, omitted or null
// for none, whole numbers but for maxAPIRPS, and a maxAPIRPS below 1 only with an apiBurst;
// costEstimate 0 to kMaxTierCostEstimate; no unknown field. And in order: on every metric a
// tier's limit is at least the one of the tier before it, and a metric that tier leaves
// unlimited stays unlimited. Errors name the field by its path ("tiers[2].maxUsers: 500 is
// below Medium's 1000 (tiers[1]); ..."). policy and admission are the tiers module's, which
// it reads itself (the cost engine uses neither).
Result<std::vector<CatalogueTier>> read_catalogue_tiers(const JsonValue& catalogue);

// The tier of that id or that name (a tier may be named by either). None: not found, "PATH:
// unknown tier 'Gold' (known: Startup (tier-1), Growth (tier-2), Enterprise (tier-3))".
Result<const CatalogueTier*> find_tier(const std::vector<CatalogueTier>& tiers,
                                       std::string_view id_or_name, std::string_view path);

}  // namespace qv
