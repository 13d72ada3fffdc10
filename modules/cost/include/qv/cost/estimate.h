// The estimate: a usage priced against a catalogue. Per service, the cost components
// (price x quantity above the allowance, as Infracost computes them) and credits; the
// monthly total; cost per call, per transcript and per GB; the tier the usage fits; the
// spec's targets; and the optimisation opportunities with their savings, largest first.
//
// A component whose price nobody published, or whose quantity the usage does not give,
// has no cost: it is listed in `missing` and the total covers the rest ("complete" is
// then false). Nothing is guessed.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "qv/cost/catalogue.h"
#include "qv/cost/usage.h"
#include "qv/json.h"
#include "qv/result.h"
#include "qv/tier_catalogue.h"

namespace qv::cost {

// The spec's rule: only savings above $10 a month are worth applying.
inline constexpr double kWorthApplyingUsd = 10;
// The spec's cost-efficiency targets (section "Scaling Performance Verification").
inline constexpr double kTargetInfrastructurePerCall = 0.01;
inline constexpr double kTargetStoragePerTranscript = 0.0001;
inline constexpr double kTargetBandwidthPerGB = 0.05;
// The edge cache hit ratio the cache opportunity aims at when the usage names none.
inline constexpr double kDefaultTargetEdgeCacheHitRatio = 0.9;
// The spec's thresholds for its two Vercel opportunities.
inline constexpr double kSpecEdgeInvocationsThreshold = 1e6;
inline constexpr double kSpecBandwidthThresholdGB = 1000;

// The tier catalogue as the tiers module's tiers.catalogue method answers it. The cost
// module reads it as data, so it depends on core only and sees the tiers in force (a
// tiers.configure'd catalogue, not only the default one).
struct TierCatalogue {
  std::vector<CatalogueTier> tiers;  // lowest first; by id or name: core's find_tier
};
// Reads {"tiers": [{id, name, maxConcurrentCalls, maxAPIRPS, maxUsers, costEstimate, ...}],
// ...} by core's read_catalogue_tiers, so a catalogue tiers.configure refuses is refused
// here too, with the same message; policy and admission, which the cost engine does not
// use, are not read.
Result<TierCatalogue> parse_tier_catalogue(const JsonValue& json);

struct ComponentCost {
  const Service* service = nullptr;
  const Component* component = nullptr;
  std::string option;  // the chosen option; "" for components without a choice
  Price price;         // in force: the catalogue's or the usage's
  bool price_from_usage = false;
  std::optional<double> quantity;
  std::optional<double> cost;  // nullopt: the price or the quantity is missing
};

struct CreditLine {
  const Credit* credit = nullptr;
  double applied = 0;  // what the credit pays this month (at most its amount)
};

struct ServiceCost {
  const Service* service = nullptr;
  std::vector<ComponentCost> components;
  std::vector<CreditLine> credits;
  double cost = 0;  // known components minus credits
  bool complete = true;
};

// An input the user must give before the estimate is complete.
struct Missing {
  std::string kind;  // "price" or "usage"
  std::string service;
  std::string component;
  std::string
      input;  // where to give it: `usage.prices["livekit.bandwidth"]`, usage.bandwidth.edgeGB
  std::string detail;  // a sentence
};

struct Bill {
  Quantities quantities;
  std::vector<ServiceCost> services;
  double total = 0;  // of what is known
  bool complete = true;
};

// Prices the usage. Fails (naming the field) when the usage picks an unknown option or
// gives a price for something the catalogue does not have.
Result<Bill> compute_bill(const Usage& usage, const Catalogue& catalogue);

// The inputs the bill lacks: a price for each component nobody priced, a usage figure for
// each component whose quantity is unknown. root names the usage in messages ("usage").
std::vector<Missing> missing_inputs(const Bill& bill, const std::string& root,
                                    const std::string& currency);

// A cost per unit. value is nullopt when the denominator is 0 or unknown. When not
// complete, value covers the known components only; lower_bound says the missing parts
// can only raise it.
struct UnitCost {
  std::optional<double> value;
  bool complete = true;
  bool lower_bound = true;
};
struct UnitCosts {
  UnitCost per_call;                 // the whole bill / calls
  UnitCost infrastructure_per_call;  // infrastructure services (not AI models) / calls
  UnitCost per_transcript;           // the whole bill / transcripts
  UnitCost storage_per_transcript;   // storage components / transcripts
  UnitCost bandwidth_per_gb;         // bandwidth components / their GB
};
UnitCosts unit_costs(const Bill& bill);

struct Target {
  std::string id;    // "infrastructureCostPerCall"
  std::string name;  // "infrastructure cost per call"
  UnitCost actual;
  double limit = 0;    // the value must be below it
  std::string status;  // "pass", "fail", or "unknown" (missing inputs could decide it)
  std::string detail;
};
std::vector<Target> check_targets(const UnitCosts& unit_costs);

struct TierFit {
  bool evaluated = false;                  // false: no tier catalogue given
  const CatalogueTier* tier = nullptr;     // the lowest tier the peaks fit; nullptr: none
  const CatalogueTier* current = nullptr;  // the usage's currentTier, when given
  std::optional<double> peaks[3];
  std::optional<double> utilization[3];  // of `tier` (of the top tier when none fits)
  std::string detail;
};

struct Opportunity {
  std::string id;  // edge_function_invocations, bandwidth, edge_cache_hit_ratio, ...
  std::string title;
  std::string service;          // the service whose cost it lowers ("" for the tier)
  double savings = 0;           // USD per month
  bool worth_applying = false;  // savings above kWorthApplyingUsd
  bool reduces_bill = true;     // false for the tier budget (not a line of this bill)
  std::string effort;           // low, medium, high
  std::string impact;           // cost, performance, quality
  std::string detail;           // how the savings were computed
};

struct Estimate {
  std::string name;
  std::string usage_root;  // "usage", "base", "proposed": where the usage's fields are
  double scale = 1;
  Bill bill;
  UnitCosts unit_costs;
  TierFit tier;
  std::vector<Target> targets;
  std::vector<Opportunity> opportunities;  // largest savings first
  double savings_worth_applying = 0;       // bill-reducing opportunities above $10
};

// The whole estimate. tiers may be null (no tier fit then). Fails when the bill does, or
// when the usage's currentTier is not in tiers.
Result<Estimate> estimate(const Usage& usage, const Catalogue& catalogue,
                          const TierCatalogue* tiers);

void write_estimate(JsonWriter& out, const Estimate& estimate, const Catalogue& catalogue);
// {"name", "total", "opportunities": [...], "savingsWorthApplying", "savingsShare"}
void write_opportunities(JsonWriter& out, const Estimate& estimate);
// What changes from base to proposed, as `infracost diff` shows it: totals, services,
// the components and quantities that change, the tier and the targets.
void write_diff(JsonWriter& out, const Estimate& base, const Estimate& proposed,
                const Catalogue& catalogue);

}  // namespace qv::cost
