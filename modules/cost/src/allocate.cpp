#include "qv/cost/allocate.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "qv/cost/format.h"
#include "qv/cost/order.h"
#include "qv/cost/reader.h"

namespace qv::cost {

const char* split_name(Split split) {
  switch (split) {
    case Split::kEven:
      return "even";
    case Split::kProportional:
      return "proportional";
    case Split::kMetric:
      return "metric";
  }
  return "even";
}

const double* Organisation::metric(std::string_view name) const {
  for (const auto& [key, value] : metrics) {
    if (key == name) return &value;
  }
  return nullptr;
}

std::vector<int64_t> split_cents(int64_t cents, const std::vector<double>& weights) {
  const size_t n = weights.size();
  std::vector<int64_t> shares(n, 0);
  if (n == 0) return shares;
  // Weights relative to the largest: their sum stays finite (at most n) however large they
  // are (two weights of 1e308 would add up to infinity, and every share to NaN).
  const double largest = *std::max_element(weights.begin(), weights.end());
  if (!(largest > 0)) return shares;
  double total_weight = 0;
  for (double weight : weights) total_weight += weight / largest;
  std::vector<double> remainders(n);
  int64_t assigned = 0;
  for (size_t i = 0; i < n; ++i) {
    const double exact = static_cast<double>(cents) * (weights[i] / largest) / total_weight;
    const double whole = std::floor(exact);
    shares[i] = static_cast<int64_t>(whole);
    // In millionths of a cent: remainders equal but for rounding in the division (94.5 and
    // 12.5 cents computed as 94.4999... and 12.5000...) tie, and ties go to the earlier.
    remainders[i] = std::round((exact - whole) * 1e6);
    assigned += shares[i];
  }
  // The floors leave fewer than n cents over (each remainder is below 1).
  const int64_t left = std::clamp<int64_t>(cents - assigned, 0, static_cast<int64_t>(n));
  if (left > 0) {
    const auto order = ordered_indices(
        n,
        [](const void* context, size_t a, size_t b) {
          const auto& r = *static_cast<const std::vector<double>*>(context);
          return r[a] > r[b];
        },
        &remainders);
    for (int64_t k = 0; k < left; ++k) ++shares[order[static_cast<size_t>(k)]];
  }
  return shares;
}

Result<Allocation> allocate(const std::vector<SharedCost>& costs,
                            const std::vector<Organisation>& organisations,
                            const std::string& organisations_path) {
  if (organisations.empty()) {
    return invalid_input(organisations_path + ": needs at least one organisation");
  }
  Allocation allocation;
  std::vector<double> weights(organisations.size());
  for (const auto& cost : costs) {
    for (size_t i = 0; i < organisations.size(); ++i) {
      const auto& organisation = organisations[i];
      switch (cost.split) {
        case Split::kEven:
          weights[i] = 1;
          break;
        case Split::kProportional:
          if (!organisation.direct_cost) {
            return invalid_input(organisations_path + "[" + std::to_string(i) +
                                 "].directCost: is required to split " + cost.path +
                                 " in proportion");
          }
          weights[i] = *organisation.direct_cost;
          break;
        case Split::kMetric: {
          const double* value = organisation.metric(cost.metric);
          if (!value) {
            return invalid_input(
                key_path(organisations_path + "[" + std::to_string(i) + "].metrics", cost.metric) +
                ": is required to split " + cost.path + " by '" + cost.metric + "'");
          }
          weights[i] = *value;
          break;
        }
      }
    }
    if (!(std::accumulate(weights.begin(), weights.end(), 0.0) > 0)) {
      return invalid_input(cost.path + ": cannot split " +
                           (cost.split == Split::kMetric ? "by '" + cost.metric + "'"
                                                         : std::string("in proportion")) +
                           ": every organisation has " +
                           (cost.split == Split::kMetric ? "0 of it" : "a directCost of 0"));
    }
    if (!(cost.amount <= kMaxDollars))
      return invalid_input(above_max_dollars(cost.path, "an amount"));
    const int64_t cents = whole_cents(cost.amount);
    allocation.cost_cents.push_back(cents);
    allocation.shares.push_back(split_cents(cents, weights));
  }
  return allocation;
}

Result<std::vector<Organisation>> parse_organisations(const JsonValue& json) {
  Reader read;
  std::vector<Organisation> organisations;
  if (auto array = read.array(json)) {
    organisations.reserve(array->size());
    for (const auto& item : array->items()) {
      auto object = read.object(item);
      if (!object) break;
      read.only(*object, {"id", "directCost", "metrics"});
      Organisation organisation;
      organisation.id = read.text(*object, "id", true, true).value_or("");
      organisation.direct_cost = read.number(*object, "directCost", Bounds::kNonNegative);
      // Written back in whole cents.
      if (organisation.direct_cost && !(*organisation.direct_cost <= kMaxDollars))
        read.fail(above_max_dollars(object->child_path("directCost"), "a cost"));
      if (auto metrics = read.field(*object, "metrics")) {
        if (auto map = read.object(*metrics)) {
          // A metric given twice is found in one pass over the names (core's unique_fields).
          if (auto unique = map->unique_fields(); !unique.ok()) read.fail(unique.take_error());
          for (auto field : map->raw()) {
            // None once an error is recorded.
            auto value = read.number(map->member(field.key, field.value), Bounds::kNonNegative);
            if (value) organisation.metrics.emplace_back(std::string(field.key), *value);
          }
        }
      }
      if (!read.ok()) break;
      organisations.push_back(std::move(organisation));
    }
  }
  if (!read.ok()) return read.take_error();
  // Ids are unique: sorted by id, equal ids are neighbours. The message names the first
  // repeat in the input's order.
  const auto by_id = ordered_indices(
      organisations.size(),
      [](const void* context, size_t a, size_t b) {
        const auto& list = *static_cast<const std::vector<Organisation>*>(context);
        return list[a].id < list[b].id;
      },
      &organisations);
  size_t repeat = organisations.size(), first = 0;
  for (size_t k = 1; k < by_id.size(); ++k) {
    if (organisations[by_id[k]].id == organisations[by_id[k - 1]].id && by_id[k] < repeat) {
      repeat = by_id[k];
      first = by_id[k - 1];
    }
  }
  if (repeat < organisations.size()) {
    // Equal ids keep their input order, so the pair's first is the id's first use.
    return invalid_input(json.path() + "[" + std::to_string(repeat) + "].id: '" +
                         organisations[repeat].id + "' is already " + json.path() + "[" +
                         std::to_string(first) + "].id");
  }
  return organisations;
}

void write_allocation(JsonWriter& out, const std::vector<SharedCost>& costs,
                      const std::vector<Organisation>& organisations,
                      const Allocation& allocation) {
  int64_t shared_cents = 0;
  for (int64_t cents : allocation.cost_cents) shared_cents += cents;
  out.begin_object().key("sharedCosts").begin_array();
  for (size_t c = 0; c < costs.size(); ++c) {
    int64_t allocated = 0;
    for (int64_t cents : allocation.shares[c]) allocated += cents;
    out.begin_object()
        .key("name")
        .value(costs[c].name)
        .key("amount")
        .value(static_cast<double>(allocation.cost_cents[c]) / 100)
        .key("split")
        .value(split_name(costs[c].split));
    if (costs[c].split == Split::kMetric) out.key("metric").value(costs[c].metric);
    out.key("allocated").value(static_cast<double>(allocated) / 100).end_object();
  }
  out.end_array()
      .key("sharedTotal")
      .value(static_cast<double>(shared_cents) / 100)
      .key("organizations")
      .begin_array();
  for (size_t i = 0; i < organisations.size(); ++i) {
    int64_t shared = 0;
    for (const auto& shares : allocation.shares) shared += shares[i];
    // The direct cost in whole cents too, as the amounts are, so that direct + shared is
    // the total to the cent (0.1 + 0.2 in dollars would be 0.30000000000000004).
    const int64_t direct = whole_cents(organisations[i].direct_cost.value_or(0));
    out.begin_object()
        .key("id")
        .value(organisations[i].id)
        .key("directCost")
        .value(static_cast<double>(direct) / 100)
        .key("shared")
        .value(static_cast<double>(shared) / 100)
        .key("total")
        .value(static_cast<double>(direct + shared) / 100)
        .key("byCost")
        .begin_object();
    for (size_t c = 0; c < costs.size(); ++c) {
      out.key(costs[c].name).value(static_cast<double>(allocation.shares[c][i]) / 100);
    }
    out.end_object().end_object();
  }
  out.end_array().end_object();
}

}  // namespace qv::cost
