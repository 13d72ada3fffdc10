#include "qv/cost/reader.h"

#include <cmath>

namespace qv::cost {

void Reader::fail(Error error) {
  if (failed_) return;
  failed_ = true;
  error_ = std::move(error);
}

std::optional<JsonObject> Reader::object(const JsonValue& value) {
  if (failed_) return std::nullopt;
  return take(value.object());
}

std::optional<JsonArray> Reader::array(const JsonValue& value) {
  if (failed_) return std::nullopt;
  return take(value.array());
}

void Reader::only(const JsonObject& object, std::initializer_list<std::string_view> allowed) {
  if (failed_) return;
  if (auto s = object.only_fields(allowed); !s.ok()) fail(s.take_error());
}

std::optional<JsonValue> Reader::field(const JsonObject& object, std::string_view key,
                                       bool required) {
  if (failed_) return std::nullopt;
  auto found = object.find(key);
  if (!found) {
    if (required) fail(object.child_path(key) + ": is required");
    return std::nullopt;
  }
  if (!required && found->is_null()) return std::nullopt;
  return found;
}

std::optional<std::string_view> Reader::string(const JsonValue& value, bool non_empty) {
  if (failed_) return std::nullopt;
  auto text = take(value.string());
  if (text && non_empty && text->empty()) {
    fail(value.where() + ": must not be empty");
    return std::nullopt;
  }
  return text;
}

std::optional<double> Reader::number(const JsonValue& value, Bounds bounds) {
  if (failed_) return std::nullopt;
  auto number = take(value.number());
  if (!number) return std::nullopt;
  const double n = *number;
  const char* problem = nullptr;
  if (!std::isfinite(n)) {
    problem = ": must be a finite number";
  } else if (bounds == Bounds::kNonNegative && n < 0) {
    problem = ": must not be negative";
  } else if (bounds == Bounds::kPositive && !(n > 0)) {
    problem = ": must be greater than 0";
  } else if (bounds == Bounds::kRatio && (n < 0 || n > 1)) {
    problem = ": must be between 0 and 1 (a fraction, not a percentage)";
  }
  if (problem) {
    fail(value.where() + problem);
    return std::nullopt;
  }
  return n;
}

std::optional<std::string> Reader::text(const JsonObject& object, std::string_view key,
                                        bool required, bool non_empty) {
  auto value = field(object, key, required);
  if (!value) return std::nullopt;
  auto text = string(*value, non_empty);
  if (!text) return std::nullopt;
  return std::string(*text);
}

std::optional<double> Reader::number(const JsonObject& object, std::string_view key, Bounds bounds,
                                     bool required) {
  auto value = field(object, key, required);
  if (!value) return std::nullopt;
  return number(*value, bounds);
}

}  // namespace qv::cost
