#include "qv/cache/freshness.h"

#include <algorithm>
#include <cctype>

namespace qv::cache {

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// delta-seconds (RFC 9111 1.2.2): digits only; values above 2^31 are taken as 2^31.
bool delta_seconds(std::string_view text, int64_t& out_ms) {
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
    text = text.substr(1, text.size() - 2);  // tolerated, as most caches do
  }
  if (text.empty()) return false;
  int64_t seconds = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    seconds = std::min<int64_t>(seconds * 10 + (c - '0'), int64_t{1} << 31);
  }
  out_ms = seconds * 1000;
  return true;
}

}  // namespace

CacheControl parse_cache_control(std::string_view value) {
  CacheControl cc;
  size_t start = 0;
  while (start <= value.size()) {
    // Split on commas outside quoted strings.
    size_t end = start;
    bool quoted = false;
    while (end < value.size() && (quoted || value[end] != ',')) {
      if (value[end] == '"') quoted = !quoted;
      ++end;
    }
    std::string_view directive = trim(value.substr(start, end - start));
    start = end + 1;
    if (directive.empty()) continue;
    const size_t equals = directive.find('=');
    const std::string name = lower(trim(directive.substr(0, equals)));
    const std::string_view argument =
        equals == std::string_view::npos ? std::string_view() : trim(directive.substr(equals + 1));
    auto duration = [&](int64_t& field) {
      if (!delta_seconds(argument, field) && cc.malformed.empty()) cc.malformed = name;
    };
    if (name == "no-store")
      cc.no_store = true;
    else if (name == "no-cache")
      cc.no_cache = true;
    else if (name == "private")
      cc.is_private = true;
    else if (name == "public")
      cc.is_public = true;
    else if (name == "must-revalidate" || name == "proxy-revalidate")
      cc.must_revalidate = true;
    else if (name == "max-age")
      duration(cc.max_age_ms);
    else if (name == "s-maxage")
      duration(cc.s_maxage_ms);
    else if (name == "stale-while-revalidate")
      duration(cc.stale_while_revalidate_ms);
    else if (name == "stale-if-error")
      duration(cc.stale_if_error_ms);
  }
  return cc;
}

std::string header_value(const Headers& headers, std::string_view lower_name) {
  std::string out;
  for (const auto& [name, value] : headers) {
    if (name != lower_name) continue;
    if (!out.empty()) out += ", ";
    out += value;
  }
  return out;
}

Freshness decide_freshness(int status, const Headers& headers, const FreshnessDefaults& defaults) {
  Freshness f;
  const CacheControl cc = parse_cache_control(header_value(headers, "cache-control"));
  auto refuse = [&](std::string reason) {
    f.storable = false;
    f.reason = std::move(reason);
    return f;
  };
  if (status != 200) return refuse("status " + std::to_string(status) + " is not cached");
  f.personal = true;
  if (cc.no_store) return refuse("cache-control: no-store");
  if (cc.is_private) return refuse("cache-control: private");
  for (const auto& header : headers) {
    if (header.first == "set-cookie") return refuse("set-cookie: a response that sets cookies");
  }
  f.personal = false;
  if (cc.no_cache) return refuse("cache-control: no-cache");
  if (trim(header_value(headers, "vary")) == "*") return refuse("vary: *");
  if (!cc.malformed.empty()) return refuse("cache-control: malformed " + cc.malformed);
  if (cc.s_maxage_ms >= 0) {
    f.fresh_ms = cc.s_maxage_ms;
    f.source = "s-maxage";
  } else if (cc.max_age_ms >= 0) {
    f.fresh_ms = cc.max_age_ms;
    f.source = "max-age";
  } else {
    f.fresh_ms = defaults.origin_ttl_ms;
    f.source = "default";
  }
  f.stale_while_revalidate_ms = cc.stale_while_revalidate_ms >= 0
                                    ? cc.stale_while_revalidate_ms
                                    : defaults.stale_while_revalidate_ms;
  f.stale_if_error_ms =
      cc.stale_if_error_ms >= 0 ? cc.stale_if_error_ms : defaults.stale_if_error_ms;
  if (cc.must_revalidate) f.stale_while_revalidate_ms = f.stale_if_error_ms = 0;
  if (f.fresh_ms == 0 && f.stale_while_revalidate_ms == 0 && f.stale_if_error_ms == 0)
    return refuse(f.source + ": 0, stale at once");
  f.storable = true;
  return f;
}

std::vector<std::string> response_tags(const Headers& headers) {
  std::vector<std::string> tags;
  auto add = [&](std::string_view tag) {
    tag = trim(tag);
    if (!tag.empty() && std::find(tags.begin(), tags.end(), tag) == tags.end())
      tags.emplace_back(tag);
  };
  for (const auto& [name, value] : headers) {
    const char separator = name == "surrogate-key" ? ' ' : name == "cache-tag" ? ',' : 0;
    if (!separator) continue;
    size_t start = 0;
    for (;;) {
      const size_t end = value.find(separator, start);
      add(std::string_view(value).substr(start, end - start));
      if (end == std::string::npos) break;
      start = end + 1;
    }
  }
  return tags;
}

}  // namespace qv::cache
