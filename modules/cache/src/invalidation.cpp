#include "qv/cache/invalidation.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>

#include "qv/json.h"

namespace qv::cache {

const char* strategy_name(Strategy strategy) {
  switch (strategy) {
    case Strategy::kSingle:
      return "single";
    case Strategy::kRelated:
      return "related";
    case Strategy::kAll:
      return "all";
    case Strategy::kNone:
      return "none";
  }
  return "single";
}

Status parse_strategy(std::string_view where, std::string_view name, Strategy& out) {
  for (Strategy s : {Strategy::kSingle, Strategy::kRelated, Strategy::kAll, Strategy::kNone}) {
    if (name == strategy_name(s)) {
      out = s;
      return ok_status();
    }
  }
  return invalid_input(std::string(where) + ": expected one of single, related, all, none, got '" +
                       std::string(name) + "'");
}

const char* event_name(ChangeEvent event) {
  switch (event) {
    case ChangeEvent::kInsert:
      return "INSERT";
    case ChangeEvent::kUpdate:
      return "UPDATE";
    case ChangeEvent::kDelete:
      return "DELETE";
  }
  return "INSERT";
}

const TableRule* InvalidationRules::find(std::string_view table) const {
  for (const auto& rule : tables) {
    if (rule.table == table) return &rule;
  }
  return nullptr;
}

Strategy InvalidationRules::strategy_for(std::string_view table, ChangeEvent event) const {
  const TableRule* rule = find(table);
  return rule ? rule->strategies[static_cast<int>(event)] : default_strategy;
}

InvalidationRules default_rules() {
  using S = Strategy;
  InvalidationRules rules;
  rules.tables = {
      {"campaigns", {S::kSingle, S::kSingle, S::kSingle}, {}},
      {"leads",
       {S::kRelated, S::kSingle, S::kRelated},
       {"campaigns:{campaign_id}:leads", "campaigns:{campaign_id}:analytics"}},
      {"call_transcripts",
       {S::kRelated, S::kSingle, S::kRelated},
       {"campaigns:{campaign_id}:calls", "campaigns:{campaign_id}:transcripts"}},
      {"analytics_events", {S::kNone, S::kNone, S::kNone}, {}},
  };
  return rules;
}

namespace {

using Row = std::vector<std::pair<std::string, std::string>>;

Status scalar_fields(const JsonValue& value, Row& fields) {
  auto object = value.object();
  if (!object.ok()) return object.take_error();
  if (auto s = object.value().unique_fields(); !s.ok()) return s;
  for (auto field : object.value().raw()) {
    const simdjson::dom::element element = field.value;
    std::string text;
    int64_t integer = 0;
    uint64_t unsigned_integer = 0;
    double number = 0;
    bool flag = false;
    std::string_view string;
    if (!element.get_string().get(string)) {
      text = std::string(string);
    } else if (!element.get_int64().get(integer)) {
      text = std::to_string(integer);
    } else if (!element.get_uint64().get(unsigned_integer)) {
      text = std::to_string(unsigned_integer);
    } else if (!element.get_double().get(number)) {
      JsonWriter writer;
      writer.value(number);
      text = writer.take();
    } else if (!element.get_bool().get(flag)) {
      text = flag ? "true" : "false";
    }  // else null, an object or an array: present, but naming nothing a tag can use ("")
    fields.emplace_back(std::string(field.key), std::move(text));
  }
  return ok_status();
}

}  // namespace

Status parse_change(const JsonValue& root, Change& change) {
  auto object = root.object();
  if (!object.ok()) return object.take_error();
  const JsonObject& in = object.value();
  // A payload may carry any fields, but each once: the sender's JSON.parse or jsonb keeps a
  // repeated field's last value, find() its first, and the two must agree on what changed.
  if (auto s = in.unique_fields(); !s.ok()) return s;
  const bool realtime = in.find("eventType").has_value();
  const bool webhook = in.find("type").has_value();
  if (realtime && webhook) {
    return invalid_input(
        "input: both eventType (realtime form) and type (webhook form); send one form");
  }
  if (!realtime && !webhook) {
    return invalid_input(
        "input: not a database change: expected eventType (Supabase realtime: table, "
        "eventType, new, old) or type (database webhook: type, table, record, old_record)");
  }
  change.form = realtime ? "realtime" : "webhook";
  const char* event_field = realtime ? "eventType" : "type";
  const char* new_field = realtime ? "new" : "record";
  const char* old_field = realtime ? "old" : "old_record";
  const char* other_form[2] = {realtime ? "record" : "new", realtime ? "old_record" : "old"};
  for (const char* other : other_form) {
    if (in.find(other)) {
      return invalid_input(std::string(other) + ": belongs to the " +
                           (realtime ? "webhook" : "realtime") + " form, but " + event_field +
                           " says " + change.form);
    }
  }
  auto table = in.required("table");
  if (!table.ok()) return table.take_error();
  auto table_name = table.value().string();
  if (!table_name.ok()) return table_name.take_error();
  if (table_name.value().size() > 128 || !valid_tag(table_name.value()))
    return invalid_input("table: expected 1 to 128 characters without control characters");
  change.table = std::string(table_name.value());
  auto event = in.required(event_field);
  if (!event.ok()) return event.take_error();
  auto event_text = event.value().string();
  if (!event_text.ok()) return event_text.take_error();
  if (event_text.value() == "INSERT")
    change.event = ChangeEvent::kInsert;
  else if (event_text.value() == "UPDATE")
    change.event = ChangeEvent::kUpdate;
  else if (event_text.value() == "DELETE")
    change.event = ChangeEvent::kDelete;
  else
    return invalid_input(std::string(event_field) +
                         ": expected one of INSERT, UPDATE, DELETE, got '" +
                         std::string(event_text.value()) + "'");
  for (auto [field, row, has] : {std::tuple{new_field, &change.new_row, &change.has_new},
                                 std::tuple{old_field, &change.old_row, &change.has_old}}) {
    auto value = in.find(field);
    if (!value || value->is_null()) continue;
    if (auto s = scalar_fields(*value, *row); !s.ok()) return s;
    // Supabase sends {} for the row an event does not have (old of an INSERT).
    *has = !row->empty();
  }
  if (change.event != ChangeEvent::kDelete && !change.has_new) {
    return invalid_input(std::string(new_field) + ": an " + event_name(change.event) +
                         " needs the new row (an object)");
  }
  if (change.event == ChangeEvent::kDelete && !change.has_old) {
    return invalid_input(std::string(old_field) + ": a DELETE needs the old row (an object)");
  }
  return ok_status();
}

std::string tag_id(std::string_view id) {
  if (id == "list") return "%6Cist";
  std::string out;
  for (char c : id) {
    switch (c) {
      case '%':
        out += "%25";
        break;
      case ':':
        out += "%3A";
        break;
      case ' ':
        out += "%20";
        break;
      case ',':
        out += "%2C";
        break;
      default:
        out += c;
    }
  }
  return out;
}

namespace {

// Whether a template names a field the row does not have at all (not even as null).
bool lacks_field_of(std::string_view text, const Row& row) {
  for (size_t open = text.find('{'); open != std::string_view::npos;
       open = text.find('{', open + 1)) {
    const size_t close = text.find('}', open);
    if (close == std::string_view::npos) return true;
    const std::string_view name = text.substr(open + 1, close - open - 1);
    if (std::none_of(row.begin(), row.end(),
                     [&](const auto& field) { return field.first == name; }))
      return true;
  }
  return false;
}

const std::string* find_field(const Row& row, std::string_view name) {
  for (const auto& [field, value] : row) {
    if (field == name && !value.empty()) return &value;
  }
  return nullptr;
}

const std::string* row_field(const Change& change, std::string_view name) {
  const std::string* found = find_field(change.new_row, name);
  return found ? found : find_field(change.old_row, name);
}

// Fills "{field}" from the row, each value written as tag_id writes an id; nullopt when a field is
// missing or the template is broken.
std::optional<std::string> fill(std::string_view text, const Row& row) {
  std::string out;
  size_t at = 0;
  while (at < text.size()) {
    const size_t open = text.find('{', at);
    if (open == std::string_view::npos) {
      out += text.substr(at);
      break;
    }
    const size_t close = text.find('}', open);
    if (close == std::string_view::npos) return std::nullopt;
    out += text.substr(at, open - at);
    const std::string* found = find_field(row, text.substr(open + 1, close - open - 1));
    if (!found) return std::nullopt;
    out += tag_id(*found);
    at = close + 1;
  }
  return out;
}

void add_tag(std::vector<std::string>& tags, std::string tag) {
  if (std::find(tags.begin(), tags.end(), tag) == tags.end()) tags.push_back(std::move(tag));
}

}  // namespace

ChangeTags change_tags(const Change& change, const InvalidationRules& rules) {
  ChangeTags out;
  out.strategy = rules.strategy_for(change.table, change.event);
  // A row that moves between organisations touches both: every organisation's journal.
  const std::string* new_org = find_field(change.new_row, rules.organization_field);
  const std::string* old_org = find_field(change.old_row, rules.organization_field);
  if (!(new_org && old_org && *new_org != *old_org)) {
    if (const std::string* org = new_org ? new_org : old_org) out.organization = *org;
  }
  if (const std::string* id = row_field(change, rules.id_field)) out.record_id = *id;
  if (out.strategy == Strategy::kNone) return out;
  if (out.strategy == Strategy::kAll || out.record_id.empty()) {
    add_tag(out.tags, change.table);  // nothing narrower can be named
    return out;
  }
  add_tag(out.tags, change.table + ":" + tag_id(out.record_id));
  // An UPDATE that changes the id: the entries holding the row know it by the old one.
  if (const std::string* old_id = find_field(change.old_row, rules.id_field))
    add_tag(out.tags, change.table + ":" + tag_id(*old_id));
  if (change.event == ChangeEvent::kInsert) add_tag(out.tags, change.table + ":list");
  if (out.strategy == Strategy::kRelated) {
    if (const TableRule* rule = rules.find(change.table)) {
      for (const auto& text : rule->related) {
        bool filled = false;
        for (const auto* row : {&change.new_row, &change.old_row}) {
          if (auto tag = fill(text, *row)) {
            add_tag(out.tags, std::move(*tag));
            filled = true;
          }
        }
        // Neither row has the field the tag needs (a realtime DELETE carries only the key
        // unless the table's replica identity is full): the table's tag stands in for it. A
        // field that is there but null names nothing to invalidate.
        if (!filled && lacks_field_of(text, change.new_row) && lacks_field_of(text, change.old_row))
          add_tag(out.tags, change.table);
      }
    }
  }
  // A row's values may hold what no tag can (a control character, more than 1 KB): such a
  // tag matches no entry, and written to the journal it would break the journal's lines.
  // The table's tag stands in for it.
  if (std::erase_if(out.tags, [](const std::string& tag) { return !valid_tag(tag); }) > 0)
    add_tag(out.tags, change.table);
  return out;
}

// ---- journal ---------------------------------------------------------------------------

std::string write_journal(const Journal& journal) {
  char buffer[96];
  char at[32];
  format_double(at, sizeof at, "%.17g", journal.floor_at);
  std::snprintf(buffer, sizeof buffer, "qvj2 %llu %llu %llu %s\n",
                static_cast<unsigned long long>(journal.epoch),
                static_cast<unsigned long long>(journal.seq),
                static_cast<unsigned long long>(journal.floor), at);
  std::string out = buffer;
  for (const auto& item : journal.items) {
    format_double(at, sizeof at, "%.17g", item.at);
    std::snprintf(buffer, sizeof buffer, "%llu %s %d", static_cast<unsigned long long>(item.seq),
                  at, item.everything ? 1 : 0);
    out += buffer;
    for (const auto& key : item.keys) out += "\tk" + key;
    for (const auto& tag : item.tags) out += "\tt" + tag;
    out += '\n';
  }
  return out;
}

namespace {

// Reads space-separated numbers off the front of a line.
struct Fields {
  std::string_view rest;
  bool number(double& out) {
    const size_t end = std::min(rest.find_first_of(" \t"), rest.size());
    const std::optional<double> value = parse_json_number(rest.substr(0, end));
    rest.remove_prefix(end);
    if (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    if (value) out = *value;
    return value && *value >= 0;
  }
};

}  // namespace

Status read_journal(std::string_view text, Journal& journal) {
  auto broken = [] { return invalid_input("journal: malformed"); };
  journal = Journal{};
  // qvj1: a journal written before epochs (its epoch reads as 0).
  const bool epoch = text.substr(0, 5) == "qvj2 ";
  if (!epoch && text.substr(0, 5) != "qvj1 ") return broken();
  size_t start = 5;
  bool first = true;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    Fields line{text.substr(start, end - start)};
    start = end + 1;
    double seq = 0, second = 0, third = 0;
    if (first && epoch) {
      double drawn = 0;
      if (!line.number(drawn) || drawn >= 9007199254740992.0 || drawn != std::floor(drawn))
        return broken();
      journal.epoch = static_cast<uint64_t>(drawn);
    }
    if (!line.number(seq) || !line.number(second) || !line.number(third)) return broken();
    if (first) {
      journal.seq = static_cast<uint64_t>(seq);
      journal.floor = static_cast<uint64_t>(second);
      journal.floor_at = third;
      first = false;
      if (!line.rest.empty() || journal.floor > journal.seq) return broken();
      continue;
    }
    if (seq > static_cast<double>(journal.seq)) return broken();  // items are never ahead
    JournalItem item;
    item.seq = static_cast<uint64_t>(seq);
    item.at = second;
    item.everything = third != 0;
    std::string_view fields = line.rest;
    while (!fields.empty()) {
      if (fields.front() != '\t' || fields.size() < 2) return broken();
      fields.remove_prefix(1);
      const size_t tab = fields.find('\t');
      const std::string_view field = fields.substr(0, tab);
      if (field.empty() || (field.front() != 'k' && field.front() != 't')) return broken();
      (field.front() == 'k' ? item.keys : item.tags).emplace_back(field.substr(1));
      fields = tab == std::string_view::npos ? std::string_view() : fields.substr(tab);
    }
    journal.items.push_back(std::move(item));
  }
  return first ? broken() : ok_status();
}

void append_item(Journal& journal, JournalItem item, size_t max_items) {
  item.seq = ++journal.seq;
  journal.items.push_back(std::move(item));
  while (journal.items.size() > std::max<size_t>(max_items, 1)) {
    journal.floor = journal.items.front().seq;
    journal.floor_at = std::max(journal.floor_at, journal.items.front().at);
    journal.items.erase(journal.items.begin());
  }
}

bool item_matches(const JournalItem& item, const CachedEntry& entry) {
  if (item.everything) return true;
  for (const auto& key : item.keys) {
    if (key == entry.key) return true;
  }
  for (const auto& tag : item.tags) {
    if (std::find(entry.tags.begin(), entry.tags.end(), tag) != entry.tags.end()) return true;
  }
  return false;
}

uint64_t new_journal_epoch() {
  uint64_t drawn = 0;
  while (drawn == 0) {
    qv_host_random_bytes(reinterpret_cast<uint8_t*>(&drawn), sizeof drawn);
    drawn &= (uint64_t{1} << 53) - 1;
  }
  return drawn;
}

bool invalidated_by(const Journal& journal, const CachedEntry& entry, uint64_t entry_seq,
                    double clock_skew_ms, uint64_t entry_epoch) {
  if (entry_epoch != 0 && entry_epoch != journal.epoch) return true;
  // An item applies when the fetch began before the isolate knew of it: by sequence when
  // the isolate had read the journal, else by time (allowing for clock skew).
  auto after_fetch = [&](uint64_t seq, double at) {
    if (seq <= entry_seq) return false;
    return entry.seq_known || at + clock_skew_ms >= entry.fetched_at;
  };
  // A stamp beyond the journal: the journal was lost and started over, so nothing about the
  // entry can be known.
  if (entry_seq > journal.seq) return true;
  // Items dropped for room may have matched: an entry they could apply to is not trusted.
  if (journal.floor > 0 && after_fetch(journal.floor, journal.floor_at)) return true;
  for (const auto& item : journal.items) {
    if (after_fetch(item.seq, item.at) && item_matches(item, entry)) return true;
  }
  return false;
}

}  // namespace qv::cache
