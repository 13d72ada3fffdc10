// The cache's configuration: layer bounds and TTLs (the spec's defaults: L1 1 min and 1,000
// entries, L2 5 min, the origin's data 1 h), stale serving, invalidation polling and the
// table/event rules. cache.configure replaces it whole: fields left out take the defaults.
#pragma once

#include <cstdint>

#include "qv/cache/freshness.h"
#include "qv/cache/invalidation.h"
#include "qv/cache/l1_store.h"
#include "qv/json.h"

namespace qv::cache {

struct CacheConfig {
  int64_t l1_max_entries = 1000;
  int64_t l1_max_bytes = 16 << 20;
  int64_t l1_max_entry_bytes = 1 << 20;  // larger responses are not kept in L1
  int64_t l1_ttl_ms = 60000;             // an L1 copy is read from L2 again after this
  int64_t l2_ttl_ms = 300000;            // no entry is fresh longer than this after its fetch
  int64_t l2_max_entry_bytes = 512 << 10;
  int64_t origin_ttl_ms = 3600000;  // freshness of a response whose origin says nothing
  int64_t origin_timeout_ms = 5000;
  int64_t stale_while_revalidate_ms = 0;  // when the origin sends no such directive
  int64_t stale_if_error_ms = 0;
  int64_t max_stale_ms = 86400000;   // stale windows from the origin are capped at this
  int64_t pass_ms = 10000;           // an uncacheable response skips coalescing this long
  int64_t kv_retry_ms = 1000;        // after a KV failure, skip KV this long
  int64_t refresh_lease_ms = 10000;  // one isolate refreshes a stale key at a time (0: each)
  int64_t max_refreshes = 32;        // background refreshes running at once in an isolate
  int64_t collapse_ms = 0;           // a miss waits this long at most for another isolate's
                                     // fetch of the key (0: off, each isolate fetches)
  int64_t collapse_poll_ms = 20;     // how often a waiting miss looks in L2
  int64_t poll_ms = 500;             // an isolate reads the journals at most this often
  int64_t journal_items = 64;        // invalidations a journal keeps
  int64_t clock_skew_ms = 1000;      // allowed between isolates' clocks
  InvalidationRules rules = default_rules();

  L1Limits l1_limits() const;
  FreshnessDefaults freshness() const;
};

// Parses a configuration object into `out`; errors name the field ("l1.maxEntries: must be
// between 1 and 1000000").
Status parse_config(const JsonValue& root, CacheConfig& out);
void write_config(JsonWriter& out, const CacheConfig& config);

}  // namespace qv::cache
