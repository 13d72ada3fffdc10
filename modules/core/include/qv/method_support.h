// What the modules' methods share: reading a call's input, and the wait between attempts
// of a contended compare-and-set.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "qv/instance.h"
#include "qv_abi.h"

namespace qv {

// Parses an input as a JSON object restricted to the given fields (a misspelt field is an
// error naming it, never silently ignored).
inline Result<JsonObject> input_object(std::string_view input, Instance& instance,
                                       std::initializer_list<std::string_view> fields) {
  auto root = instance.parser().parse(input);
  if (!root.ok()) return root.take_error();
  auto object = root.value().object();
  if (!object.ok()) return object.take_error();
  if (auto s = object.value().only_fields(fields); !s.ok()) return s.take_error();
  return object;
}

// The call's input, as input_object above.
inline Result<JsonObject> input_object(CallContext& ctx, Instance& instance,
                                       std::initializer_list<std::string_view> fields) {
  return input_object(ctx.input(), instance, fields);
}

// The field as a string, or an error naming it (missing, or not a string).
inline Result<std::string> required_string(const JsonObject& object, std::string_view field) {
  auto value = object.required(field);
  if (!value.ok()) return value.take_error();
  auto text = value.value().string();
  if (!text.ok()) return text.take_error();
  return std::string(text.value());
}

// A KV operation's TTL for `ms`: rounded up, at least 1 (0 would mean no expiry), and
// saturated at 2^32 - 1 rather than wrapped to something small.
inline uint32_t kv_ttl_ms(double ms) {
  return static_cast<uint32_t>(std::clamp(std::ceil(ms), 1.0, 4294967295.0));
}

// A random back-off in [0, min(2^attempt, max_ms)] ms (full jitter): contenders for one KV
// value spread out instead of colliding again.
inline uint32_t jittered_backoff_ms(int attempt, double max_ms) {
  uint8_t bytes[4];
  qv_host_random_bytes(bytes, sizeof bytes);
  const uint32_t random =
      bytes[0] | bytes[1] << 8 | bytes[2] << 16 | static_cast<uint32_t>(bytes[3]) << 24;
  const double ceiling = std::min(max_ms, std::ldexp(1.0, attempt));
  return static_cast<uint32_t>(ceiling * (random / 4294967296.0));
}

}  // namespace qv
