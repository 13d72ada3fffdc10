// What the cache methods read from their input: cache keys (organisation, key, vary), lists
// of tags, headers, and cache.get's and cache.refresh's whole input with its origin request.
// Every error names the field (input.h's callers add nothing to it).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "qv/cache/config.h"
#include "qv/cache/entry.h"
#include "qv/cache/keys.h"
#include "qv/method_support.h"

namespace qv::cache::detail {

// `field` of `object` (when present): up to max_items distinct texts, appended to `out`.
Status string_list(const JsonObject& object, std::string_view field, size_t max_items,
                   std::vector<std::string>& out);

// {organizationId, key, vary?} of `object` into `key` (and its encoding into `encoded`).
Status parse_cache_key(const JsonObject& object, bool organization_required, CacheKey& key,
                       std::string& encoded);

// Headers given as an object {name: value}; names lower-cased. With `lines`, a value may also
// be an array of strings, the field's lines (several headers of the name, in order).
Status parse_headers(const JsonValue& value, bool lines, Headers& headers);

struct OriginRequest {
  std::string url;
  Headers headers;  // names lower-cased (parse_headers)
  uint32_t timeout_ms = 0;
};

struct GetInput {
  CacheKey key;
  std::string encoded;
  // What a fetch for it is coalesced, leased and marked under (fill.h's selected_key): the
  // encoded key unless a variant's key is known.
  std::string flight;
  std::optional<OriginRequest> origin;
  std::vector<std::string> tags;
};

// cache.get's and cache.refresh's input; the origin is optional for cache.get.
Status parse_get_input(CallContext& ctx, Instance& instance, const CacheConfig& config,
                       bool origin_required, GetInput& input);

}  // namespace qv::cache::detail
