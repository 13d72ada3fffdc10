// cache.invalidate and cache.change: an invalidation (by key, by tag, or everything, for one
// organisation or all) is appended to the journal in the KV by compare-and-set, applied to
// this isolate's L1 at once, and reaches the other isolates when they next read the journal
// (within pollMs); named keys also leave L2 at once. cache.change turns a database change
// payload (Supabase's realtime or webhook form) into tags by the configured rules.
#include <algorithm>
#include <memory>
#include <optional>
#include <utility>

#include "fill.h"
#include "input.h"
#include "journals.h"
#include "method_handlers.h"
#include "qv/cache/keys.h"

namespace qv::cache::detail {

// An invalidation to record: whose, what, and the start of its answer. (In the named
// namespace: the methods' coroutine frames hold one.)
struct Invalidation {
  std::string organization;  // "" for every organisation
  JournalItem item;
  JsonWriter out;  // an open object; invalidate() adds seq, l1Dropped, l2Deleted and closes it
};

namespace {

// Contended journal updates retry on the value the KV returned, after a jittered back-off.
constexpr int kMaxCasAttempts = 24;
constexpr double kMaxBackoffMs = 64;

// Takes the batch out of the view's queue, if it waits there: no call joins it from then on,
// and the calls waiting for room start the next one.
void unqueue(JournalView& view, const std::shared_ptr<AppendBatch>& batch) {
  if (view.next != batch) return;
  view.next.reset();
  batch->taken.notify();
}

// Held by the call that writes a batch. Whatever way that call ends, the batch's calls wake:
// to its outcome, or, when the call was freed before the batch was written, to write it
// themselves (the first of them to run). (Named here, not local to a coroutine: coroutine
// frames hold one.)
class BatchLead {
 public:
  BatchLead(std::shared_ptr<JournalView> view, std::shared_ptr<AppendBatch> batch)
      : view_(std::move(view)), batch_(std::move(batch)) {
    batch_->led = true;
  }
  BatchLead(const BatchLead&) = delete;
  BatchLead& operator=(const BatchLead&) = delete;
  ~BatchLead() {
    unqueue(*view_, batch_);
    batch_->led = false;
    if (batch_->error) batch_->finished = true;
    batch_->done.notify();
  }

 private:
  std::shared_ptr<JournalView> view_;
  std::shared_ptr<AppendBatch> batch_;
};

// Appends a batch's items to the organisation's journal (compare-and-set, retried) and
// applies the journal written to this isolate's L1; sets batch.error when it cannot. A batch
// tries the KV even just after the one before it failed there: one slow answer must not
// fail every change queued behind it, and with the KV down the queue costs one KV timeout
// per batch, not one per change.
Task<bool> append_batch(CallContext& ctx, CacheState& state, const std::string& organization,
                        AppendBatch& batch) {
  const auto config = state.config;
  const std::string key = journal_key(organization);
  const double at = now_ms();
  for (auto& item : batch.items) item.at = at;
  std::optional<std::string> stored;
  bool read = false;
  for (int attempt = 0; attempt < kMaxCasAttempts; ++attempt) {
    if (!read) {
      const size_t get = ctx.kv_get(key);
      co_await ctx.perform();
      const OpResult& result = ctx.result(get);
      if (result.status != QV_OK && result.status != QV_NOT_FOUND) {
        kv_failed(state, *config, now_ms());
        batch.error = Error{QV_UNAVAILABLE, "kv: cannot read the invalidation journal (" +
                                                result.data + "); nothing invalidated"};
        co_return false;
      }
      stored = result.status == QV_OK ? std::optional(result.data) : std::nullopt;
      read = true;
    }
    Journal journal;
    if (stored && !read_journal(*stored, journal).ok()) {
      // Unreadable: start over, trusting nothing fetched before now.
      journal = Journal{};
      journal.seq = journal.floor = UINT32_MAX;
      journal.floor_at = at;
    }
    // A journal begun here (the first change, or one lost) is a new epoch: copies stamped
    // from any journal before it are judged by none of its numbers.
    if (journal.epoch == 0) journal.epoch = new_journal_epoch();
    // (journalItems may have been lowered since the batch filled: it still keeps its own.)
    const size_t most = std::max(static_cast<size_t>(config->journal_items), batch.items.size());
    for (const auto& item : batch.items) append_item(journal, item, most);
    const std::string next = write_journal(journal);
    const size_t cas = ctx.kv_cas(key, stored, next, 0);
    const double sent = now_ms();
    co_await ctx.perform();
    const OpResult& result = ctx.result(cas);
    if (result.status != QV_OK) {
      kv_failed(state, *config, now_ms());
      // (It may still land, late: sent again, the change is only recorded twice.)
      batch.error = Error{QV_UNAVAILABLE, "kv: cannot write the invalidation journal (" +
                                              result.data + "); not confirmed: send it again"};
      co_return false;
    }
    if (result.number == 1) {
      ++state.metrics.journal_writes;
      batch.last_seq = journal.seq;
      // Each entry dropped is counted for the first change of the batch that names it (for
      // the first change when only items of other isolates, read with the journal, do).
      batch.dropped.assign(batch.items.size(), 0);
      // The journal as the write left it, current as of when the write was sent (a change
      // landing after it need not be in it, however late this answer came).
      apply_journal(state, *config, organization, std::move(journal), sent,
                    [&batch](const CachedEntry& entry) {
                      size_t i = 0;
                      while (i < batch.items.size() && !item_matches(batch.items[i], entry)) ++i;
                      ++batch.dropped[i < batch.items.size() ? i : 0];
                    });
      co_return true;
    }
    // Another isolate appended first: retry on its journal after a back-off.
    stored = result.number == 0 ? std::optional(result.data) : std::nullopt;
    ctx.sleep(jittered_backoff_ms(attempt, kMaxBackoffMs));
    co_await ctx.perform();
  }
  batch.error = Error{QV_UNAVAILABLE,
                      "kv: too many isolates writing the invalidation journal at once; retry"};
  co_return false;
}

// Records an invalidation in the organisation's journal, in a batch with the other changes
// this isolate's calls send meanwhile (AppendBatch), drops what matches from this isolate's
// L1, and deletes the named keys from L2.
Task<Outcome> invalidate(CallContext& ctx, CacheState& state, Invalidation& what) {
  const auto config = state.config;
  ++state.metrics.invalidations;
  auto view = state.view(what.organization);
  const size_t most = static_cast<size_t>(config->journal_items);  // a batch never drops its own
  std::shared_ptr<AppendBatch> batch;
  size_t index = 0;
  bool lead = false;
  for (;;) {
    if (view->next && view->next->items.size() < most) {  // join the batch that waits
      batch = view->next;
      index = batch->items.size();
      batch->items.push_back(what.item);
      break;
    }
    if (!view->next) {  // lead a new batch
      batch = std::make_shared<AppendBatch>();
      batch->items.push_back(what.item);
      lead = true;
      break;
    }
    // The batch that waits is full: wait until its writer takes it, then start the next.
    const auto full = view->next;
    ctx.wait(full->taken);
    co_await ctx.perform();
  }
  while (!lead) {
    ctx.wait(batch->done);
    co_await ctx.perform();
    if (batch->finished) break;
    lead = !batch->led;  // its writer was freed before it wrote the batch: write it
  }
  if (lead) {
    const BatchLead leading(view, batch);
    while (view->writing) {  // after the append under way, taking the calls that come meanwhile
      if (!view->next) view->next = batch;
      ctx.wait(*view->writing);
      co_await ctx.perform();
    }
    unqueue(*view, batch);
    const ViewSignal writing(view, &JournalView::writing);  // whatever way the append ends
    const bool written = co_await append_batch(ctx, state, what.organization, *batch);
    batch->finished = written;
  }
  if (batch->error) co_return Outcome::failure(*batch->error);
  const uint64_t seq = batch->last_seq - (batch->items.size() - 1 - index);
  // Named keys also leave L2 at once (tags are judged against the journal on every read).
  int64_t deleted = 0;
  if (!what.item.keys.empty())
    deleted = (co_await delete_from_l2(ctx, state, what.item.keys)).deleted;
  what.out.key("seq")
      .value(static_cast<int64_t>(seq))
      .key("l1Dropped")
      .value(static_cast<int64_t>(batch->dropped[index]))
      .key("l2Deleted")
      .value(deleted)
      .end_object();
  co_return Outcome::answer(what.out.take());
}

void write_organization(JsonWriter& out, const std::string& organization) {
  out.key("organizationId");
  if (organization.empty())
    out.null();
  else
    out.value(organization);
}

Status parse_invalidate_input(CallContext& ctx, Instance& instance, Invalidation& what) {
  auto object = input_object(ctx, instance, {"organizationId", "keys", "tags", "all"});
  if (!object.ok()) return object.take_error();
  const JsonObject& in = object.value();
  if (auto value = in.find("organizationId"); value && !value->is_null()) {
    auto text = value->string();
    if (!text.ok()) return text.take_error();
    if (text.value().empty())
      return invalid_input(
          "organizationId: must not be empty (omit it or send null for every organisation)");
    what.organization = std::string(text.value());
  }
  if (auto s = string_list(in, "tags", 256, what.item.tags); !s.ok()) return s;
  if (auto all = in.find("all")) {
    auto flag = all->boolean();
    if (!flag.ok()) return flag.take_error();
    what.item.everything = flag.value();
  }
  if (auto keys = in.find("keys")) {
    auto array = keys->array();
    if (!array.ok()) return array.take_error();
    if (array.value().size() > 256) return invalid_input("keys: more than 256 keys");
    for (const auto& value : array.value().items()) {
      if (what.organization.empty()) {
        return invalid_input(value.where() +
                             ": keys belong to an organisation: organizationId is required");
      }
      auto key_object = value.object();
      if (!key_object.ok()) return key_object.take_error();
      if (auto s = key_object.value().only_fields({"key", "vary"}); !s.ok()) return s;
      CacheKey key;
      key.organization = what.organization;
      std::string encoded;
      if (auto s = parse_cache_key(key_object.value(), false, key, encoded); !s.ok()) return s;
      what.item.keys.push_back(std::move(encoded));
    }
  }
  if (what.item.keys.empty() && what.item.tags.empty() && !what.item.everything)
    return invalid_input("input: nothing to invalidate: give keys, tags or all: true");
  what.out.begin_object();
  write_organization(what.out, what.organization);
  what.out.key("keys").value(static_cast<int64_t>(what.item.keys.size())).key("tags").begin_array();
  for (const auto& tag : what.item.tags) what.out.value(tag);
  what.out.end_array().key("all").value(what.item.everything);
  return ok_status();
}

}  // namespace

MethodTask invalidate_method(CallContext& ctx, Instance& instance) {
  Invalidation what;
  if (auto s = parse_invalidate_input(ctx, instance, what); !s.ok())
    co_return Outcome::failure(s.error());
  co_return co_await invalidate(ctx, instance.state<CacheState>(), what);
}

namespace {

// A change payload to an invalidation; `none` leaves what.item empty.
Status parse_change_input(CallContext& ctx, Instance& instance, const CacheConfig& config,
                          Invalidation& what, bool& nothing) {
  auto root = instance.parser().parse(ctx.input());
  if (!root.ok()) return root.take_error();
  Change change;
  if (auto s = parse_change(root.value(), change); !s.ok()) return s;
  const ChangeTags tags = change_tags(change, config.rules);
  JsonWriter& out = what.out;
  out.begin_object()
      .key("form")
      .value(change.form)
      .key("table")
      .value(change.table)
      .key("eventType")
      .value(event_name(change.event))
      .key("strategy")
      .value(strategy_name(tags.strategy));
  write_organization(out, tags.organization);
  out.key("recordId");
  if (tags.record_id.empty())
    out.null();
  else
    out.value(tags.record_id);
  out.key("tags").begin_array();
  for (const auto& tag : tags.tags) out.value(tag);
  out.end_array();
  what.organization = tags.organization;
  what.item.tags = tags.tags;
  nothing = tags.strategy == Strategy::kNone;
  if (nothing)
    out.key("seq").null().key("l1Dropped").value(0).key("l2Deleted").value(0).end_object();
  return ok_status();
}

}  // namespace

MethodTask change_method(CallContext& ctx, Instance& instance) {
  auto& state = instance.state<CacheState>();
  Invalidation what;
  bool nothing = false;
  if (auto s = parse_change_input(ctx, instance, *state.config, what, nothing); !s.ok())
    co_return Outcome::failure(s.error());
  if (nothing) co_return Outcome::answer(what.out.take());
  co_return co_await invalidate(ctx, state, what);
}

}  // namespace qv::cache::detail
