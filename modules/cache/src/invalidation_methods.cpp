// cache.invalidate and cache.change: an invalidation (by key, by tag, or everything, for one
// organisation or all) is appended to the journal in the KV by compare-and-set, applied to
// this isolate's L1 at once, and reaches the other isolates when they next read the journal
// (within pollMs); named keys also leave L2 at once. cache.change turns a database change
// payload (Supabase's realtime or webhook form) into tags by the configured rules.
#include <optional>
#include <utility>

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

// Appends an invalidation to the organisation's journal (compare-and-set, retried), drops
// what matches from this isolate's L1, and deletes the named keys from L2. The calls of an
// isolate append to one journal one after another, so a burst of changes (a webhook per
// row of a bulk write) contends for the KV value only with other isolates, not with itself.
Task<Outcome> invalidate(CallContext& ctx, CacheState& state, Invalidation& what) {
  const auto config = state.config;
  ++state.metrics.invalidations;
  const std::string key = journal_key(what.organization);
  auto view = state.view(what.organization);
  bool queued = false;
  while (view->writing) {
    ctx.wait(*view->writing);
    co_await ctx.perform();
    queued = true;
  }
  // The call before failed on the KV: the queue fails at once, not one timeout after another.
  if (queued && !kv_usable(state, now_ms())) {
    co_return Outcome::failure({QV_UNAVAILABLE,
                                "kv: the invalidation journal could not be written just now; "
                                "nothing invalidated: send it again"});
  }
  const ViewSignal writing(view, &JournalView::writing);  // whatever way the append ends
  what.item.at = now_ms();
  std::optional<std::string> stored;
  bool read = false;
  Journal written;
  bool done = false;
  for (int attempt = 0; attempt < kMaxCasAttempts && !done; ++attempt) {
    if (!read) {
      const size_t get = ctx.kv_get(key);
      co_await ctx.perform();
      const OpResult& result = ctx.result(get);
      if (result.status != QV_OK && result.status != QV_NOT_FOUND) {
        kv_failed(state, *config, now_ms());
        co_return Outcome::failure({QV_UNAVAILABLE, "kv: cannot read the invalidation journal (" +
                                                        result.data + "); nothing invalidated"});
      }
      stored = result.status == QV_OK ? std::optional(result.data) : std::nullopt;
      read = true;
    }
    Journal journal;
    if (stored && !read_journal(*stored, journal).ok()) {
      // Unreadable: start over, trusting nothing fetched before now.
      journal = Journal{};
      journal.seq = journal.floor = UINT32_MAX;
      journal.floor_at = what.item.at;
    }
    append_item(journal, what.item, static_cast<size_t>(config->journal_items));
    const std::string next = write_journal(journal);
    const size_t cas = ctx.kv_cas(key, stored, next, 0);
    co_await ctx.perform();
    const OpResult& result = ctx.result(cas);
    if (result.status != QV_OK) {
      kv_failed(state, *config, now_ms());
      // (It may still land, late: sent again, the change is only recorded twice.)
      co_return Outcome::failure({QV_UNAVAILABLE, "kv: cannot write the invalidation journal (" +
                                                      result.data +
                                                      "); not confirmed: send it again"});
    }
    if (result.number == 1) {
      written = std::move(journal);
      done = true;
    } else {  // another isolate appended first: retry on its journal after a back-off
      stored = result.number == 0 ? std::optional(result.data) : std::nullopt;
      ctx.sleep(jittered_backoff_ms(attempt, kMaxBackoffMs));
      co_await ctx.perform();
    }
  }
  if (!done) {
    co_return Outcome::failure(
        {QV_UNAVAILABLE, "kv: too many isolates writing the invalidation journal at once; retry"});
  }
  ++state.metrics.journal_writes;
  const uint64_t seq = written.seq;
  const uint64_t before = state.metrics.l1_invalidated;
  apply_journal(state, *config, what.organization, std::move(written), now_ms());
  const uint64_t dropped = state.metrics.l1_invalidated - before;
  // Named keys also leave L2 at once (tags are judged against the journal on every read).
  int64_t deleted = 0;
  if (!what.item.keys.empty()) {
    std::vector<size_t> ops;
    for (const auto& k : what.item.keys) ops.push_back(ctx.kv_del(l2_entry_key(k)));
    co_await ctx.perform();
    for (size_t op : ops) {
      if (ctx.result(op).status == QV_OK) deleted += ctx.result(op).number;
    }
    state.metrics.l2_deleted += static_cast<uint64_t>(deleted);
  }
  what.out.key("seq")
      .value(static_cast<int64_t>(seq))
      .key("l1Dropped")
      .value(static_cast<int64_t>(dropped))
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
