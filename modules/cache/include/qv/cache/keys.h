// Cache keys. Every key is namespaced by organisation and by whatever varies the response
// (auth scope, query, ...), and every part is escaped before it is joined, so two different
// (organisation, resource, variants) never encode to the same key, whatever bytes they hold:
// separators, percent signs and non-ASCII bytes inside a part are all escaped.
//
//   encoded = part(org) ":" part(resource) { ":" part(name) "=" part(value) }   (names sorted)
//   part(s) = s with every byte outside [A-Za-z0-9._~-] written as %XX (upper-case hex)
//
// The encoding is injective: a part never contains a raw ':', '=' or '%', so the encoded
// string splits back into exactly the parts it was made from (decode_key does that).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "qv/result.h"

namespace qv::cache {

struct CacheKey {
  std::string organization;
  std::string resource;                                   // e.g. "GET /api/campaigns"
  std::vector<std::pair<std::string, std::string>> vary;  // e.g. {"scope", "read"}, {"q", "x"}
};

// Limits on the parts (bytes, before escaping).
inline constexpr size_t kMaxKeyPartBytes = 1024;
inline constexpr size_t kMaxVaryParts = 16;

// Appends part(s) to out.
void append_escaped(std::string& out, std::string_view part);
// The bytes of one escaped part; false when it is not exactly what append_escaped writes.
bool decode_part(std::string_view part, std::string& out);

// Encodes the key into `out`; errors name the part that is empty, too long or repeated.
Status encode_key(const CacheKey& key, std::string& out);
// The parts of an encoded key (for tests and tools); an error for a string encode_key
// never produces.
Status decode_key(std::string_view encoded, CacheKey& out);

// KV keys of the shared layer.
std::string l2_entry_key(std::string_view encoded_key);  // "qvc:e:" + encoded key
// The lease one isolate holds while it refreshes a key in the background ("qvc:r:" + key).
std::string refresh_lease_key(std::string_view encoded_key);
// The lease one isolate holds while it fetches a key that missed everywhere ("qvc:f:" +
// key), when misses collapse across isolates (collapseMs); its value is the id of the
// isolate that took it, "pass" once the fetch stored nothing, so that nobody waits for a
// copy, or "free" once the copy is stored (both set only over that isolate's own id).
std::string fill_lease_key(std::string_view encoded_key);
// The invalidation journal of one organisation ("qvc:j:" + part(org)); of everything when
// the organisation is empty ("qvc:j:*": '*' never appears unescaped in a part).
std::string journal_key(std::string_view organization);

}  // namespace qv::cache
