// A cached response as every layer holds it: the response, who it belongs to, its tags,
// when it was fetched and until when it is fresh or may be served stale, and the point of
// the invalidation journals it was fetched after. L1 holds it as this struct (shared with
// the calls that waited for its fetch); L2 as the text of write_entry: a first line
// "qvc1", one line per field, "name: value" lines for headers, one line per tag, a blank
// line, then the body as it is. Compact to store and small to read without a JSON parser.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "qv/cache/freshness.h"
#include "qv/result.h"

namespace qv::cache {

// The response headers a cache keeps (everything else is the origin's business per request).
bool kept_header(std::string_view lower_name);

struct CachedEntry {
  std::string organization;
  std::string key;  // the encoded cache key
  int status = 200;
  Headers headers;  // kept_header() ones only
  std::string body;
  std::vector<std::string> tags;  // the call's and the origin's, in byte order, each once
  // The request headers the response's Vary names, as the request that filled it sent them:
  // (name, "=" + value), or (name, "") when it sent none. Served only to requests that send
  // the same (RFC 9111 §4.1).
  Headers varied;
  double fetched_at = 0;   // when the origin fetch that produced it started (ms)
  double fresh_until = 0;  // fresh before this (ms); then stale:
  double swr_until = 0;    // ... served while revalidating before this
  double sie_until = 0;    // ... served when the origin fails before this
  // The invalidation journal sequence numbers (organisation's, everyone's) this isolate had
  // seen when the fetch started; `seq_known` false when it had never read the journals.
  uint64_t seq = 0;
  uint64_t global_seq = 0;
  bool seq_known = false;
  // The epochs of those journals (Journal::epoch; 0: none existed yet).
  uint64_t epoch = 0;
  uint64_t global_epoch = 0;

  // The last moment it can be served at all.
  double usable_until() const;
  // Bytes it takes (for the L1 byte bound and the L2 size limit).
  size_t bytes() const;
};

using EntryPtr = std::shared_ptr<const CachedEntry>;

// The L2 value.
std::string write_entry(const CachedEntry& entry);
// Reads an L2 value into `out`; an error says what is wrong with it (a value written by an
// older or foreign writer is a miss, never a crash).
Status read_entry(std::string_view text, CachedEntry& out);

// Tags and header lines go into line-based formats: no control characters allowed.
bool printable_line(std::string_view text);
// A tag: 1 to 1024 bytes (kMaxKeyPartBytes), no control characters, no tab (the journal's
// field separator).
bool valid_tag(std::string_view text);

}  // namespace qv::cache
