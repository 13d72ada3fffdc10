// The cache methods through the ABI: the multi-layer read path (L1 -> L2 KV -> origin fetch,
// filling the layers above), coalescing of concurrent misses, stale serving (RFC 5861),
// invalidation through the journals, configuration and metrics.
//
// Layers and TTLs: an origin response is fresh for min(its s-maxage / max-age, or the
// origin TTL when it has none; the L2 TTL) after its fetch; L1 serves its copy as fresh for
// at most the L1 TTL, then reads L2 again (where another isolate may have put a newer copy).
// After freshness, stale-while-revalidate serves the stale copy while the host refreshes it
// in the background (answer field `revalidate`), and stale-if-error serves it when the
// origin fails.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <optional>

#include "qv/cache/config.h"
#include "qv/cache/freshness.h"
#include "qv/cache/hash.h"
#include "qv/cache/keys.h"
#include "qv/cache/methods.h"
#include "qv/method_support.h"
#include "state.h"

namespace qv::cache {

namespace detail {

L1Store& CacheState::l1() {
  if (!l1_store) {
    uint64_t seed = 0;
    qv_host_random_bytes(reinterpret_cast<uint8_t*>(&seed), sizeof seed);
    l1_store = std::make_unique<L1Store>(config->l1_limits(), seed);
  }
  return *l1_store;
}

std::shared_ptr<JournalView> CacheState::view(const std::string& organization) {
  auto& slot = views[organization];
  if (!slot) slot = std::make_shared<JournalView>();
  return slot;
}

}  // namespace detail

namespace {

using detail::CacheState;
using detail::Flight;
using detail::JournalView;
using detail::Lease;
using detail::Served;

// Contended journal updates retry on the value the KV returned, after a jittered back-off.
constexpr int kMaxCasAttempts = 24;
constexpr double kMaxBackoffMs = 64;

double now_ms() {
  return qv_host_now_ms();
}

uint32_t ttl_for(double until, double now) {
  return static_cast<uint32_t>(std::clamp(std::ceil(until - now), 1.0, 4294967295.0));
}

// ---- input -----------------------------------------------------------------------------

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
    if (text.value().empty() || text.value().size() > kMaxKeyPartBytes ||
        !printable_line(text.value()) || text.value().find('\t') != std::string_view::npos)
      return invalid_input(item.where() + ": expected 1 to 1024 bytes without control characters");
    if (std::find(out.begin(), out.end(), text.value()) == out.end())
      out.emplace_back(text.value());
  }
  return ok_status();
}

// {organizationId, key, vary?} of `object` into `key` (and its encoding into `encoded`).
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

// Headers given as an object {name: value}; names lower-cased.
Status parse_headers(const JsonValue& value, Headers& headers) {
  auto object = value.object();
  if (!object.ok()) return object.take_error();
  for (auto field : object.value().raw()) {
    JsonValue item = object.value().member(field.key, field.value);
    auto text = item.string();
    if (!text.ok()) return text.take_error();
    const std::string_view name = field.key;
    if (name.empty() || name.find_first_of(": \t") != std::string_view::npos ||
        !printable_line(name) || !printable_line(text.value()))
      return invalid_input(item.where() + ": not a header name and value");
    std::string lower(name);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    headers.emplace_back(std::move(lower), std::string(text.value()));
  }
  return ok_status();
}

struct OriginRequest {
  std::string url;
  std::string headers;  // "name: value\n" per header, as the fetch operation takes them
  uint32_t timeout_ms = 0;
};

struct GetInput {
  CacheKey key;
  std::string encoded;
  std::optional<OriginRequest> origin;
  std::vector<std::string> tags;
};

Status parse_get_input(CallContext& ctx, Instance& instance, const CacheConfig& config,
                       bool origin_required, GetInput& input) {
  auto object = input_object(ctx, instance, {"organizationId", "key", "vary", "origin", "tags"});
  if (!object.ok()) return object.take_error();
  if (auto s = parse_cache_key(object.value(), true, input.key, input.encoded); !s.ok()) return s;
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
                           std::string(url_text.value().substr(0, 64)) + "'");
    }
    request.url = std::string(url_text.value());
    if (auto headers = fields.value().find("headers")) {
      Headers parsed;
      if (auto s = parse_headers(*headers, parsed); !s.ok()) return s;
      for (const auto& [name, value] : parsed) request.headers += name + ": " + value + "\n";
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

// ---- output ----------------------------------------------------------------------------

struct Timing {
  double started = 0;
  double journal_ms = 0, l2_ms = 0, origin_ms = 0, wait_ms = 0;
};

void write_headers(JsonWriter& out, const Headers& headers) {
  out.begin_object();
  std::vector<std::string> written;
  for (const auto& header : headers) {
    if (std::find(written.begin(), written.end(), header.first) != written.end()) continue;
    written.push_back(header.first);
    out.key(header.first).value(header_value(headers, header.first));
  }
  out.end_object();
}

std::string write_served(const Served& served, const std::string& encoded, bool coalesced,
                         const Timing& timing, double now) {
  JsonWriter out;
  out.begin_object()
      .key("xCache")
      .value(served.x_cache)
      .key("layer")
      .value(served.layer)
      .key("key")
      .value(encoded)
      .key("found")
      .value(served.entry != nullptr);
  if (served.entry) {
    const CachedEntry& e = *served.entry;
    out.key("status").value(e.status).key("headers");
    write_headers(out, e.headers);
    out.key("body").value(e.body).key("ageMs").value(std::max(0.0, now - e.fetched_at));
    out.key("tags").begin_array();
    for (const auto& tag : e.tags) out.value(tag);
    out.end_array();
    if (served.stored) out.key("freshUntil").value(e.fresh_until);
  } else if (served.error_status) {
    out.key("status").value(served.error_status);
  }
  out.key("stored")
      .value(served.stored)
      .key("revalidate")
      .value(served.revalidate)
      .key("coalesced")
      .value(coalesced);
  if (!served.reason.empty()) out.key("reason").value(served.reason);
  out.key("timing")
      .begin_object()
      .key("totalMs")
      .value(now - timing.started)
      .key("journalMs")
      .value(timing.journal_ms)
      .key("l2Ms")
      .value(timing.l2_ms)
      .key("originMs")
      .value(timing.origin_ms)
      .key("waitMs")
      .value(timing.wait_ms)
      .end_object()
      .end_object();
  return out.take();
}

// ---- journals --------------------------------------------------------------------------

bool kv_usable(const CacheState& state, double now) {
  return now >= state.kv_retry_at;
}

void kv_failed(CacheState& state, const CacheConfig& config, double now) {
  state.kv_retry_at = now + static_cast<double>(config.kv_retry_ms);
}

// Whether an entry is invalidated by what this isolate knows of the journals.
bool invalidated(CacheState& state, const CacheConfig& config, const CachedEntry& entry) {
  const auto org = state.view(entry.organization);
  const auto global = state.view("");
  const double skew = static_cast<double>(config.clock_skew_ms);
  return invalidated_by(org->journal, entry, entry.seq, skew) ||
         invalidated_by(global->journal, entry, entry.global_seq, skew);
}

// Takes in a newly read journal: L1 entries that items newer than the view match go.
void apply_journal(CacheState& state, const CacheConfig& config, const std::string& organization,
                   Journal journal, double now) {
  auto view = state.view(organization);
  const bool changed = !view->known || journal.seq != view->journal.seq;
  view->journal = std::move(journal);
  view->known = true;
  view->checked_at = now;
  if (!changed || !state.l1_store) return;
  const double skew = static_cast<double>(config.clock_skew_ms);
  const Journal& j = view->journal;
  const size_t dropped = state.l1_store->erase_responses([&](const CachedEntry& entry) {
    if (!organization.empty() && entry.organization != organization) return false;
    return invalidated_by(j, entry, organization.empty() ? entry.global_seq : entry.seq, skew);
  });
  state.metrics.l1_invalidated += dropped;
}

// Reads the organisation's and the global journal unless this isolate read them within
// pollMs. Calls of the isolate share one read. Returns false when KV failed.
Task<bool> refresh_journals(CallContext& ctx, CacheState& state, std::string organization,
                            Timing& timing) {
  const auto config = state.config;
  const double poll = static_cast<double>(config->poll_ms);
  for (;;) {
    const double now = now_ms();
    auto view = state.view(organization);
    auto global = state.view("");
    if (now - view->checked_at < poll && now - global->checked_at < poll) co_return true;
    if (!kv_usable(state, now)) co_return false;
    if (view->polling) {  // another call of this isolate is reading it: wait for that read
      const double started = now_ms();
      ctx.wait(*view->polling);
      co_await ctx.perform();
      timing.journal_ms += now_ms() - started;
      if (now_ms() - view->checked_at >= poll) co_return false;  // that read failed
      continue;
    }
    view->polling = std::make_unique<Signal>();
    struct Guard {  // whatever way this ends, the waiters wake
      std::shared_ptr<JournalView> view;
      ~Guard() { view->polling.reset(); }
    } guard{view};
    const size_t org_op = ctx.kv_get(journal_key(organization));
    const size_t global_op = ctx.kv_get(journal_key(""));
    const double started = now_ms();
    co_await ctx.perform();
    const double done = now_ms();
    timing.journal_ms += done - started;
    ++state.metrics.journal_polls;
    bool ok = true;
    for (auto [op, name] : {std::pair{org_op, organization}, std::pair{global_op, std::string()}}) {
      const OpResult& result = ctx.result(op);
      Journal journal;
      if (result.status == QV_OK) {
        if (!read_journal(result.data, journal).ok()) {
          // An unreadable journal cannot say what was invalidated: trust nothing older.
          journal = Journal{};
          journal.seq = journal.floor = UINT32_MAX;
          journal.floor_at = done;
        }
      } else if (result.status != QV_NOT_FOUND) {
        ok = false;
        continue;
      }
      apply_journal(state, *config, name, std::move(journal), done);
    }
    if (!ok) {
      ++state.metrics.journal_poll_errors;
      kv_failed(state, *config, done);
    }
    co_return ok;
  }
}

// ---- filling from below ----------------------------------------------------------------

// Stamps a new entry with the journal positions this isolate knows now.
void stamp(CacheState& state, CachedEntry& entry) {
  const auto org = state.view(entry.organization);
  const auto global = state.view("");
  entry.seq = org->journal.seq;
  entry.global_seq = global->journal.seq;
  entry.seq_known = org->known && global->known;
}

void fill_l1(CacheState& state, const CacheConfig& config, const EntryPtr& entry, double now) {
  const double l1_fresh = std::min(entry->fresh_until, now + static_cast<double>(config.l1_ttl_ms));
  state.l1().put_response(entry->key, entry, l1_fresh, entry->usable_until(), now);
}

bool body_is_text(std::string_view body) {
  return simdjson::validate_utf8(body.data(), body.size());
}

Headers parse_response_headers(std::string_view meta) {
  Headers headers;
  size_t start = 0;
  while (start < meta.size()) {
    size_t end = meta.find('\n', start);
    if (end == std::string_view::npos) end = meta.size();
    std::string_view line = meta.substr(start, end - start);
    start = end + 1;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) continue;
    std::string name(line.substr(0, colon));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    headers.emplace_back(std::move(name), std::string(value));
  }
  return headers;
}

// A response entry from an origin answer (stored or passed through).
std::shared_ptr<CachedEntry> entry_from_origin(const GetInput& input, int status,
                                               const Headers& headers, std::string body,
                                               double fetched_at) {
  auto entry = std::make_shared<CachedEntry>();
  entry->organization = input.key.organization;
  entry->key = input.encoded;
  entry->status = status;
  for (const auto& header : headers) {
    if (kept_header(header.first)) entry->headers.push_back(header);
  }
  entry->body = std::move(body);
  entry->tags = input.tags;
  for (auto& tag : response_tags(headers)) {
    if (std::find(entry->tags.begin(), entry->tags.end(), tag) == entry->tags.end())
      entry->tags.push_back(std::move(tag));
  }
  entry->fetched_at = fetched_at;
  return entry;
}

// Sets the entry's lifetimes from its freshness, within the configured bounds.
void set_lifetimes(CachedEntry& entry, const Freshness& f, const CacheConfig& config) {
  const double fresh = static_cast<double>(std::min(f.fresh_ms, config.l2_ttl_ms));
  const double max_stale = static_cast<double>(config.max_stale_ms);
  entry.fresh_until = entry.fetched_at + fresh;
  entry.swr_until =
      entry.fresh_until + std::min(static_cast<double>(f.stale_while_revalidate_ms), max_stale);
  entry.sie_until =
      entry.fresh_until + std::min(static_cast<double>(f.stale_if_error_ms), max_stale);
}

// Writes the entry to L2 (when it fits) and L1. Returns false when it was not kept anywhere.
Task<bool> store_entry(CallContext& ctx, CacheState& state, EntryPtr entry) {
  const auto config = state.config;
  const double now = now_ms();
  bool kept = false;
  const std::string value = write_entry(*entry);
  if (value.size() > static_cast<uint64_t>(config->l2_max_entry_bytes)) {
    ++state.metrics.l2_rejected;
  } else if (kv_usable(state, now)) {
    const size_t op =
        ctx.kv_set(l2_entry_key(entry->key), value, ttl_for(entry->usable_until(), now));
    co_await ctx.perform();
    if (ctx.result(op).status == QV_OK) {
      ++state.metrics.l2_writes;
      kept = true;
    } else {
      ++state.metrics.l2_write_errors;
      kv_failed(state, *config, now_ms());
    }
  }
  fill_l1(state, *config, entry, now_ms());
  const uint32_t slot = state.l1().peek(L1Store::Space::kResponses, entry->key, now_ms());
  co_return kept || slot != L1Store::kNone;
}

// The conditional header a stored copy's validator makes (RFC 9111 §4.3.1): If-None-Match
// with its ETag, else If-Modified-Since with its Last-Modified; empty without either.
std::string conditional_header(const CachedEntry& entry) {
  std::string since;
  for (const auto& [name, value] : entry.headers) {
    if (name == "etag") return "if-none-match: " + value + "\n";
    if (name == "last-modified") since = "if-modified-since: " + value + "\n";
  }
  return since;
}

// A stored copy's headers updated with those of the 304 that confirmed it (RFC 9111 §4.3.4):
// a header the 304 carries replaces the stored one of its name.
Headers updated_headers(const Headers& stored, const Headers& not_modified) {
  Headers merged;
  for (const auto& header : stored) {
    bool replaced = false;
    for (const auto& fresh : not_modified) replaced = replaced || fresh.first == header.first;
    if (!replaced) merged.push_back(header);
  }
  merged.insert(merged.end(), not_modified.begin(), not_modified.end());
  return merged;
}

// What the origin says for the key; `fallback` is a stale entry that may stand in when
// the origin fails (stale-if-error). A fallback with a validator makes the fetch conditional:
// an origin that answers 304 Not Modified sends no body, and the fallback's body is stored
// again under the 304's freshness.
Task<Served> fetch_origin(CallContext& ctx, CacheState& state, const GetInput& input,
                          EntryPtr fallback, Timing& timing) {
  const auto config = state.config;
  Served served;
  if (!input.origin) {  // a lookup without an origin: nothing more to try
    served.x_cache = "MISS";
    served.reason = "not cached, and no origin given";
    co_return served;
  }
  const double fetched_at = now_ms();
  // The entry is stamped with what the isolate knew of the journals when the fetch began:
  // an invalidation it learns of during the fetch is newer than the stamp and applies.
  CachedEntry stamped;
  stamped.organization = input.key.organization;
  stamp(state, stamped);
  // Not when the caller asked conditionally itself: its 304 is the caller's to read.
  std::string request_headers = input.origin->headers;
  std::string conditional;
  if (fallback) {
    const Headers asked = parse_response_headers(request_headers);
    if (!has_header(asked, "if-none-match") && !has_header(asked, "if-modified-since"))
      conditional = conditional_header(*fallback);
  }
  request_headers += conditional;
  const size_t op =
      ctx.fetch("GET", input.origin->url, std::move(request_headers), "", input.origin->timeout_ms);
  co_await ctx.perform();
  const double done = now_ms();
  timing.origin_ms += done - fetched_at;
  ++state.metrics.origin_fetches;
  const OpResult& result = ctx.result(op);
  const bool failed = result.status != QV_OK || result.number >= 500;
  if (failed) {
    ++state.metrics.origin_errors;
    const std::string what = result.status != QV_OK
                                 ? std::string(status_name(result.status)) + ": " + result.data
                                 : "status " + std::to_string(result.number);
    if (fallback && done < fallback->sie_until) {
      ++state.metrics.stale_if_error;
      served.x_cache = "STALE";
      served.layer = "L1";
      served.entry = fallback;
      served.stored = true;
      served.reason = "stale-if-error: the origin failed (" + what + ")";
      co_return served;
    }
    served.x_cache = "MISS";
    served.layer = "origin";
    served.reason = "origin failed: " + what;
    if (result.status != QV_OK) {
      served.error_status = result.status == QV_TIMEOUT ? 504 : 502;
      co_return served;
    }
    // The origin's own error response goes through as it is, never stored.
    served.entry = entry_from_origin(input, static_cast<int>(result.number),
                                     parse_response_headers(result.meta), result.data, fetched_at);
    co_return served;
  }
  Headers headers = parse_response_headers(result.meta);
  int status = static_cast<int>(result.number);
  std::string body = result.data;
  // A 304 that names another ETag confirms some other copy (RFC 9111 §4.3.4): it passes
  // through, unstored, as any other answer that is not a 200.
  const std::string confirmed = header_value(headers, "etag");
  const bool revalidated =
      !conditional.empty() && status == 304 &&
      (confirmed.empty() || confirmed == header_value(fallback->headers, "etag"));
  if (revalidated) {  // the stale copy is current: its body, under the 304's headers
    ++state.metrics.origin_not_modified;
    headers = updated_headers(fallback->headers, headers);
    status = fallback->status;
    body = fallback->body;
  }
  Freshness freshness = decide_freshness(status, headers, config->freshness(), done);
  if (freshness.storable && !body_is_text(body)) {
    freshness.storable = false;
    freshness.reason = "the body is not UTF-8 text";
  }
  auto entry = entry_from_origin(input, status, headers, std::move(body), fetched_at);
  served.layer = "origin";
  served.x_cache = "MISS";
  if (!freshness.storable) {
    ++state.metrics.origin_not_stored;
    served.entry = entry;
    served.reason = "not stored: " + freshness.reason;
    // A response only its requester may see is never handed to the calls that waited.
    served.shareable = !freshness.personal;
    if (status == 200)
      state.keys[input.encoded].pass_until = done + static_cast<double>(config->pass_ms);
    co_return served;
  }
  set_lifetimes(*entry, freshness, *config);
  entry->seq = stamped.seq;
  entry->global_seq = stamped.global_seq;
  entry->seq_known = stamped.seq_known;
  served.entry = entry;
  served.stored = co_await store_entry(ctx, state, entry);
  if (!served.stored)
    served.reason = "not stored: too large for the cache";
  else if (revalidated)
    served.reason = "revalidated: the origin answered 304 Not Modified";
  co_return served;
}

// L2's copy of the key, judged: a fresh one, or one inside its stale-while-revalidate
// window unless `refreshing`, is served (and fills L1); an older one may take `fallback`'s
// place for stale-if-error. nullopt when L2 has nothing to serve.
Task<std::optional<Served>> read_l2(CallContext& ctx, CacheState& state, const GetInput& input,
                                    EntryPtr& fallback, bool refreshing, Timing& timing) {
  const auto config = state.config;
  double now = now_ms();
  if (kv_usable(state, now)) {
    const size_t op = ctx.kv_get(l2_entry_key(input.encoded));
    const double started = now_ms();
    co_await ctx.perform();
    now = now_ms();
    timing.l2_ms += now - started;
    const OpResult& result = ctx.result(op);
    if (result.status == QV_OK) {
      auto entry = std::make_shared<CachedEntry>();
      // An entry must be the one asked for: the key encodes the organisation, so a
      // mismatch means a foreign writer, and it is a miss.
      if (read_entry(result.data, *entry).ok() && entry->key == input.encoded &&
          entry->organization == input.key.organization) {
        // Before an L2 entry is served, the journals must be fresh enough to judge it.
        co_await refresh_journals(ctx, state, input.key.organization, timing);
        now = now_ms();
        if (invalidated(state, *config, *entry)) {
          ++state.metrics.l2_invalidated;
        } else if (now < entry->fresh_until) {
          ++state.metrics.l2_hits;
          fill_l1(state, *config, entry, now);
          co_return Served{"HIT-L2", "L2", entry, true, false, true, "", 0};
        } else if (now < entry->swr_until && !refreshing) {
          ++state.metrics.l2_stale;
          fill_l1(state, *config, entry, now);
          co_return Served{"STALE", "L2", entry, true, true, true, "stale-while-revalidate", 0};
        } else if (!fallback || entry->sie_until > fallback->sie_until) {
          fallback = entry;  // stale, but may stand in if the origin fails
        }
      } else {
        ++state.metrics.l2_rejected;
      }
      ++state.metrics.l2_misses;
    } else if (result.status == QV_NOT_FOUND) {
      ++state.metrics.l2_misses;
    } else {
      ++state.metrics.l2_errors;
      kv_failed(state, *config, now);
    }
  }
  co_return std::nullopt;
}

// Takes the lease `key` (set if absent, with a TTL). When another call holds it, *holder
// (when given) gets the value it left there.
Task<Lease> take_lease(CallContext& ctx, CacheState& state, const std::string& key, int64_t ttl_ms,
                       std::string* holder = nullptr) {
  const size_t op = ctx.kv_cas(key, std::nullopt, "1", static_cast<uint32_t>(ttl_ms));
  co_await ctx.perform();
  const OpResult& taken = ctx.result(op);
  if (taken.status != QV_OK) {
    kv_failed(state, *state.config, now_ms());
    co_return Lease::kUnknown;
  }
  if (taken.number == 1) co_return Lease::kTaken;
  if (holder) *holder = taken.data;
  co_return Lease::kHeldElsewhere;
}

// Misses collapsed across isolates (collapseMs): the call that takes the key's fill lease in
// the KV fetches (`lease` is set: its key), and the others look in L2 every collapsePollMs
// until its copy is there, then serve it. They fetch for themselves once the lease is gone
// or says "pass" (the fetch stored nothing), after collapseMs / collapsePollMs polls
// (collapseMs and the polls' KV round trips), or when the KV fails: a KV that cannot answer
// makes every call fetch.
Task<std::optional<Served>> collapse(CallContext& ctx, CacheState& state, const GetInput& input,
                                     EntryPtr& fallback, std::string& lease, Timing& timing) {
  const auto config = state.config;
  std::string key = fill_lease_key(input.encoded);
  std::string holder;
  const Lease taken = co_await take_lease(ctx, state, key, config->collapse_ms, &holder);
  if (taken == Lease::kTaken) lease = std::move(key);
  if (taken != Lease::kHeldElsewhere || holder == "pass") co_return std::nullopt;
  const int64_t polls = std::max<int64_t>(1, config->collapse_ms / config->collapse_poll_ms);
  for (int64_t poll = 0; poll < polls; ++poll) {
    ctx.sleep(static_cast<uint32_t>(config->collapse_poll_ms));
    co_await ctx.perform();
    auto found = co_await read_l2(ctx, state, input, fallback, false, timing);
    if (found) {
      ++state.metrics.collapsed;
      found->reason = "collapsed: another isolate fetched it";
      co_return found;
    }
    if (!kv_usable(state, now_ms())) break;
    const size_t held = ctx.kv_get(key);
    co_await ctx.perform();
    const OpResult& lease_now = ctx.result(held);
    if (lease_now.status != QV_OK || lease_now.data == "pass") break;
  }
  ++state.metrics.collapse_fallbacks;
  co_return std::nullopt;
}

// The L2 read and, on a miss, the origin fetch for one key, as the leader of a flight.
// `fallback` is what L1 had (stale), for stale-if-error.
// When `refreshing`, a stale L2 copy is not served: only a fresh one counts.
Task<Served> fill_from_below(CallContext& ctx, CacheState& state, const GetInput& input,
                             EntryPtr fallback, bool refreshing, Timing& timing) {
  const auto config = state.config;
  std::optional<Served> below = co_await read_l2(ctx, state, input, fallback, refreshing, timing);
  if (below) co_return std::move(*below);
  const double now = now_ms();
  std::string lease;  // the refresh or fill lease this call holds, if any
  if (refreshing && config->refresh_lease_ms > 0 && kv_usable(state, now)) {
    // A background refresh reaches the origin only under the key's lease in the KV: of the
    // isolates that hold the same stale copy, one fetches, and the others find its copy in
    // L2 when they refresh next. A KV that cannot answer grants the lease.
    std::string key = refresh_lease_key(input.encoded);
    const Lease taken = co_await take_lease(ctx, state, key, config->refresh_lease_ms);
    if (taken == Lease::kHeldElsewhere) {
      ++state.metrics.refreshes_leased_elsewhere;
      Served served;
      served.x_cache = "STALE";
      served.reason = "another isolate holds this key's refresh lease";
      co_return served;
    }
    if (taken == Lease::kTaken) lease = std::move(key);
  } else if (!refreshing && config->collapse_ms > 0 && input.origin && kv_usable(state, now)) {
    std::optional<Served> collapsed = co_await collapse(ctx, state, input, fallback, lease, timing);
    if (collapsed) co_return std::move(*collapsed);
  }
  Served served = co_await fetch_origin(ctx, state, input, fallback, timing);
  if (lease.empty()) co_return served;
  if (served.stored) {
    // The new copy is stored: the next refresh of the key need not wait for the refresh
    // lease's TTL; the misses waiting on the fill lease find the copy in L2 (or, when only
    // L1 kept it, find the lease gone and fetch). (After a failed refresh the lease stays:
    // the origin gets its TTL of rest.)
    ctx.kv_del(std::move(lease));
    co_await ctx.perform();
  } else if (!refreshing) {
    // Nothing stored (not storable, or the fetch failed): the waiting misses fetch for
    // themselves at once, and so do the next ones while the lease lasts.
    ctx.kv_set(std::move(lease), "pass", static_cast<uint32_t>(config->collapse_ms));
    co_await ctx.perform();
  }
  co_return served;
}

// ---- cache.get / cache.refresh ---------------------------------------------------------

// Runs `fill_from_below` as the leader of the key's flight: calls of this isolate that miss
// the same key meanwhile wait for it instead of reading L2 and the origin themselves.
Task<Served> lead_flight(CallContext& ctx, CacheState& state, const GetInput& input,
                         EntryPtr fallback, bool refreshing, Timing& timing) {
  auto flight = std::make_shared<Flight>();
  state.keys[input.encoded].flight = flight;
  struct Guard {  // whatever way this ends, the flight ends and its waiters wake
    CacheState& state;
    const std::string& key;
    std::shared_ptr<Flight> flight;
    ~Guard() {
      flight->finished = true;
      auto found = state.keys.find(key);
      if (found != state.keys.end() && found->second.flight == flight) {
        found->second.flight.reset();
        if (found->second.pass_until == 0) state.keys.erase(found);
      }
      flight->done.notify();
    }
  } guard{state, input.encoded, flight};
  Served served =
      co_await fill_from_below(ctx, state, input, std::move(fallback), refreshing, timing);
  flight->result = served;
  co_return served;
}

// The read path: L1, then (shared with concurrent calls) L2 and the origin.
MethodTask get_method(CallContext& ctx, Instance& instance) {
  auto& state = instance.state<CacheState>();
  const auto config = state.config;
  GetInput input;
  if (auto s = parse_get_input(ctx, instance, *config, false, input); !s.ok())
    co_return Outcome::failure(s.error());
  Timing timing;
  timing.started = now_ms();
  bool coalesced = false;

  for (;;) {
    double now = now_ms();
    EntryPtr cached;
    bool l1_fresh = false;
    uint32_t slot = state.l1().peek(L1Store::Space::kResponses, input.encoded, now);
    if (slot != L1Store::kNone) {
      // A hit is served only when the journals were read within pollMs (else read them
      // first: that is what bounds how long an invalidation takes to reach this isolate).
      const auto view = state.view(input.key.organization);
      const auto global = state.view("");
      const double poll = static_cast<double>(config->poll_ms);
      if (now - view->checked_at >= poll || now - global->checked_at >= poll) {
        co_await refresh_journals(ctx, state, input.key.organization, timing);
        now = now_ms();
        slot = state.l1().peek(L1Store::Space::kResponses, input.encoded, now);
      }
    }
    if (slot != L1Store::kNone) {
      cached = state.l1().response(slot);
      l1_fresh = now < state.l1().fresh_until(slot);
      if (l1_fresh && now < cached->fresh_until) {
        state.l1().record_hit(slot);
        Served served{"HIT-L1", "L1", cached, true, false, true, "", 0};
        co_return Outcome::answer(write_served(served, input.encoded, coalesced, timing, now));
      }
      if (now >= cached->fresh_until && now < cached->swr_until) {
        state.l1().record_hit(slot);
        ++state.metrics.l1_stale;
        Served served{"STALE", "L1", cached, true, true, true, "stale-while-revalidate", 0};
        co_return Outcome::answer(write_served(served, input.encoded, coalesced, timing, now));
      }
      if (now >= cached->sie_until) cached = nullptr;  // no use as a stand-in either
    }
    if (!coalesced) state.l1().record_miss();

    std::shared_ptr<Flight> waiting;
    if (auto found = state.keys.find(input.encoded); found != state.keys.end()) {
      if (found->second.pass_until > now) {  // recently uncacheable: straight to the origin
        ++state.metrics.passes;
        Served served = co_await fetch_origin(ctx, state, input, cached, timing);
        co_return Outcome::answer(write_served(served, input.encoded, coalesced, timing, now_ms()));
      }
      found->second.pass_until = 0;
      waiting = found->second.flight;
      if (!waiting) state.keys.erase(found);
    }
    if (waiting) {  // another call is fetching this key: wait for it
      ++state.metrics.coalesced_waits;
      const double started = now_ms();
      ctx.wait(waiting->done);
      co_await ctx.perform();
      timing.wait_ms += now_ms() - started;
      coalesced = true;
      if (waiting->finished && waiting->result.shareable &&
          (waiting->result.entry || waiting->result.error_status)) {
        co_return Outcome::answer(
            write_served(waiting->result, input.encoded, coalesced, timing, now_ms()));
      }
      continue;  // nothing to share: look again (and fetch for itself if need be)
    }

    Served served = co_await lead_flight(ctx, state, input, cached, false, timing);
    co_return Outcome::answer(write_served(served, input.encoded, coalesced, timing, now_ms()));
  }
}

// Background revalidation: L2 (another isolate may have refreshed it), else the origin.
MethodTask refresh_method(CallContext& ctx, Instance& instance) {
  auto& state = instance.state<CacheState>();
  const auto config = state.config;
  GetInput input;
  if (auto s = parse_get_input(ctx, instance, *config, true, input); !s.ok())
    co_return Outcome::failure(s.error());
  Timing timing;
  timing.started = now_ms();
  ++state.metrics.refreshes;
  if (auto found = state.keys.find(input.encoded);
      found != state.keys.end() && found->second.flight) {
    co_return Outcome::answer(
        R"({"refreshed":false,"reason":"a fetch of this key is already in flight"})");
  }
  // What L1 holds now is the stand-in should the origin fail.
  EntryPtr fallback;
  const double now = now_ms();
  const uint32_t slot = state.l1().peek(L1Store::Space::kResponses, input.encoded, now);
  if (slot != L1Store::kNone) fallback = state.l1().response(slot);
  // A copy in L2 fresher than L1's counts as the refresh.
  Served served = co_await lead_flight(ctx, state, input, fallback, true, timing);
  JsonWriter out;
  const bool refreshed = served.stored && served.x_cache != "STALE";
  out.begin_object()
      .key("refreshed")
      .value(refreshed)
      .key("source")
      .value(served.layer)
      .key("xCache")
      .value(served.x_cache);
  if (!served.reason.empty()) out.key("reason").value(served.reason);
  out.end_object();
  co_return Outcome::answer(out.take());
}

// ---- cache.set -------------------------------------------------------------------------

struct SetInput {
  GetInput key;  // key and tags
  int status = 200;
  Headers headers;
  std::string body;
};

Status parse_set_input(CallContext& ctx, Instance& instance, SetInput& input) {
  auto object = input_object(
      ctx, instance, {"organizationId", "key", "vary", "body", "status", "headers", "tags"});
  if (!object.ok()) return object.take_error();
  const JsonObject& in = object.value();
  if (auto s = parse_cache_key(in, true, input.key.key, input.key.encoded); !s.ok()) return s;
  if (auto s = string_list(in, "tags", 64, input.key.tags); !s.ok()) return s;
  auto body = required_string(in, "body");
  if (!body.ok()) return body.take_error();
  input.body = std::move(body.value());
  if (auto value = in.find("status")) {
    auto number = value->integer(100, 599);
    if (!number.ok()) return number.take_error();
    input.status = static_cast<int>(number.value());
  }
  if (auto value = in.find("headers")) return parse_headers(*value, input.headers);
  return ok_status();
}

MethodTask set_method(CallContext& ctx, Instance& instance) {
  auto& state = instance.state<CacheState>();
  const auto config = state.config;
  SetInput input;
  if (auto s = parse_set_input(ctx, instance, input); !s.ok())
    co_return Outcome::failure(s.error());
  const double now = now_ms();
  const Freshness freshness =
      decide_freshness(input.status, input.headers, config->freshness(), now);
  JsonWriter out;
  out.begin_object().key("key").value(input.key.encoded);
  if (!freshness.storable) {
    out.key("stored").value(false).key("reason").value(freshness.reason).end_object();
    co_return Outcome::answer(out.take());
  }
  auto entry =
      entry_from_origin(input.key, input.status, input.headers, std::move(input.body), now);
  set_lifetimes(*entry, freshness, *config);
  stamp(state, *entry);
  const bool stored = co_await store_entry(ctx, state, entry);
  out.key("stored").value(stored).key("freshUntil").value(entry->fresh_until);
  if (!stored) out.key("reason").value("too large for the cache");
  out.end_object();
  co_return Outcome::answer(out.take());
}

// ---- invalidation ----------------------------------------------------------------------

// An invalidation to record: whose, what, and the start of its answer.
struct Invalidation {
  std::string organization;  // "" for every organisation
  JournalItem item;
  JsonWriter out;  // an open object; invalidate() adds seq, l1Dropped, l2Deleted and closes it
};

// Appends an invalidation to the organisation's journal (compare-and-set, retried), drops
// what matches from this isolate's L1, and deletes the named keys from L2.
Task<Outcome> invalidate(CallContext& ctx, CacheState& state, Invalidation& what) {
  const auto config = state.config;
  ++state.metrics.invalidations;
  const std::string key = journal_key(what.organization);
  what.item.at = now_ms();
  std::optional<std::string> stored;
  bool read = false;
  Journal written;
  bool done = false;
  for (int attempt = 0; attempt < kMaxCasAttempts && !done; ++attempt) {
    if (!read) {
      const size_t get = ctx.kv_get(key);
      co_await ctx.perform();
      const OpResult& result = ctx.result(get);
      if (result.status != QV_OK && result.status != QV_NOT_FOUND) {
        kv_failed(state, *config, now_ms());
        co_return Outcome::failure({QV_UNAVAILABLE, "kv: cannot read the invalidation journal (" +
                                                        result.data + "); nothing invalidated"});
      }
      stored = result.status == QV_OK ? std::optional(result.data) : std::nullopt;
      read = true;
    }
    Journal journal;
    if (stored && !read_journal(*stored, journal).ok()) {
      // Unreadable: start over, trusting nothing fetched before now.
      journal = Journal{};
      journal.seq = journal.floor = UINT32_MAX;
      journal.floor_at = what.item.at;
    }
    append_item(journal, what.item, static_cast<size_t>(config->journal_items));
    const std::string next = write_journal(journal);
    const size_t cas = ctx.kv_cas(key, stored, next, 0);
    co_await ctx.perform();
    const OpResult& result = ctx.result(cas);
    if (result.status != QV_OK) {
      kv_failed(state, *config, now_ms());
      co_return Outcome::failure({QV_UNAVAILABLE, "kv: cannot write the invalidation journal (" +
                                                      result.data + "); nothing invalidated"});
    }
    if (result.number == 1) {
      written = std::move(journal);
      done = true;
    } else {  // another isolate appended first: retry on its journal after a back-off
      stored = result.number == 0 ? std::optional(result.data) : std::nullopt;
      ctx.sleep(jittered_backoff_ms(attempt, kMaxBackoffMs));
      co_await ctx.perform();
    }
  }
  if (!done) {
    co_return Outcome::failure(
        {QV_UNAVAILABLE, "kv: too many isolates writing the invalidation journal at once; retry"});
  }
  ++state.metrics.journal_writes;
  const uint64_t seq = written.seq;
  const uint64_t before = state.metrics.l1_invalidated;
  apply_journal(state, *config, what.organization, std::move(written), now_ms());
  const uint64_t dropped = state.metrics.l1_invalidated - before;
  // Named keys also leave L2 at once (tags are judged against the journal on every read).
  int64_t deleted = 0;
  if (!what.item.keys.empty()) {
    std::vector<size_t> ops;
    for (const auto& k : what.item.keys) ops.push_back(ctx.kv_del(l2_entry_key(k)));
    co_await ctx.perform();
    for (size_t op : ops) {
      if (ctx.result(op).status == QV_OK) deleted += ctx.result(op).number;
    }
    state.metrics.l2_deleted += static_cast<uint64_t>(deleted);
  }
  what.out.key("seq")
      .value(static_cast<int64_t>(seq))
      .key("l1Dropped")
      .value(static_cast<int64_t>(dropped))
      .key("l2Deleted")
      .value(deleted)
      .end_object();
  co_return Outcome::answer(what.out.take());
}

void write_organization(JsonWriter& out, const std::string& organization) {
  out.key("organizationId");
  if (organization.empty())
    out.null();
  else
    out.value(organization);
}

Status parse_invalidate_input(CallContext& ctx, Instance& instance, Invalidation& what) {
  auto object = input_object(ctx, instance, {"organizationId", "keys", "tags", "all"});
  if (!object.ok()) return object.take_error();
  const JsonObject& in = object.value();
  if (auto value = in.find("organizationId"); value && !value->is_null()) {
    auto text = value->string();
    if (!text.ok()) return text.take_error();
    if (text.value().empty())
      return invalid_input(
          "organizationId: must not be empty (omit it or send null for every organisation)");
    what.organization = std::string(text.value());
  }
  if (auto s = string_list(in, "tags", 256, what.item.tags); !s.ok()) return s;
  if (auto all = in.find("all")) {
    auto flag = all->boolean();
    if (!flag.ok()) return flag.take_error();
    what.item.everything = flag.value();
  }
  if (auto keys = in.find("keys")) {
    auto array = keys->array();
    if (!array.ok()) return array.take_error();
    if (array.value().size() > 256) return invalid_input("keys: more than 256 keys");
    for (const auto& value : array.value().items()) {
      if (what.organization.empty()) {
        return invalid_input(value.where() +
                             ": keys belong to an organisation: organizationId is required");
      }
      auto key_object = value.object();
      if (!key_object.ok()) return key_object.take_error();
      if (auto s = key_object.value().only_fields({"key", "vary"}); !s.ok()) return s;
      CacheKey key;
      key.organization = what.organization;
      std::string encoded;
      if (auto s = parse_cache_key(key_object.value(), false, key, encoded); !s.ok()) {
        return invalid_input(value.where() + "." + s.error().message);
      }
      what.item.keys.push_back(std::move(encoded));
    }
  }
  if (what.item.keys.empty() && what.item.tags.empty() && !what.item.everything)
    return invalid_input("input: nothing to invalidate: give keys, tags or all: true");
  what.out.begin_object();
  write_organization(what.out, what.organization);
  what.out.key("keys").value(static_cast<int64_t>(what.item.keys.size())).key("tags").begin_array();
  for (const auto& tag : what.item.tags) what.out.value(tag);
  what.out.end_array().key("all").value(what.item.everything);
  return ok_status();
}

MethodTask invalidate_method(CallContext& ctx, Instance& instance) {
  Invalidation what;
  if (auto s = parse_invalidate_input(ctx, instance, what); !s.ok())
    co_return Outcome::failure(s.error());
  co_return co_await invalidate(ctx, instance.state<CacheState>(), what);
}

// A change payload to an invalidation; `none` leaves what.item empty.
Status parse_change_input(CallContext& ctx, Instance& instance, const CacheConfig& config,
                          Invalidation& what, bool& nothing) {
  auto root = instance.parser().parse(ctx.input());
  if (!root.ok()) return root.take_error();
  Change change;
  if (auto s = parse_change(root.value(), change); !s.ok()) return s;
  const ChangeTags tags = change_tags(change, config.rules);
  JsonWriter& out = what.out;
  out.begin_object()
      .key("form")
      .value(change.form)
      .key("table")
      .value(change.table)
      .key("eventType")
      .value(event_name(change.event))
      .key("strategy")
      .value(strategy_name(tags.strategy));
  write_organization(out, tags.organization);
  out.key("recordId");
  if (tags.record_id.empty())
    out.null();
  else
    out.value(tags.record_id);
  out.key("tags").begin_array();
  for (const auto& tag : tags.tags) out.value(tag);
  out.end_array();
  what.organization = tags.organization;
  what.item.tags = tags.tags;
  nothing = tags.strategy == Strategy::kNone;
  if (nothing)
    out.key("seq").null().key("l1Dropped").value(0).key("l2Deleted").value(0).end_object();
  return ok_status();
}

MethodTask change_method(CallContext& ctx, Instance& instance) {
  auto& state = instance.state<CacheState>();
  Invalidation what;
  bool nothing = false;
  if (auto s = parse_change_input(ctx, instance, *state.config, what, nothing); !s.ok())
    co_return Outcome::failure(s.error());
  if (nothing) co_return Outcome::answer(what.out.take());
  co_return co_await invalidate(ctx, state, what);
}

// ---- configuration, stats, helpers -----------------------------------------------------

Outcome configure(CallContext& ctx, Instance& instance) {
  auto& state = instance.state<CacheState>();
  auto root = instance.parser().parse(ctx.input());
  if (!root.ok()) return Outcome::failure(root.error());
  CacheConfig config;
  if (auto s = parse_config(root.value(), config); !s.ok()) return Outcome::failure(s.error());
  const L1Limits before = state.config->l1_limits();
  const L1Limits after = config.l1_limits();
  const bool rebuild = before.max_entries != after.max_entries ||
                       before.max_bytes != after.max_bytes ||
                       before.max_entry_bytes != after.max_entry_bytes;
  state.config = std::make_shared<const CacheConfig>(std::move(config));
  if (rebuild) {  // the next use builds it with the new bounds; hosts must hear of it
    state.l1_store.reset();
    state.l1_replaced = true;
  }
  JsonWriter out;
  write_config(out, *state.config);
  return Outcome::answer(out.take());
}

MethodTask configure_method(CallContext& ctx, Instance& instance) {
  co_return configure(ctx, instance);
}

MethodTask config_method(CallContext&, Instance& instance) {
  JsonWriter out;
  write_config(out, *instance.state<CacheState>().config);
  co_return Outcome::answer(out.take());
}

std::string write_stats(CacheState& state) {
  L1Store& l1 = state.l1();
  const auto& m = state.metrics;
  const auto& s = l1.stats();
  struct Figure {
    const char* section;  // a new section starts when this changes ("" for the top level)
    const char* name;
    uint64_t value;
  };
  const Figure figures[] = {
      {"l1", "hits", s.hits},
      {"l1", "misses", s.misses},
      {"l1", "stale", m.l1_stale},
      {"l1", "entries", l1.entries()},
      {"l1", "bytes", l1.bytes()},
      {"l1", "maxEntries", l1.limits().max_entries},
      {"l1", "maxBytes", l1.limits().max_bytes},
      {"l1", "evictions", s.evictions},
      {"l1", "expirations", s.expirations},
      {"l1", "invalidated", s.invalidations},
      {"l1", "rejected", s.rejected},
      {"l1", "windowEntries", l1.policy().window_maximum()},
      {"l2", "hits", m.l2_hits},
      {"l2", "misses", m.l2_misses},
      {"l2", "stale", m.l2_stale},
      {"l2", "errors", m.l2_errors},
      {"l2", "writes", m.l2_writes},
      {"l2", "writeErrors", m.l2_write_errors},
      {"l2", "rejected", m.l2_rejected},
      {"l2", "invalidated", m.l2_invalidated},
      {"l2", "deleted", m.l2_deleted},
      {"origin", "fetches", m.origin_fetches},
      {"origin", "errors", m.origin_errors},
      {"origin", "notStored", m.origin_not_stored},
      {"origin", "staleIfError", m.stale_if_error},
      {"origin", "notModified", m.origin_not_modified},
      {"invalidations", "received", m.invalidations},
      {"invalidations", "journalWrites", m.journal_writes},
      {"invalidations", "journalPolls", m.journal_polls},
      {"invalidations", "journalPollErrors", m.journal_poll_errors},
      {"invalidations", "l1Dropped", m.l1_invalidated},
      {"", "coalescedWaits", m.coalesced_waits},
      {"", "passes", m.passes},
      {"", "refreshes", m.refreshes},
      {"", "refreshesLeasedElsewhere", m.refreshes_leased_elsewhere},
      {"collapse", "served", m.collapsed},
      {"collapse", "fallbacks", m.collapse_fallbacks},
  };
  JsonWriter out;
  out.begin_object();
  std::string_view open;
  for (const Figure& figure : figures) {
    if (open != figure.section) {
      if (!open.empty()) out.end_object();
      if (*figure.section) out.key(figure.section).begin_object();
      open = figure.section;
    }
    out.key(figure.name).value(static_cast<int64_t>(figure.value));
  }
  if (!open.empty()) out.end_object();
  out.end_object();
  return out.take();
}

MethodTask stats_method(CallContext& ctx, Instance& instance) {
  auto object = input_object(ctx, instance, {});
  if (!object.ok()) co_return Outcome::failure(object.error());
  co_return Outcome::answer(write_stats(instance.state<CacheState>()));
}

}  // namespace

const Method kCacheMethods[] = {
    {"cache.get", get_method},
    {"cache.refresh", refresh_method},
    {"cache.set", set_method},
    {"cache.invalidate", invalidate_method},
    {"cache.change", change_method},
    {"cache.stats", stats_method},
    {"cache.configure", configure_method},
    {"cache.config", config_method},
};

std::span<const Method> methods() {
  return kCacheMethods;
}

}  // namespace qv::cache

// ---- the L1 exports for values hosts keep (qv_abi.h) -----------------------------------
// In this file so that linking the cache's methods links them too.

namespace {

qv::cache::L1Store& hosted_l1() {
  return qv::Instance::current().state<qv::cache::detail::CacheState>().l1();
}

// Counts a host's buffered accesses, (slot, version) pairs, in order; returns how many were
// no longer live and fresh.
uint32_t touch_all(qv::cache::L1Store& l1, const uint32_t* accesses, uint32_t count,
                   double now_ms) {
  uint32_t gone = 0;
  for (uint32_t i = 0; i < count; ++i) {
    if (!l1.touch(accesses[2 * i], accesses[2 * i + 1], now_ms)) ++gone;
  }
  return gone;
}

}  // namespace

extern "C" {

qv_status qv_l1_released(const uint32_t** out_pairs, uint32_t* out_count) {
  auto& state = qv::Instance::current().state<qv::cache::detail::CacheState>();
  bool overflow = state.l1_replaced;
  state.l1_replaced = false;
  if (state.l1_store) {
    overflow = state.l1_store->take_released(state.released) || overflow;
  } else {
    state.released.clear();
  }
  *out_pairs = state.released.data();
  *out_count = static_cast<uint32_t>(state.released.size() / 2);
  return overflow ? QV_BAD_STATE : QV_OK;
}

qv_status qv_l1_put(const uint32_t* accesses, uint32_t access_count, uint32_t hash_lo,
                    uint32_t hash_hi, uint32_t size, uint32_t ttl_ms, double now_ms,
                    qv_l1_ref* out) {
  auto& state = qv::Instance::current().state<qv::cache::detail::CacheState>();
  auto& l1 = state.l1();
  touch_all(l1, accesses, access_count, now_ms);
  const double ttl =
      ttl_ms ? static_cast<double>(ttl_ms) : static_cast<double>(state.config->l1_ttl_ms);
  const uint64_t hash = static_cast<uint64_t>(hash_hi) << 32 | hash_lo;
  const uint32_t slot = l1.put_hosted(hash, size, now_ms + ttl, now_ms);
  if (qv_l1_released(&out->released, &out->released_count) != QV_OK)
    out->released_count = UINT32_MAX;
  if (slot == qv::cache::L1Store::kNone) {
    return size >= l1.limits().max_entry_bytes ? QV_TOO_LARGE : QV_NOT_FOUND;
  }
  out->slot = slot;
  out->version = l1.version(slot);
  out->expires_at_ms = l1.expires_at(slot);
  return QV_OK;
}

qv_status qv_l1_touch(uint32_t slot, uint32_t version, double now_ms) {
  return hosted_l1().touch(slot, version, now_ms) ? QV_OK : QV_NOT_FOUND;
}

uint32_t qv_l1_touch_batch(const uint32_t* accesses, uint32_t count, double now_ms) {
  return touch_all(hosted_l1(), accesses, count, now_ms);
}

uint32_t qv_l1_alive(uint32_t slot, uint32_t version, double now_ms) {
  return hosted_l1().alive(slot, version, now_ms) ? 1 : 0;
}

qv_status qv_l1_remove(uint32_t slot, uint32_t version) {
  return hosted_l1().remove(slot, version) ? QV_OK : QV_NOT_FOUND;
}

}  // extern "C"
