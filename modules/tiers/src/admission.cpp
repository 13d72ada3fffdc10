#include "qv/tiers/admission.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "qv/json.h"

namespace qv::tiers {

GcraOutcome gcra_take(const GcraLimit& limit, std::optional<double> tat, double now,
                      int64_t quantity, bool partial) {
  const double interval = limit.interval_ms();
  const double start = std::max(tat.value_or(now), now);  // an idle bucket restarts at now
  // Tokens available: how many intervals fit between start and the burst horizon, now +
  // burst intervals. Reckoned from now (start - now is exact): the horizon itself, ms since
  // 1970 in a double, would round to now at high rates. The epsilon absorbs rounding of
  // stored TATs so an exact fit is not refused.
  const double window = limit.burst * interval;
  const auto tokens_left = [&](double ahead) {  // with a TAT `ahead` ms past now
    return std::max<int64_t>(0,
                             static_cast<int64_t>(std::floor((window - ahead) / interval + 1e-9)));
  };
  const double behind = start - now;
  const int64_t available = tokens_left(behind);
  GcraOutcome outcome;
  outcome.limit = static_cast<int64_t>(std::floor(limit.burst));
  outcome.granted =
      partial ? std::min(quantity, available) : (available >= quantity ? quantity : 0);
  outcome.limited = outcome.granted == 0;
  // The TAT's step is 0.24 us until 2039 (0.49 us after): an advance rounded down would
  // hand out tokens at high rates for nothing (at 10^8/s one token's 0.01 us left the TAT
  // where it was). Rounded up instead, a limit is never exceeded; a take admits at most one
  // step less.
  const double advance = static_cast<double>(outcome.granted) * interval;
  outcome.new_tat = start + advance;
  if (outcome.new_tat - start < advance)
    outcome.new_tat = std::nextafter(outcome.new_tat, std::numeric_limits<double>::infinity());
  // What the next take finds, the rounded-up step included.
  outcome.remaining = outcome.limited ? available : tokens_left(outcome.new_tat - now);
  outcome.reset_after_ms = std::max(0.0, outcome.new_tat - now);
  if (outcome.limited) {
    const int64_t needed = partial ? 1 : quantity;
    outcome.retry_after_ms =
        std::max(0.0, behind + static_cast<double>(needed) * interval - window);
    outcome.new_tat = tat.value_or(now);
  }
  return outcome;
}

Result<CallSet> parse_call_set(std::string_view json) {
  JsonParser parser;
  auto root = parser.parse_unnamed(json);
  if (!root.ok()) return root.take_error();
  auto object = root.value().object();
  if (!object.ok()) return object.take_error();
  CallSet calls;
  for (auto field : object.value().raw()) {
    JsonValue expiry = object.value().member(field.key, field.value);
    auto number = expiry.number();
    if (!number.ok()) return number.take_error();
    calls.emplace(std::string(field.key), number.value());
  }
  return calls;
}

std::string write_call_set(const CallSet& calls) {
  JsonWriter out;
  out.begin_object();
  for (const auto& [id, expiry] : calls) out.key(id).value(expiry);
  out.end_object();
  return out.take();
}

void drop_expired(CallSet& calls, double now) {
  std::erase_if(calls, [now](const auto& call) { return call.second <= now; });
}

Status check_id(std::string_view field, std::string_view id) {
  if (id.empty() || id.size() > 128) {
    return invalid_input(std::string(field) + ": must be 1 to 128 characters");
  }
  for (char c : id) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || c == '.';
    if (!plain) {
      return invalid_input(std::string(field) +
                           ": may hold only letters, digits, '-', '_' and '.'");
    }
  }
  return ok_status();
}

}  // namespace qv::tiers
