// The router methods as the ABI serves them: JSON in (errors name the field), the pure
// Router of router.h per instance, JSON out. Time comes from the host; the active health
// checks are fetch operations and shared ejections are KV operations the host performs.
#include "qv/router/methods.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "fields.h"
#include "qv/json.h"
#include "qv/router/config_json.h"
#include "qv/router/router.h"
#include "text.h"

namespace qv::router {

namespace {

// The router of this instance (one isolate), and when it next reads the ejections other
// isolates published.
struct RouterState {
  Router router;
  double next_sync_at = 0;

  // When router.health_check is next due: a probe, or the read of the ejections other
  // isolates published (due even when this isolate probes nothing itself).
  double next_health_check_at(double now) {
    double next = router.next_probe_at(now);
    if (router.config().share_ejections) next = std::min(next, std::max(now, next_sync_at));
    return next;
  }
};

constexpr std::string_view kEjectionKeyPrefix = "qv:router:ejected:";

// Figures for people: ms to 0.01, km to 0.1.
double round_to(double value, double per_unit) {
  return std::floor(value * per_unit + 0.5) / per_unit;  // figures here are never negative
}

std::optional<double> rounded(double value, double per_unit) {
  if (value < 0) return std::nullopt;  // "unknown" in RegionLatency
  return round_to(value, per_unit);
}

using T = FieldType;
constexpr double kNoLocation = -1000;  // below any latitude: "not given"

// Parses the call's input as a JSON object with the fields of the table into target.
Result<JsonObject> read_input(CallContext& ctx, Instance& instance, std::span<const Field> fields,
                              void* target) {
  auto root = instance.parser().parse(ctx.input());
  if (!root.ok()) return root.take_error();
  auto object = root.value().object();
  if (!object.ok()) return object.take_error();
  if (auto s = read_fields(object.value(), fields, target); !s.ok()) return s.take_error();
  return object;
}

// An ISO 3166-1 alpha-2 code, upper-cased in place.
Status check_country(const std::string& where, std::string& code) {
  bool ok = code.size() == 2;
  for (char& c : code) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    ok = ok && c >= 'A' && c <= 'Z';
  }
  if (ok || code.empty()) return ok_status();
  return (Text() << where << ": expected an ISO 3166-1 alpha-2 country code such as 'GB', got '"
                 << code << "'")
      .invalid();
}

// What "client" may say; coordinates are kNoLocation when absent.
struct ClientFields {
  double coordinate[2] = {kNoLocation, kNoLocation};  // latitude, longitude
  std::string country;
  std::string area;
};

const Field kClientFields[] = {
    {"latitude", T::kNumber, false, -90, 90, nullptr, nullptr,
     QV_FIELD(ClientFields, coordinate[0])},
    {"longitude", T::kNumber, false, -180, 180, nullptr, nullptr,
     QV_FIELD(ClientFields, coordinate[1])},
    {"country", T::kString, false, 0, 2, nullptr, nullptr, QV_FIELD(ClientFields, country)},
    {"area", T::kString, false, 0, 128, nullptr, nullptr, QV_FIELD(ClientFields, area)},
};

// Vercel's geolocation headers, as strings; the table's names in lower case, as read_fields
// matches header names in any case.
struct HeaderFields {
  std::string coordinate[2];
  std::string country;
  std::string id;
};

const Field kHeaderFields[] = {
    {"x-vercel-ip-latitude", T::kString, false, 0, 64, nullptr, nullptr,
     QV_FIELD(HeaderFields, coordinate[0])},
    {"x-vercel-ip-longitude", T::kString, false, 0, 64, nullptr, nullptr,
     QV_FIELD(HeaderFields, coordinate[1])},
    {"x-vercel-ip-country", T::kString, false, 0, 64, nullptr, nullptr,
     QV_FIELD(HeaderFields, country)},
    {"x-vercel-id", T::kString, false, 0, 256, nullptr, nullptr, QV_FIELD(HeaderFields, id)},
};

// The client from Vercel's geolocation headers ("headers") and/or explicit fields
// ("client", which win). Header names are read in any case, as HTTP's are; other headers are
// ignored, so a host may pass them all.
Status parse_client(const JsonObject& in, Client& client) {
  static constexpr const char* kAxes[2] = {"latitude", "longitude"};
  ClientFields fields;
  std::string where[2], country_where;
  if (auto headers = in.find("headers"); headers && !headers->is_null()) {
    auto object = headers->object();
    if (!object.ok()) return object.take_error();
    HeaderFields given;
    if (auto s = read_fields(object.value(), kHeaderFields, &given, Keys::kHeaders); !s.ok()) {
      return s;
    }
    for (int axis = 0; axis < 2; ++axis) {
      const std::string& text = given.coordinate[axis];
      if (text.empty()) continue;
      where[axis] = object.value().child_path(kHeaderFields[axis].name);
      const double limit = axis == 0 ? 90 : 180;
      const std::optional<double> number = parse_json_number(text);
      if (!number || !(std::fabs(*number) <= limit)) {
        Text problem;
        problem << where[axis] << ": expected a " << kAxes[axis] << " in degrees (-";
        problem.number(limit) << " to ";
        problem.number(limit) << "), got '" << text << "'";
        return problem.invalid();
      }
      fields.coordinate[axis] = *number;
    }
    fields.country = given.country;
    country_where = object.value().child_path("x-vercel-ip-country");
    // "fra1::iad1::<id>": the first part is the edge location that took the request, the
    // area whose RTTs to each region this isolate measures (Cloudflare keys its RTTs by
    // data centre the same way).
    const std::string pop = given.id.substr(0, given.id.find("::"));
    if (valid_id(pop, 16)) fields.area = "pop:" + pop;
  }
  if (auto given = in.find("client"); given && !given->is_null()) {
    auto object = given->object();
    if (!object.ok()) return object.take_error();
    ClientFields explicit_fields;
    if (auto s = read_fields(object.value(), kClientFields, &explicit_fields); !s.ok()) return s;
    for (int axis = 0; axis < 2; ++axis) {
      if (explicit_fields.coordinate[axis] == kNoLocation) continue;
      fields.coordinate[axis] = explicit_fields.coordinate[axis];
      where[axis] = object.value().child_path(kAxes[axis]);
    }
    if (!explicit_fields.country.empty()) {
      fields.country = explicit_fields.country;
      country_where = object.value().child_path("country");
    }
    if (!explicit_fields.area.empty()) fields.area = explicit_fields.area;
  }
  if (auto s = check_country(country_where, fields.country); !s.ok()) return s;
  const bool has[2] = {fields.coordinate[0] != kNoLocation, fields.coordinate[1] != kNoLocation};
  if (has[0] != has[1]) {
    const int axis = has[0] ? 0 : 1;
    return (Text() << where[axis] << ": a " << kAxes[axis] << " needs a " << kAxes[1 - axis]
                   << " too")
        .invalid();
  }
  if (has[0]) client.coordinates = GeoPoint{fields.coordinate[0], fields.coordinate[1]};
  client.country = std::move(fields.country);
  client.area = std::move(fields.area);
  return ok_status();
}

void write_health(JsonWriter& out, const HostHealthView& health, bool draining) {
  out.key("health")
      .value(health_name(health.health))
      .key("draining")
      .value(draining)
      .key("consecutiveFailures")
      .value(health.consecutive_failures)
      .key("timesEjected")
      .value(health.times_ejected)
      .key("ejectedUntilMs")
      .value(health.ejected_until > 0 ? std::optional<double>(health.ejected_until) : std::nullopt)
      .key("cause")
      .value(health.cause)
      .key("shared")
      .value(health.shared);
}

void write_budget(JsonWriter& out, const BudgetView& budget) {
  out.begin_object()
      .key("requests")
      .value(budget.requests)
      .key("retries")
      .value(budget.retries)
      .key("allowedRetries")
      .value(std::floor(budget.allowed))
      .end_object();
}

void write_decision(JsonWriter& out, const Decision& decision, const Config& config, bool explain) {
  const Region& best = config.regions[decision.optimal()];
  out.begin_object().key("optimalRegion").value(best.id).key("fallbackRegions").begin_array();
  for (size_t i = 1; i < decision.order.size(); ++i) {
    out.value(config.regions[decision.order[i]].id);
  }
  out.end_array().key("measuredLatencies").begin_object();
  for (size_t r = 0; r < config.regions.size(); ++r) {
    const RegionLatency& latency = decision.regions[r].latency;
    if (latency.samples > 0)
      out.key(config.regions[r].id).value(round_to(latency.measured_ms, 100));
  }
  out.end_object()
      .key("routingStrategy")
      .value(strategy_name(decision.strategy))
      .key("reason")
      .value(decision.reason)
      .key("origin")
      .value(best.origin)
      .key("timeoutMs")
      .value(config.request_timeout_ms)
      .key("clientArea")
      .value(decision.client.area)
      .key("location")
      .begin_object()
      .key("source")
      .value(location_source_name(decision.client.source));
  if (decision.client.location) {
    out.key("latitude")
        .value(decision.client.location->latitude)
        .key("longitude")
        .value(decision.client.location->longitude);
  }
  out.end_object().key("panic").value(decision.panic);
  if (explain) {
    out.key("regions").begin_array();
    for (uint32_t r = 0; r < config.regions.size(); ++r) {
      const RegionView& view = decision.regions[r];
      const RegionLatency& latency = view.latency;
      const auto rank = std::find(decision.order.begin(), decision.order.end(), r);
      out.begin_object()
          .key("region")
          .value(config.regions[r].id)
          .key("name")
          .value(config.regions[r].name)
          .key("rank")
          .value(rank == decision.order.end()
                     ? std::nullopt
                     : std::optional<double>(static_cast<double>(rank - decision.order.begin())))
          .key("candidate")
          .value(view.candidate)
          .key("health")
          .value(health_name(view.health))
          .key("draining")
          .value(config.regions[r].draining)
          .key("latencyMs")
          .value(latency.source == LatencySource::kNone ? std::nullopt
                                                        : rounded(latency.latency_ms, 100))
          .key("latencySource")
          .value(latency_source_name(latency.source))
          .key("measuredMs")
          .value(rounded(latency.measured_ms, 100))
          .key("samples")
          .value(latency.samples)
          .key("distanceKm")
          .value(rounded(latency.distance_km, 10))
          .key("estimatedMs")
          .value(rounded(latency.estimate_ms, 100))
          .key("costFactor")
          .value(config.regions[r].cost_factor)
          .end_object();
    }
    out.end_array();
  }
  out.end_object();
}

// What a published ejection holds: {"untilMs", "timesEjected", "cause"}.
std::string ejection_value(const HostHealthView& health) {
  JsonWriter out;
  out.begin_object()
      .key("untilMs")
      .value(health.ejected_until)
      .key("timesEjected")
      .value(health.times_ejected)
      .key("cause")
      .value(health.cause)
      .end_object();
  return out.take();
}

// Published for as long as the ejection lasts: the key expires with it.
uint32_t ejection_ttl_ms(const HostHealthView& health, double now) {
  return static_cast<uint32_t>(std::ceil(std::max(1.0, health.ejected_until - now)));
}

// A published ejection; false when unreadable.
bool read_ejection(std::string_view json, SharedEjection& ejection) {
  JsonParser parser;  // read after a suspension: the instance's parser may be in use
  auto root = parser.parse(json);
  if (!root.ok()) return false;
  auto object = root.value().object();
  if (!object.ok()) return false;
  auto until = object.value().find("untilMs");
  auto times = object.value().find("timesEjected");
  auto cause = object.value().find("cause");
  if (!until || !times || !cause) return false;
  auto until_ms = until->number();
  auto count = times->integer(1, 1000);
  auto text = cause->string();
  if (!until_ms.ok() || !count.ok() || !text.ok()) return false;
  ejection.until_ms = until_ms.value();
  ejection.times_ejected = static_cast<int>(count.value());
  ejection.cause = "shared: " + std::string(text.value());
  return true;
}

// ---- methods ---------------------------------------------------------------------------------

// Most methods never wait for the host: they are plain functions, wrapped in one small
// coroutine each, which keeps the state-machine code of coroutines out of them.
using SyncMethod = Outcome (*)(CallContext&, Instance&);
MethodTask run_sync(CallContext& ctx, Instance& instance, SyncMethod method) {
  co_return method(ctx, instance);
}
template <SyncMethod method>
MethodTask sync(CallContext& ctx, Instance& instance) {
  return run_sync(ctx, instance, method);
}

Outcome configure_method(CallContext& ctx, Instance& instance) {
  auto root = instance.parser().parse(ctx.input());
  if (!root.ok()) return Outcome::failure(root.error());
  auto config = parse_config(root.value());
  if (!config.ok()) return Outcome::failure(config.error());
  Router& router = instance.state<RouterState>().router;
  router.configure(std::move(config.value()));
  JsonWriter out;
  write_config(out, router.config());
  return Outcome::answer(out.take());
}

Outcome config_method(CallContext& ctx, Instance& instance) {
  auto input = read_input(ctx, instance, {}, nullptr);
  if (!input.ok()) return Outcome::failure(input.error());
  JsonWriter out;
  write_config(out, instance.state<RouterState>().router.config());
  return Outcome::answer(out.take());
}

struct RouteInput {
  bool count_request = false;
  bool explain = false;
};
const Field kRouteFields[] = {
    {"client", T::kOther},
    {"headers", T::kOther},
    {"countRequest", T::kFlag, false, 0, 0, nullptr, nullptr, QV_FIELD(RouteInput, count_request)},
    {"explain", T::kFlag, false, 0, 0, nullptr, nullptr, QV_FIELD(RouteInput, explain)},
};

Outcome route_method(CallContext& ctx, Instance& instance) {
  RouteInput input;
  auto object = read_input(ctx, instance, kRouteFields, &input);
  if (!object.ok()) return Outcome::failure(object.error());
  Client client;
  if (auto s = parse_client(object.value(), client); !s.ok()) return Outcome::failure(s.error());
  Router& router = instance.state<RouterState>().router;
  const Decision decision = router.route(client, qv_host_now_ms(), input.count_request);
  JsonWriter out;
  write_decision(out, decision, router.config(), input.explain);
  return Outcome::answer(out.take());
}

const Field kObserveFields[] = {
    {"region", T::kString, true, 1, 64, nullptr, nullptr, QV_FIELD(Observation, region)},
    {"area", T::kString, false, 0, 128, nullptr, nullptr, QV_FIELD(Observation, area)},
    {"node", T::kString, false, 0, 128, nullptr, nullptr, QV_FIELD(Observation, node)},
    {"rttMs", T::kNumber, true, 0, kMaxRttMs, nullptr, nullptr, QV_FIELD(Observation, rtt_ms)},
    {"status", T::kInt, true, 0, 999, nullptr, nullptr, QV_FIELD(Observation, status)},
    {"timedOut", T::kFlag, false, 0, 0, nullptr, nullptr, QV_FIELD(Observation, timed_out)},
};

// Adds "published": list_or_flag (and what follows it) before the closing brace of an answer.
std::string with_published(std::string answer, std::string_view list_or_flag) {
  answer.pop_back();
  answer += ",\"published\":";
  answer += list_or_flag;
  answer += '}';
  return answer;
}

// The observation, and the ejection to publish (its KV set queued on ctx), if any: its
// region in `publishing`.
Outcome observe(CallContext& ctx, Instance& instance, std::string& publishing) {
  Observation observation;
  auto input = read_input(ctx, instance, kObserveFields, &observation);
  if (!input.ok()) return Outcome::failure(input.error());
  Router& router = instance.state<RouterState>().router;
  const double now = qv_host_now_ms();
  auto observed = router.observe(observation, now);
  if (!observed.ok()) return Outcome::failure(observed.error());
  const ObserveResult& result = observed.value();
  // Other isolates learn of a region's ejection through KV rather than by failing on it
  // themselves; a KV failure leaves the ejection local.
  if (result.ejected_now && observation.node.empty() && router.config().share_ejections) {
    publishing = observation.region;
    ctx.kv_set(std::string(kEjectionKeyPrefix) + observation.region, ejection_value(result.host),
               ejection_ttl_ms(result.host, now));
  }
  // Whether the host observed (the region, or its media node) is draining.
  const Region& region = router.config().regions[router.config().find(observation.region)];
  bool draining = region.draining;
  if (!observation.node.empty()) {
    for (const MediaNode& node : region.media_nodes) {
      if (node.id == observation.node) draining = node.draining;
    }
  }
  JsonWriter out;
  out.begin_object().key("region").value(observation.region);
  if (!observation.node.empty()) out.key("node").value(observation.node);
  write_health(out, result.host, draining);
  out.key("ejectedNow")
      .value(result.ejected_now)
      .key("ejectionSuppressed")
      .value(result.ejection_suppressed)
      .key("ewmaMs")
      .value(result.ewma_ms ? rounded(*result.ewma_ms, 100) : std::nullopt)
      .key("samples")
      .value(result.samples)
      .end_object();
  return Outcome::answer(out.take());
}

MethodTask observe_method(CallContext& ctx, Instance& instance) {
  std::string publishing;
  Outcome outcome = observe(ctx, instance, publishing);
  if (publishing.empty()) co_return outcome;
  co_await ctx.perform();
  const OpResult& written = ctx.result(0);
  if (written.status == QV_OK)
    co_return Outcome::answer(with_published(std::move(outcome.body), "true"));
  // What failed, named as router.health_check names a KV problem: the ejection stays local.
  // (Appended as string_views: an out-of-line append(const char*) here is what router_test,
  // linked without a host, would take this object for.)
  std::string flag = "false,\"kvProblem\":";
  append_json_string(flag, std::string("the ejection of ")
                               .append(publishing)
                               .append(std::string_view(" was not published ("))
                               .append(written.data)
                               .append(std::string_view(")")));
  co_return Outcome::answer(with_published(std::move(outcome.body), flag));
}

struct RetryInput {
  std::string failed;
};
const Field kRetryFields[] = {
    {"failedRegion", T::kString, true, 1, 64, nullptr, nullptr, QV_FIELD(RetryInput, failed)},
    {"fallbackRegions", T::kOther},
};

Outcome retry_method(CallContext& ctx, Instance& instance) {
  RetryInput input;
  auto object = read_input(ctx, instance, kRetryFields, &input);
  if (!object.ok()) return Outcome::failure(object.error());
  std::vector<std::string> fallbacks;
  if (auto list = object.value().find("fallbackRegions"); list && !list->is_null()) {
    auto array = list->array();
    if (!array.ok()) return Outcome::failure(array.error());
    for (const JsonValue& item : array.value().items()) {
      auto id = item.string();
      if (!id.ok()) return Outcome::failure(id.error());
      fallbacks.emplace_back(id.value());
    }
  }
  Router& router = instance.state<RouterState>().router;
  auto decision = router.retry(input.failed, fallbacks, qv_host_now_ms());
  if (!decision.ok()) return Outcome::failure(decision.error());
  const RetryDecision& retry = decision.value();
  const Region* region = retry.region >= 0 ? &router.config().regions[retry.region] : nullptr;
  JsonWriter out;
  out.begin_object().key("allowed").value(retry.allowed).key("region");
  region ? out.value(region->id) : out.null();
  out.key("origin");
  region ? out.value(region->origin) : out.null();
  out.key("reason").value(retry.reason).key("budget");
  write_budget(out, retry.budget);
  out.end_object();
  return Outcome::answer(out.take());
}

Outcome health_method(CallContext& ctx, Instance& instance) {
  auto input = read_input(ctx, instance, {}, nullptr);
  if (!input.ok()) return Outcome::failure(input.error());
  Router& router = instance.state<RouterState>().router;
  const Config& config = router.config();
  const double now = qv_host_now_ms();
  JsonWriter out;
  out.begin_object().key("panic").value(router.panic(now)).key("regions").begin_array();
  for (uint32_t r = 0; r < config.regions.size(); ++r) {
    const Region& region = config.regions[r];
    out.begin_object().key("region").value(region.id);
    write_health(out, router.region_health(r, now), region.draining);
    const Router::CheckView check = router.last_check(r);
    out.key("lastCheck");
    if (check.at > 0) {
      out.begin_object()
          .key("atMs")
          .value(check.at)
          .key("ok")
          .value(check.ok)
          .key("failuresInARow")
          .value(check.consecutive_failures)
          .key("detail")
          .value(check.detail)
          .end_object();
    } else {
      out.null();
    }
    out.key("mediaNodes").begin_array();
    for (uint32_t n = 0; n < region.media_nodes.size(); ++n) {
      out.begin_object().key("id").value(region.media_nodes[n].id);
      write_health(out, router.node_health(r, n, now), region.media_nodes[n].draining);
      out.end_object();
    }
    out.end_array().end_object();
  }
  out.end_array().key("budget");
  write_budget(out, router.budget(now));
  out.key("nextHealthCheckAtMs")
      .value(instance.state<RouterState>().next_health_check_at(now))
      .key("areas")
      .value(static_cast<int64_t>(router.area_count()))
      .end_object();
  return Outcome::answer(out.take());
}

// One run of router.health_check: the probes (fetch ops) and KV reads it queued, by the
// ids of their regions (the configuration may change while they run).
struct HealthCheckRun {
  double started = 0;
  std::vector<std::string> probed;
  std::vector<std::string> synced;
  std::vector<std::string> to_publish;
};

// Queues the due probes and, when due, the reads of the ejections other isolates published.
Status plan_health_check(CallContext& ctx, Instance& instance, HealthCheckRun& run) {
  auto input = read_input(ctx, instance, {}, nullptr);
  if (!input.ok()) return input.take_error();
  RouterState& state = instance.state<RouterState>();
  const Config& config = state.router.config();
  run.started = qv_host_now_ms();
  for (uint32_t region : state.router.plan_probes(run.started)) {
    run.probed.push_back(config.regions[region].id);
    ctx.fetch(config.health_check.head ? "HEAD" : "GET", config.regions[region].health_url,
              "user-agent: qv-router-health-check\n", "",
              static_cast<uint32_t>(config.health_check.timeout_ms));
  }
  if (config.share_ejections && run.started >= state.next_sync_at) {
    state.next_sync_at = run.started + config.health_check.interval_ms;
    for (const Region& region : config.regions) {
      run.synced.push_back(region.id);
      ctx.kv_get(std::string(kEjectionKeyPrefix) + region.id);
    }
  }
  return ok_status();
}

// Records what the probes and reads found; queues the publication of re-ejections.
Outcome finish_health_check(CallContext& ctx, Instance& instance, HealthCheckRun& run) {
  RouterState& state = instance.state<RouterState>();
  const double now = qv_host_now_ms();
  JsonWriter out;
  out.begin_object().key("checked").begin_array();
  for (size_t i = 0; i < run.probed.size(); ++i) {
    const OpResult& result = ctx.result(i);
    const bool ok = result.status == QV_OK && result.number >= 200 && result.number < 400;
    Text detail;
    if (result.status == QV_OK) {
      detail << "HTTP ";
      detail.count(result.number);
    } else {
      detail << status_name(result.status) << ": " << result.data;
    }
    const std::string text = detail.take();
    if (state.router.record_probe(run.probed[i], ok, text, now)) {
      run.to_publish.push_back(run.probed[i]);
    }
    out.begin_object()
        .key("region")
        .value(run.probed[i])
        .key("ok")
        .value(ok)
        .key("detail")
        .value(text)
        .end_object();
  }
  out.end_array().key("elapsedMs").value(now - run.started).key("sharedEjections").begin_array();
  // The first problem, and the regions of the others: each read of the batch can fail.
  std::string kv_problem, more_problems;
  size_t problems = 0;
  for (size_t i = 0; i < run.synced.size(); ++i) {
    const OpResult& result = ctx.result(run.probed.size() + i);
    if (result.status == QV_NOT_FOUND) continue;
    SharedEjection ejection;
    if (result.status != QV_OK || !read_ejection(result.data, ejection)) {
      if (problems++ == 0) {
        kv_problem = result.status != QV_OK
                         ? result.data
                         : "an unreadable shared ejection of " + run.synced[i] + " was ignored";
      } else {
        more_problems += (problems > 2 ? ", " : "") + run.synced[i];
      }
    } else {
      const bool applied = state.router.apply_shared_ejection(run.synced[i], ejection, now);
      out.begin_object()
          .key("region")
          .value(run.synced[i])
          .key("untilMs")
          .value(ejection.until_ms)
          .key("applied")
          .value(applied)
          .end_object();
    }
  }
  out.end_array();
  if (problems > 1) {
    kv_problem += " (and " + std::to_string(problems - 1) + " more, of " + more_problems + ")";
  }
  if (!kv_problem.empty()) out.key("kvProblem").value(kv_problem);
  out.key("nextHealthCheckAtMs").value(state.next_health_check_at(now)).end_object();
  // A region that failed its probe after an ejection is out again: tell the others.
  if (!state.router.config().share_ejections) run.to_publish.clear();
  for (const std::string& id : run.to_publish) {
    const int index = state.router.config().find(id);
    const HostHealthView health = state.router.region_health(static_cast<uint32_t>(index), now);
    ctx.kv_set(std::string(kEjectionKeyPrefix) + id, ejection_value(health),
               ejection_ttl_ms(health, now));
  }
  return Outcome::answer(out.take());
}

MethodTask health_check_method(CallContext& ctx, Instance& instance) {
  HealthCheckRun run;
  if (auto s = plan_health_check(ctx, instance, run); !s.ok()) {
    co_return Outcome::failure(s.error());
  }
  if (!run.probed.empty() || !run.synced.empty()) co_await ctx.perform();
  Outcome outcome = finish_health_check(ctx, instance, run);
  if (run.to_publish.empty()) co_return outcome;
  co_await ctx.perform();
  JsonWriter published;
  published.begin_array();
  for (size_t i = 0; i < run.to_publish.size(); ++i) {
    if (ctx.result(i).status == QV_OK) published.value(run.to_publish[i]);
  }
  published.end_array();
  co_return Outcome::answer(with_published(std::move(outcome.body), published.str()));
}

const Field kAffinityFields[] = {
    {"callId", T::kString, true, 1, 128, nullptr, nullptr, QV_FIELD(AffinityRequest, call_id)},
    {"region", T::kString, false, 0, 64, nullptr, nullptr, QV_FIELD(AffinityRequest, region)},
    {"currentNode", T::kString, false, 0, 128, nullptr, nullptr,
     QV_FIELD(AffinityRequest, current_node)},
    {"client", T::kOther},
    {"headers", T::kOther},
};

Outcome affinity_method(CallContext& ctx, Instance& instance) {
  AffinityRequest request;
  auto object = read_input(ctx, instance, kAffinityFields, &request);
  if (!object.ok()) return Outcome::failure(object.error());
  // The call ids of the edge's call routes, which admission (tiers' check_id in
  // modules/tiers/src/admission.cpp) accepts by the same rule: 1-128 letters, digits, '-',
  // '_' or '.', one ending in '.' too. Only the edge's start route refuses that one (no path
  // can carry it to the call's heartbeat and end); a call admitted under it is placed.
  Status status = check_id("callId", request.call_id, 128);
  if (status.ok() && !request.current_node.empty() && request.region.empty()) {
    status = (Text() << "currentNode: needs region, the region the call's node is in").invalid();
  }
  if (status.ok()) status = parse_client(object.value(), request.client);
  if (!status.ok()) return Outcome::failure(status.error());
  Router& router = instance.state<RouterState>().router;
  auto result = router.affinity(request, qv_host_now_ms());
  if (!result.ok()) return Outcome::failure(result.error());
  const AffinityResult& affinity = result.value();
  const Region& region = router.config().regions[affinity.region];
  JsonWriter out;
  out.begin_object()
      .key("callId")
      .value(request.call_id)
      .key("region")
      .value(region.id)
      .key("node")
      .value(region.media_nodes[affinity.node].id)
      .key("kept")
      .value(affinity.kept)
      .key("regionSource")
      .value(affinity.routed ? "routed" : "given")
      .key("algorithm")
      .value(router.config().maglev ? "maglev" : "rendezvous")
      .key("reason")
      .value(affinity.reason)
      .end_object();
  return Outcome::answer(out.take());
}

const Method kRouterMethods[] = {
    {"router.configure", sync<configure_method>}, {"router.config", sync<config_method>},
    {"router.route", sync<route_method>},         {"router.observe", observe_method},
    {"router.retry", sync<retry_method>},         {"router.health", sync<health_method>},
    {"router.health_check", health_check_method}, {"router.affinity", sync<affinity_method>},
};

}  // namespace

std::span<const Method> methods() {
  return kRouterMethods;
}

}  // namespace qv::router
