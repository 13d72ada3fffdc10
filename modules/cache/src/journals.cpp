#include "journals.h"

#include <memory>
#include <utility>

#include "qv/cache/keys.h"

namespace qv::cache::detail {

bool invalidated(CacheState& state, const CacheConfig& config, const CachedEntry& entry) {
  const auto org = state.view(entry.organization);
  const auto global = state.view("");
  const double skew = static_cast<double>(config.clock_skew_ms);
  return invalidated_by(org->journal, entry, entry.seq, skew, entry.epoch) ||
         invalidated_by(global->journal, entry, entry.global_seq, skew, entry.global_epoch);
}

namespace {

bool same_item(const JournalItem& a, const JournalItem& b) {
  return a.seq == b.seq && a.at == b.at && a.everything == b.everything && a.keys == b.keys &&
         a.tags == b.tags;
}

// Whether `next` does not continue the journal this isolate read before (`known`): another
// epoch (unless `known` had none: absent, or written before epochs), its sequence went
// backwards, or an item both hold under one number differs. The journal was lost and started
// over (a KV restarted or evicted it), and its new items may already have caught up with the
// old numbers: an entry stamped with one of those cannot be judged by them.
bool started_over(const Journal& known, const Journal& next) {
  if (next.seq < known.seq || (known.epoch != 0 && next.epoch != known.epoch)) return true;
  for (const auto& item : next.items) {
    if (item.seq > known.seq) break;  // oldest first: the rest are new
    for (const auto& old : known.items) {
      if (old.seq == item.seq && !same_item(old, item)) return true;
    }
  }
  return false;
}

}  // namespace

void apply_journal(CacheState& state, const CacheConfig& config, const std::string& organization,
                   Journal journal, double now,
                   const std::function<void(const CachedEntry&)>& dropped) {
  auto view = state.view(organization);
  const bool lost = view->known && started_over(view->journal, journal);
  const bool changed = !view->known || lost || journal.seq != view->journal.seq;
  view->journal = std::move(journal);
  view->known = true;
  view->checked_at = now;
  if (!changed || !state.l1_store) return;
  const double skew = static_cast<double>(config.clock_skew_ms);
  const Journal& j = view->journal;
  state.metrics.l1_invalidated += state.l1_store->erase_responses([&](const CachedEntry& entry) {
    if (!organization.empty() && entry.organization != organization) return false;
    // After a lost journal every entry of this isolate was stamped with the old one's numbers.
    const bool global = organization.empty();
    if (!lost && !invalidated_by(j, entry, global ? entry.global_seq : entry.seq, skew,
                                 global ? entry.global_epoch : entry.epoch))
      return false;
    if (dropped) dropped(entry);
    return true;
  });
}

Task<bool> refresh_journals(CallContext& ctx, CacheState& state, std::string organization,
                            Timing& timing, bool now_anyway) {
  const auto config = state.config;
  const double poll = static_cast<double>(config->poll_ms);
  for (;;) {
    const double now = now_ms();
    auto view = state.view(organization);
    auto global = state.view("");
    if (!now_anyway && now - view->checked_at < poll && now - global->checked_at < poll) {
      co_return true;
    }
    if (!kv_usable(state, now)) co_return false;
    if (view->polling) {  // another call of this isolate is reading it: wait for that read
      const double started = now_ms();
      ctx.wait(*view->polling);
      co_await ctx.perform();
      timing.journal_ms += now_ms() - started;
      if (now_ms() - view->checked_at >= poll) co_return false;  // that read failed
      now_anyway = false;  // that read began after this call asked
      continue;
    }
    const ViewSignal reading(view, &JournalView::polling);  // whatever way the read ends
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

Task<bool> refresh_journals_for(CallContext& ctx, CacheState& state, const CachedEntry& entry,
                                Timing& timing) {
  const bool read = co_await refresh_journals(ctx, state, entry.organization, timing);
  const bool stamped_ahead = entry.seq > state.view(entry.organization)->journal.seq ||
                             entry.global_seq > state.view("")->journal.seq;
  if (!read || !stamped_ahead) co_return read;
  const bool read_again = co_await refresh_journals(ctx, state, entry.organization, timing, true);
  co_return read_again;
}

void stamp(CacheState& state, CachedEntry& entry) {
  const auto org = state.view(entry.organization);
  const auto global = state.view("");
  entry.seq = org->journal.seq;
  entry.global_seq = global->journal.seq;
  entry.epoch = org->journal.epoch;
  entry.global_epoch = global->journal.epoch;
  entry.seq_known = org->known && global->known;
}

}  // namespace qv::cache::detail
