// This isolate's view of the invalidation journals (one per organisation, one for all): read
// from the KV at most once per pollMs and shared by the isolate's calls, applied to L1 as it
// arrives, and the judge of every entry served.
#pragma once

#include <functional>
#include <string>

#include "qv/cache/invalidation.h"
#include "state.h"

namespace qv::cache::detail {

// Whether an entry is invalidated by what this isolate knows of the journals.
bool invalidated(CacheState& state, const CacheConfig& config, const CachedEntry& entry);

// Takes in a newly read (or written) journal, current as of `sent`, when the read (or the
// write) was sent, unless the view holds a newer one (a later seq of the same epoch, else
// one sent later): L1 entries that items newer than the view match go (each shown to
// `dropped` first, when given).
void apply_journal(CacheState& state, const CacheConfig& config, const std::string& organization,
                   Journal journal, double sent,
                   const std::function<void(const CachedEntry&)>& dropped = nullptr);

// Reads the organisation's and the global journal unless this isolate sent a read of them
// less than pollMs before this call (`now_anyway`: since this call began). Calls of the
// isolate share one read. Returns false when KV failed.
Task<bool> refresh_journals(CallContext& ctx, CacheState& state, std::string organization,
                            Timing& timing, bool now_anyway = false);

// Reads the journals, then, when the entry was stamped with positions this isolate has not
// read yet (written by an isolate that read them after this one did, up to pollMs ago),
// reads them again at once: such an entry is judged on what its writer knew, not taken for
// one whose journal was lost.
Task<bool> refresh_journals_for(CallContext& ctx, CacheState& state, const CachedEntry& entry,
                                Timing& timing);

// Stamps a new entry with the journal positions this isolate knows now.
void stamp(CacheState& state, CachedEntry& entry);

}  // namespace qv::cache::detail
