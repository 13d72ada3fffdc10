// The configuration as JSON, through the field tables of fields.h: every setting is one
// row (its name, type, range and place in the Config), read and written by one loop.
#include "qv/router/config_json.h"

#include "fields.h"
#include "text.h"

namespace qv::router {

namespace {

using T = FieldType;
constexpr double kDay = 86400000;

const Field kLatencyFields[] = {
    {"ewmaAlpha", T::kNumber, false, 0.001, 1, nullptr, nullptr,
     QV_FIELD(LatencyPolicy, ewma_alpha)},
    {"staleHalfLifeMs", T::kNumber, false, 0, kDay, nullptr, nullptr,
     QV_FIELD(LatencyPolicy, stale_half_life_ms)},
    {"nearTieTolerance", T::kNumber, false, 0, 1, nullptr, nullptr,
     QV_FIELD(LatencyPolicy, near_tie_tolerance)},
    {"baseRttMs", T::kNumber, false, 0, 10000, nullptr, nullptr,
     QV_FIELD(LatencyPolicy, base_rtt_ms)},
    {"msPer1000Km", T::kNumber, false, 0, 1000, nullptr, nullptr,
     QV_FIELD(LatencyPolicy, ms_per_1000_km)},
    {"areaCellDegrees", T::kNumber, false, 0.1, 180, nullptr, nullptr,
     QV_FIELD(LatencyPolicy, area_cell_degrees)},
    {"maxAreas", T::kInteger, false, 1, 1000000, nullptr, nullptr,
     QV_FIELD(LatencyPolicy, max_areas)},
    {"switchMargin", T::kNumber, false, 0, 1, nullptr, nullptr,
     QV_FIELD(LatencyPolicy, switch_margin)},
    {"switchMarginMs", T::kNumber, false, 0, 10000, nullptr, nullptr,
     QV_FIELD(LatencyPolicy, switch_margin_ms)},
};

const Field kOutlierFields[] = {
    {"consecutiveFailures", T::kInteger, false, 1, 1000, nullptr, nullptr,
     QV_FIELD(OutlierPolicy, consecutive_failures)},
    {"baseEjectionMs", T::kNumber, false, 0, kDay, nullptr, nullptr,
     QV_FIELD(OutlierPolicy, base_ejection_ms)},
    {"maxEjectionMs", T::kNumber, false, 0, kDay, nullptr, nullptr,
     QV_FIELD(OutlierPolicy, max_ejection_ms)},
    {"backoff", T::kChoice, false, 0, 0, "linear", "exponential",
     QV_FIELD(OutlierPolicy, exponential_backoff)},
    {"maxEjectionPercent", T::kNumber, false, 0, 100, nullptr, nullptr,
     QV_FIELD(OutlierPolicy, max_ejection_percent)},
    {"decayIntervalMs", T::kNumber, false, 0, kDay, nullptr, nullptr,
     QV_FIELD(OutlierPolicy, decay_interval_ms)},
};

const Field kHealthCheckFields[] = {
    {"enabled", T::kFlag, false, 0, 0, nullptr, nullptr, QV_FIELD(HealthCheckPolicy, enabled)},
    {"intervalMs", T::kNumber, false, 100, 3600000, nullptr, nullptr,
     QV_FIELD(HealthCheckPolicy, interval_ms)},
    {"timeoutMs", T::kInteger, false, 1, 600000, nullptr, nullptr,
     QV_FIELD(HealthCheckPolicy, timeout_ms)},
    {"unhealthyThreshold", T::kInteger, false, 1, 100, nullptr, nullptr,
     QV_FIELD(HealthCheckPolicy, unhealthy_threshold)},
    {"healthyThreshold", T::kInteger, false, 1, 100, nullptr, nullptr,
     QV_FIELD(HealthCheckPolicy, healthy_threshold)},
    {"method", T::kChoice, false, 0, 0, "GET", "HEAD", QV_FIELD(HealthCheckPolicy, head)},
};

const Field kRetryBudgetFields[] = {
    {"percent", T::kNumber, false, 0, 100, nullptr, nullptr, QV_FIELD(RetryBudgetPolicy, percent)},
    {"minRetries", T::kInteger, false, 0, 1000000, nullptr, nullptr,
     QV_FIELD(RetryBudgetPolicy, min_retries)},
    {"windowMs", T::kNumber, false, 100, 3600000, nullptr, nullptr,
     QV_FIELD(RetryBudgetPolicy, window_ms)},
};

const Field kAffinityFields[] = {
    {"algorithm", T::kChoice, false, 0, 0, "rendezvous", "maglev", QV_FIELD(Config, maglev)},
    {"maglevTableSize", T::kInteger, false, 3, 1000003, nullptr, nullptr,
     QV_FIELD(Config, maglev_table_size)},
};

// The sections of the configuration, in the order they are written.
struct Section {
  const char* name;
  std::span<const Field> fields;
  void* (*at)(void* config);
};
const Section kSections[] = {
    {"latency", kLatencyFields, QV_FIELD(Config, latency)},
    {"outlierDetection", kOutlierFields, QV_FIELD(Config, outlier)},
    {"healthCheck", kHealthCheckFields, QV_FIELD(Config, health_check)},
    {"retryBudget", kRetryBudgetFields, QV_FIELD(Config, retry_budget)},
    {"affinity", kAffinityFields, [](void* config) -> void* { return config; }},
};

const Field kTopFields[] = {
    {"regions", T::kOther},
    {"latency", T::kOther},
    {"outlierDetection", T::kOther},
    {"panicThresholdPercent", T::kNumber, false, 0, 100, nullptr, nullptr,
     QV_FIELD(Config, panic_threshold_percent)},
    {"healthCheck", T::kOther},
    {"retryBudget", T::kOther},
    {"requestTimeoutMs", T::kInteger, false, 1, 600000, nullptr, nullptr,
     QV_FIELD(Config, request_timeout_ms)},
    {"affinity", T::kOther},
    {"shareEjections", T::kFlag, false, 0, 0, nullptr, nullptr, QV_FIELD(Config, share_ejections)},
    {"defaultLocation", T::kOther},
};

// Ranges here only keep numbers finite; validate() checks what a region needs.
const Field kRegionFields[] = {
    {"id", T::kString, true, 1, 64, nullptr, nullptr, QV_FIELD(Region, id)},
    {"name", T::kString, false, 0, 200, nullptr, nullptr, QV_FIELD(Region, name)},
    {"latitude", T::kNumber, false, -90, 90, nullptr, nullptr, QV_FIELD(Region, location.latitude)},
    {"longitude", T::kNumber, false, -180, 180, nullptr, nullptr,
     QV_FIELD(Region, location.longitude)},
    {"costFactor", T::kNumber, false, 0.001, 1000, nullptr, nullptr, QV_FIELD(Region, cost_factor)},
    {"origin", T::kString, false, 1, 2048, nullptr, nullptr, QV_FIELD(Region, origin)},
    {"healthUrl", T::kString, false, 1, 2048, nullptr, nullptr, QV_FIELD(Region, health_url)},
    {"draining", T::kFlag, false, 0, 0, nullptr, nullptr, QV_FIELD(Region, draining)},
    {"mediaNodes", T::kOther},
};

const Field kNodeFields[] = {
    {"id", T::kString, true, 1, 128, nullptr, nullptr, QV_FIELD(MediaNode, id)},
    {"weight", T::kNumber, false, 0.001, 1000, nullptr, nullptr, QV_FIELD(MediaNode, weight)},
    {"draining", T::kFlag, false, 0, 0, nullptr, nullptr, QV_FIELD(MediaNode, draining)},
};

const Field kLocationFields[] = {
    {"latitude", T::kNumber, true, -90, 90, nullptr, nullptr, QV_FIELD(GeoPoint, latitude)},
    {"longitude", T::kNumber, true, -180, 180, nullptr, nullptr, QV_FIELD(GeoPoint, longitude)},
};

Status parse_region(const JsonValue& json, Region& region) {
  auto object = json.object();
  if (!object.ok()) return object.take_error();
  const JsonObject& fields = object.value();
  // A default region's id brings its values for every field the entry omits.
  std::string id;
  if (auto given = fields.find("id"); given && given->string().ok()) {
    id.assign(given->string().value());
  }
  const Region* known = default_region(id);
  if (known) region = *known;
  const std::string default_health = region.health_url;
  region.health_url.clear();
  if (auto s = read_fields(fields, kRegionFields, &region); !s.ok()) return s;
  if (!known) {
    // A new region. Its id first, as a reader meets it (a bad one is no default's either),
    // then what a new region must give, in the order validate() checks the fields.
    if (auto s = check_id(fields.child_path("id"), region.id, 64); !s.ok()) return s;
    for (const char* field : {"latitude", "longitude", "costFactor", "origin"}) {
      if (!fields.find(field)) {
        return (Text() << fields.child_path(field)
                       << ": is required for a region other than the four defaults")
            .invalid();
      }
    }
  }
  if (region.name.empty()) region.name = region.id;
  while (!region.origin.empty() && region.origin.back() == '/') region.origin.pop_back();
  if (region.health_url.empty()) {
    // Unless healthUrl is given: the origin's /health (a default region's when unchanged).
    region.health_url = fields.find("origin") ? region.origin + "/health" : default_health;
  }
  if (auto nodes = fields.find("mediaNodes")) {
    auto array = nodes->array();
    if (!array.ok()) return array.take_error();
    region.media_nodes.clear();
    for (const JsonValue& item : array.value().items()) {
      region.media_nodes.emplace_back();
      MediaNode& node = region.media_nodes.back();
      if (auto id_only = item.string(); id_only.ok()) {
        node.id.assign(id_only.value());
        continue;
      }
      auto node_object = item.object();
      if (!node_object.ok()) {
        return (Text() << item.where() << ": expected a node id or {id, weight?, draining?}")
            .invalid();
      }
      if (auto s = read_fields(node_object.value(), kNodeFields, &node); !s.ok()) return s;
    }
  }
  return ok_status();
}

}  // namespace

Result<Config> parse_config(const JsonValue& json) {
  auto object = json.object();
  if (!object.ok()) return object.take_error();
  const JsonObject& root = object.value();
  Config config = default_config();
  if (auto s = read_fields(root, kTopFields, &config); !s.ok()) return s.take_error();
  for (const Section& section : kSections) {
    auto value = root.find(section.name);
    if (!value) continue;
    auto fields = value->object();
    if (!fields.ok()) return fields.take_error();
    if (auto s = read_fields(fields.value(), section.fields, section.at(&config)); !s.ok()) {
      return s.take_error();
    }
  }
  if (auto regions = root.find("regions")) {
    auto array = regions->array();
    if (!array.ok()) return array.take_error();
    config.regions.clear();
    for (const JsonValue& item : array.value().items()) {
      config.regions.emplace_back();
      if (auto s = parse_region(item, config.regions.back()); !s.ok()) return s.take_error();
    }
  }
  if (auto location = root.find("defaultLocation"); location && !location->is_null()) {
    auto fields = location->object();
    if (!fields.ok()) return fields.take_error();
    GeoPoint point;
    if (auto s = read_fields(fields.value(), kLocationFields, &point); !s.ok()) {
      return s.take_error();
    }
    config.default_location = point;
  }
  if (auto s = validate(config); !s.ok()) return s.take_error();
  return config;
}

void write_config(JsonWriter& out, const Config& config) {
  out.begin_object().key("regions").begin_array();
  for (const Region& region : config.regions) {
    out.begin_object();
    write_fields(out, kRegionFields, &region);
    out.key("mediaNodes").begin_array();
    for (const MediaNode& node : region.media_nodes) {
      out.begin_object();
      write_fields(out, kNodeFields, &node);
      out.end_object();
    }
    out.end_array().end_object();
  }
  out.end_array();
  Config& fields = const_cast<Config&>(config);  // the accessors are shared with reading
  for (const Section& section : kSections) {
    out.key(section.name).begin_object();
    write_fields(out, section.fields, section.at(&fields));
    out.end_object();
  }
  write_fields(out, kTopFields, &config);
  out.key("defaultLocation");
  if (config.default_location) {
    out.begin_object();
    write_fields(out, kLocationFields, &*config.default_location);
    out.end_object();
  } else {
    out.null();
  }
  out.end_object();
}

}  // namespace qv::router
