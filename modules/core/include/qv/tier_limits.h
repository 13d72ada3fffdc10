// A tier catalogue's limits, as the tiers module reads and writes them (tiers.configure,
// tiers.catalogue) and the cost engine reads them (the `tiers` input of cost.estimate and
// cost.diff, tiers.catalogue's answer). Modules never call one another, so the two share
// the limits' fields and the rule of their order here.
#pragma once

#include <optional>
#include <string_view>

#include "qv/json.h"
#include "qv/result.h"

namespace qv {

inline constexpr int kTierLimitCount = 3;
// Concurrent calls, API requests per second, users (the tiers module's Metric order).
inline constexpr const char* kTierLimitFields[kTierLimitCount] = {"maxConcurrentCalls", "maxAPIRPS",
                                                                  "maxUsers"};
// A tier's limits in that order; none: no limit on that metric.
using TierLimitValues = std::optional<double>[kTierLimitCount];

// Tiers are ordered lowest first: scaling up moves to a later tier, scaling down to the one
// before, and the lowest tier that holds a peak is the first that does. So on every metric
// a tier's limit is at least the one of the tier before it, and a metric that tier leaves
// unlimited stays unlimited. costEstimate is not ordered: nothing decides by the order of
// prices (the cost engine compares two tiers' estimates itself). `tier` is the tier's JSON
// object, `previous` the one before it, named previous_name; the error names the field and
// the tier before by their paths: "tiers[2].maxUsers: 500 is below Medium's 1000
// (tiers[1]); tiers are ordered lowest first, ...".
Status check_tier_order(const JsonValue& previous, std::string_view previous_name,
                        const TierLimitValues& previous_limits, const JsonValue& tier,
                        const TierLimitValues& limits);

}  // namespace qv
