#include "qv/cache/freshness.h"

#include <algorithm>
#include <cctype>

#include "qv/date.h"

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

// ---- HTTP-date (RFC 9110 §5.6.7) ----

namespace {

constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::string_view kDays[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
constexpr std::string_view kLongDays[] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                          "Friday", "Saturday", "Sunday"};

// Reads an HTTP-date's parts off the front of a text.
struct DateReader {
  std::string_view rest;

  bool literal(std::string_view text) {
    if (rest.substr(0, text.size()) != text) return false;
    rest.remove_prefix(text.size());
    return true;
  }
  bool digits(size_t count, int& out) {
    if (rest.size() < count) return false;
    out = 0;
    for (size_t i = 0; i < count; ++i) {
      if (rest[i] < '0' || rest[i] > '9') return false;
      out = out * 10 + (rest[i] - '0');
    }
    rest.remove_prefix(count);
    return true;
  }
  template <size_t N>
  bool one_of(const std::string_view (&names)[N], int& index) {
    for (size_t i = 0; i < N; ++i) {
      if (literal(names[i])) {
        index = static_cast<int>(i);
        return true;
      }
    }
    return false;
  }
  bool month(int& out) {
    int index = 0;
    if (!one_of(kMonths, index)) return false;
    out = index + 1;
    return true;
  }
  bool time_of_day(int& hour, int& minute, int& second) {
    return digits(2, hour) && literal(":") && digits(2, minute) && literal(":") &&
           digits(2, second);
  }
};

// Reads an HTTP-date off the front of in.rest, leaving what follows it there.
bool read_http_date(DateReader& in, double& out_ms) {
  int weekday = 0, day = 0, month = 0, year = 0, hour = 0, minute = 0, second = 0;
  if (in.one_of(kLongDays, weekday)) {  // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
    if (!(in.literal(", ") && in.digits(2, day) && in.literal("-") && in.month(month) &&
          in.literal("-") && in.digits(2, year) && in.literal(" ") &&
          in.time_of_day(hour, minute, second) && in.literal(" GMT")))
      return false;
    year += year < 70 ? 2000 : 1900;  // two-digit years: 1970-2069
  } else if (!in.one_of(kDays, weekday)) {
    return false;
  } else if (in.literal(", ")) {  // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
    if (!(in.digits(2, day) && in.literal(" ") && in.month(month) && in.literal(" ") &&
          in.digits(4, year) && in.literal(" ") && in.time_of_day(hour, minute, second) &&
          in.literal(" GMT")))
      return false;
  } else {  // asctime: Sun Nov  6 08:49:37 1994
    if (!(in.literal(" ") && in.month(month) && in.literal(" ") &&
          (in.literal(" ") ? in.digits(1, day) : in.digits(2, day)) && in.literal(" ") &&
          in.time_of_day(hour, minute, second) && in.literal(" ") && in.digits(4, year)))
      return false;
  }
  const std::optional<int64_t> days = days_from_civil(year, month, day);
  if (year < 1 || !days || hour > 23 || minute > 59 || second > 60) return false;
  const int64_t seconds = *days * 86400 + hour * 3600 + minute * 60 + std::min(second, 59);
  out_ms = static_cast<double>(seconds) * 1000;
  return true;
}

}  // namespace

bool parse_http_date(std::string_view text, double& out_ms) {
  DateReader in{trim(text)};
  double ms = 0;
  if (!read_http_date(in, ms) || !in.rest.empty()) return false;
  out_ms = ms;
  return true;
}

CacheControl parse_cache_control(std::string_view value) {
  CacheControl cc;
  size_t start = 0;
  while (start <= value.size()) {
    // Split on commas outside quoted strings (RFC 9110 §5.6.4: a backslash inside one
    // escapes the next character, a quote included).
    size_t end = start;
    bool quoted = false;
    while (end < value.size() && (quoted || value[end] != ',')) {
      if (value[end] == '"') quoted = !quoted;
      if (quoted && value[end] == '\\') ++end;
      ++end;
    }
    end = std::min(end, value.size());
    std::string_view directive = trim(value.substr(start, end - start));
    start = end + 1;
    if (directive.empty()) continue;
    const size_t equals = directive.find('=');
    const std::string name = lower(trim(directive.substr(0, equals)));
    // A quoted string never closed runs to the end of the value: the directives it swallowed
    // (a private, a no-store) cannot be told, so the whole value is malformed.
    if (quoted && cc.malformed.empty()) cc.malformed = name + " (a quoted string not closed)";
    const std::string_view argument =
        equals == std::string_view::npos ? std::string_view() : trim(directive.substr(equals + 1));
    // A directive given twice: the first occurrence holds (RFC 9111 §4.2.1).
    auto duration = [&](int64_t& field) {
      if (field >= 0) return;
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

std::string first_value(const Headers& headers, std::string_view lower_name) {
  const std::string joined = header_value(headers, lower_name);
  std::string_view rest = joined;
  while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t' || rest.front() == ','))
    rest.remove_prefix(1);  // empty members are no members (RFC 9110 §5.6.1)
  size_t end = std::string_view::npos;
  const size_t quote = rest.substr(0, 3) == "W/\"" ? 2 : rest.substr(0, 1) == "\"" ? 0 : end;
  if (quote != std::string_view::npos) {
    const size_t closing = rest.find('"', quote + 1);
    if (closing != std::string_view::npos) end = closing + 1;
  } else {
    DateReader in{rest};
    double ms = 0;
    if (read_http_date(in, ms)) end = rest.size() - in.rest.size();
  }
  // A tag or date the next member does not follow is not one: the member ends at a comma.
  if (end != std::string_view::npos) {
    const std::string_view after = trim(rest.substr(end));
    if (!after.empty() && after.front() != ',') end = std::string_view::npos;
  }
  if (end == std::string_view::npos) end = std::min(rest.find(','), rest.size());
  return std::string(trim(rest.substr(0, end)));
}

bool has_header(const Headers& headers, std::string_view lower_name) {
  return std::any_of(headers.begin(), headers.end(),
                     [&](const auto& header) { return header.first == lower_name; });
}

// Whether a Vary value lists "*" (alone or among other names): nothing can be matched.
bool vary_lists_star(std::string_view vary) {
  size_t start = 0;
  for (;;) {
    const size_t comma = vary.find(',', start);
    if (trim(vary.substr(start, comma - start)) == "*") return true;
    if (comma == std::string_view::npos) return false;
    start = comma + 1;
  }
}

namespace {
bool personal(const CacheControl& cc, const Headers& headers) {
  return cc.no_store || cc.is_private || has_header(headers, "set-cookie");
}
}  // namespace

bool personal_response(const Headers& headers) {
  return personal(parse_cache_control(header_value(headers, "cache-control")), headers);
}

bool etags_match_weakly(std::string_view a, std::string_view b) {
  auto opaque = [](std::string_view tag) {
    tag = trim(tag);
    return tag.substr(0, 2) == "W/" ? tag.substr(2) : tag;
  };
  return opaque(a) == opaque(b);
}

Freshness decide_freshness(int status, const Headers& headers, const FreshnessDefaults& defaults,
                           double received_ms) {
  Freshness f;
  const CacheControl cc = parse_cache_control(header_value(headers, "cache-control"));
  auto refuse = [&](std::string reason) {
    f.storable = false;
    f.reason = std::move(reason);
    return f;
  };
  // Besides 200, the statuses RFC 9110 §15.1 makes cacheable by default whose meaning the
  // kept headers carry whole (a redirect's Location is kept; not 206, a part of a body).
  const bool cacheable_by_default =
      status == 203 || status == 204 || status == 300 || status == 301 || status == 308 ||
      status == 404 || status == 405 || status == 410 || status == 414 || status == 501;
  f.personal = personal(cc, headers);
  if (status != 200 && !cacheable_by_default)
    return refuse("status " + std::to_string(status) + " is not cached");
  if (cc.no_store) return refuse("cache-control: no-store");
  if (cc.is_private) return refuse("cache-control: private");
  if (has_header(headers, "set-cookie")) return refuse("set-cookie: a response that sets cookies");
  if (cc.no_cache) return refuse("cache-control: no-cache");
  if (vary_lists_star(header_value(headers, "vary"))) return refuse("vary: *");
  if (!cc.malformed.empty()) return refuse("cache-control: malformed " + cc.malformed);
  if (cc.s_maxage_ms >= 0) {
    f.fresh_ms = cc.s_maxage_ms;
    f.source = "s-maxage";
  } else if (cc.max_age_ms >= 0) {
    f.fresh_ms = cc.max_age_ms;
    f.source = "max-age";
  } else if (has_header(headers, "expires")) {
    // Expires (RFC 9111 §5.3): fresh for its distance from the response's Date, else from
    // the response's arrival. An invalid date ("0" is the usual one) has already passed.
    f.source = "expires";
    double expires_ms = 0;
    if (parse_http_date(first_value(headers, "expires"), expires_ms)) {
      double date_ms = 0;
      if (!parse_http_date(first_value(headers, "date"), date_ms)) date_ms = received_ms;
      f.fresh_ms = static_cast<int64_t>(std::max(0.0, expires_ms - date_ms));
    }
  } else if (status != 200) {  // not on an assumption: only for the time the origin gives
    return refuse("status " + std::to_string(status) +
                  " is cached only with s-maxage, max-age or Expires");
  } else {
    f.fresh_ms = defaults.origin_ttl_ms;
    f.source = "default";
  }
  // The time the response already spent in caches upstream (Age, RFC 9111 §5.1) is not
  // fresh time here. The apparent age from Date is not counted: it would count the skew
  // between the origin's clock and this one.
  // An age past the fresh lifetime is taken off the stale windows too.
  const int64_t age_ms = upstream_age_ms(headers);
  const bool aged = age_ms > 0;
  const int64_t stale_already = aged ? std::max<int64_t>(0, age_ms - f.fresh_ms) : 0;
  if (aged) f.fresh_ms = std::max<int64_t>(0, f.fresh_ms - age_ms);
  // The configured stale windows stand in for directives the origin did not give, except
  // under s-maxage, which implies proxy-revalidate (§5.2.2.10): only its own stale
  // directives (RFC 5861's explicit permission) then apply.
  const bool defaults_apply = cc.s_maxage_ms < 0;
  auto window = [&](int64_t given, int64_t by_default) {
    const int64_t ms = given >= 0 ? given : defaults_apply ? by_default : 0;
    return std::max<int64_t>(0, ms - stale_already);
  };
  f.stale_while_revalidate_ms =
      window(cc.stale_while_revalidate_ms, defaults.stale_while_revalidate_ms);
  f.stale_if_error_ms = window(cc.stale_if_error_ms, defaults.stale_if_error_ms);
  if (cc.must_revalidate) f.stale_while_revalidate_ms = f.stale_if_error_ms = 0;
  if (f.fresh_ms == 0 && f.stale_while_revalidate_ms == 0 && f.stale_if_error_ms == 0)
    return refuse(f.source + (aged ? " less age" : "") + ": 0, stale at once");
  f.storable = true;
  return f;
}

int64_t upstream_age_ms(const Headers& headers) {
  // A list-based Age (RFC 9111 §5.1), or Age lines repeated: the first member counts, the
  // others are discarded. A first member that is not delta-seconds makes the whole field
  // ignored.
  int64_t age_ms = 0;
  return delta_seconds(first_value(headers, "age"), age_ms) ? age_ms : 0;
}

std::vector<std::string> response_tags(const Headers& headers) {
  std::vector<std::string> tags;
  auto add = [&](std::string_view tag) {
    tag = trim(tag);
    if (!tag.empty() && std::find(tags.begin(), tags.end(), tag) == tags.end())
      tags.emplace_back(tag);
  };
  // Surrogate-Key's keys are separated by spaces, and by commas too: a host's fetch() gives
  // the field's lines as one, joined by ", ", which libcurl gives line by line.
  for (const auto& [name, value] : headers) {
    const char* separators = name == "surrogate-key" ? " ," : name == "cache-tag" ? "," : nullptr;
    if (!separators) continue;
    size_t start = 0;
    for (;;) {
      const size_t end = value.find_first_of(separators, start);
      add(std::string_view(value).substr(start, end - start));
      if (end == std::string::npos) break;
      start = end + 1;
    }
  }
  return tags;
}

}  // namespace qv::cache
