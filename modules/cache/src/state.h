// What the cache keeps per instance (one isolate): its configuration, the L1, the fetches
// in flight that other calls wait for, the isolate's view of the invalidation journals,
// and the metrics; and what every cache method file uses with it. Shared by the method files
// and the direct L1 exports (methods.cpp).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "qv/cache/config.h"
#include "qv/cache/entry.h"
#include "qv/cache/invalidation.h"
#include "qv/cache/l1_store.h"
#include "qv/call.h"
#include "qv/instance.h"
#include "qv/swept_map.h"

namespace qv::cache::detail {

// What one read of the cache served.
struct Served {
  std::string x_cache;      // HIT-L1, HIT-L2, MISS, STALE
  std::string layer;        // where the response came from: L1, L2, origin ("" for none)
  EntryPtr entry;           // the response (cached or passed through); null when none was found
  bool stored = false;      // the response is (now) held by the cache
  bool revalidate = false;  // stale: the host should run cache.refresh in the background
  bool shareable = true;    // calls that waited for this fetch may serve it too
  std::string reason;       // why not stored, or why stale, or what failed
  int error_status = 0;     // 502/504 when the origin failed and nothing stale could stand in

  // A new copy was stored: a stale-if-error stand-in is a failed fetch, though its copy is.
  bool stored_anew() const { return stored && x_cache != "STALE"; }
};

// Who holds a lease in the KV after take_lease: this call (kTakenOver: it took over one this
// isolate had left there), another isolate, this isolate with no call of it holding it (a
// lease it kept, or one a freed call left), or kUnknown (the KV could not answer). Here, not in
// fill.cpp's anonymous namespace: clang 14 turns the await of a Task whose result type has internal
// linkage into a musttail call, which wasm32 cannot build.
enum class Lease { kTaken, kTakenOver, kHeldElsewhere, kHeldHere, kUnknown };

// One fetch (L2 read, then the origin) for one key, shared by the calls that miss the same
// key meanwhile: they wait on `done` and serve `result`.
struct Flight {
  Signal done;
  bool finished = false;
  Served result;
};

// Changes waiting to be appended to a journal together. The calls of an isolate that arrive
// while another of its calls appends to the journal join the next batch, which the first of
// them writes with one compare-and-set once that append ends: a burst of changes (a webhook
// per row of a bulk write) costs a few KV round trips, not two per change, and contends for
// the KV value only with other isolates.
struct AppendBatch {
  std::vector<JournalItem> items;  // in the order their calls joined
  Signal taken;  // notified when its writer takes it (no call can join it from then on)
  Signal done;
  bool led = false;  // a call is writing it (BatchLead)
  bool finished = false;
  std::optional<Error> error;     // why the items were not appended, or not confirmed
  uint64_t last_seq = 0;          // items.back()'s sequence number; items[i] has i - size + 1 more
  std::vector<uint64_t> dropped;  // L1 entries each item dropped in this isolate
};

// This isolate's view of one journal ("" = the journal of changes to every organisation).
struct JournalView {
  Journal journal;
  bool known = false;                 // read at least once
  double checked_at = -1e300;         // when its last read (or write) was sent
  std::unique_ptr<Signal> polling;    // set while a call of this isolate reads it
  std::unique_ptr<Signal> writing;    // set while a call of this isolate appends to it
  std::shared_ptr<AppendBatch> next;  // the batch waiting for that append to end
};

// One of a journal view's signals (polling, writing), set while a call holds it: set when
// made, reset (waking the calls waiting on it) however the holding call ends. (Named here,
// not local to a coroutine: coroutine frames hold one.)
class ViewSignal {
 public:
  ViewSignal(std::shared_ptr<JournalView> view, std::unique_ptr<Signal> JournalView::*signal)
      : view_(std::move(view)), signal_(signal) {
    (*view_).*signal_ = std::make_unique<Signal>();
  }
  ViewSignal(const ViewSignal&) = delete;
  ViewSignal& operator=(const ViewSignal&) = delete;
  ~ViewSignal() { ((*view_).*signal_).reset(); }

 private:
  std::shared_ptr<JournalView> view_;
  std::unique_ptr<Signal> JournalView::*signal_;
};

struct Metrics {
  uint64_t l1_stale = 0;
  uint64_t l2_hits = 0, l2_misses = 0, l2_stale = 0, l2_errors = 0, l2_writes = 0,
           l2_write_errors = 0, l2_rejected = 0, l2_invalidated = 0;
  uint64_t origin_fetches = 0, origin_errors = 0, origin_not_stored = 0, stale_if_error = 0,
           origin_not_modified = 0;
  uint64_t coalesced_waits = 0, coalesced_timeouts = 0, passes = 0, refreshes = 0,
           refreshes_leased_elsewhere = 0, refreshes_backed_off = 0, refreshes_deferred = 0;
  uint64_t collapsed = 0, collapse_fallbacks = 0, collapse_taken_over = 0;
  uint64_t invalidations = 0, journal_writes = 0, journal_polls = 0, journal_poll_errors = 0,
           l1_invalidated = 0, l2_deleted = 0;
};

// Per encoded key: the fetch in flight, and until when the key skips coalescing because
// its origin answered with a response the cache may not keep ("hit-for-pass").
struct KeyState {
  std::shared_ptr<Flight> flight;
  double pass_until = 0;
  // Another isolate holds the key's refresh lease: background refreshes skip the KV until then.
  double refresh_leased_until = 0;
  // This isolate's refresh failed under the key's refresh lease, which it keeps: background
  // refreshes leave the origin to rest until the lease lapses.
  double refresh_failed_until = 0;
  // The request headers the Vary of the key's latest answer names (fill.h's selected_key):
  // they select a fetch's variant while L1 holds no copy of the key (none stored, or gone).
  std::vector<std::string> vary;
  // Whether the entry holds nothing but lapsed hints (it can go).
  bool idle(double now) const {
    return !flight && pass_until <= now && refresh_leased_until <= now &&
           refresh_failed_until <= now && vary.empty();
  }
};

struct CacheState {
  std::shared_ptr<const CacheConfig> config = std::make_shared<const CacheConfig>();
  std::unique_ptr<L1Store> l1_store;
  std::unordered_map<std::string, KeyState> keys;
  SweptMap<JournalView> views;  // by organisation (CacheState::view)
  Metrics metrics;
  double kv_retry_at = 0;          // KV failed: skip it until then
  int64_t refreshes_running = 0;   // cache.refresh calls past their checks, not yet done
  std::vector<uint32_t> released;  // what qv_l1_released last handed out
  bool l1_replaced = false;        // a reconfiguration dropped every hosted value at once
  std::string lease_holder;        // what this instance's leases hold (CacheState::holder)

  // The L1, made on first use (its hashes are seeded by the host's random bytes).
  L1Store& l1();
  // This instance's id, the value of the leases it takes in the KV (16 hex digits of the
  // host's random bytes, drawn on first use): it knows its own lease there whatever its
  // memory still holds of it, and another isolate's (or one of the earlier format, "1") as
  // another's.
  const std::string& holder();
  std::shared_ptr<JournalView> view(const std::string& organization);
};

// Where a call's time went, for its answer's `timing`.
struct Timing {
  double started = 0;
  double journal_ms = 0, l2_ms = 0, origin_ms = 0, wait_ms = 0;
};

inline double now_ms() {
  return qv_host_now_ms();
}

// After a KV failure the cache skips the KV for kvRetryMs (it serves from L1 and the origin
// meanwhile) instead of paying a failing round trip on every call.
inline bool kv_usable(const CacheState& state, double now) {
  return now >= state.kv_retry_at;
}

inline void kv_failed(CacheState& state, const CacheConfig& config, double now) {
  state.kv_retry_at = now + static_cast<double>(config.kv_retry_ms);
}

}  // namespace qv::cache::detail
