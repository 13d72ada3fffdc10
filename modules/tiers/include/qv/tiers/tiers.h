// Tier evaluation: the tier catalogue, utilisation of an organisation's daily metrics
// against its tier, the autoscale decision with hysteresis, and feature gates.
//
// Pure functions over plain types; methods.cpp exposes them through the ABI.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "qv/date.h"
#include "qv/json.h"
#include "qv/result.h"
#include "qv/tier_catalogue.h"

namespace qv::tiers {

// The three metrics a tier limits, in the order used everywhere below.
enum Metric { kConcurrentCalls = 0, kApiRequestsPerSecond = 1, kActiveUsers = 2, kMetricCount = 3 };

// The largest limit, rate or burst a tier (or tiers.gcra) takes: the rate limiter's integer
// arithmetic stays exact far beyond it.
inline constexpr double kMaxLimit = kMaxTierLimit;
const char* metric_name(int metric);  // "concurrentCalls", "apiRequestsPerSecond", "activeUsers"

// A tier as the catalogue gives it: core's, as the cost engine reads the same catalogue
// (qv/tier_catalogue.h).
using Tier = CatalogueTier;

// Hysteresis rules (Kubernetes HPA plays the same role with its stabilisation windows).
struct Policy {
  double scale_up_threshold = 0.8;    // any utilisation above this ...
  int scale_up_days = 3;              // ... on this many consecutive days: scale up
  double scale_down_threshold = 0.4;  // every utilisation below this ...
  int scale_down_days = 7;            // ... on this many consecutive days: scale down
  int cooldown_days = 7;              // no scale-down within this many days of the last change
};

// How admission control shares limits across isolates (see docs/admission.md).
struct AdmissionPolicy {
  double lease_fraction = 0.1;   // an isolate leases this fraction of a second's rate at once
  double lease_ms = 1000;        // leased tokens not spent within this are let go
  double call_lease_ms = 60000;  // a call's slot frees this long after its last heartbeat
  bool fail_open = true;         // KV down: admit under a per-isolate local limit (else refuse)
  double fail_open_share = 1.0;  // the local limit as a share of the tier's limits
  double kv_retry_ms = 1000;     // after a KV failure, stay local this long before retrying
};

struct Catalogue {
  std::vector<Tier> tiers;  // lowest first; by id or name: core's find_tier
  Policy policy;
  AdmissionPolicy admission;

  int index_of(const Tier& tier) const { return static_cast<int>(&tier - tiers.data()); }
  // Every feature name some tier enables, in catalogue order.
  std::vector<std::string> all_features() const;
};

// The spec's three tiers (Startup, Growth, Enterprise) and its policy.
const Catalogue& default_catalogue();

// Validates a catalogue JSON object; errors name the field ("tiers[1].maxUsers: ..."). Its
// tiers are read by core's read_catalogue_tiers, by the rules the cost engine reads them by
// too (in order: on every metric a tier's limit is at least the previous tier's, ...).
Result<Catalogue> parse_catalogue(const JsonValue& json);
void write_catalogue(JsonWriter& out, const Catalogue& catalogue);

// One day of an organisation's peak metrics. A metric not reported is nullopt.
struct Day {
  int64_t day = 0;  // days since 1970-01-01
  std::optional<double> values[kMetricCount];
};

struct EvaluateInput {
  std::string organization_id;
  const Tier* current = nullptr;
  std::vector<Day> history;            // sorted by day, no duplicates
  std::optional<int64_t> last_change;  // day of the last tier change
};

// Parses {"organizationId", "currentTier", "history": [...], "lastTierChange"?}.
Result<EvaluateInput> parse_evaluate_input(const JsonValue& json, const Catalogue& catalogue);

struct Decision {
  std::string organization_id;
  const Tier* current = nullptr;
  const Tier* recommended = nullptr;
  bool scale_up = false;
  bool scale_down = false;
  std::string reason;  // code: scale_up, scale_down, no_change, at_top_tier, ...
  std::string detail;  // a sentence saying why
  std::optional<double> utilization[kMetricCount];  // on the latest day
  int high_days = 0;  // consecutive days ending at the latest day above the up threshold
  int low_days = 0;   // ... below the down threshold on every metric
  std::optional<int64_t> as_of;
};

Decision evaluate(const EvaluateInput& input, const Catalogue& catalogue);
void write_decision(JsonWriter& out, const Decision& decision);

// Feature gates.
struct FeatureCheck {
  bool enabled = false;
  // Where a tier that lacks the feature can get it: the lowest tier above it that has it;
  // nullptr when the tier has it, or when only tiers below it do.
  const Tier* upgrade_tier = nullptr;
  // Every tier that has it, lowest first (never empty: an unknown feature is not_found).
  std::vector<const Tier*> available_in;
};
Result<FeatureCheck> check_feature(const Catalogue& catalogue, const Tier& tier,
                                   std::string_view feature);

}  // namespace qv::tiers
