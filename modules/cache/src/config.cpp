#include "qv/cache/config.h"

#include <optional>

namespace qv::cache {

namespace {

constexpr int64_t kDay = 86400000;

// The numeric fields: where they sit in the JSON ("" for the top level), their name, the
// member, and the range they must be in.
struct NumberField {
  const char* section;
  const char* name;
  int64_t CacheConfig::*member;
  int64_t min, max;
};

constexpr NumberField kNumbers[] = {
    {"l1", "maxEntries", &CacheConfig::l1_max_entries, 1, 1000000},
    {"l1", "maxBytes", &CacheConfig::l1_max_bytes, 1024, int64_t{1} << 31},
    {"l1", "maxEntryBytes", &CacheConfig::l1_max_entry_bytes, 64, int64_t{1} << 31},
    {"l1", "ttlMs", &CacheConfig::l1_ttl_ms, 1, kDay},
    {"l2", "ttlMs", &CacheConfig::l2_ttl_ms, 1, 30 * kDay},
    {"l2", "maxEntryBytes", &CacheConfig::l2_max_entry_bytes, 64, int64_t{1} << 30},
    {"origin", "ttlMs", &CacheConfig::origin_ttl_ms, 0, 365 * kDay},
    {"origin", "timeoutMs", &CacheConfig::origin_timeout_ms, 1, 600000},
    {"", "staleWhileRevalidateMs", &CacheConfig::stale_while_revalidate_ms, 0, 30 * kDay},
    {"", "staleIfErrorMs", &CacheConfig::stale_if_error_ms, 0, 30 * kDay},
    {"", "maxStaleMs", &CacheConfig::max_stale_ms, 0, 30 * kDay},
    {"", "passMs", &CacheConfig::pass_ms, 0, kDay},
    {"", "kvRetryMs", &CacheConfig::kv_retry_ms, 0, 600000},
    {"", "refreshLeaseMs", &CacheConfig::refresh_lease_ms, 0, 600000},
    {"", "maxRefreshes", &CacheConfig::max_refreshes, 1, 100000},
    {"", "collapseMs", &CacheConfig::collapse_ms, 0, 60000},
    {"", "collapsePollMs", &CacheConfig::collapse_poll_ms, 1, 10000},
    {"invalidation", "pollMs", &CacheConfig::poll_ms, 0, 600000},
    {"invalidation", "journalItems", &CacheConfig::journal_items, 1, 4096},
    {"invalidation", "clockSkewMs", &CacheConfig::clock_skew_ms, 0, 600000},
};

constexpr const char* kSections[] = {"l1", "l2", "origin", "invalidation"};

bool known_field(std::string_view section, std::string_view name) {
  if (section.empty()) {
    for (std::string_view s : kSections) {
      if (name == s) return true;
    }
  }
  if (section == "invalidation") {
    for (std::string_view rule : {"organizationField", "idField", "defaultStrategy", "tables"}) {
      if (name == rule) return true;
    }
  }
  for (const auto& field : kNumbers) {
    if (section == field.section && name == field.name) return true;
  }
  return false;
}

// Every field of `object` must be known in `section`: a typo must not pass silently.
Status known_fields(const JsonObject& object, std::string_view section) {
  for (auto field : object.raw()) {
    if (!known_field(section, field.key))
      return invalid_input(object.child_path(field.key) + ": unknown field");
  }
  return ok_status();
}

Status nonempty_string(const JsonObject& object, std::string_view name, std::string& out) {
  auto value = object.find(name);
  if (!value) return ok_status();
  auto text = value->string();
  if (!text.ok()) return text.take_error();
  if (text.value().empty()) return invalid_input(value->where() + ": must not be empty");
  out = std::string(text.value());
  return ok_status();
}

// What is wrong with a tag template ("" when nothing): each "{field}" names a field, and
// braces come in pairs. (A broken template fills nothing, so every change would fall back
// to the table's tag and drop the whole table.)
std::string template_problem(std::string_view text) {
  for (size_t at = 0; at < text.size(); ++at) {
    if (text[at] == '}') return "a '}' with no '{' before it";
    if (text[at] != '{') continue;
    const size_t close = text.find_first_of("{}", at + 1);
    if (close == std::string_view::npos || text[close] == '{') return "a '{' that is not closed";
    if (close == at + 1) return "an empty field name '{}'";
    at = close;
  }
  return "";
}

// "tables": {"leads": {"INSERT": "related", ..., "related": ["campaigns:{campaign_id}:x"]}}
Status parse_tables(const JsonValue& value, InvalidationRules& rules) {
  auto tables = value.object();
  if (!tables.ok()) return tables.take_error();
  rules.tables.clear();
  for (auto field : tables.value().raw()) {
    JsonValue table = tables.value().member(field.key, field.value);
    auto events = table.object();
    if (!events.ok()) return events.take_error();
    if (auto s = events.value().only_fields({"INSERT", "UPDATE", "DELETE", "related"}); !s.ok())
      return s;
    TableRule rule;
    rule.table = std::string(field.key);
    rule.strategies.fill(rules.default_strategy);
    for (int event = 0; event < 3; ++event) {
      auto strategy = events.value().find(event_name(static_cast<ChangeEvent>(event)));
      if (!strategy) continue;
      auto text = strategy->string();
      if (!text.ok()) return text.take_error();
      if (auto s = parse_strategy(strategy->where(), text.value(), rule.strategies[event]); !s.ok())
        return s;
    }
    if (auto related = events.value().find("related")) {
      auto array = related->array();
      if (!array.ok()) return array.take_error();
      for (const auto& item : array.value().items()) {
        auto text = item.string();
        if (!text.ok()) return text.take_error();
        if (text.value().empty() || !printable_line(text.value()))
          return invalid_input(item.where() + ": expected a tag template");
        if (auto problem = template_problem(text.value()); !problem.empty())
          return invalid_input(item.where() + ": " + problem + " in '" + std::string(text.value()) +
                               "'");
        rule.related.emplace_back(text.value());
      }
    }
    rules.tables.push_back(std::move(rule));
  }
  return ok_status();
}

}  // namespace

L1Limits CacheConfig::l1_limits() const {
  return {static_cast<uint32_t>(l1_max_entries), static_cast<uint64_t>(l1_max_bytes),
          static_cast<uint64_t>(l1_max_entry_bytes)};
}

FreshnessDefaults CacheConfig::freshness() const {
  return {origin_ttl_ms, stale_while_revalidate_ms, stale_if_error_ms};
}

Status parse_config(const JsonValue& root, CacheConfig& config) {
  auto object = root.object();
  if (!object.ok()) return object.take_error();
  const JsonObject& in = object.value();
  config = CacheConfig{};
  if (auto s = known_fields(in, ""); !s.ok()) return s;
  for (std::string_view section : kSections) {
    auto value = in.find(section);
    if (!value) continue;
    auto inner = value->object();
    if (!inner.ok()) return inner.take_error();
    if (auto s = known_fields(inner.value(), section); !s.ok()) return s;
  }
  for (const auto& field : kNumbers) {
    const JsonObject* holder = &in;
    std::optional<JsonObject> inner;
    if (*field.section) {
      auto value = in.find(field.section);
      if (!value) continue;
      inner = value->object().value();
      holder = &*inner;
    }
    auto value = holder->find(field.name);
    if (!value) continue;
    auto number = value->integer(field.min, field.max);
    if (!number.ok()) return number.take_error();
    config.*field.member = number.value();
  }
  if (auto value = in.find("invalidation")) {
    const JsonObject rules = value->object().value();
    auto& r = config.rules;
    if (auto s = nonempty_string(rules, "organizationField", r.organization_field); !s.ok())
      return s;
    if (auto s = nonempty_string(rules, "idField", r.id_field); !s.ok()) return s;
    if (auto strategy = rules.find("defaultStrategy")) {
      auto text = strategy->string();
      if (!text.ok()) return text.take_error();
      if (auto s = parse_strategy(strategy->where(), text.value(), r.default_strategy); !s.ok())
        return s;
    }
    if (auto tables = rules.find("tables")) {
      if (auto s = parse_tables(*tables, r); !s.ok()) return s;
    }
  }
  if (config.l1_max_entry_bytes > config.l1_max_bytes) {
    return invalid_input("l1.maxEntryBytes: " + std::to_string(config.l1_max_entry_bytes) +
                         " is above l1.maxBytes (" + std::to_string(config.l1_max_bytes) + ")");
  }
  return ok_status();
}

void write_config(JsonWriter& out, const CacheConfig& c) {
  auto numbers = [&](std::string_view section) {
    for (const auto& field : kNumbers) {
      if (section == field.section) out.key(field.name).value(c.*field.member);
    }
  };
  out.begin_object();
  numbers("");
  for (const char* section : kSections) {
    out.key(section).begin_object();
    numbers(section);
    if (std::string_view(section) == "invalidation") {
      out.key("organizationField").value(c.rules.organization_field);
      out.key("idField").value(c.rules.id_field);
      out.key("defaultStrategy").value(strategy_name(c.rules.default_strategy));
      out.key("tables").begin_object();
      for (const auto& rule : c.rules.tables) {
        out.key(rule.table).begin_object();
        for (int event = 0; event < 3; ++event) {
          out.key(event_name(static_cast<ChangeEvent>(event)))
              .value(strategy_name(rule.strategies[event]));
        }
        out.key("related").begin_array();
        for (const auto& tag : rule.related) out.value(tag);
        out.end_array().end_object();
      }
      out.end_object();
    }
    out.end_object();
  }
  out.end_object();
}

}  // namespace qv::cache
