// The methods the cache module serves through the ABI (docs/cache.md has the details):
//   cache.get         {organizationId, key, vary?, origin?: {url, headers?, timeoutMs?}, tags?}
//                     -> the response from L1, L2 or the origin (getOrSet), with xCache
//                     (HIT-L1 | HIT-L2 | MISS | STALE), ageMs, revalidate, coalesced, timing
//   cache.refresh     as cache.get (origin required): re-reads L2, else the origin, and
//                     stores; what a host runs in the background when get says revalidate
//   cache.set         {organizationId, key, vary?, body, status?, headers?, tags?} -> stored?
//                     (a header's value a string, or an array of strings: its lines)
//   cache.invalidate  {organizationId?, keys?: [{key, vary?}], tags?, all?} -> journal entry
//   cache.change      a Supabase change payload (realtime or webhook form) -> the rule
//                     applied and the tags invalidated
//   cache.stats       {} -> hits, misses and stale serves per layer, evictions, bytes,
//                     coalesced waits, invalidations
//   cache.configure   configuration (config.h) -> the configuration in force
//   cache.config      {} -> the configuration in force
#pragma once

#include <span>

#include "qv/instance.h"

namespace qv::cache {
std::span<const Method> methods();
}
