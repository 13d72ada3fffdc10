// Whether an origin response may be stored in a shared cache, and for how long it is fresh
// and may then be served stale: RFC 9111 (HTTP caching) for Cache-Control, RFC 5861 for
// stale-while-revalidate and stale-if-error.
//
// Every layer of this cache is shared — L2 by every isolate and organisation's users, L1
// by every request an isolate serves — so "private" responses are never stored, nor are
// responses with no-store, no-cache (it asks for a revalidation before every use; this
// cache revalidates stale copies only), a Set-Cookie header or "Vary: *". Besides 200, a
// few statuses are stored (404 among them), and only for the time the origin gives.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qv::cache {

// Response headers as (lower-case name, value) pairs, in the order received.
using Headers = std::vector<std::pair<std::string, std::string>>;

// The Cache-Control directives this cache acts on. Durations in ms; -1 when absent.
struct CacheControl {
  bool no_store = false;
  bool no_cache = false;
  bool is_private = false;
  bool is_public = false;
  bool must_revalidate = false;  // must-revalidate or proxy-revalidate: never serve stale
  int64_t max_age_ms = -1;
  int64_t s_maxage_ms = -1;
  int64_t stale_while_revalidate_ms = -1;
  int64_t stale_if_error_ms = -1;
  std::string malformed;  // the first directive whose value could not be read, if any
};

// Parses one or more Cache-Control field values (joined by commas). Unknown directives
// are ignored, as RFC 9111 requires; names are case-insensitive.
CacheControl parse_cache_control(std::string_view value);

// What the cache assumes when the origin says nothing.
struct FreshnessDefaults {
  int64_t origin_ttl_ms = 3600000;        // the freshness of a response without max-age
  int64_t stale_while_revalidate_ms = 0;  // used when the response has no such directive
  int64_t stale_if_error_ms = 0;
};

struct Freshness {
  bool storable = false;
  std::string reason;     // why not storable ("no-store", "private", "set-cookie", ...)
  bool personal = false;  // private, no-store or Set-Cookie: for its requester only
  int64_t fresh_ms = 0;   // how long after the fetch it is fresh
  std::string source;     // "s-maxage", "max-age", "expires" or "default"
  int64_t stale_while_revalidate_ms = 0;
  int64_t stale_if_error_ms = 0;
};

// Whether a response is for its requester only (private, no-store or Set-Cookie), whatever
// its status: it is never stored, nor handed to the calls that waited for it.
bool personal_response(const Headers& headers);

// Whether two entity tags match by weak comparison (RFC 9110 §8.8.3.2): W/ or not.
bool etags_match_weakly(std::string_view a, std::string_view b);

// Whether a response may be stored and for how long it is fresh: s-maxage, else max-age,
// else Expires (less Date, or less received_ms, when it arrived, without one), else the
// default; less the Age it arrived with.
Freshness decide_freshness(int status, const Headers& headers, const FreshnessDefaults& defaults,
                           double received_ms);

// The time a response had already spent in caches upstream when it arrived: its Age header
// (RFC 9111 §5.1) in ms, the first member of a list-based one; 0 when it has none or one
// that cannot be read.
int64_t upstream_age_ms(const Headers& headers);

// An HTTP-date (RFC 9110 §5.6.7) as ms since the epoch: the IMF-fixdate form ("Sun, 06 Nov
// 1994 08:49:37 GMT") and the obsolete RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT") and
// asctime ("Sun Nov  6 08:49:37 1994") forms a recipient must accept too. false otherwise.
bool parse_http_date(std::string_view text, double& out_ms);

// The values of one header joined by ", " (HTTP's rule for repeated fields); "" if absent.
std::string header_value(const Headers& headers, std::string_view lower_name);
// The value a singleton field counts (ETag, Last-Modified, Expires, Date, Age) when it is
// given more than once, on several lines or joined into one by a host's fetch(): the first
// (RFC 9111 §4.2.1, as for a directive given twice; §5.1 for Age). An entity-tag member ends
// at its closing quote and an HTTP-date where its form ends (either may hold a comma), any
// other at the first comma; empty members are none. "" if absent.
std::string first_value(const Headers& headers, std::string_view lower_name);
// Whether the header is there (with any value, empty too).
bool has_header(const Headers& headers, std::string_view lower_name);

// Surrogate keys the origin attached: "Surrogate-Key" (space-separated, Fastly; a comma
// separates too, as where a host joined its lines) and "Cache-Tag" (comma-separated,
// Cloudflare). Each line's, in order; each tag once.
std::vector<std::string> response_tags(const Headers& headers);

}  // namespace qv::cache
