// Reading JSON fields into plain values, keeping the first error. A parser built on it is
// a straight line of reads with one check at the end: no early return per field. (Every
// early `return x.take_error()` repeats the clean-up of all that is in scope, and with
// hundreds of fields that clean-up was the largest part of the module in WebAssembly.)
// The messages are the ones JsonValue and JsonObject give, naming the field.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "qv/json.h"
#include "qv/result.h"

namespace qv::cost {

// What a number must be; the message when it is not.
enum class Bounds {
  kAny,
  kNonNegative,  // "must not be negative"
  kPositive,     // "must be greater than 0"
  kRatio,        // "must be between 0 and 1 (a fraction, not a percentage)"
};

class Reader {
 public:
  bool ok() const { return !failed_; }
  Error take_error() { return std::move(error_); }
  // Records an error unless one is recorded already.
  void fail(Error error);
  void fail(std::string message) { fail(invalid_input(std::move(message))); }
  // The result's value, or nullopt after recording its error.
  template <typename T>
  std::optional<T> take(Result<T> result) {
    if (result.ok()) return std::move(result.value());
    fail(result.take_error());
    return std::nullopt;
  }

  // The value as an object or array (nullopt after recording the type error).
  std::optional<JsonObject> object(const JsonValue& value);
  std::optional<JsonArray> array(const JsonValue& value);
  // Records "PATH.key: unknown field (expected one of: ...)" for a field not allowed.
  void only(const JsonObject& object, std::initializer_list<std::string_view> allowed);
  // The field. Absent, or null when not required: nullopt ("PATH.key: is required" is
  // recorded when required).
  std::optional<JsonValue> field(const JsonObject& object, std::string_view key,
                                 bool required = false);
  std::optional<std::string_view> string(const JsonValue& value, bool non_empty = false);
  std::optional<double> number(const JsonValue& value, Bounds bounds = Bounds::kAny);
  // The field's text or number: field() then string() or number().
  std::optional<std::string> text(const JsonObject& object, std::string_view key,
                                  bool required = false, bool non_empty = false);
  std::optional<double> number(const JsonObject& object, std::string_view key,
                               Bounds bounds = Bounds::kAny, bool required = false);

 private:
  bool failed_ = false;
  Error error_;
};

}  // namespace qv::cost
