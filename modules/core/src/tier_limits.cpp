#include "qv/tier_limits.h"

#include <string>

namespace qv {

namespace {

std::string limit_text(double limit) {
  char buffer[32];
  format_double(buffer, sizeof buffer, "%.15g", limit);
  return buffer;
}

}  // namespace

Status check_tier_order(const JsonValue& previous, std::string_view previous_name,
                        const TierLimitValues& previous_limits, const JsonValue& tier,
                        const TierLimitValues& limits) {
  const std::string at = " (" + previous.where() + ")";
  const char* why =
      "; tiers are ordered lowest first, each with limits at least those of the tier before it";
  for (int m = 0; m < kTierLimitCount; ++m) {
    const auto& lower = previous_limits[m];
    const auto& limit = limits[m];
    if (!limit || (lower && *limit >= *lower)) continue;
    const std::string field = tier.object().value().find(kTierLimitFields[m])->where();
    if (!lower) {
      return invalid_input(field + ": a limit of " + limit_text(*limit) + ", where " +
                           std::string(previous_name) + at + " has none (omit it for no limit)" +
                           why);
    }
    return invalid_input(field + ": " + limit_text(*limit) + " is below " +
                         std::string(previous_name) + "'s " + limit_text(*lower) + at + why);
  }
  return ok_status();
}

}  // namespace qv
