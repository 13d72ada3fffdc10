#include "input.h"

#include <algorithm>
#include <cctype>
#include <unordered_map>

#include "qv/url.h"

namespace qv::cache::detail {

Status string_list(const JsonObject& object, std::string_view field, size_t max_items,
                   std::vector<std::string>& out) {
  auto value = object.find(field);
  if (!value) return ok_status();
  auto array = value->array();
  if (!array.ok()) return array.take_error();
  if (array.value().size() > max_items) {
    return invalid_input(value->where() + ": " + std::to_string(array.value().size()) +
                         " items is above the limit of " + std::to_string(max_items));
  }
  for (const auto& item : array.value().items()) {
    auto text = item.string();
    if (!text.ok()) return text.take_error();
    if (!valid_tag(text.value()))
      return invalid_input(item.where() + ": expected 1 to 1024 bytes without control characters");
    if (std::find(out.begin(), out.end(), text.value()) == out.end())
      out.emplace_back(text.value());
  }
  return ok_status();
}

Status parse_cache_key(const JsonObject& object, bool organization_required, CacheKey& key,
                       std::string& encoded) {
  if (organization_required) {
    auto org = required_string(object, "organizationId");
    if (!org.ok()) return org.take_error();
    key.organization = std::move(org.value());
  }
  auto resource = required_string(object, "key");
  if (!resource.ok()) return resource.take_error();
  key.resource = std::move(resource.value());
  if (auto vary = object.find("vary")) {
    auto parts = vary->object();
    if (!parts.ok()) return parts.take_error();
    for (auto field : parts.value().raw()) {
      JsonValue value = parts.value().member(field.key, field.value);
      auto text = value.string();
      if (!text.ok()) return text.take_error();
      key.vary.emplace_back(std::string(field.key), std::string(text.value()));
    }
  }
  return encode_key(key, encoded);
}

Status parse_headers(const JsonValue& value, bool lines, Headers& headers) {
  auto object = value.object();
  if (!object.ok()) return object.take_error();
  // Lower-cased name -> as given, in one pass (as core's unique_fields finds a name given
  // twice to the letter).
  std::unordered_map<std::string, std::string_view> names;
  for (auto field : object.value().raw()) {
    JsonValue item = object.value().member(field.key, field.value);
    const std::string_view name = field.key;
    if (name.empty() || name.find_first_of(": \t") != std::string_view::npos ||
        !printable_line(name))
      return invalid_input(item.where() + ": not a header name and value");
    std::string lower(name);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    // One field under two spellings would reach the module as two lines, unlike a name given
    // twice to the letter (refused as JSON): refused alike, naming the other spelling.
    if (auto [earlier, first] = names.emplace(lower, name); !first) {
      return invalid_input(item.where() + ": given twice, as '" + std::string(earlier->second) +
                           "' before it (header names are case-insensitive" +
                           (lines ? "; give a field's lines as an array)" : ")"));
    }
    // With `lines`, an array gives the field's lines in order, as an origin sends a field on
    // several lines: each is a line of its own, as the native host hands over an origin's.
    std::vector<JsonValue> values{item};
    if (lines && item.raw().is_array()) {
      values = item.array().value().items();
    } else if (lines && !item.raw().is_string()) {
      return invalid_input(item.where() + ": expected a string or an array of strings, got " +
                           item.type_name());
    }
    for (const JsonValue& line : values) {
      auto text = line.string();
      if (!text.ok()) return text.take_error();
      if (!printable_line(text.value()))
        return invalid_input(line.where() + ": not a header name and value");
      headers.emplace_back(lower, std::string(text.value()));
    }
  }
  return ok_status();
}

Status parse_get_input(CallContext& ctx, Instance& instance, const CacheConfig& config,
                       bool origin_required, GetInput& input) {
  auto object = input_object(ctx, instance, {"organizationId", "key", "vary", "origin", "tags"});
  if (!object.ok()) return object.take_error();
  if (auto s = parse_cache_key(object.value(), true, input.key, input.encoded); !s.ok()) return s;
  input.flight = input.encoded;
  if (auto s = string_list(object.value(), "tags", 64, input.tags); !s.ok()) return s;
  auto origin = object.value().find("origin");
  if (!origin && origin_required) return invalid_input("origin: is required");
  if (origin && !origin->is_null()) {
    auto fields = origin->object();
    if (!fields.ok()) return fields.take_error();
    if (auto s = fields.value().only_fields({"url", "headers", "timeoutMs"}); !s.ok())
      return s.take_error();
    OriginRequest request;
    auto url = fields.value().required("url");
    if (!url.ok()) return url.take_error();
    auto url_text = url.value().string();
    if (!url_text.ok()) return url_text.take_error();
    if (url_text.value().rfind("http://", 0) != 0 && url_text.value().rfind("https://", 0) != 0) {
      return invalid_input(url.value().where() + ": expected an http:// or https:// URL, got '" +
                           without_credentials(url_text.value()).substr(0, 64) + "'");
    }
    if (std::string why = url_problem(url_text.value()); !why.empty())
      return invalid_input(url.value().where() + ": " + why);
    request.url = std::string(url_text.value());
    if (auto headers = fields.value().find("headers")) {
      if (auto s = parse_headers(*headers, false, request.headers); !s.ok()) return s;
    }
    request.timeout_ms = static_cast<uint32_t>(config.origin_timeout_ms);
    if (auto timeout = fields.value().find("timeoutMs")) {
      auto number = timeout->integer(1, 600000);
      if (!number.ok()) return number.take_error();
      request.timeout_ms = static_cast<uint32_t>(number.value());
    }
    input.origin = std::move(request);
  }
  return ok_status();
}

}  // namespace qv::cache::detail
