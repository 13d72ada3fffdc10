// The cache methods' table, with cache.configure, cache.config and cache.stats, and the L1
// exports for values hosts keep (qv_l1_* in qv_abi.h).
//
// The methods by file: read_methods.cpp (cache.get, cache.refresh, cache.set) over fill.cpp
// (L2, the origin, coalescing and collapsing, storing) and journals.cpp (this isolate's view
// of the invalidation journals); invalidation_methods.cpp (cache.invalidate, cache.change);
// input.cpp (what they read from their input); state.h (what an instance keeps).
//
// Layers and TTLs: an origin response is fresh for min(its s-maxage / max-age, or the
// origin TTL when it has none; the L2 TTL) after its fetch; L1 serves its copy as fresh for
// at most the L1 TTL, then reads L2 again (where another isolate may have put a newer copy).
// After freshness, stale-while-revalidate serves the stale copy while the host refreshes it
// in the background (answer field `revalidate`), and stale-if-error serves it when the
// origin fails.
#include <memory>

#include "method_handlers.h"
#include "qv/cache/config.h"
#include "qv/cache/methods.h"
#include "qv/method_support.h"
#include "state.h"

namespace qv::cache {

namespace {

using detail::CacheState;

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

MethodTask config_method(CallContext& ctx, Instance& instance) {
  auto object = input_object(ctx, instance, {});
  if (!object.ok()) co_return Outcome::failure(object.error());
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
      {"", "coalescedTimeouts", m.coalesced_timeouts},
      {"", "passes", m.passes},
      {"", "trackedKeys", state.keys.size()},
      {"", "journalViews", state.views.entries.size()},
      {"", "refreshes", m.refreshes},
      {"", "refreshesLeasedElsewhere", m.refreshes_leased_elsewhere},
      {"", "refreshesBackedOff", m.refreshes_backed_off},
      {"", "refreshesDeferred", m.refreshes_deferred},
      {"collapse", "served", m.collapsed},
      {"collapse", "fallbacks", m.collapse_fallbacks},
      {"collapse", "takenOver", m.collapse_taken_over},
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

using detail::change_method;
using detail::get_method;
using detail::invalidate_method;
using detail::refresh_method;
using detail::set_method;

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
