#include "fill.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <optional>
#include <utility>
#include <vector>

#include "journals.h"
#include "qv/cache/keys.h"

namespace qv::cache::detail {

namespace {

// Under the variant's key first, then the key: the key, the newer, outlives the other when
// a small window cannot hold both (and the key alone still serves this variant).
void fill_l1(CacheState& state, const CacheConfig& config, const EntryPtr& entry, double now) {
  const double l1_fresh = std::min(entry->fresh_until, now + static_cast<double>(config.l1_ttl_ms));
  if (!entry->varied.empty())
    state.l1().put_response(variant_key(entry->key, entry->varied), entry, l1_fresh,
                            entry->usable_until(), now);
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

// What a request sent of a header: "=" + its value, or "" when it sent none.
std::string sent(const Headers& request, std::string_view name) {
  for (const auto& [header, value] : request) {
    if (header == name) return "=" + value;
  }
  return "";
}

const Headers& request_headers(const GetInput& input) {
  static const Headers kNone;
  return input.origin ? input.origin->headers : kNone;
}

// The request headers a response's Vary fields name, lower-case, each once, sorted (so that
// the same names in another order find the same variant's key; '*' is refused for storing
// elsewhere).
std::vector<std::string> vary_names(const Headers& response) {
  std::vector<std::string> names;
  for (const auto& [name, value] : response) {
    if (name != "vary") continue;
    for (size_t start = 0; start <= value.size();) {
      const size_t comma = std::min(value.find(',', start), value.size());
      std::string token = value.substr(start, comma - start);
      token.erase(0, token.find_first_not_of(" \t"));
      token.erase(token.find_last_not_of(" \t") + 1);
      for (char& c : token) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (!token.empty() && token != "*" &&
          std::find(names.begin(), names.end(), token) == names.end())
        names.push_back(std::move(token));
      start = comma + 1;
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

bool same_variant(const CachedEntry& entry, const GetInput& input) {
  if (entry.varied.empty()) return true;
  const Headers& request = request_headers(input);
  for (const auto& [name, value] : entry.varied) {
    if (sent(request, name) != value) return false;
  }
  return true;
}

std::string variant_key(std::string_view key, const Headers& varied) {
  uint64_t hash = 14695981039346656037ull;  // FNV-1a: the same in every isolate and build
  const auto mix = [&hash](uint64_t byte) { hash = (hash ^ byte) * 1099511628211ull; };
  for (const auto& [name, value] : varied) {
    for (std::string_view part : {std::string_view(name), std::string_view(value)}) {
      for (size_t length = part.size(), i = 0; i < 8; ++i, length >>= 8) mix(length & 0xff);
      for (unsigned char c : part) mix(c);  // after its length: no two lists read alike
    }
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  std::string out(key);
  out += '*';
  out += hex;
  return out;
}

Headers request_variant(const CachedEntry& entry, const GetInput& input) {
  const Headers& request = request_headers(input);
  Headers out;
  for (const auto& selected : entry.varied)
    out.emplace_back(selected.first, sent(request, selected.first));
  return out;
}

std::string selected_key(CacheState& state, const GetInput& input, double now) {
  L1Store& l1 = state.l1();
  const uint32_t latest = l1.peek(L1Store::Space::kResponses, input.encoded, now);
  if (latest != L1Store::kNone) {
    if (l1.response(latest)->varied.empty()) return input.encoded;
    return variant_key(input.encoded, request_variant(*l1.response(latest), input));
  }
  const auto known = state.keys.find(input.encoded);
  if (known == state.keys.end() || known->second.vary.empty()) return input.encoded;
  const Headers& request = request_headers(input);
  Headers selected;
  for (const auto& name : known->second.vary) selected.emplace_back(name, sent(request, name));
  return variant_key(input.encoded, selected);
}

uint32_t find_in_l1(CacheState& state, const GetInput& input, double now) {
  L1Store& l1 = state.l1();
  const uint32_t latest = l1.peek(L1Store::Space::kResponses, input.encoded, now);
  if (latest == L1Store::kNone || same_variant(*l1.response(latest), input)) return latest;
  const uint32_t slot = l1.peek(L1Store::Space::kResponses, selected_key(state, input, now), now);
  return slot != L1Store::kNone && same_variant(*l1.response(slot), input) ? slot : L1Store::kNone;
}

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
  const Headers& request = request_headers(input);
  for (auto& name : vary_names(headers)) {
    std::string value = sent(request, name);
    entry->varied.emplace_back(std::move(name), std::move(value));
  }
  // The call's tags and the origin's, in byte order, each once: the order of the header lines
  // is no part of them (fetch()'s Headers sort the names, libcurl keeps the origin's order).
  entry->tags = input.tags;
  for (auto& tag : response_tags(headers)) entry->tags.push_back(std::move(tag));
  std::sort(entry->tags.begin(), entry->tags.end());
  entry->tags.erase(std::unique(entry->tags.begin(), entry->tags.end()), entry->tags.end());
  entry->fetched_at = fetched_at;
  return entry;
}

void set_lifetimes(CachedEntry& entry, const Freshness& f, const CacheConfig& config) {
  const double fresh = static_cast<double>(std::min(f.fresh_ms, config.l2_ttl_ms));
  const double max_stale = static_cast<double>(config.max_stale_ms);
  entry.fresh_until = entry.fetched_at + fresh;
  entry.swr_until =
      entry.fresh_until + std::min(static_cast<double>(f.stale_while_revalidate_ms), max_stale);
  entry.sie_until =
      entry.fresh_until + std::min(static_cast<double>(f.stale_if_error_ms), max_stale);
}

Task<bool> store_entry(CallContext& ctx, CacheState& state, EntryPtr entry) {
  const auto config = state.config;
  const double now = now_ms();
  bool kept = false;
  const std::string value = write_entry(*entry);
  if (value.size() > static_cast<uint64_t>(config->l2_max_entry_bytes)) {
    ++state.metrics.l2_rejected;
  } else if (kv_usable(state, now)) {
    const double usable = entry->usable_until() - now;
    const auto ttl = kv_ttl_ms(usable);
    // With a Vary, the key's value also names the headers that find the other variants' own
    // values, and a variant stored before this one may be usable longer (a longer max-age or
    // stale window): the key's value stays as long as any variant's can (l2.ttlMs +
    // maxStaleMs from its fetch), though it is served only within its own lifetimes.
    const double longest =
        static_cast<double>(config->l2_ttl_ms) + static_cast<double>(config->max_stale_ms);
    const auto key_ttl = entry->varied.empty() ? ttl : kv_ttl_ms(std::max(usable, longest));
    std::vector<size_t> ops{ctx.kv_set(l2_entry_key(entry->key), value, key_ttl)};
    if (!entry->varied.empty())
      ops.push_back(ctx.kv_set(l2_entry_key(variant_key(entry->key, entry->varied)), value, ttl));
    co_await ctx.perform();
    for (const size_t op : ops) {
      if (ctx.result(op).status == QV_OK) {
        ++state.metrics.l2_writes;
        kept = true;
      } else {
        ++state.metrics.l2_write_errors;
        kv_failed(state, *config, now_ms());
      }
    }
  }
  fill_l1(state, *config, entry, now_ms());
  const uint32_t slot = state.l1().peek(L1Store::Space::kResponses, entry->key, now_ms());
  co_return kept || slot != L1Store::kNone;
}

Task<L2Deletion> delete_from_l2(CallContext& ctx, CacheState& state,
                                const std::vector<std::string>& keys) {
  std::vector<size_t> ops;
  for (const auto& key : keys) ops.push_back(ctx.kv_del(l2_entry_key(key)));
  co_await ctx.perform();
  L2Deletion deletion;
  for (const size_t op : ops) {
    const OpResult& result = ctx.result(op);
    if (result.status == QV_OK) {
      deletion.deleted += result.number;
    } else {
      deletion.complete = false;
    }
  }
  state.metrics.l2_deleted += static_cast<uint64_t>(deletion.deleted);
  co_return deletion;
}

namespace {

// The conditional header a stored copy's validator makes (RFC 9111 §4.3.1): If-None-Match
// with its ETag, else If-Modified-Since with its Last-Modified; empty without either. Each
// the first one the origin gave, when it gave several.
std::string conditional_header(const CachedEntry& entry) {
  if (std::string tag = first_value(entry.headers, "etag"); !tag.empty())
    return "if-none-match: " + tag + "\n";
  if (std::string since = first_value(entry.headers, "last-modified"); !since.empty())
    return "if-modified-since: " + since + "\n";
  return "";
}

// Whether a 304 confirms the stored copy: its (first) ETag is the copy's, weakly compared,
// or it names none at all (RFC 9111 §4.3.4).
bool confirms_copy(const Headers& not_modified, const CachedEntry& copy) {
  const std::string named = first_value(not_modified, "etag");
  return named.empty() || etags_match_weakly(named, first_value(copy.headers, "etag"));
}

// A stored copy's headers updated with those of the 304 that confirmed it (RFC 9111 §4.3.4):
// a header the 304 carries replaces the stored one of its name. The copy's age starts again
// from the 304's own Age, or from none: the old Age said how old the copy was then.
Headers updated_headers(const Headers& stored, const Headers& not_modified) {
  Headers merged;
  for (const auto& header : stored) {
    bool replaced = header.first == "age";
    for (const auto& fresh : not_modified) replaced = replaced || fresh.first == header.first;
    if (!replaced) merged.push_back(header);
  }
  merged.insert(merged.end(), not_modified.begin(), not_modified.end());
  return merged;
}

// Whether a response to a request with Authorization is its requester's only (RFC 9111
// §3.5): a shared cache may reuse it only when it says so (public, s-maxage or
// must-revalidate). Every layer here is shared.
bool for_requester_only(const OriginRequest& request, const Headers& response) {
  if (!has_header(request.headers, "authorization")) return false;
  const CacheControl cc = parse_cache_control(header_value(response, "cache-control"));
  return !cc.is_public && cc.s_maxage_ms < 0 && !cc.must_revalidate;
}

// Hit-for-pass marks and refresh-lease notes are hints, kept per key: keys the clients
// choose (every query string is one) must not grow them without bound. Past the bound,
// lapsed hints go; if half the bound still holds hints, every hint goes (a key that loses
// one only coalesces or asks the KV again), so the sweep costs O(1) per hint, amortised.
KeyState& hinted_key(CacheState& state, const std::string& key) {
  const size_t bound = std::max<size_t>(1024, static_cast<size_t>(state.config->l1_max_entries));
  if (state.keys.size() >= bound) {
    const double now = now_ms();
    std::erase_if(state.keys, [now](const auto& item) { return item.second.idle(now); });
    if (state.keys.size() >= bound / 2)
      std::erase_if(state.keys, [](const auto& item) { return !item.second.flight; });
  }
  return state.keys[key];
}

void mark_pass(CacheState& state, const std::string& key, double until) {
  hinted_key(state, key).pass_until = until;
}

// A refresh that found the key's lease held elsewhere asks the KV again only after a tenth
// of the lease: the stale answers meanwhile cost no round trip.
void note_refresh_leased(CacheState& state, const std::string& key) {
  const double lease = static_cast<double>(state.config->refresh_lease_ms);
  hinted_key(state, key).refresh_leased_until = now_ms() + lease / 10;
}

// Drops a stored copy from this isolate's L1 and from L2, as an invalidation of its key does
// (without a journal: another isolate's L1 copy lasts its l1.ttlMs at most). In L1 the key's
// own entry goes only while it holds the copy's variant; in L2 the key's value goes with the
// variant's own, as it may be the copy (another variant's there is fetched again).
Task<bool> drop_copy(CallContext& ctx, CacheState& state, const CachedEntry& copy) {
  L1Store& l1 = state.l1();
  const double now = now_ms();
  std::vector<std::string> keys{copy.key};
  if (!copy.varied.empty()) keys.push_back(variant_key(copy.key, copy.varied));
  const uint32_t latest = l1.peek(L1Store::Space::kResponses, copy.key, now);
  if (latest != L1Store::kNone && l1.response(latest)->varied == copy.varied)
    l1.erase(L1Store::Space::kResponses, copy.key);
  if (keys.size() > 1) l1.erase(L1Store::Space::kResponses, keys.back());
  if (!kv_usable(state, now)) co_return false;
  const L2Deletion deletion = co_await delete_from_l2(ctx, state, keys);
  if (!deletion.complete) kv_failed(state, *state.config, now_ms());
  co_return deletion.complete;
}

// `fallback` served for stale-if-error after a failure (`what`), when it is inside that
// window and not invalidated meanwhile (this isolate may have read the journals since).
std::optional<Served> stale_if_error(CacheState& state, const EntryPtr& fallback,
                                     bool fallback_in_l1, const std::string& what, double now) {
  if (!fallback || now >= fallback->sie_until || invalidated(state, *state.config, *fallback))
    return std::nullopt;
  ++state.metrics.stale_if_error;
  Served served;
  served.x_cache = "STALE";
  served.layer = fallback_in_l1 ? "L1" : "L2";
  served.entry = fallback;
  served.stored = true;
  served.reason = "stale-if-error: the origin failed (" + what + ")";
  return served;
}

}  // namespace

Served no_response(CacheState& state, const EntryPtr& fallback, bool fallback_in_l1,
                   qv_status status, const std::string& what, double now) {
  if (auto stale = stale_if_error(state, fallback, fallback_in_l1, what, now))
    return std::move(*stale);
  Served served;
  served.x_cache = "MISS";
  served.layer = "origin";
  served.reason = "origin failed: " + what;
  served.error_status = status == QV_TIMEOUT ? 504 : 502;
  return served;
}

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
  const Headers& asked = input.origin->headers;
  std::string conditional;
  if (fallback && !has_header(asked, "if-none-match") && !has_header(asked, "if-modified-since"))
    conditional = conditional_header(*fallback);
  std::string sent_headers;  // as the fetch operation takes them: "name: value\n" each
  for (const auto& [name, value] : asked) sent_headers += name + ": " + value + "\n";
  // Where a stale-if-error stand-in would come from: L1's copy, or L2's when that one's
  // window ran longer (read_l2 put it in fallback's place).
  bool fallback_in_l1 = false;
  if (fallback) {
    const uint32_t held = find_in_l1(state, input, fetched_at);
    fallback_in_l1 = held != L1Store::kNone && state.l1().response(held) == fallback;
  }
  size_t op = 0;
  Headers headers;
  for (;;) {
    op = ctx.fetch("GET", input.origin->url, sent_headers + conditional, "",
                   input.origin->timeout_ms);
    co_await ctx.perform();
    ++state.metrics.origin_fetches;
    headers = parse_response_headers(ctx.result(op).meta);
    if (conditional.empty() || ctx.result(op).status != QV_OK || ctx.result(op).number != 304 ||
        confirms_copy(headers, *fallback))
      break;
    // It confirms some other copy: no answer for a caller that asked nothing conditional.
    conditional.clear();
  }
  const double done = now_ms();
  timing.origin_ms += done - fetched_at;
  const OpResult& result = ctx.result(op);
  // A 5xx is a failure, save 501: cacheable by default (RFC 9110 §15.6.2), stored for the time
  // the origin gives like a 404, and no error a stale copy stands in for (RFC 5861 §4 names
  // 500, 502, 503 and 504).
  const bool failed = result.status != QV_OK || (result.number >= 500 && result.number != 501);
  if (failed) {
    ++state.metrics.origin_errors;
    if (result.status != QV_OK) {
      co_return no_response(state, fallback, fallback_in_l1, result.status,
                            std::string(status_name(result.status)) + ": " + result.data, done);
    }
    const std::string what = "status " + std::to_string(result.number);
    if (auto stale = stale_if_error(state, fallback, fallback_in_l1, what, done))
      co_return std::move(*stale);
    served.x_cache = "MISS";
    served.layer = "origin";
    served.reason = "origin failed: " + what;
    // The origin's own error response goes through as it is, never stored.
    served.shareable = !personal_response(headers) && !for_requester_only(*input.origin, headers);
    if (!served.shareable)
      mark_pass(state, input.flight, done + static_cast<double>(config->pass_ms));
    served.entry =
        entry_from_origin(input, static_cast<int>(result.number), headers, result.data, fetched_at);
    co_return served;
  }
  int status = static_cast<int>(result.number);
  std::string body = result.data;
  // Any other 304 answers the caller's own condition: it passes through, unstored.
  const bool revalidated = !conditional.empty() && status == 304;
  const bool vary_given = has_header(headers, "vary");
  if (revalidated) {  // the stale copy is current: its body, under the 304's headers
    ++state.metrics.origin_not_modified;
    headers = updated_headers(fallback->headers, headers);
    status = fallback->status;
    body = fallback->body;
  }
  Freshness freshness = decide_freshness(status, headers, config->freshness(), done);
  if (!freshness.personal && for_requester_only(*input.origin, headers)) {
    freshness.personal = true;
    if (freshness.storable) {
      freshness.storable = false;
      freshness.reason =
          "authorization: the request carried credentials and the response allows no shared "
          "cache (public, s-maxage or must-revalidate)";
    }
  }
  if (freshness.storable && !body_is_text(body)) {
    freshness.storable = false;
    freshness.reason = "the body is not UTF-8 text";
  }
  auto entry = entry_from_origin(input, status, headers, std::move(body), fetched_at);
  // A 304 that does not repeat the copy's Vary leaves the copy the variant it was (its
  // `varied`, as the request that filled it sent them), as a stored field the 304 does not
  // carry stays (RFC 9111 §4.3.4).
  if (revalidated && !vary_given) entry->varied = fallback->varied;
  served.layer = "origin";
  served.x_cache = "MISS";
  if (!freshness.storable) {
    ++state.metrics.origin_not_stored;
    served.entry = entry;
    served.reason = "not stored: " + freshness.reason;
    // The origin says no shared cache may keep the response any more (RFC 9111 §3): the copy
    // this fetch revalidated or replaces is served no more, stale or for stale-if-error.
    if (fallback && personal_response(headers)) {
      co_await drop_copy(ctx, state, *fallback);
      served.reason += "; the stored copy is dropped";
    }
    // A response only its requester may see is never handed to the calls that waited, nor
    // a 304 to the requester's own condition. Those that waited go to the origin at once
    // (the pass mark) rather than one after another, when the answer is uncacheable.
    served.shareable = !freshness.personal && status != 304;
    if (status == 200 || freshness.personal)
      mark_pass(state, input.flight, done + static_cast<double>(config->pass_ms));
    co_return served;
  }
  set_lifetimes(*entry, freshness, *config);
  entry->seq = stamped.seq;
  entry->global_seq = stamped.global_seq;
  entry->seq_known = stamped.seq_known;
  entry->epoch = stamped.epoch;
  entry->global_epoch = stamped.global_epoch;
  served.entry = entry;
  if (invalidated(state, *config, *entry)) {
    // An invalidation this isolate learnt of during the fetch: the answer goes to the
    // calls that asked, and is kept nowhere (other isolates would refuse its stamp in L2).
    served.reason = "not stored: invalidated during the fetch";
    co_return served;
  }
  served.stored = co_await store_entry(ctx, state, entry);
  if (!served.stored)
    served.reason = "not stored: too large for the cache";
  else if (revalidated)
    served.reason = "revalidated: the origin answered 304 Not Modified";
  co_return served;
}

namespace {

// L2's copy of the key, judged: a fresh one, or one inside its stale-while-revalidate
// window unless `refreshing`, is served (and fills L1); an older one may take `fallback`'s
// place for stale-if-error. nullopt when L2 has nothing to serve. A call counts once in L2,
// by its first read: a `poll` of a collapsed miss counts no hit or miss (collapse.served and
// collapse.fallbacks count how its polls ended).
Task<std::optional<Served>> read_l2(CallContext& ctx, CacheState& state, const GetInput& input,
                                    EntryPtr& fallback, bool refreshing, bool poll,
                                    Timing& timing) {
  const auto config = state.config;
  double now = now_ms();
  // The key's latest variant, and when that is another one, the variant's own key (once).
  std::string stored_as = input.encoded;
  for (int read = 0; read < 2 && kv_usable(state, now); ++read) {
    const size_t op = ctx.kv_get(l2_entry_key(stored_as));
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
        co_await refresh_journals_for(ctx, state, *entry, timing);
        now = now_ms();
        if (!same_variant(*entry, input)) {
          // Another variant of the key (its Vary): not this request's, nor a stand-in.
          if (read == 0) {
            stored_as = variant_key(input.encoded, request_variant(*entry, input));
            continue;
          }
        } else if (invalidated(state, *config, *entry)) {
          ++state.metrics.l2_invalidated;
        } else if (now < entry->fresh_until) {
          if (!poll) ++state.metrics.l2_hits;
          fill_l1(state, *config, entry, now);
          co_return Served{"HIT-L2", "L2", entry, true, false, true, "", 0};
        } else if (now < entry->swr_until && !refreshing) {
          if (!poll) {
            ++state.metrics.l2_hits;  // a stale serve is a hit too, as in L1
            ++state.metrics.l2_stale;
          }
          fill_l1(state, *config, entry, now);
          co_return Served{"STALE", "L2", entry, true, true, true, "stale-while-revalidate", 0};
        } else if (!fallback || entry->sie_until > fallback->sie_until) {
          fallback = entry;  // stale, but may stand in if the origin fails
        }
      } else {
        ++state.metrics.l2_rejected;
      }
      if (!poll) ++state.metrics.l2_misses;
    } else if (result.status == QV_NOT_FOUND) {
      if (!poll) ++state.metrics.l2_misses;
    } else {
      ++state.metrics.l2_errors;
      kv_failed(state, *config, now);
    }
    break;
  }
  co_return std::nullopt;
}

// What a lease holds once its holder gave it back: free, taken as an absent one is. A
// compare-and-set cannot delete, and only a lease this isolate still holds is given back (one
// that lapsed mid-fetch and another isolate took is left to it), so a lease is given back by
// a compare-and-set from this isolate's id to this value, which lapses a millisecond later.
constexpr std::string_view kFree = "free";
constexpr uint32_t kFreeTtlMs = 1;

// Takes the lease `key` (set if absent, or from kFree, with a TTL), writing this instance's
// id into it. When another isolate holds it, *holder (when given) gets the value it left
// there (its id, "1" in the earlier format, or "pass"); one holding this instance's own id is
// kHeldHere, or with `take_over`, set again (if it still holds that id) with a new TTL:
// kTakenOver.
Task<Lease> take_lease(CallContext& ctx, CacheState& state, const std::string& key, int64_t ttl_ms,
                       std::string* holder = nullptr, bool take_over = false) {
  const std::string& ours = state.holder();
  std::optional<std::string> expected;  // none: set if absent
  // At most: found ours (or free), then gone before it was set again, then found free, then
  // taken from that.
  for (int attempt = 0; attempt < 4; ++attempt) {
    const size_t op = ctx.kv_cas(key, expected, ours, static_cast<uint32_t>(ttl_ms));
    co_await ctx.perform();
    const OpResult& taken = ctx.result(op);
    if (taken.status != QV_OK) {
      kv_failed(state, *state.config, now_ms());
      co_return Lease::kUnknown;
    }
    if (taken.number == 1) {
      const bool over = expected == ours;  // not from absent, nor from kFree
      co_return over ? Lease::kTakenOver : Lease::kTaken;
    }
    if (taken.number == -1) {  // lapsed since it was found: take it anew
      expected.reset();
      continue;
    }
    if (taken.data == kFree) {
      expected = std::string(kFree);
      continue;
    }
    if (taken.data != ours) {
      if (holder) *holder = taken.data;
      co_return Lease::kHeldElsewhere;
    }
    if (!take_over) co_return Lease::kHeldHere;
    expected = ours;
  }
  co_return Lease::kUnknown;  // the KV's answers contradict one another: as if it gave none
}

// Ends this isolate's hold of the lease `key`, leaving `value` there for `ttl_ms` (kFree, or
// "pass" after a fill that stored nothing), if the lease still holds this instance's id: one
// that lapsed meanwhile, taken by another isolate or not, is not this isolate's to end.
// Returns whether it was.
Task<bool> give_back(CallContext& ctx, CacheState& state, std::string key, std::string value,
                     uint32_t ttl_ms) {
  const size_t op = ctx.kv_cas(std::move(key), state.holder(), std::move(value), ttl_ms);
  co_await ctx.perform();
  const OpResult& given = ctx.result(op);
  const bool ended = given.status == QV_OK && given.number == 1;
  co_return ended;
}

// The lease `key` just taken may be free because its last holder stored its copy and gave it
// back after this call's L2 read missed: L2 is read once more before the call fetches. A copy
// found there is served and the lease given back at once; else the call holds it (`lease`).
Task<std::optional<Served>> read_l2_under_lease(CallContext& ctx, CacheState& state,
                                                const GetInput& input, EntryPtr& fallback,
                                                bool refreshing, std::string key,
                                                std::string& lease, Timing& timing) {
  auto stored = co_await read_l2(ctx, state, input, fallback, refreshing, true, timing);
  if (!stored) {
    lease = std::move(key);
    co_return std::nullopt;
  }
  co_await give_back(ctx, state, std::move(key), std::string(kFree), kFreeTtlMs);
  co_return stored;
}

// Misses collapsed across isolates (collapseMs): the call that takes the key's fill lease in
// the KV reads L2 once more and, still missing, fetches (`lease` is set: its key); the others read
// the lease and then L2 every collapsePollMs until its copy is there, then serve it. They fetch for
// themselves once the lease is gone, free or says "pass" (the fetch stored nothing) and L2 has no
// copy after it, after collapseMs / collapsePollMs polls (collapseMs and the polls' KV round
// trips), or when the KV fails: a KV that cannot answer makes every call fetch.
Task<std::optional<Served>> collapse(CallContext& ctx, CacheState& state, const GetInput& input,
                                     EntryPtr& fallback, std::string& lease, Timing& timing) {
  const auto config = state.config;
  const auto collapsed = [&state](Served served) {
    ++state.metrics.collapsed;
    served.reason = "collapsed: another isolate fetched it";
    return served;
  };
  std::string key = fill_lease_key(input.flight);
  std::string holder;
  // A lease holding this isolate's id is held by none of its calls: this call leads the key's
  // flight here, so any earlier leader of it has ended, and one that ended without giving the
  // lease back was freed mid-fetch (a freed call can run no operation to give it back). It
  // is taken over at once, where another isolate's is waited for.
  const Lease taken =
      co_await take_lease(ctx, state, key, config->collapse_ms, &holder, /*take_over=*/true);
  if (taken == Lease::kTakenOver) ++state.metrics.collapse_taken_over;
  if (taken == Lease::kTaken || taken == Lease::kTakenOver) {
    auto stored = co_await read_l2_under_lease(ctx, state, input, fallback, false, std::move(key),
                                               lease, timing);
    if (!stored) co_return std::nullopt;
    co_return collapsed(std::move(*stored));
  }
  if (taken != Lease::kHeldElsewhere || holder == "pass") co_return std::nullopt;
  const int64_t polls = std::max<int64_t>(1, config->collapse_ms / config->collapse_poll_ms);
  for (int64_t poll = 0; poll < polls; ++poll) {
    ctx.sleep(static_cast<uint32_t>(config->collapse_poll_ms));
    co_await ctx.perform();
    // The lease first, then L2: its holder gives it back only once its copy is stored, so a
    // lease found gone or free has its copy in L2 already (read the other way round, the copy
    // could land between the two reads, and this call fetch a second time).
    const size_t held = ctx.kv_get(key);
    co_await ctx.perform();
    const OpResult& lease_now = ctx.result(held);
    const bool still_held =
        lease_now.status == QV_OK && lease_now.data != "pass" && lease_now.data != kFree;
    auto found = co_await read_l2(ctx, state, input, fallback, false, true, timing);
    if (found) co_return collapsed(std::move(*found));
    if (!still_held || !kv_usable(state, now_ms())) break;
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
  std::optional<Served> below =
      co_await read_l2(ctx, state, input, fallback, refreshing, false, timing);
  if (below) co_return std::move(*below);
  const double now = now_ms();
  std::string lease;      // the refresh or fill lease this call holds, if any
  double taken_at = now;  // when the refresh lease's take answered
  if (refreshing && config->refresh_lease_ms > 0 && kv_usable(state, now)) {
    // A background refresh reaches the origin only under the key's lease in the KV: of the
    // isolates that hold the same stale copy, one fetches, and the others find its copy in
    // L2 when they refresh next. A KV that cannot answer grants the lease.
    const auto noted = state.keys.find(input.flight);
    const bool failed_here = noted != state.keys.end() && now < noted->second.refresh_failed_until;
    const bool leased_recently =
        noted != state.keys.end() && now < noted->second.refresh_leased_until;
    std::string key = refresh_lease_key(input.flight);
    // The lease this isolate kept after its refresh failed: asking the KV for it would find
    // it held, and by no other isolate.
    Lease taken = failed_here ? Lease::kHeldHere : Lease::kHeldElsewhere;
    if (!failed_here && !leased_recently) {
      taken = co_await take_lease(ctx, state, key, config->refresh_lease_ms);
      taken_at = now_ms();
      if (taken == Lease::kHeldElsewhere) note_refresh_leased(state, input.flight);
      // Its own lease, though its note of it is gone (swept with the per-key hints): its
      // refresh failed under it (or was freed mid-fetch). The origin rests as after a failure;
      // the lease's TTL left is not known here, so the KV is asked again a tenth of the lease
      // later, as for a lease held elsewhere.
      if (taken == Lease::kHeldHere)
        hinted_key(state, input.flight).refresh_failed_until =
            taken_at + static_cast<double>(config->refresh_lease_ms) / 10;
    }
    if (taken == Lease::kHeldHere) {
      ++state.metrics.refreshes_backed_off;
      Served served;
      served.x_cache = "STALE";
      served.reason =
          "this isolate's refresh of this key failed: the origin rests until the "
          "refresh lease lapses";
      co_return served;
    }
    if (taken == Lease::kHeldElsewhere) {
      ++state.metrics.refreshes_leased_elsewhere;
      Served served;
      served.x_cache = "STALE";
      served.reason = "another isolate holds this key's refresh lease";
      co_return served;
    }
    if (taken == Lease::kTaken) {
      auto stored = co_await read_l2_under_lease(ctx, state, input, fallback, true, std::move(key),
                                                 lease, timing);
      if (stored) co_return std::move(*stored);
    }
  } else if (!refreshing && config->collapse_ms > 0 && input.origin && kv_usable(state, now)) {
    std::optional<Served> collapsed = co_await collapse(ctx, state, input, fallback, lease, timing);
    if (collapsed) co_return std::move(*collapsed);
  }
  Served served = co_await fetch_origin(ctx, state, input, fallback, timing);
  if (lease.empty()) co_return served;
  if (served.stored_anew()) {
    // The new copy is stored: the next refresh of the key need not wait for the refresh
    // lease's TTL; the misses waiting on the fill lease find the copy in L2 (or, when only
    // L1 kept it, find the lease free and fetch). (After a failed refresh the lease stays:
    // the origin gets its TTL of rest, and this isolate notes it.)
    co_await give_back(ctx, state, std::move(lease), std::string(kFree), kFreeTtlMs);
  } else if (refreshing) {
    // Until the lease lapses (its TTL ran from the set, before taken_at): no refresh of the
    // key from here, nor a lease round trip.
    hinted_key(state, input.flight).refresh_failed_until =
        taken_at + static_cast<double>(config->refresh_lease_ms);
  } else {
    // Nothing stored (not storable, or the fetch failed): the waiting misses fetch for
    // themselves at once, and so do the next ones while the lease lasts. (A lease that lapsed
    // mid-fetch and another isolate took says "pass" only if its own fetch stores nothing.)
    co_await give_back(ctx, state, std::move(lease), "pass",
                       static_cast<uint32_t>(config->collapse_ms));
  }
  co_return served;
}

}  // namespace

// Whatever way a flight ends, it is finished, the key's state lets it go, and its waiters
// wake. (Named here, not local to the coroutine: its frame holds one.)
struct FlightGuard {
  CacheState& state;
  const std::string& key;
  std::shared_ptr<Flight> flight;
  ~FlightGuard() {
    flight->finished = true;
    auto found = state.keys.find(key);
    if (found != state.keys.end() && found->second.flight == flight) {
      found->second.flight.reset();
      if (found->second.idle(now_ms())) state.keys.erase(found);
    }
    flight->done.notify();
  }
};

Task<Served> lead_flight(CallContext& ctx, CacheState& state, const GetInput& input,
                         EntryPtr fallback, bool refreshing, Timing& timing) {
  auto flight = std::make_shared<Flight>();
  state.keys[input.flight].flight = flight;
  FlightGuard guard{state, input.flight, flight};
  Served served =
      co_await fill_from_below(ctx, state, input, std::move(fallback), refreshing, timing);
  flight->result = served;
  if (served.entry) {  // the key's Vary, for the fetches L1 cannot tell it to (selected_key)
    std::vector<std::string> vary;
    for (const auto& selected : served.entry->varied) vary.push_back(selected.first);
    if (!vary.empty() || state.keys.contains(input.encoded))
      hinted_key(state, input.encoded).vary = std::move(vary);
  }
  co_return served;
}

}  // namespace qv::cache::detail
