// Admission control through the ABI: rate limits and concurrent-call limits whose state
// lives in the shared KV, changed only by compare-and-set so that every isolate and
// region sees one limit.
//
// Rate limits lease tokens: an isolate reserves a small batch in the global GCRA state
// with one compare-and-set and spends it locally, so most admitted requests need no KV
// round trip. Every admitted token was reserved globally first, so isolates together
// never exceed the limit; tokens leased but not spent within the lease lapse. The bounds
// are stated and measured in docs/admission.md.
#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>
#include <vector>

#include "method_support.h"
#include "qv/json.h"
#include "qv/swept_map.h"
#include "qv/tiers/admission.h"
#include "qv/tiers/methods.h"

namespace qv::tiers {

namespace {

using detail::required_tier;
using detail::TiersState;

// Contended compare-and-set retries back off with jitter, up to this many attempts
// (about four seconds in all at the longest back-off: a contended KV under a loaded host).
constexpr int kMaxCasAttempts = 64;
constexpr double kMaxBackoffMs = 64;
// Stored values outlive their meaning by this much, so a slow clock never reads absent.
constexpr double kTtlSlackMs = 1000;

// An organisation's value in KV that this isolate cannot read (garbage, or another
// version's format during a rolling deploy). It is never written over (it may hold what other
// isolates did), and the organisation is decided locally, as while the KV is unavailable, until
// `retry_at`, when the KV is read again: the value may be readable or gone (its TTL) by then.
struct Unreadable {
  std::string why;  // names the value and the problem
  double retry_at = 0;
};

// What this isolate knows of one organisation's rate limit.
struct RateLease {
  std::optional<std::string> stored;  // last readable KV value seen (nullopt: absent, unknown)
  int64_t tokens = 0;                 // leased, not yet spent
  double lease_expires = 0;
  double lease_taken_at = 0;        // when the last lease was taken (0: never)
  int64_t spent_since_lease = 0;    // tokens this isolate spent since then
  double limited_until = 0;         // refused without asking KV until then
  std::optional<double> local_tat;  // the per-isolate bucket of local decisions
  std::unique_ptr<Signal> leasing;  // set while a call of this isolate takes a lease
  int64_t queued = 0;               // tokens wanted by the calls waiting for that lease
  // The limit the lease and the refusal were decided under: when the organisation's tier
  // (or the catalogue) changes, neither holds under the new limit.
  double rate_seen = 0;
  double burst_seen = 0;
  Unreadable unreadable;  // its value in KV, while this isolate cannot read it
};

struct CallChange;

// What this isolate knows of one organisation's active calls.
struct CallLeases {
  std::optional<std::string> stored;  // the readable KV value last seen (nullopt: absent)
  CallSet local;                      // the calls admitted while decided locally
  CallSet ended;                      // the calls ended while decided locally, until their lease
  Unreadable unreadable;              // its set in KV, while this isolate cannot read it
  std::unique_ptr<Signal> updating;   // set while a call of this isolate writes the set
  std::vector<std::shared_ptr<CallChange>> queued;  // changes waiting for the next write
};

std::string format_number(double value) {
  JsonWriter out;
  out.value(value);
  return out.take();
}

std::optional<double> parse_number(const std::optional<std::string>& text) {
  if (!text) return std::nullopt;
  return parse_json_number(*text);
}

// Whether forgetting an organisation's entry changes nothing but, at most, one KV round
// trip: no call holds it, and every lease, refusal, local bucket and wait to read an
// unreadable value again in it has lapsed. A rate entry also waits for the TAT it last saw
// to have left KV (its TTL), so that the next compare-and-set, expecting nothing, finds
// nothing.
bool forgettable(const RateLease& org, double now, const AdmissionPolicy& policy) {
  const std::optional<double> tat = parse_number(org.stored);
  return (org.tokens == 0 || org.lease_expires <= now) && org.limited_until <= now &&
         (!org.local_tat || *org.local_tat <= now) && org.lease_taken_at + policy.lease_ms <= now &&
         (!tat || *tat + kTtlSlackMs <= now) && org.unreadable.retry_at <= now;
}
bool forgettable(const CallLeases& org, double now) {
  auto lapsed = [now](const CallSet& calls) {
    return std::all_of(calls.begin(), calls.end(),
                       [now](const auto& call) { return call.second <= now; });
  };
  return lapsed(org.local) && lapsed(org.ended) && org.unreadable.retry_at <= now;
}

// An isolate that sees ever new organisations would otherwise keep them all (SweptMap).
constexpr size_t kSweepEntries = 4096;

struct AdmissionState {
  SweptMap<RateLease> rates{kSweepEntries};
  SweptMap<CallLeases> calls{kSweepEntries};
  double kv_retry_at = 0;  // KV failed: stay on local limits until then
};

uint32_t ttl_ms(double until, double now) {
  return kv_ttl_ms(std::max(0.0, until - now) + kTtlSlackMs);
}

// What keeps a decision from the shared state: the KV, or the organisation's value in it.
using detail::kKvUnavailable;
using detail::kValueUnreadable;

// The reason a local decision gives: the problem, the policy that applies, and the detail.
std::string local_reason(std::string_view problem, const AdmissionPolicy& policy,
                         const std::string& detail) {
  return std::string(problem) +
         (policy.fail_open ? ", per-isolate limit: " : ", admission fails closed: ") + detail;
}

// ---- rate limits ---------------------------------------------------------------------

struct RateDecision {
  GcraOutcome gcra;
  std::string source;  // lease, kv, cached, local, unlimited, refused
  std::string reason;
};

// This isolate's unspent lease is still to be spent: it counts in `remaining`, and off the
// time until the bucket is full (the shared bucket took it when the lease was granted, so
// its own figures would say those tokens were spent: a full bucket said to fill in 1 s), in
// a refusal as in an admission. A refusal's wait stays the shared bucket's for the whole
// cost: the lease lapses within lease_ms, and the isolate's other requests may spend it.
void count_lease(GcraOutcome& g, int64_t leased, const GcraLimit& limit) {
  g.remaining += leased;
  g.reset_after_ms =
      std::max(0.0, g.reset_after_ms - static_cast<double>(leased) * limit.interval_ms());
}

void write_rate_decision(JsonWriter& out, const RateDecision& decision, const GcraLimit& limit) {
  // Leased tokens plus what the bucket we last saw holds can exceed the capacity when that
  // view is old; never report more than a full bucket.
  const int64_t remaining = std::min(decision.gcra.remaining, decision.gcra.limit);
  out.begin_object()
      .key("allowed")
      .value(!decision.gcra.limited)
      .key("limited")
      .value(decision.gcra.limited)
      .key("limit")
      .value(decision.gcra.limit)
      .key("remaining")
      .value(remaining)
      .key("retryAfterMs")
      .value(decision.gcra.retry_after_ms)
      .key("resetAfterMs")
      .value(decision.gcra.reset_after_ms)
      .key("rate")
      .value(limit.rate_per_second)
      .key("burst")
      .value(limit.burst)
      .key("source")
      .value(decision.source);
  if (!decision.reason.empty()) out.key("reason").value(decision.reason);
  out.end_object();
}

// Admission while KV is unavailable (or the organisation's value in it unreadable): a
// per-isolate bucket (fail-open) or a refusal.
RateDecision local_rate_decision(RateLease& org, const GcraLimit& limit,
                                 const AdmissionPolicy& policy, double now, int64_t cost,
                                 std::string_view problem, const std::string& why) {
  RateDecision decision;
  decision.reason = local_reason(problem, policy, why);
  if (!policy.fail_open) {
    decision.gcra.limited = true;
    decision.gcra.limit = static_cast<int64_t>(limit.burst);
    decision.gcra.retry_after_ms = policy.kv_retry_ms;
    // No token until the KV is tried again: not a full bucket now (RateLimit's t=0 beside r=0).
    decision.gcra.reset_after_ms = policy.kv_retry_ms;
    decision.source = "refused";
    return decision;
  }
  GcraLimit local{limit.rate_per_second * policy.fail_open_share,
                  std::max(1.0, std::floor(limit.burst * policy.fail_open_share))};
  decision.gcra = gcra_take(local, org.local_tat, now, cost, false);
  if (!decision.gcra.limited) org.local_tat = decision.gcra.new_tat;
  // A cost above this isolate's share of the burst never passes here: only the shared bucket
  // can take it, once the KV is tried again.
  if (decision.gcra.limited && static_cast<double>(cost) > local.burst)
    decision.gcra.retry_after_ms = policy.kv_retry_ms;
  decision.source = "local";
  return decision;
}

// Times in ms since the epoch (1e15 is the year 33658).
constexpr double kMaxTimeMs = 1e15;

// A number from low (above it when `above`, else from it) to high; errors name the field.
Result<double> number_in(const JsonValue& value, double low, bool above, double high,
                         std::string_view range) {
  auto number = value.number();
  if (!number.ok()) return number.take_error();
  const double v = number.value();
  if (!((above ? v > low : v >= low) && v <= high))
    return invalid_input(value.where() + ": must be " + std::string(range));
  return v;
}

// {"rate", "burst"?, "tat"?, "now", "quantity"?, "partial"?} -> the GCRA outcome. The
// arithmetic alone, for test vectors.
MethodTask gcra_method(CallContext& ctx, Instance& instance) {
  auto object = input_object(ctx, instance, {"rate", "burst", "tat", "now", "quantity", "partial"});
  if (!object.ok()) co_return Outcome::failure(object.error());
  const JsonObject& in = object.value();
  GcraLimit limit;
  auto rate = in.required("rate");
  if (!rate.ok()) co_return Outcome::failure(rate.error());
  auto rate_value = number_in(rate.value(), 0, true, kMaxLimit, "above 0 and at most 1000000000");
  if (!rate_value.ok()) co_return Outcome::failure(rate_value.error());
  limit.rate_per_second = limit.burst = rate_value.value();
  if (auto burst = in.find("burst")) {
    auto value = number_in(*burst, 1, false, kMaxLimit, "between 1 and 1000000000");
    if (!value.ok()) co_return Outcome::failure(value.error());
    limit.burst = value.value();
  } else if (limit.rate_per_second < 1) {  // as tiers.configure: the bucket must hold one
    co_return Outcome::failure(invalid_input(
        rate.value().where() + ": below 1 request per second needs a burst of at least 1"));
  }
  std::optional<double> tat;
  if (auto value = in.find("tat"); value && !value->is_null()) {
    auto number = number_in(*value, 0, false, kMaxTimeMs, "between 0 and 1e15 (ms)");
    if (!number.ok()) co_return Outcome::failure(number.error());
    tat = number.value();
  }
  auto now = in.required("now");
  if (!now.ok()) co_return Outcome::failure(now.error());
  auto now_value = number_in(now.value(), 0, false, kMaxTimeMs, "between 0 and 1e15 (ms)");
  if (!now_value.ok()) co_return Outcome::failure(now_value.error());
  int64_t quantity = 1;
  if (auto value = in.find("quantity")) {
    auto number = value->integer(1, 1000000);
    if (!number.ok()) co_return Outcome::failure(number.error());
    quantity = number.value();
  }
  bool partial = false;
  if (auto value = in.find("partial")) {
    auto flag = value->boolean();
    if (!flag.ok()) co_return Outcome::failure(flag.error());
    partial = flag.value();
  }
  // More than the bucket holds could never pass: refused as input, as tiers.admit refuses a
  // cost above the burst (a partial take, as a lease, gets what there is).
  if (!partial && static_cast<double>(quantity) > std::floor(limit.burst)) {
    co_return Outcome::failure(
        invalid_input("quantity: " + std::to_string(quantity) + " is above the burst of " +
                      format_number(std::floor(limit.burst)) +
                      " (it could never pass; partial: true takes what there is)"));
  }
  GcraOutcome g = gcra_take(limit, tat, now_value.value(), quantity, partial);
  JsonWriter out;
  out.begin_object()
      .key("limited")
      .value(g.limited)
      .key("granted")
      .value(g.granted)
      .key("limit")
      .value(g.limit)
      .key("remaining")
      .value(g.remaining)
      .key("retryAfterMs")
      .value(g.retry_after_ms)
      .key("resetAfterMs")
      .value(g.reset_after_ms)
      .key("tat")
      .value(g.new_tat)
      .end_object();
  co_return Outcome::answer(out.take());
}

// {"organizationId", "tier", "cost"?} -> whether the request may go on, with the fields
// of redis-cell (limited, limit, remaining, retry after, reset after).
MethodTask admit_method(CallContext& ctx, Instance& instance) {
  auto catalogue = instance.state<TiersState>().catalogue;
  auto object = input_object(ctx, instance, {"organizationId", "tier", "cost"});
  if (!object.ok()) co_return Outcome::failure(object.error());
  auto org_id = required_string(object.value(), "organizationId");
  if (!org_id.ok()) co_return Outcome::failure(org_id.error());
  if (auto s = check_id("organizationId", org_id.value()); !s.ok()) {
    co_return Outcome::failure(s.error());
  }
  auto tier = required_tier(object.value(), *catalogue);
  if (!tier.ok()) co_return Outcome::failure(tier.error());
  int64_t cost = 1;
  if (auto value = object.value().find("cost")) {
    auto number = value->integer(1, 1000000);
    if (!number.ok()) co_return Outcome::failure(number.error());
    cost = number.value();
  }
  const auto& rate = tier.value()->limits[kApiRequestsPerSecond];
  if (!rate) {
    co_return Outcome::answer(
        R"({"allowed":true,"limited":false,"limit":null,"remaining":null,"retryAfterMs":-1,)"
        R"("resetAfterMs":0,"rate":null,"burst":null,"source":"unlimited"})");
  }
  const GcraLimit limit{*rate, std::floor(tier.value()->api_burst.value_or(*rate))};
  if (static_cast<double>(cost) > limit.burst) {
    co_return Outcome::failure(invalid_input("cost: " + std::to_string(cost) +
                                             " is above the tier's burst of " +
                                             format_number(limit.burst)));
  }
  const AdmissionPolicy& policy = catalogue->admission;
  auto& state = instance.state<AdmissionState>();
  const std::string& org_key = org_id.value();
  const double now = qv_host_now_ms();
  auto org = state.rates.entry(
      org_key, kSweepEntries,
      [&](const std::string&, const RateLease& entry) { return forgettable(entry, now, policy); });
  JsonWriter out;
  RateDecision decision;

  // Calls of this isolate for the same organisation share one lease: while one leases,
  // the others wait for it instead of racing it for the same KV value.
  for (;;) {
    if (org->rate_seen != limit.rate_per_second || org->burst_seen != limit.burst) {
      // Another limit than the one the lease was taken under: its tokens were sized for that
      // limit (a lease of Enterprise spent under Startup would pass ten times Startup's rate),
      // and a refusal under it may not hold under this one. The shared TAT holds for both.
      org->tokens = 0;
      org->limited_until = 0;
      org->rate_seen = limit.rate_per_second;
      org->burst_seen = limit.burst;
    }
    if (org->lease_expires <= now) org->tokens = 0;  // an unspent lease lapses
    // Leased tokens were reserved in the shared bucket: they pay even while a larger request's
    // refusal is remembered.
    if (org->tokens >= cost) {
      org->tokens -= cost;
      org->spent_since_lease += cost;
      decision.gcra = gcra_take(limit, parse_number(org->stored), now, 0, true);
      decision.gcra.limited = false;
      decision.gcra.retry_after_ms = -1;
      count_lease(decision.gcra, org->tokens, limit);
      decision.source = "lease";
      write_rate_decision(out, decision, limit);
      co_return Outcome::answer(out.take());
    }
    if (now < org->limited_until) {  // refused recently: the bucket has not refilled yet
      decision.gcra = gcra_take(limit, parse_number(org->stored), now, cost, false);
      decision.gcra.limited = true;
      decision.gcra.granted = 0;
      // Until one token is due, or longer when this request's cost is still further off.
      decision.gcra.retry_after_ms =
          std::max(org->limited_until - now, decision.gcra.retry_after_ms);
      count_lease(decision.gcra, org->tokens, limit);
      decision.source = "cached";
      write_rate_decision(out, decision, limit);
      co_return Outcome::answer(out.take());
    }
    if (now < state.kv_retry_at) {
      decision = local_rate_decision(*org, limit, policy, now, cost, kKvUnavailable,
                                     "waiting to retry KV");
      write_rate_decision(out, decision, limit);
      co_return Outcome::answer(out.take());
    }
    if (now < org->unreadable.retry_at) {
      decision = local_rate_decision(*org, limit, policy, now, cost, kValueUnreadable,
                                     org->unreadable.why);
      write_rate_decision(out, decision, limit);
      co_return Outcome::answer(out.take());
    }
    if (!org->leasing) break;
    ctx.wait(*org->leasing);
    org->queued += cost;
    co_await ctx.perform();
    org->queued -= cost;
  }
  org->leasing = std::make_unique<Signal>();
  // Whatever way this call ends, its waiters are woken, and the isolate's unspent lease,
  // which pays towards this request (it is less than the cost), goes back unless spent: under
  // the limit it was leased under only.
  struct LeaseGuard {
    RateLease& org;
    const GcraLimit& limit;
    int64_t held;
    ~LeaseGuard() {
      if (org.rate_seen == limit.rate_per_second && org.burst_seen == limit.burst)
        org.tokens += held;
      org.leasing.reset();
    }
  } lease_guard{*org, limit, std::exchange(org->tokens, 0)};

  const std::string key = "qv:rl:" + org_key;
  // Lease what this isolate is likely to spend within lease_ms at the rate it spent the
  // last lease, at most lease_fraction of a second's limit: a busy isolate asks KV about
  // once per lease_ms, a quiet one leases little and lets little lapse.
  const int64_t max_lease = std::max<int64_t>(
      cost, std::min<int64_t>(
                static_cast<int64_t>(limit.burst),
                static_cast<int64_t>(std::ceil(limit.rate_per_second * policy.lease_fraction))));
  // At least what the calls queued behind this one want, so they need no lease of their own.
  int64_t lease = std::min(max_lease, cost + org->queued);
  if (org->lease_taken_at > 0 && now > org->lease_taken_at) {
    const double local_rate = static_cast<double>(org->spent_since_lease + cost) /
                              (now - org->lease_taken_at);  // tokens per ms
    lease = std::clamp<int64_t>(static_cast<int64_t>(std::ceil(local_rate * policy.lease_ms)),
                                lease, max_lease);
  }
  // A call of another tier for this organisation may arrive while this one is in flight:
  // the lease or refusal this call leaves is marked with the limit it was decided under, so
  // that call drops it on waking rather than spend it under its own limit.
  const auto decided_under_this_limit = [&] {
    org->rate_seen = limit.rate_per_second;
    org->burst_seen = limit.burst;
  };
  for (int attempt = 0; attempt < kMaxCasAttempts; ++attempt) {
    const std::optional<double> tat = parse_number(org->stored);
    GcraOutcome g = gcra_take(limit, tat, now, lease, true);
    if (lease_guard.held + g.granted < cost) {
      decided_under_this_limit();
      // The TAT we know is at most the stored one (TATs only grow while they matter), so
      // a refusal on it holds; remember it so the next requests need no round trip.
      decision.gcra = gcra_take(limit, tat, now, cost, false);
      // Cached until one token is due, not this request's cost: a smaller request may pass
      // sooner, and must not be refused on a large one's behalf.
      org->limited_until = now + gcra_take(limit, tat, now, 1, false).retry_after_ms;
      count_lease(decision.gcra, lease_guard.held, limit);
      decision.source = "kv";
      write_rate_decision(out, decision, limit);
      co_return Outcome::answer(out.take());
    }
    const std::string next = format_number(g.new_tat);
    const size_t op = ctx.kv_cas(key, org->stored, next, ttl_ms(g.new_tat, now));
    co_await ctx.perform();
    const OpResult& result = ctx.result(op);
    if (result.status != QV_OK) {
      state.kv_retry_at = now + policy.kv_retry_ms;
      decision = local_rate_decision(*org, limit, policy, now, cost, kKvUnavailable, result.data);
      write_rate_decision(out, decision, limit);
      co_return Outcome::answer(out.take());
    }
    if (result.number == 0 && !parse_json_number(result.data)) {  // see Unreadable
      org->unreadable = {"the rate limit stored for organisation '" + org_key + "' (not a number)",
                         now + policy.kv_retry_ms};
      decision = local_rate_decision(*org, limit, policy, now, cost, kValueUnreadable,
                                     org->unreadable.why);
      write_rate_decision(out, decision, limit);
      co_return Outcome::answer(out.take());
    }
    if (result.number == 1) {
      decided_under_this_limit();
      org->stored = next;
      org->tokens += std::exchange(lease_guard.held, 0) + g.granted - cost;
      org->lease_expires = now + policy.lease_ms;
      org->lease_taken_at = now;
      org->spent_since_lease = 0;
      decision.gcra = g;
      decision.gcra.granted = cost;
      count_lease(decision.gcra, org->tokens, limit);
      decision.source = "kv";
      write_rate_decision(out, decision, limit);
      co_return Outcome::answer(out.take());
    }
    // Another isolate (or call) moved first: retry on the value it wrote, after a back-off.
    org->stored = result.number == 0 ? std::optional(result.data) : std::nullopt;
    ctx.sleep(jittered_backoff_ms(attempt, kMaxBackoffMs));
    co_await ctx.perform();
  }
  decision.gcra = gcra_take(limit, parse_number(org->stored), now, cost, false);
  decision.gcra.limited = true;
  decision.gcra.retry_after_ms = limit.interval_ms();
  count_lease(decision.gcra, lease_guard.held, limit);
  decision.source = "kv";
  decision.reason = "too many isolates updating the limit at once; retry shortly";
  write_rate_decision(out, decision, limit);
  co_return Outcome::answer(out.take());
}

// ---- concurrent calls ------------------------------------------------------------------

struct CallInput {
  std::string organization_id;
  std::string call_id;
  const Tier* tier = nullptr;
};

Result<CallInput> parse_call_input(CallContext& ctx, Instance& instance, const Catalogue& catalogue,
                                   bool needs_tier) {
  auto object = needs_tier ? input_object(ctx, instance, {"organizationId", "tier", "callId"})
                           : input_object(ctx, instance, {"organizationId", "callId", "tier"});
  if (!object.ok()) return object.take_error();
  CallInput input;
  for (auto [field, out] :
       {std::pair{"organizationId", &input.organization_id}, std::pair{"callId", &input.call_id}}) {
    auto value = required_string(object.value(), field);
    if (!value.ok()) return value.take_error();
    if (auto s = check_id(field, value.value()); !s.ok()) return s.take_error();
    *out = std::move(value.value());
  }
  if (needs_tier) {
    auto tier = required_tier(object.value(), catalogue);
    if (!tier.ok()) return tier.take_error();
    input.tier = tier.value();
  }
  return input;
}

enum class CallAction { kStart, kHeartbeat, kEnd };

void write_call_answer(JsonWriter& out, const CallInput& input, const char* outcome_key,
                       bool outcome, const CallSet& calls, std::optional<double> limit,
                       std::optional<double> expires, const std::string& source) {
  out.begin_object()
      .key("callId")
      .value(input.call_id)
      .key(outcome_key)
      .value(outcome)
      .key("active")
      .value(static_cast<int64_t>(calls.size()))
      .key("limit")
      .value(limit)
      .key("leaseExpiresAt")
      .value(expires)
      .key("source")
      .value(source);
}

// One call's change to its organisation's call set, and the answer it gets.
struct CallChange {
  CallInput input;
  CallAction action = CallAction::kStart;
  std::optional<double> limit;     // the tier's concurrent calls (none for an end)
  double expires = 0;              // the lease a start or heartbeat asks for
  std::optional<Outcome> outcome;  // set once decided (and written, for a change)
  bool abandoned = false;          // its call was freed before an answer: nobody waits
};
using CallBatch = std::vector<std::shared_ptr<CallChange>>;

// Decides a batch of changes, in order, on `calls` (the organisation's set as last seen):
// each change's answer goes to answers[i], to be given only once the set is written, and
// `changed` says whether the set needs writing (true from the start when `merged` holds
// changes of its own: what this isolate did while the KV was unavailable). false when a change
// would be refused on a set not read during this write: it may hold calls that ended elsewhere, so
// the writer reads it again and decides again. The same when the batch writes nothing but a
// heartbeat was answered from the set (below): only a set just read (or written) says the call is
// still active.
bool decide_changes(CallSet& calls, const CallBatch& batch, double now, bool fresh, bool merged,
                    std::vector<Outcome>& answers, bool& changed) {
  answers.clear();
  changed = merged;
  bool answered_from_set = false;
  for (const auto& change : batch) {
    const CallInput& input = change->input;
    const std::optional<double>& limit = change->limit;
    const bool start = change->action == CallAction::kStart;
    const bool active = calls.count(input.call_id) != 0;
    const bool at_limit = limit && static_cast<double>(calls.size()) >= *limit;
    const bool refused = start ? !active && at_limit : !active;
    if (refused && !fresh) return false;
    JsonWriter out;
    if (change->action == CallAction::kEnd) {  // ending a call that is not active: nothing to do
      changed = changed || active;
      calls.erase(input.call_id);
      write_call_answer(out, input, "ended", true, calls, limit, std::nullopt, "kv");
      out.key("wasActive").value(active).end_object();
    } else if (refused && !start) {
      answers.push_back(Outcome::failure(
          not_found("callId: call '" + input.call_id + "' is not active for organisation '" +
                    input.organization_id + "' (it ended or its lease expired)")));
      continue;
    } else if (change->action == CallAction::kHeartbeat &&
               calls.at(input.call_id) - now > (change->expires - now) / 2) {
      // More than half of its lease left: the lease stands, and nothing is written. A call
      // that beats every third of its lease rewrites the set every other beat, not at each
      // (the whole set, every call's, per write).
      answered_from_set = true;
      write_call_answer(out, input, "renewed", true, calls, limit, calls.at(input.call_id), "kv");
      out.end_object();
    } else if (refused) {
      double earliest = change->expires;
      for (const auto& call : calls) earliest = std::min(earliest, call.second);
      write_call_answer(out, input, "admitted", false, calls, limit, std::nullopt, "kv");
      out.key("retryAfterMs")
          .value(std::max(0.0, earliest - now))
          .key("reason")
          .value("concurrent calls at the limit of the tier (" + format_number(*limit) + ")")
          .end_object();
    } else {
      calls[input.call_id] = change->expires;
      changed = true;
      write_call_answer(out, input, start ? "admitted" : "renewed", true, calls, limit,
                        change->expires, "kv");
      if (start) out.key("alreadyActive").value(active);
      out.end_object();
    }
    answers.push_back(Outcome::answer(out.take()));
  }
  return fresh || changed || !answered_from_set;
}

// A change decided on this isolate's own set while KV is unavailable, or the organisation's set
// in it unreadable (the fail-open policy).
Outcome decide_locally(CallLeases& org, const CallChange& change, const AdmissionPolicy& policy,
                       double now, std::string_view problem, const std::string& why) {
  const CallInput& input = change.input;
  const std::optional<double>& limit = change.limit;
  const bool start = change.action == CallAction::kStart;
  JsonWriter out;
  CallSet& calls = org.local;  // expired calls dropped by the writer
  const bool active = calls.count(input.call_id) != 0;
  // This isolate's share of the limit (no limit: none).
  const double local_limit =
      limit ? std::max(1.0, std::floor(*limit * policy.fail_open_share)) : HUGE_VAL;
  // A heartbeat for a call this isolate does not know is kept when the shared set last seen
  // held it (admitted through KV before the outage); any other counts as a start would, so
  // that heartbeats for ids never started cannot grow the set past the isolate's share.
  bool known_in_kv = false;
  if (change.action == CallAction::kHeartbeat && !active && org.stored) {
    if (auto stored = parse_call_set(*org.stored); stored.ok()) {
      auto it = stored.value().find(input.call_id);
      known_in_kv = it != stored.value().end() && it->second > now;
    }
  }
  const bool counted = !active && !known_in_kv;
  if (change.action == CallAction::kEnd) {
    calls.erase(input.call_id);
    // It may hold a slot in KV (admitted before the outage): freed with the first write
    // after it, for as long as its lease could have run.
    org.ended[input.call_id] = change.expires;
    write_call_answer(out, input, "ended", true, calls, limit, std::nullopt, "local");
    out.key("wasActive").value(active);
  } else if (!policy.fail_open || (counted && static_cast<double>(calls.size()) >= local_limit)) {
    write_call_answer(out, input, start ? "admitted" : "renewed", false, calls, limit, std::nullopt,
                      policy.fail_open ? "local" : "refused");
    out.key("retryAfterMs").value(policy.kv_retry_ms);
  } else {
    // A heartbeat for a call this isolate does not know may come from one admitted
    // through KV before the outage: keep it rather than drop a live call (within the
    // isolate's share unless the set last seen held it, above).
    calls[input.call_id] = change.expires;
    org.ended.erase(input.call_id);  // started again after it ended
    write_call_answer(out, input, start ? "admitted" : "renewed", true, calls, limit,
                      change.expires, "local");
    if (start) out.key("alreadyActive").value(active);
  }
  out.key("reason").value(local_reason(problem, policy, why)).end_object();
  return Outcome::answer(out.take());
}

// Gives each change of the batch its outcome: the one decided for it, or the same for all.
// (Every change of a batch is unanswered until its writer answers it here, once.)
void settle(const CallBatch& batch, const std::vector<Outcome>& decided) {
  for (size_t i = 0; i < batch.size(); ++i) batch[i]->outcome = decided[i];
}
void settle_all(const CallBatch& batch, const Outcome& outcome) {
  for (const auto& change : batch) change->outcome = outcome;
}

// A queued change whose call is freed before a write took it (the ABI lets a host free a
// call at any point: it gave up on the answer) leaves the queue, so that no write applies a
// start nobody waits for. (Named here, not local to the coroutine: its frame holds one.)
struct QueuedChange {
  CallLeases& org;
  std::shared_ptr<CallChange> change;
  ~QueuedChange() {
    if (!change->outcome) change->abandoned = true;  // a write that took it hands it on to none
    std::erase(org.queued, change);                  // nothing when a write took it
  }
};

// Whatever way a write ends, the calls queued meanwhile wake. A write whose call is freed
// mid-flight leaves the other changes of its batch unanswered: they go back to the front of
// the queue, for the next writer to apply (again, if the freed write's compare-and-set did;
// each change is idempotent on the set), while its own change goes with it.
struct WriteGuard {
  CallLeases& org;
  const CallBatch& batch;
  const std::shared_ptr<CallChange>& own;
  ~WriteGuard() {
    CallBatch unanswered;
    for (const auto& change : batch) {
      if (!change->outcome && !change->abandoned && change != own) unanswered.push_back(change);
    }
    org.queued.insert(org.queued.begin(), unanswered.begin(), unanswered.end());
    org.updating.reset();
  }
};

// Call start, heartbeat and end. The changes of this isolate to one organisation's set are
// written together: while one call writes the set (read-modify-compare-and-set until it
// holds), the others queue their changes, and the next writer takes them all at once. So
// N concurrent changes cost a few KV round trips instead of N, each rewriting the whole set,
// and isolates, not calls, contend for the KV value.
MethodTask call_method(CallContext& ctx, Instance& instance, CallAction action) {
  auto catalogue = instance.state<TiersState>().catalogue;
  auto parsed = parse_call_input(ctx, instance, *catalogue, action != CallAction::kEnd);
  if (!parsed.ok()) co_return Outcome::failure(parsed.error());
  const AdmissionPolicy& policy = catalogue->admission;
  const double now = qv_host_now_ms();
  auto change = std::make_shared<CallChange>();
  change->input = std::move(parsed.value());
  change->action = action;
  if (change->input.tier) change->limit = change->input.tier->limits[kConcurrentCalls];
  change->expires = now + policy.call_lease_ms;
  auto& state = instance.state<AdmissionState>();
  auto org = state.calls.entry(
      change->input.organization_id, kSweepEntries,
      [&](const std::string&, const CallLeases& entry) { return forgettable(entry, now); });
  const std::string key = "qv:calls:" + change->input.organization_id;
  org->queued.push_back(change);
  const QueuedChange queued_guard{*org, change};
  while (org->updating && !change->outcome) {
    ctx.wait(*org->updating);
    co_await ctx.perform();
  }
  if (change->outcome) co_return *change->outcome;  // written (or refused) by another call

  org->updating = std::make_unique<Signal>();
  const CallBatch batch = std::exchange(org->queued, {});
  const WriteGuard write_guard{*org, batch, change};
  bool fresh = false;  // whether org->stored came from KV during this write
  std::string kv_failure = now < state.kv_retry_at ? "waiting to retry KV" : "";
  std::string unreadable = now < org->unreadable.retry_at ? org->unreadable.why : "";
  std::vector<Outcome> answers;
  // The set to decide on: org->stored's, then each value read from KV that is readable. One
  // that is not is left out of org->stored, which keeps the set last read (see Unreadable).
  CallSet shared;
  const auto take = [&](std::optional<std::string> value) {
    auto calls = value ? parse_call_set(*value) : Result<CallSet>(CallSet{});
    if (!calls.ok()) {
      unreadable = "the calls stored for organisation '" + change->input.organization_id + "' (" +
                   calls.error().message + ")";
      org->unreadable = {unreadable, now + policy.kv_retry_ms};
      return false;
    }
    shared = std::move(calls.value());
    org->stored = std::move(value);
    return true;
  };

  drop_expired(org->ended, now);  // the update guard keeps both as they are until the write
  drop_expired(org->local, now);
  if (kv_failure.empty() && unreadable.empty()) take(org->stored);
  for (int attempt = 0; kv_failure.empty() && unreadable.empty() && attempt < kMaxCasAttempts;
       ++attempt) {
    CallSet calls = shared;
    drop_expired(calls, now);
    // What this isolate decided locally goes into the shared set with this write: calls it
    // ended leave (their slot is free everywhere again), calls it admitted join (a call
    // outlives the outage, and counts against the limit everywhere again).
    for (const auto& ended : org->ended) calls.erase(ended.first);
    for (const auto& [id, until] : org->local) calls[id] = std::max(calls[id], until);
    const bool merged = !org->ended.empty() || !org->local.empty();
    bool changed = false;
    if (!decide_changes(calls, batch, now, fresh, merged, answers, changed)) {
      const size_t get = ctx.kv_get(key);
      co_await ctx.perform();
      const OpResult& result = ctx.result(get);
      if (result.status != QV_OK && result.status != QV_NOT_FOUND) {
        kv_failure = result.data;
        break;
      }
      if (!take(result.status == QV_OK ? std::optional(result.data) : std::nullopt)) break;
      fresh = true;
      continue;
    }
    if (!changed) {  // refusals and ends of calls not active: nothing to write
      settle(batch, answers);
      co_return *change->outcome;
    }
    double last_expiry = now;
    for (const auto& call : calls) last_expiry = std::max(last_expiry, call.second);
    const std::string next = write_call_set(calls);
    const size_t op = ctx.kv_cas(key, org->stored, next, ttl_ms(last_expiry, now));
    co_await ctx.perform();
    const OpResult& result = ctx.result(op);
    if (result.status != QV_OK) {
      kv_failure = result.data;
      break;
    }
    if (result.number != 1) {  // another isolate changed the set: decide again on its value
      if (!take(result.number == 0 ? std::optional(result.data) : std::nullopt)) break;
      fresh = true;
      ctx.sleep(jittered_backoff_ms(attempt, kMaxBackoffMs));
      co_await ctx.perform();
      continue;
    }
    org->stored = next;
    org->local.clear();  // all in KV now
    org->ended.clear();
    settle(batch, answers);
    co_return *change->outcome;
  }

  if (kv_failure.empty() && unreadable.empty()) {
    settle_all(batch,
               Outcome::failure({QV_UNAVAILABLE,
                                 "kv: too many isolates changing the calls of "
                                 "organisation '" +
                                     change->input.organization_id + "' at once; retry shortly"}));
    co_return *change->outcome;
  }
  // Decided on this isolate's own set, under the fail-open policy: the KV is unavailable, or
  // the organisation's set in it unreadable.
  if (!kv_failure.empty() && now >= state.kv_retry_at) state.kv_retry_at = now + policy.kv_retry_ms;
  for (const auto& queued : batch) {
    queued->outcome = kv_failure.empty()
                          ? decide_locally(*org, *queued, policy, now, kValueUnreadable, unreadable)
                          : decide_locally(*org, *queued, policy, now, kKvUnavailable, kv_failure);
  }
  co_return *change->outcome;
}

MethodTask admission_stats_method(CallContext&, Instance& instance) {
  const auto& state = instance.state<AdmissionState>();
  JsonWriter out;
  out.begin_object().key("organizations").begin_object();
  out.key("rateLimits").value(static_cast<int64_t>(state.rates.entries.size()));
  out.key("calls").value(static_cast<int64_t>(state.calls.entries.size()));
  out.end_object().key("forgotten").begin_object();
  out.key("rateLimits").value(static_cast<int64_t>(state.rates.forgotten));
  out.key("calls").value(static_cast<int64_t>(state.calls.forgotten));
  out.end_object().end_object();
  co_return Outcome::answer(out.take());
}

MethodTask call_start_method(CallContext& ctx, Instance& instance) {
  return call_method(ctx, instance, CallAction::kStart);
}
MethodTask call_heartbeat_method(CallContext& ctx, Instance& instance) {
  return call_method(ctx, instance, CallAction::kHeartbeat);
}
MethodTask call_end_method(CallContext& ctx, Instance& instance) {
  return call_method(ctx, instance, CallAction::kEnd);
}

}  // namespace

const Method kAdmissionMethods[] = {
    {"tiers.gcra", gcra_method},
    {"tiers.admit", admit_method},
    {"tiers.call_start", call_start_method},
    {"tiers.call_heartbeat", call_heartbeat_method},
    {"tiers.call_end", call_end_method},
    {"tiers.admission_stats", admission_stats_method},
};

}  // namespace qv::tiers

std::span<const qv::Method> qv::tiers::detail::admission_methods() {
  return qv::tiers::kAdmissionMethods;
}
