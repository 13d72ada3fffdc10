#include "journals.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "qv/cache/keys.h"

namespace qv::cache::detail {

namespace {

// The entry judged by one journal, by its stamp from that one: the organisation's, or
// everyone's (`global`).
bool invalidated_by_journal(const Journal& journal, const CachedEntry& entry, bool global,
                            double skew) {
  return global ? invalidated_by(journal, entry, entry.global_seq, skew, entry.global_epoch)
                : invalidated_by(journal, entry, entry.seq, skew, entry.epoch);
}

}  // namespace

bool invalidated(CacheState& state, const CacheConfig& config, const CachedEntry& entry) {
  const double skew = static_cast<double>(config.clock_skew_ms);
  return invalidated_by_journal(state.view(entry.organization)->journal, entry, false, skew) ||
         invalidated_by_journal(state.view("")->journal, entry, true, skew);
}

void apply_journal(CacheState& state, const CacheConfig& config, const std::string& organization,
                   Journal journal, double sent,
                   const std::function<void(const CachedEntry&)>& dropped) {
  auto view = state.view(organization);
  // Answers may come back in another order than they were sent (two calls' reads of the
  // global journal, a read and this isolate's own write): the newer journal is kept. Within
  // one epoch a journal only grows, so the higher seq is the newer, whichever was sent first,
  // and it holds all the other holds: current as of the later sending. Across epochs (the
  // journal lost and started over) and without one, the numbers order nothing: the answer
  // sent later is kept.
  const bool same_epoch = journal.epoch != 0 && journal.epoch == view->journal.epoch;
  const bool older =
      view->known && (same_epoch ? journal.seq < view->journal.seq : sent < view->checked_at);
  view->checked_at = std::max(view->checked_at, sent);
  if (older) return;
  // (Another epoch: the journal was lost and started over, and its numbers may have caught
  // up with the old ones; entries stamped from the old one are judged untrusted below.)
  const bool changed =
      !view->known || journal.seq != view->journal.seq || journal.epoch != view->journal.epoch;
  view->journal = std::move(journal);
  view->known = true;
  if (!changed || !state.l1_store) return;
  const double skew = static_cast<double>(config.clock_skew_ms);
  const Journal& j = view->journal;
  state.metrics.l1_invalidated += state.l1_store->erase_responses([&](const CachedEntry& entry) {
    if (!organization.empty() && entry.organization != organization) return false;
    if (!invalidated_by_journal(j, entry, organization.empty(), skew)) return false;
    if (dropped) dropped(entry);
    return true;
  });
}

namespace {

// Whether a view's last read counts for a call that asked at `asked` (see refresh_journals;
// a function, as a lambda's type kept in a coroutine's frame has no linkage).
bool recent_enough(const JournalView& view, double asked, double poll, bool now_anyway) {
  return now_anyway ? view.checked_at >= asked : asked - view.checked_at < poll;
}

}  // namespace

Task<bool> refresh_journals(CallContext& ctx, CacheState& state, std::string organization,
                            Timing& timing, bool now_anyway) {
  const auto config = state.config;
  const double poll = static_cast<double>(config->poll_ms);
  // A view is recent enough for this call when its read was sent less than pollMs before the
  // call asked (`now_anyway`: once the call asked), judged on when the call asked, not on
  // when a read it waited for came back. Asked for now_anyway, the call reads at once unless
  // a read is in flight.
  const double asked = now_ms();
  bool waited = false;
  for (;;) {
    auto view = state.view(organization);
    auto global = state.view("");
    if ((waited || !now_anyway) && recent_enough(*view, asked, poll, now_anyway) &&
        recent_enough(*global, asked, poll, now_anyway))
      co_return true;
    const double now = now_ms();
    if (!kv_usable(state, now)) co_return false;
    if (view->polling) {  // another call of this isolate is reading it: wait for that read
      ctx.wait(*view->polling);
      co_await ctx.perform();
      timing.journal_ms += now_ms() - now;
      // Judged again, on when this call asked: after a read that failed the KV is skipped
      // (false); a read sent too early for this call (pollMs or more before it asked, or,
      // for now_anyway, before it asked) is not recent enough, and this call reads itself.
      waited = true;
      continue;
    }
    const ViewSignal reading(view, &JournalView::polling);  // whatever way the read ends
    const size_t org_op = ctx.kv_get(journal_key(organization));
    const size_t global_op = ctx.kv_get(journal_key(""));
    const double sent = now_ms();
    co_await ctx.perform();
    const double done = now_ms();
    timing.journal_ms += done - sent;
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
      // As of when the read was sent: a change that lands while it is in flight may be
      // missing from it, and the next read is due pollMs after the send, not after the answer.
      apply_journal(state, *config, name, std::move(journal), sent);
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
