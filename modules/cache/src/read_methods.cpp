// cache.get, cache.refresh and cache.set: the multi-layer read path (L1, then L2 and the
// origin through fill.h, filling the layers above), coalescing of concurrent misses in this
// isolate, stale serving (RFC 5861), and storing a response the host already has.
//
// Layers and TTLs: an origin response is fresh for min(its s-maxage / max-age, or the
// origin TTL when it has none; the L2 TTL) after its fetch; L1 serves its copy as fresh for
// at most the L1 TTL, then reads L2 again (where another isolate may have put a newer copy).
// After freshness, stale-while-revalidate serves the stale copy while the host refreshes it
// in the background (answer field `revalidate`), and stale-if-error serves it when the
// origin fails.
#include <algorithm>
#include <cmath>
#include <memory>

#include "fill.h"
#include "input.h"
#include "journals.h"
#include "method_handlers.h"
#include "qv/cache/freshness.h"

namespace qv::cache::detail {

namespace {

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
    // The copy's age (RFC 9111 §4.2.3): its time here since the request that fetched it, and
    // the time it had spent upstream.
    const double age_ms =
        std::max(0.0, now - e.fetched_at) + static_cast<double>(upstream_age_ms(e.headers));
    out.key("body").value(e.body).key("ageMs").value(age_ms);
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

}  // namespace

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
  // How long the call waits for other calls' fetches, in all: what its own fetch may take.
  const int64_t timeout_ms = input.origin ? input.origin->timeout_ms : config->origin_timeout_ms;
  double wait_until = 0;

  for (;;) {
    double now = now_ms();
    EntryPtr cached;
    bool l1_fresh = false;
    uint32_t slot = find_in_l1(state, input, now);
    if (slot != L1Store::kNone) {
      // A hit is served only when a read of the journals was sent within pollMs (else read
      // them first: that is what bounds how long an invalidation takes to reach this
      // isolate; a read counts from its sending, as a change that lands while it is in
      // flight may be missing from it).
      const auto view = state.view(input.key.organization);
      const auto global = state.view("");
      const double poll = static_cast<double>(config->poll_ms);
      if (now - view->checked_at >= poll || now - global->checked_at >= poll) {
        co_await refresh_journals(ctx, state, input.key.organization, timing);
        now = now_ms();
        slot = find_in_l1(state, input, now);
      }
    }
    // A call counts once in L1, by its first look: one that waited for another call's fetch
    // (coalesced) counted its miss then, whatever serves it after.
    if (slot != L1Store::kNone) {
      cached = state.l1().response(slot);
      l1_fresh = now < state.l1().fresh_until(slot);
      const bool fresh = l1_fresh && now < cached->fresh_until;
      if (fresh || (now >= cached->fresh_until && now < cached->swr_until)) {
        if (coalesced) {
          state.l1().record_access(slot);
        } else {
          state.l1().record_hit(slot);
          if (!fresh) ++state.metrics.l1_stale;
        }
        Served served =
            fresh ? Served{"HIT-L1", "L1", cached, true, false, true, "", 0}
                  : Served{"STALE", "L1", cached, true, true, true, "stale-while-revalidate", 0};
        co_return Outcome::answer(write_served(served, input.encoded, coalesced, timing, now));
      }
      if (now >= cached->sie_until) cached = nullptr;  // no use as a stand-in either
    }
    if (!coalesced) state.l1().record_miss();

    std::shared_ptr<Flight> waiting;
    input.flight = selected_key(state, input, now);
    if (auto found = state.keys.find(input.flight); found != state.keys.end()) {
      if (found->second.pass_until > now) {  // recently uncacheable: straight to the origin
        ++state.metrics.passes;
        Served served = co_await fetch_origin(ctx, state, input, cached, timing);
        // Its own fetch, even after a wait: not coalesced.
        co_return Outcome::answer(write_served(served, input.encoded, false, timing, now_ms()));
      }
      found->second.pass_until = 0;
      waiting = found->second.flight;
      if (found->second.idle(now)) state.keys.erase(found);
    }
    if (waiting) {  // another call is fetching this key: wait for it
      const double started = now_ms();
      if (!coalesced) {  // a call that waits counts once, and waits at most its own timeout
        ++state.metrics.coalesced_waits;
        wait_until = started + static_cast<double>(timeout_ms);
      }
      // The flight waited for may take longer than this call's own fetch would (its L2 read,
      // collapsing, two fetches, under the leader's timeout): the host ends the wait at this
      // call's bound, and the call answers as if its own fetch had timed out.
      const double left = std::ceil(wait_until - started);
      bool timed_out = left < 1;
      if (!timed_out) {
        const size_t op = ctx.wait(waiting->done, static_cast<uint32_t>(left));
        co_await ctx.perform();
        timed_out = ctx.result(op).status == QV_TIMEOUT;
      }
      const double woke = now_ms();
      timing.wait_ms += woke - started;
      if (timed_out) {
        ++state.metrics.coalesced_timeouts;
        Served served = no_response(
            state, cached, true, QV_TIMEOUT,
            "timeout: the fetch of this key this call waited for did not end within its " +
                std::to_string(timeout_ms) + " ms",
            woke);
        co_return Outcome::answer(write_served(served, input.encoded, false, timing, woke));
      }
      coalesced = true;
      if (waiting->finished && waiting->result.shareable &&
          (waiting->result.entry ? same_variant(*waiting->result.entry, input)
                                 : waiting->result.error_status != 0)) {
        // A copy fetched pollMs or more before this call began may predate a change answered
        // before then, which this call must see (the bound): judged on the journals as this
        // call needs them, an invalidated one sends it to look again.
        const EntryPtr& got = waiting->result.entry;
        if (got && timing.started - got->fetched_at >= static_cast<double>(config->poll_ms)) {
          co_await refresh_journals(ctx, state, input.key.organization, timing);
          if (invalidated(state, *config, *got)) continue;
        }
        co_return Outcome::answer(
            write_served(waiting->result, input.encoded, coalesced, timing, now_ms()));
      }
      // Nothing to share: look again (and fetch for itself if need be). An answer naming a
      // Vary this call does not match left its names with the key (lead_flight), so the look
      // again finds this call's variant, stored in L1 or not; an answer not for sharing marked
      // the key for a pass, so every call that waited passes.
      continue;
    }

    Served served = co_await lead_flight(ctx, state, input, cached, false, timing);
    co_return Outcome::answer(write_served(served, input.encoded, false, timing, now_ms()));
  }
}

// Counts a refresh as running for as long as its call lives: a call freed mid-flight (the
// ABI lets a host free one at any point) must not keep its place. (Named here, not local to
// the coroutine: its frame holds one.)
struct RunningRefresh {
  int64_t& running;
  explicit RunningRefresh(int64_t& counter) : running(counter) { ++running; }
  ~RunningRefresh() { --running; }
};

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
  input.flight = selected_key(state, input, now_ms());
  if (auto found = state.keys.find(input.flight);
      found != state.keys.end() && found->second.flight) {
    co_return Outcome::answer(
        R"({"refreshed":false,"reason":"a fetch of this key (this variant) is already in flight"})");
  }
  // Refreshes nobody waits for: when many keys go stale at once, unbounded they would queue
  // for the origin's connections until their timeouts (counted as origin failures). Past the
  // bound the stale copy stands, and a later request of the key asks again.
  if (state.refreshes_running >= config->max_refreshes) {
    ++state.metrics.refreshes_deferred;
    co_return Outcome::answer(
        R"({"refreshed":false,"reason":"maxRefreshes refreshes already running in this isolate"})");
  }
  // What L1 holds now is the stand-in should the origin fail.
  EntryPtr fallback;
  const double now = now_ms();
  const uint32_t slot = find_in_l1(state, input, now);
  if (slot != L1Store::kNone) fallback = state.l1().response(slot);
  // A copy in L2 fresher than L1's counts as the refresh.
  const RunningRefresh running(state.refreshes_running);
  Served served = co_await lead_flight(ctx, state, input, fallback, true, timing);
  JsonWriter out;
  const bool refreshed = served.stored_anew();
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

// cache.set's input. (In the named namespace: set_method's coroutine frame holds one.)
struct SetInput {
  GetInput key;  // key and tags
  int status = 200;
  Headers headers;
  std::string body;
};

namespace {

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
  if (auto value = in.find("headers")) return parse_headers(*value, true, input.headers);
  return ok_status();
}

}  // namespace

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

}  // namespace qv::cache::detail
