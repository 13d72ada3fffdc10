// Invalidation and freshness as pure functions: change payloads and rules, the journal's
// text and its judgement of entries (by sequence, by time, after items dropped for room,
// after the journal was lost), Cache-Control decisions, and the L2 entry format.
#include <catch2/catch.hpp>

#include "qv/cache/entry.h"
#include "qv/cache/freshness.h"
#include "qv/cache/invalidation.h"
#include "qv/json.h"

using namespace qv::cache;

namespace {
Change parse(qv::JsonParser& parser, const char* json) {
  auto root = parser.parse(json);
  REQUIRE(root.ok());
  Change change;
  auto status = parse_change(root.value(), change);
  INFO((status.ok() ? "" : status.error().message));
  REQUIRE(status.ok());
  return change;
}
}  // namespace

TEST_CASE("the spec's rules map tables and events to strategies and tags") {
  qv::JsonParser parser;
  const InvalidationRules rules = default_rules();
  auto tags = change_tags(
      parse(
          parser,
          R"({"type":"INSERT","table":"leads","record":{"id":7,"organization_id":"o","campaign_id":"c1"},"old_record":null})"),
      rules);
  CHECK(tags.strategy == Strategy::kRelated);
  CHECK(tags.organization == "o");
  CHECK(tags.tags == std::vector<std::string>{"leads:7", "leads:list", "campaigns:c1:leads",
                                              "campaigns:c1:analytics"});
  // A lead moving between campaigns touches both.
  tags = change_tags(
      parse(
          parser,
          R"({"eventType":"UPDATE","table":"leads","new":{"id":"l","campaign_id":"c2"},"old":{"id":"l","campaign_id":"c1"}})"),
      rules);
  CHECK(tags.strategy == Strategy::kSingle);
  CHECK(tags.tags == std::vector<std::string>{"leads:l"});
  InvalidationRules related = rules;
  related.tables[1].strategies[1] = Strategy::kRelated;
  tags = change_tags(
      parse(
          parser,
          R"({"eventType":"UPDATE","table":"leads","new":{"id":"l","campaign_id":"c2"},"old":{"id":"l","campaign_id":"c1"}})"),
      related);
  CHECK(tags.tags == std::vector<std::string>{"leads:l", "campaigns:c2:leads", "campaigns:c1:leads",
                                              "campaigns:c2:analytics", "campaigns:c1:analytics"});
  tags = change_tags(
      parse(parser, R"({"type":"DELETE","table":"analytics_events","old_record":{"id":1}})"),
      rules);
  CHECK(tags.strategy == Strategy::kNone);
  CHECK(tags.tags.empty());
  // A row value no tag can hold (a newline would forge journal lines; 2 KB is over the
  // limit): the table's tag stands in, once.
  tags = change_tags(
      parse(parser,
            R"({"type":"INSERT","table":"leads","record":{"id":"l\n9 0 1","campaign_id":"c1"}})"),
      rules);
  CHECK(tags.tags == std::vector<std::string>{"leads:list", "campaigns:c1:leads",
                                              "campaigns:c1:analytics", "leads"});
  const std::string long_id(2048, 'x');
  tags = change_tags(
      parse(parser,
            (R"({"type":"UPDATE","table":"leads","record":{"id":")" + long_id + R"("}})").c_str()),
      rules);
  CHECK(tags.tags == std::vector<std::string>{"leads"});
}

TEST_CASE("an id that would read as another tag is encoded in its own tags") {
  qv::JsonParser parser;
  const InvalidationRules rules = default_rules();
  // ':' would make row "c1:analytics" campaign c1's aggregate, and "list" the table's lists.
  auto tags = change_tags(
      parse(parser, R"({"type":"UPDATE","table":"campaigns","record":{"id":"c1:analytics"}})"),
      rules);
  CHECK(tags.record_id == "c1:analytics");
  CHECK(tags.tags == std::vector<std::string>{"campaigns:c1%3Aanalytics"});
  tags = change_tags(
      parse(parser, R"({"type":"UPDATE","table":"campaigns","record":{"id":"list"}})"), rules);
  CHECK(tags.tags == std::vector<std::string>{"campaigns:%6Cist"});
  // The escape itself, and what separates a header's tags; a template's value too.
  tags = change_tags(
      parse(parser,
            R"({"type":"INSERT","table":"leads","record":{"id":"%3A a,b","campaign_id":"list"}})"),
      rules);
  CHECK(tags.tags == std::vector<std::string>{"leads:%253A%20a%2Cb", "leads:list",
                                              "campaigns:%6Cist:leads",
                                              "campaigns:%6Cist:analytics"});
  CHECK(tag_id("listing") == "listing");
  CHECK(tag_id("\xC3\xA9") == "\xC3\xA9");
}

TEST_CASE("the journal's text reads back as written") {
  Journal journal;
  append_item(journal, JournalItem{0, 1000.5, {"o:k"}, {"t1", "t 2"}, false}, 3);
  append_item(journal, JournalItem{0, 2000, {}, {}, true}, 3);
  append_item(journal, JournalItem{0, 3000, {}, {"a"}, false}, 3);
  append_item(journal, JournalItem{0, 4000, {}, {"b"}, false}, 3);  // drops the first
  CHECK(journal.seq == 4);
  CHECK(journal.floor == 1);
  CHECK(journal.floor_at == 1000.5);
  journal.epoch = (uint64_t{1} << 53) - 1;
  Journal back;
  REQUIRE(read_journal(write_journal(journal), back).ok());
  REQUIRE(back.items.size() == 3);
  CHECK(back.epoch == journal.epoch);
  CHECK(back.seq == 4);
  CHECK(back.items[0].everything);
  CHECK(back.items[2].tags == std::vector<std::string>{"b"});
  CHECK(!read_journal("qvj1 x", back).ok());
  CHECK(!read_journal("qvj1 1 0 0\n2 5 0", back).ok());  // an item ahead of the journal
  CHECK(!read_journal("qvj1 1 2 0", back).ok());         // a floor ahead of it
  CHECK(!read_journal("{\"seq\":1}", back).ok());
  // A journal written before epochs reads with none; an epoch past 2^53 is refused.
  REQUIRE(read_journal("qvj1 1 0 0\n1 5 0\ttx", back).ok());
  CHECK(back.epoch == 0);
  CHECK(back.seq == 1);
  CHECK(!read_journal("qvj2 9007199254740993 1 0 0", back).ok());
  CHECK(!read_journal("qvj2 1 0 0", back).ok());  // no room for the epoch: malformed
  for (int i = 0; i < 100; ++i) {
    const uint64_t epoch = new_journal_epoch();
    CHECK(epoch >= 1);
    CHECK(epoch < (uint64_t{1} << 53));
  }
}

TEST_CASE("the journal judges an entry by what its fetch had seen") {
  Journal journal;
  append_item(journal, JournalItem{0, 5000, {}, {"campaigns:c1"}, false}, 64);  // seq 1
  CachedEntry entry;
  entry.tags = {"campaigns:c1"};
  entry.fetched_at = 4000;
  entry.seq_known = true;
  CHECK(invalidated_by(journal, entry, 0, 1000));   // fetched before seq 1 was known
  CHECK(!invalidated_by(journal, entry, 1, 1000));  // fetched after it
  entry.tags = {"campaigns:c2"};
  CHECK(!invalidated_by(journal, entry, 0, 1000));  // another tag
  // An isolate that never read the journal judges by time, allowing clock skew.
  entry.tags = {"campaigns:c1"};
  entry.seq_known = false;
  entry.fetched_at = 5500;
  CHECK(invalidated_by(journal, entry, 0, 1000));  // within the skew: not trusted
  entry.fetched_at = 7000;
  CHECK(!invalidated_by(journal, entry, 0, 1000));  // clearly after the change
  // Items dropped for room may have matched anything fetched before them.
  Journal small;
  for (int i = 0; i < 5; ++i) append_item(small, JournalItem{0, 1000.0 * i, {}, {"x"}, false}, 2);
  entry.seq_known = true;
  entry.tags = {"unrelated"};
  CHECK(invalidated_by(small, entry, 1, 1000));   // before the floor (3)
  CHECK(!invalidated_by(small, entry, 3, 1000));  // at the floor
  // A stamp beyond the journal: the journal was lost and started over.
  CHECK(invalidated_by(small, entry, 99, 1000));
  // A stamp from another epoch of the journal says nothing about this one, whatever its
  // number; one from before any journal existed (epoch 0) is judged by the numbers.
  small.epoch = 7;
  CHECK(!invalidated_by(small, entry, 3, 1000, 7));
  CHECK(invalidated_by(small, entry, 3, 1000, 8));
  CHECK(!invalidated_by(small, entry, 3, 1000, 0));
}

TEST_CASE("Cache-Control decides storage, freshness and stale windows") {
  const FreshnessDefaults defaults{3600000, 0, 0};
  auto decide = [&](int status, Headers headers) {
    return decide_freshness(status, headers, defaults, 1764115200000.0);
  };
  auto f = decide(200, {{"cache-control", "public, max-age=60, stale-while-revalidate=30"}});
  CHECK(f.storable);
  CHECK(f.fresh_ms == 60000);
  CHECK(f.stale_while_revalidate_ms == 30000);
  CHECK(f.source == "max-age");
  f = decide(200, {{"cache-control", "max-age=60"}, {"cache-control", "s-maxage=5"}});
  CHECK(f.fresh_ms == 5000);  // repeated fields join; s-maxage wins for a shared cache
  f = decide(200, {{"cache-control", "max-age=60, stale-if-error=100, must-revalidate"}});
  CHECK(f.stale_if_error_ms == 0);  // must-revalidate forbids stale serving
  f = decide(200, {});
  CHECK(f.fresh_ms == 3600000);
  CHECK(f.source == "default");
  CHECK(!decide(200, {{"cache-control", "Private"}}).storable);  // names are case-insensitive
  CHECK(decide(200, {{"cache-control", "no-store"}}).personal);
  CHECK(!decide(200, {{"cache-control", "no-cache"}}).personal);
  CHECK(!decide(200, {{"vary", "*"}}).storable);
  CHECK(decide(301, {{"cache-control", "max-age=60"}, {"location", "/b"}}).storable);
  CHECK(!decide(301, {{"location", "/b"}}).storable);  // not for the default origin TTL
  CHECK(!decide(302, {{"cache-control", "max-age=60"}, {"location", "/b"}}).storable);
  CHECK(decide(404, {{"cache-control", "max-age=60"}}).fresh_ms == 60000);  // negative caching
  CHECK(decide(410, {{"expires", "Wed, 26 Nov 2025 00:00:30 GMT"}}).fresh_ms == 30000);
  CHECK(!decide(404, {}).storable);  // not for the default origin TTL
  CHECK(decide(200, {{"cache-control", "max-age=\"30\""}}).fresh_ms == 30000);
  CHECK(decide(200, {{"cache-control", "max-age=99999999999"}}).fresh_ms ==
        (int64_t{1} << 31) * 1000);
  // Expires counts from Date (else from the arrival); an invalid one has passed; Age is spent.
  f = decide(200, {{"date", "Tue, 25 Nov 2025 23:59:00 GMT"},
                   {"expires", "Wed, 26 Nov 2025 00:01:00 GMT"}});
  CHECK(f.fresh_ms == 120000);
  CHECK(f.source == "expires");
  CHECK(decide(200, {{"expires", "Wed, 26 Nov 2025 00:01:00 GMT"}}).fresh_ms == 60000);
  CHECK(decide(200, {{"cache-control", "max-age=5"}, {"expires", "Thu, 27 Nov 2025 00:00:00 GMT"}})
            .fresh_ms == 5000);
  f = decide(200, {{"expires", "0"}, {"cache-control", "stale-if-error=60"}});
  CHECK(f.storable);
  CHECK(f.fresh_ms == 0);
  CHECK(decide(200, {{"expires", "0"}}).reason == "expires: 0, stale at once");
  CHECK(decide(200, {{"cache-control", "max-age=60"}, {"age", "45"}}).fresh_ms == 15000);
  CHECK(decide(200, {{"cache-control", "max-age=60"}, {"age", "90"}}).reason ==
        "max-age less age: 0, stale at once");
  CHECK(decide(200, {{"cache-control", "max-age=60"}, {"age", "soon"}}).fresh_ms == 60000);
  // An age past the fresh lifetime is taken off the stale windows as well.
  f = decide(200, {{"cache-control", "max-age=60, stale-while-revalidate=30"}, {"age", "75"}});
  CHECK(f.fresh_ms == 0);
  CHECK(f.stale_while_revalidate_ms == 15000);
  CHECK(!decide(200, {{"cache-control", "max-age=60, stale-while-revalidate=30"}, {"age", "100"}})
             .storable);
  // A directive given twice: the first holds (RFC 9111 §4.2.1).
  CHECK(decide(200, {{"cache-control", "max-age=0, stale-if-error=5, max-age=600"}}).fresh_ms == 0);
  // Vary naming "*" among other fields matches nothing either.
  CHECK(!decide(200, {{"vary", "accept-encoding, *"}}).storable);
  CHECK(decide(200, {{"vary", "accept-encoding"}}).storable);
  // The configured stale windows stand in for missing directives, but not under s-maxage
  // (which implies proxy-revalidate); its own stale directives still apply.
  const FreshnessDefaults stale_by_default{3600000, 10000, 60000};
  auto decide_stale = [&](Headers headers) {
    return decide_freshness(200, headers, stale_by_default, 1764115200000.0);
  };
  CHECK(decide_stale({{"cache-control", "max-age=60"}}).stale_if_error_ms == 60000);
  CHECK(decide_stale({{"cache-control", "s-maxage=60"}}).stale_if_error_ms == 0);
  CHECK(decide_stale({{"cache-control", "s-maxage=60"}}).stale_while_revalidate_ms == 0);
  CHECK(decide_stale({{"cache-control", "s-maxage=60, stale-while-revalidate=30"}})
            .stale_while_revalidate_ms == 30000);
  CHECK(response_tags({{"surrogate-key", "a b  c"}, {"cache-tag", "c,d"}}) ==
        std::vector<std::string>{"a", "b", "c", "d"});
  // Surrogate-Key lines as libcurl gives them, and joined as fetch() gives them: the same.
  CHECK(response_tags({{"surrogate-key", "a b"}, {"surrogate-key", "c"}}) ==
        std::vector<std::string>{"a", "b", "c"});
  CHECK(response_tags({{"surrogate-key", "a b, c"}}) == std::vector<std::string>{"a", "b", "c"});
}

TEST_CASE("HTTP-dates are read in all three forms, and nothing else is") {
  auto date = [](std::string_view text) {
    double ms = -1;
    return parse_http_date(text, ms) ? ms : -1;
  };
  CHECK(date("Sun, 06 Nov 1994 08:49:37 GMT") == 784111777000.0);
  CHECK(date("Sunday, 06-Nov-94 08:49:37 GMT") == 784111777000.0);
  CHECK(date("Sun Nov  6 08:49:37 1994") == 784111777000.0);
  CHECK(date("Wed, 26 Nov 2025 00:00:00 GMT") == 1764115200000.0);
  CHECK(date("Thu, 01 Jan 1970 00:00:00 GMT") == 0.0);
  CHECK(date("Thu, 29 Feb 2024 12:00:00 GMT") == 1709208000000.0);  // a leap day
  CHECK(date("Thu, 01 Jan 2070 00:00:00 GMT") == 3155760000000.0);
  CHECK(date("Wednesday, 01-Jan-69 00:00:00 GMT") == 3124224000000.0);  // 2069
  CHECK(date("Fri, 31 Dec 1999 23:59:60 GMT") == 946684799000.0);       // a leap second
  for (std::string_view bad :
       {"0", "", "Sat, 29 Feb 2025 00:00:00 GMT", "Sun, 31 Apr 2025 00:00:00 GMT",
        "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT junk", "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sunday, 06 Nov 1994 08:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT", "1764115200"})
    CHECK(date(bad) == -1);
}

TEST_CASE("a singleton field given more than once counts its first member, lines or joined") {
  auto first = [](Headers headers) { return first_value(headers, "f"); };
  const std::string date = "Sun, 06 Nov 1994 08:49:37 GMT";
  CHECK(first({{"f", date}, {"f", "Mon, 07 Nov 1994 08:49:37 GMT"}}) == date);
  CHECK(first({{"f", date + ", Mon, 07 Nov 1994 08:49:37 GMT"}}) == date);
  CHECK(first({{"f", "Sunday, 06-Nov-94 08:49:37 GMT, 0"}}) == "Sunday, 06-Nov-94 08:49:37 GMT");
  CHECK(first({{"f", "Sun Nov  6 08:49:37 1994 , x"}}) == "Sun Nov  6 08:49:37 1994");
  CHECK(first({{"f", date + " junk, x"}}) == "Sun");  // not a date: the member ends at a comma
  CHECK(first({{"f", " , W/\"a,1\" , \"b\""}}) == "W/\"a,1\"");
  CHECK(first({{"f", "\"a\""}, {"f", "\"b\""}}) == "\"a\"");
  CHECK(first({{"f", "\"a"}, {"f", "\"b\""}}) == "\"a");  // not a tag: ends at a comma
  CHECK(first({{"f", "\"a\"x, \"b\""}}) == "\"a\"x");
  CHECK(first({{"f", "10"}, {"f", "20"}}) == "10");
  CHECK(first({{"g", "1"}}).empty());
}

TEST_CASE("an L2 entry reads back as written, and a foreign value is refused") {
  CachedEntry entry;
  entry.organization = "org:a\n";
  entry.key = "org%3Aa%0A:k";
  entry.status = 200;
  entry.headers = {{"content-type", "application/json"}, {"etag", "\"x\""}};
  entry.body = "line 1\n\nline 3\0 binary";
  entry.tags = {"campaigns", "campaigns:c1"};
  entry.varied = {{"accept-language", "=fr: CA"}, {"x-absent", ""}};
  entry.fetched_at = 1764115200000.25;
  entry.fresh_until = 1764115260000;
  entry.swr_until = 1764115290000;
  entry.sie_until = 1764115560000;
  entry.seq = 7;
  entry.global_seq = 2;
  entry.seq_known = true;
  CachedEntry back;
  REQUIRE(read_entry(write_entry(entry), back).ok());
  CHECK(back.organization == entry.organization);
  CHECK(back.key == entry.key);
  CHECK(back.headers == entry.headers);
  CHECK(back.body == entry.body);
  CHECK(back.tags == entry.tags);
  CHECK(back.varied == entry.varied);
  CHECK(back.fetched_at == entry.fetched_at);
  CHECK(back.sie_until == entry.sie_until);
  CHECK(back.seq == 7);
  CHECK(back.global_seq == 2);
  CHECK(back.seq_known);
  CHECK(!read_entry("{\"v\":1}", back).ok());
  CHECK(!read_entry("qvc1\norg\nkey\n200\n", back).ok());
  // A value of the version before the Vary selections is a miss, not misread.
  std::string older = write_entry(entry);
  older.replace(0, 4, "qvc1");
  CHECK(!read_entry(older, back).ok());
}
