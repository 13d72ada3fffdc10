// The tiers methods as the ABI serves them. Each parses its JSON input with errors that
// name the field, calls the pure functions of tiers.h and writes a JSON answer.
#include <memory>
#include <optional>
#include <vector>

#include "method_support.h"
#include "qv/tiers/admission.h"
#include "qv/tiers/methods.h"

namespace qv::tiers {

namespace {

using detail::required_tier;
using detail::TiersState;

MethodTask configure_method(CallContext& ctx, Instance& instance) {
  auto root = instance.parser().parse(ctx.input());
  if (!root.ok()) co_return Outcome::failure(root.error());
  auto catalogue = parse_catalogue(root.value());
  if (!catalogue.ok()) co_return Outcome::failure(catalogue.error());
  auto& state = instance.state<TiersState>();
  state.catalogue = std::make_shared<const Catalogue>(std::move(catalogue.value()));
  JsonWriter out;
  write_catalogue(out, *state.catalogue);
  co_return Outcome::answer(out.take());
}

MethodTask catalogue_method(CallContext& ctx, Instance& instance) {
  auto object = input_object(ctx, instance, {});
  if (!object.ok()) co_return Outcome::failure(object.error());
  JsonWriter out;
  write_catalogue(out, *instance.state<TiersState>().catalogue);
  co_return Outcome::answer(out.take());
}

MethodTask evaluate_method(CallContext& ctx, Instance& instance) {
  auto catalogue = instance.state<TiersState>().catalogue;
  auto root = instance.parser().parse(ctx.input());
  if (!root.ok()) co_return Outcome::failure(root.error());
  auto input = parse_evaluate_input(root.value(), *catalogue);
  if (!input.ok()) co_return Outcome::failure(input.error());
  JsonWriter out;
  write_decision(out, evaluate(input.value(), *catalogue));
  co_return Outcome::answer(out.take());
}

MethodTask features_method(CallContext& ctx, Instance& instance) {
  auto catalogue = instance.state<TiersState>().catalogue;
  auto object = input_object(ctx, instance, {"tier"});
  if (!object.ok()) co_return Outcome::failure(object.error());
  auto tier = required_tier(object.value(), *catalogue);
  if (!tier.ok()) co_return Outcome::failure(tier.error());
  JsonWriter out;
  out.begin_object().key("tier").value(tier.value()->name).key("features").begin_array();
  for (const auto& feature : tier.value()->features) out.value(feature);
  out.end_array().end_object();
  co_return Outcome::answer(out.take());
}

MethodTask feature_enabled_method(CallContext& ctx, Instance& instance) {
  auto catalogue = instance.state<TiersState>().catalogue;
  auto object = input_object(ctx, instance, {"tier", "feature"});
  if (!object.ok()) co_return Outcome::failure(object.error());
  auto tier = required_tier(object.value(), *catalogue);
  if (!tier.ok()) co_return Outcome::failure(tier.error());
  auto feature = required_string(object.value(), "feature");
  if (!feature.ok()) co_return Outcome::failure(feature.error());
  auto check = check_feature(*catalogue, *tier.value(), feature.value());
  if (!check.ok()) co_return Outcome::failure(check.error());
  const FeatureCheck& gate = check.value();
  JsonWriter out;
  out.begin_object()
      .key("tier")
      .value(tier.value()->name)
      .key("feature")
      .value(feature.value())
      .key("enabled")
      .value(gate.enabled)
      .key("lowestTier")
      .value(gate.available_in.front()->name)
      .key("upgradeTier");
  if (gate.upgrade_tier) {
    out.value(gate.upgrade_tier->name);
  } else {
    out.null();
  }
  out.key("availableIn").begin_array();
  for (const Tier* with : gate.available_in) out.value(with->name);
  out.end_array().end_object();
  co_return Outcome::answer(out.take());
}

// The stored tier of an organisation: {"tier": ID, "changedOn": "YYYY-MM-DD" | null}. The id
// outlives a renaming of the tier; a name (as stored before ids were) is read too. Sets the
// tier and the last change only when both read; the error names what is wrong in the value.
Status read_stored_state(std::string_view json, const Catalogue& catalogue, EvaluateInput& input) {
  JsonParser parser;  // the stored value is parsed after a suspension: use a private parser
  auto root = parser.parse_unnamed(json);
  if (!root.ok()) return root.take_error();
  auto object = root.value().object();
  if (!object.ok()) return object.take_error();
  auto tier = required_tier(object.value(), catalogue);
  if (!tier.ok()) return tier.take_error();
  std::optional<int64_t> last_change;
  if (auto changed = object.value().find("changedOn"); changed && !changed->is_null()) {
    auto text = changed->string();
    if (!text.ok()) return text.take_error();
    last_change = parse_date(text.value());
    if (!last_change) {
      return invalid_input("changedOn: expected a date YYYY-MM-DD, got '" +
                           std::string(text.value()) + "'");
    }
  }
  input.current = tier.value();
  input.last_change = last_change;
  return ok_status();
}

// Compare-and-set rounds of one autoscale call before it gives up on a contended state.
constexpr int kMaxAutoscaleAttempts = 8;

MethodTask autoscale_method(CallContext& ctx, Instance& instance) {
  auto catalogue = instance.state<TiersState>().catalogue;
  auto root = instance.parser().parse(ctx.input());
  if (!root.ok()) co_return Outcome::failure(root.error());
  auto parsed = parse_evaluate_input(root.value(), *catalogue);
  if (!parsed.ok()) co_return Outcome::failure(parsed.error());
  EvaluateInput input = std::move(parsed.value());
  const std::string key = "qv:tiers:org:" + input.organization_id;
  const size_t get = ctx.kv_get(key);
  co_await ctx.perform();
  const OpResult& read = ctx.result(get);
  // Why the decision is the input's and not applied (the KV failed, or the state in it
  // cannot be read), as the answer's reason says it; empty while the KV decides.
  std::string off_kv;
  auto decided_on_input = [](std::string_view problem, const std::string& why) {
    return std::string(problem) + ", decided on the input's tier and not applied: " + why;
  };
  std::optional<std::string> stored;
  if (read.status == QV_OK) {
    stored = read.data;
  } else if (read.status != QV_NOT_FOUND) {
    off_kv = decided_on_input(detail::kKvUnavailable, read.data);
  }

  // The decision is made on the stored state and written only if that state still holds
  // (compare-and-set): two isolates deciding at once apply one change, and the other
  // decides again on what the first wrote (in cooldown, it changes nothing).
  // read_stored_state sets the tier and the last change; each round starts from the input's.
  // A stored state this isolate cannot read (garbage, or another version's format during a
  // rolling deploy, a tier of another catalogue) is never written over: what it says is not
  // known, so a write could undo a change another isolate made, or its cooldown. The
  // decision is then the input's, as tiers.evaluate makes it, and applies nothing; every call
  // reads the state again, so the stored one is used once it reads, and the input's applied
  // once it is gone. So too while the KV fails (a read or a compare-and-set): a failing
  // dependency degrades the answer, it does not refuse it.
  const Tier* given_tier = input.current;
  const std::optional<int64_t> given_change = input.last_change;
  Decision decision;
  std::optional<int64_t> changes;  // the count of tier changes, when it could be counted
  for (int attempt = 0;; ++attempt) {
    input.current = given_tier;
    input.last_change = given_change;
    if (stored && off_kv.empty()) {
      if (auto s = read_stored_state(*stored, *catalogue, input); !s.ok()) {
        off_kv = decided_on_input(detail::kValueUnreadable, "the tier stored for organisation '" +
                                                                input.organization_id + "' (" +
                                                                s.error().message + ")");
      }
    }
    decision = evaluate(input, *catalogue);
    if (!off_kv.empty() || (!decision.scale_up && !decision.scale_down)) break;
    if (attempt == kMaxAutoscaleAttempts) {
      co_return Outcome::failure({QV_UNAVAILABLE, "kv: the tier of organisation '" +
                                                      input.organization_id +
                                                      "' keeps changing under this call; retry"});
    }
    JsonWriter state;
    state.begin_object()
        .key("tier")
        .value(decision.recommended->id)
        .key("changedOn")
        .value(format_date(*decision.as_of))
        .end_object();
    const size_t cas = ctx.kv_cas(key, stored, state.take(), 0);
    co_await ctx.perform();
    const OpResult& result = ctx.result(cas);
    if (result.status != QV_OK) {  // the next round decides on the input's
      off_kv = decided_on_input(detail::kKvUnavailable, result.data);
      continue;
    }
    if (result.number == 1) break;
    stored = result.number == 0 ? std::optional(result.data) : std::nullopt;
  }
  // The loop ends on no change, on a change written, or on a decision off the KV: every
  // other way out returns.
  const bool applied = off_kv.empty() && (decision.scale_up || decision.scale_down);
  if (applied) {
    // The tier first, the count after it: a count that fails leaves the change applied
    // (and says so), and a tier that fails is not counted.
    const size_t incr = ctx.kv_incr(key + ":changes", 1, 0);
    co_await ctx.perform();
    if (ctx.result(incr).status == QV_OK) changes = ctx.result(incr).number;
  }
  JsonWriter out;
  out.begin_object().key("decision");
  write_decision(out, decision);
  out.key("applied").value(applied);
  if (applied) {
    out.key("tierChanges");
    if (changes)
      out.value(*changes);
    else
      out.null();
  }
  out.key("source").value(off_kv.empty() ? "kv" : "input");
  if (!off_kv.empty()) out.key("reason").value(off_kv);
  out.end_object();
  co_return Outcome::answer(out.take());
}

}  // namespace

const Method kTiersMethods[] = {
    {"tiers.configure", configure_method},
    {"tiers.catalogue", catalogue_method},
    {"tiers.evaluate", evaluate_method},
    {"tiers.features", features_method},
    {"tiers.feature_enabled", feature_enabled_method},
    {"tiers.autoscale", autoscale_method},
};

std::span<const Method> methods() {
  static const std::vector<Method> all = [] {
    std::vector<Method> list(std::begin(kTiersMethods), std::end(kTiersMethods));
    for (const Method& method : detail::admission_methods()) list.push_back(method);
    return list;
  }();
  return all;
}

}  // namespace qv::tiers
