// Invalidation: database changes to tags by the spec's table/event rules, and the journal
// through which every isolate learns of an invalidation.
//
// Tags (surrogate keys) name what an entry was built from. The origin attaches them
// (Surrogate-Key / Cache-Tag headers) by these conventions, which the rules rely on:
//   <table>             every entry built from rows of the table
//   <table>:list        lists of the table's rows (where a new row appears)
//   <table>:<id>        entries that contain the row
//   anything else       e.g. "campaigns:c1:analytics", the targets of `related` rules
// An id in a tag, and a value a `related` template is filled with, is written as tag_id
// writes it, so that no id reads as another tag.
//
// Strategies (the spec's CacheInvalidationManager):
//   single   <table>:<id>, and <table>:list for an INSERT (the new row is in no entry yet)
//   related  single's tags plus the table's related tags, each a template whose {field}s
//            are filled from the new and the old row ("campaigns:{campaign_id}:analytics")
//   all      <table>
//   none     nothing (analytics_events: write-heavy, read from the database)
//
// The journal is one KV value per organisation ("qvc:j:<org>"; "qvc:j:*" for changes that
// name no organisation): the last N invalidations with increasing sequence numbers. An
// isolate reads it at most every pollMs while it serves hits for the organisation, drops
// the L1 entries that newer items match, and checks every L2 entry it reads against it.
// Its text: "qvj1 <seq> <floor> <floorAt>", then one line per item, "<seq> <at> <all>"
// followed by tab-separated "k<key>" and "t<tag>" fields (keys are escaped already; tags
// have no control characters).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "qv/cache/entry.h"
#include "qv/json.h"
#include "qv/result.h"

namespace qv::cache {

enum class Strategy { kSingle, kRelated, kAll, kNone };
const char* strategy_name(Strategy strategy);  // "single", "related", "all", "none"
Status parse_strategy(std::string_view where, std::string_view name, Strategy& out);

enum class ChangeEvent { kInsert, kUpdate, kDelete };
const char* event_name(ChangeEvent event);  // "INSERT", "UPDATE", "DELETE"

struct TableRule {
  std::string table;
  std::array<Strategy, 3> strategies{};  // per event: INSERT, UPDATE, DELETE
  std::vector<std::string> related;      // tag templates for `related`
};

struct InvalidationRules {
  std::vector<TableRule> tables;
  Strategy default_strategy = Strategy::kSingle;  // tables not listed (the spec's fallback)
  std::string organization_field = "organization_id";
  std::string id_field = "id";

  const TableRule* find(std::string_view table) const;
  Strategy strategy_for(std::string_view table, ChangeEvent event) const;
};

// The spec's rules: campaigns single; leads and call_transcripts related on INSERT and
// DELETE, single on UPDATE; analytics_events none; campaign aggregates as related tags.
InvalidationRules default_rules();

// A database change as Supabase sends it, in either form:
//   realtime (postgres_changes): {table, eventType, new, old, schema?, commit_timestamp?, ...}
//   database webhook:            {type, table, record, old_record, schema?}
struct Change {
  std::string form;  // "realtime" or "webhook"
  std::string table;
  ChangeEvent event = ChangeEvent::kInsert;
  // Scalar fields of the new and old rows as text (strings as they are, numbers and
  // booleans as JSON writes them); nested values are left out.
  std::vector<std::pair<std::string, std::string>> new_row, old_row;
  bool has_new = false, has_old = false;
};

// Parses a change payload; errors name the field and the problem ("eventType: expected one
// of INSERT, UPDATE, DELETE, got 'UPSERT'").
Status parse_change(const JsonValue& root, Change& out);

struct ChangeTags {
  Strategy strategy = Strategy::kSingle;
  std::string organization;  // "" when the row names none: every organisation
  std::string record_id;     // "" when the row has no id (single then acts as all)
  std::vector<std::string> tags;
};

// An id as a tag names it: '%', ':', space and ',' as %25, %3A, %20 and %2C (an id "c1:analytics"
// would read as campaign c1's aggregate, and a space or a comma splits a header's tags), and
// the id "list" as "%6Cist" (not the table's lists); any other byte as it is.
std::string tag_id(std::string_view id);

// The tags a change invalidates under the rules.
ChangeTags change_tags(const Change& change, const InvalidationRules& rules);

// ---- the journal -----------------------------------------------------------------------

struct JournalItem {
  uint64_t seq = 0;
  double at = 0;                  // the invalidating isolate's clock (ms)
  std::vector<std::string> keys;  // encoded cache keys
  std::vector<std::string> tags;
  bool everything = false;  // every entry of the organisation (or of all)
};

struct Journal {
  // Which journal this is: drawn at random (below 2^53) when it is created, so that one lost
  // and started over (a KV restarted, or evicted it) is told from the one before, whatever
  // its numbers. 0: none yet, or one written before epochs.
  uint64_t epoch = 0;
  uint64_t seq = 0;                // the newest item's sequence number (0: none yet)
  uint64_t floor = 0;              // the newest item dropped for room (its effect is unknown now)
  double floor_at = 0;             // ... and when it happened
  std::vector<JournalItem> items;  // oldest first
};

std::string write_journal(const Journal& journal);
Status read_journal(std::string_view text, Journal& out);
// Appends an item (numbered seq + 1), dropping the oldest beyond max_items.
void append_item(Journal& journal, JournalItem item, size_t max_items);

// Whether the item invalidates the entry.
bool item_matches(const JournalItem& item, const CachedEntry& entry);

// Whether an entry fetched after seeing `entry_seq` of this journal (seq_known false: the
// fetching isolate had not read it; then its fetch time decides, allowing clock_skew_ms
// between isolates' clocks) is invalidated by anything in it.
// An entry stamped from another epoch of the journal (entry_epoch, 0: none) is invalidated:
// its numbers say nothing about this one.
bool invalidated_by(const Journal& journal, const CachedEntry& entry, uint64_t entry_seq,
                    double clock_skew_ms, uint64_t entry_epoch = 0);

// A new journal's epoch: random, from 1 to 2^53 - 1 (exact in the text format's numbers).
uint64_t new_journal_epoch();

}  // namespace qv::cache
