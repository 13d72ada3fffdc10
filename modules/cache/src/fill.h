// Filling from below: a miss in L1 reads L2, then (one call per key in this isolate, and with
// collapseMs one per key across isolates) fetches from the origin, judges the answer's
// freshness and stores it in L2 and L1. Stale copies stand in when the origin fails
// (stale-if-error), and a copy with a validator makes the fetch conditional.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "input.h"
#include "qv/cache/freshness.h"
#include "state.h"

namespace qv::cache::detail {

// A response entry from an origin answer (stored or passed through).
std::shared_ptr<CachedEntry> entry_from_origin(const GetInput& input, int status,
                                               const Headers& headers, std::string body,
                                               double fetched_at);

// Whether entry answers a request like input's in every header its response's Vary names
// (RFC 9111 §4.1): another variant is not served, fresh or stale, nor revalidated.
bool same_variant(const CachedEntry& entry, const GetInput& input);

// The variants of one key live side by side: the key holds the variant stored last, and an
// entry whose response names a Vary is also kept under its variant's key, the key, '*' (which
// no encoded key holds) and a hash of its `varied`. A request another variant answers finds
// its own under the key made from the latest's Vary names and what the request sends
// (request_variant). A hash may collide: same_variant, checked before any serve, makes that
// a miss.
std::string variant_key(std::string_view key, const Headers& varied);
// What input's request sends of the headers `entry`'s Vary names, in entry.varied's form.
Headers request_variant(const CachedEntry& entry, const GetInput& input);
// The key of the variant input's request selects: the variant's key when L1's copy of the
// key names a Vary, else the key (before any copy says which headers select a variant, the
// first fetch tells). A fetch for input is coalesced under it in this isolate, and leased
// and marked under it in the KV, so that the variants of a key are fetched side by side,
// each once.
std::string selected_key(CacheState& state, const GetInput& input, double now);
// The L1 slot holding the variant input's request selects (under the key or the variant's
// key), or L1Store::kNone.
uint32_t find_in_l1(CacheState& state, const GetInput& input, double now);

// Sets the entry's lifetimes from its freshness, within the configured bounds.
void set_lifetimes(CachedEntry& entry, const Freshness& f, const CacheConfig& config);

// What deleting entries from L2 came to: how many there were (counted in l2Deleted) and
// whether every delete was answered.
struct L2Deletion {
  int64_t deleted = 0;
  bool complete = true;
};
// Deletes the L2 entries of `keys` (encoded keys), in one batch of kv.del.
Task<L2Deletion> delete_from_l2(CallContext& ctx, CacheState& state,
                                const std::vector<std::string>& keys);

// Writes the entry to L2 (when it fits) and L1. Returns false when it was not kept anywhere.
Task<bool> store_entry(CallContext& ctx, CacheState& state, EntryPtr entry);

// What a call answers when no response came for it: its fetch failed without one, or its
// wait for another call's fetch timed out (status QV_TIMEOUT or QV_UNAVAILABLE; `what` says
// why). `fallback`, a stale copy, stands in inside its stale-if-error window unless a change
// invalidated it (STALE, layer L1 when `fallback_in_l1`, else L2); else the answer is a MISS
// with status 504 for a timeout, 502 otherwise.
Served no_response(CacheState& state, const EntryPtr& fallback, bool fallback_in_l1,
                   qv_status status, const std::string& what, double now);

// What the origin says for the key; `fallback` is a stale entry that may stand in when
// the origin fails (stale-if-error). A fallback with a validator makes the fetch conditional:
// an origin that answers 304 Not Modified sends no body, and the fallback's body is stored
// again under the 304's freshness.
Task<Served> fetch_origin(CallContext& ctx, CacheState& state, const GetInput& input,
                          EntryPtr fallback, Timing& timing);

// L2 and, on a miss, the origin for one key, as the leader of the key's flight: calls of this
// isolate that miss the same key meanwhile wait for it instead of reading L2 and the origin
// themselves. `fallback` is what L1 had (stale), for stale-if-error. When `refreshing` (a
// background refresh), a stale L2 copy is not served, and the origin is reached only under
// the key's refresh lease.
Task<Served> lead_flight(CallContext& ctx, CacheState& state, const GetInput& input,
                         EntryPtr fallback, bool refreshing, Timing& timing);

}  // namespace qv::cache::detail
