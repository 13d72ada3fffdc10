// Shared cost allocation across organisations, as OpenCost splits shared costs: evenly,
// in proportion to each organisation's own (direct) cost, or by a named metric (calls,
// API requests, seats, ...). Amounts are split in whole cents by the largest-remainder
// method, so the shares of a cost add up to it exactly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "qv/json.h"
#include "qv/result.h"

namespace qv::cost {

enum class Split { kEven, kProportional, kMetric };
const char* split_name(Split split);  // "even", "proportional", "metric"

struct Organisation {
  std::string id;
  std::optional<double> direct_cost;                    // its own cost, for proportional
  std::vector<std::pair<std::string, double>> metrics;  // for a split by metric

  const double* metric(std::string_view name) const;
};

struct SharedCost {
  std::string name;  // "supabase", "platform team"
  double amount = 0;
  Split split = Split::kEven;
  std::string metric;  // for Split::kMetric
  std::string path;    // "sharedCosts[1]" for messages
};

// Each shared cost's shares, in cents, in the order of the organisations.
struct Allocation {
  std::vector<int64_t> cost_cents;           // per shared cost: its amount in cents
  std::vector<std::vector<int64_t>> shares;  // [shared cost][organisation], cents
};

// Splits cents in proportion to weights (not all zero, none negative) so that the
// shares are whole cents adding up to cents: each gets the floor of its exact share,
// and the cents left over go one each to the largest remainders (ties: earlier first).
std::vector<int64_t> split_cents(int64_t cents, const std::vector<double>& weights);

// Fails naming the field when a split cannot be made (a metric an organisation lacks,
// weights that are all zero).
Result<Allocation> allocate(const std::vector<SharedCost>& costs,
                            const std::vector<Organisation>& organisations,
                            const std::string& organisations_path);

// Parses {"organizations": [{id, directCost?, metrics?}]}; ids must be unique.
Result<std::vector<Organisation>> parse_organisations(const JsonValue& json);

void write_allocation(JsonWriter& out, const std::vector<SharedCost>& costs,
                      const std::vector<Organisation>& organisations, const Allocation& allocation);

}  // namespace qv::cost
