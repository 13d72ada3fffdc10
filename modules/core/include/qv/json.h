// JSON for module inputs and answers. Reading goes through simdjson's DOM with a path
// kept beside every value, so an error names the field ("history[2].date: expected a
// string, got a number"); the path becomes text only when an error needs it. Writing goes through
// JsonWriter, a small append-only builder.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "qv/result.h"
#include "qv_abi.h"
#include "simdjson.h"

namespace qv {

// Inputs above this size are refused with QV_TOO_LARGE before they are parsed.
inline constexpr size_t kMaxInputBytes = QV_MAX_INPUT_BYTES;

class JsonObject;
class JsonArray;

// path followed by one object key: "path.name" ("name" at the start of a path), or
// path["key"] when the key is empty or holds '.', '[', ']', '"', '\' or ':', which the plain
// form would make ambiguous ("a.[0]" for key "" of a; a message's path ends at ": "); inside
// the brackets '"' and '\' are escaped with '\', as JSON writes them.
std::string key_path(std::string path, std::string_view key);

// One step of a path: a member key or an array index under the step before (null: the
// document root), a whole path given as text, or the root of a text that has no name
// (JsonParser::parse_unnamed).
struct JsonPathStep {
  enum class Kind : uint8_t { kFull, kKey, kIndex, kUnnamed };
  std::shared_ptr<const JsonPathStep> parent;
  std::string key;   // kKey: the key; kFull: the whole path
  size_t index = 0;  // kIndex
  Kind kind = Kind::kFull;

  // "history[2].date"; "" for the root.
  std::string text() const;
};

// A JSON value and where it sits in the document. The path becomes text only when a
// message asks for it: a value keeps its own step (key or index) and shares its
// container's steps, so reading a field costs no string building and no allocation.
class JsonValue {
 public:
  // A value at a path given in full ("" for the root).
  JsonValue(simdjson::dom::element element, std::string path)
      : element_(element), step_{nullptr, std::move(path), 0, JsonPathStep::Kind::kFull} {}

  // "history[2].date"; "" for the root.
  std::string path() const { return step_.text(); }
  // The path for messages: "input" for the root ("" for an unnamed root, whose messages
  // say only the problem: "expected an object, got an array").
  std::string where() const;
  bool is_null() const { return element_.is_null(); }
  // "an object", "a string", ... for messages.
  const char* type_name() const;

  Result<JsonObject> object() const;
  Result<JsonArray> array() const;
  Result<std::string_view> string() const;
  Result<double> number() const;
  Result<bool> boolean() const;
  // A number that is an integer in [min, max], read exactly: "9007199254740993" is 2^53 + 1,
  // and a range error quotes it so. One written with a fraction or an exponent ("5.0", "1e3")
  // is read as a double, so from 2^53 on it is refused as inexact.
  Result<int64_t> integer(int64_t min, int64_t max) const;

  simdjson::dom::element raw() const { return element_; }

 private:
  friend class JsonObject;
  friend class JsonArray;
  friend class JsonParser;
  JsonValue(simdjson::dom::element element, JsonPathStep step)
      : element_(element), step_(std::move(step)) {}
  // This value's path as a container's, for its members (null for the root).
  std::shared_ptr<const JsonPathStep> container_path() const;
  // An error about this value: "PATH: problem" (the problem alone for an unnamed root).
  Error problem(const std::string& what) const;
  Error type_error(const char* expected) const;

  simdjson::dom::element element_;
  JsonPathStep step_;
};

class JsonObject {
 public:
  std::string path() const { return path_ ? path_->text() : std::string(); }
  std::optional<JsonValue> find(std::string_view key) const;
  // The field, or an error "PATH.key: is required".
  Result<JsonValue> required(std::string_view key) const;
  // The member `key` whose value is `element` (a field met while iterating raw()).
  JsonValue member(std::string_view key, simdjson::dom::element element) const {
    return JsonValue(element, {path_, std::string(key), 0, JsonPathStep::Kind::kKey});
  }
  // Fails naming the first field not in allowed (a typo must not pass silently), or the
  // first given twice.
  Status only_fields(std::initializer_list<std::string_view> allowed) const {
    return only_fields(std::span<const std::string_view>(allowed.begin(), allowed.size()));
  }
  Status only_fields(std::span<const std::string_view> allowed) const;
  // Fails naming the first field given twice (for objects that may hold any fields).
  Status unique_fields() const;
  simdjson::dom::object raw() const { return object_; }
  std::string child_path(std::string_view key) const;

 private:
  friend class JsonValue;
  JsonObject(simdjson::dom::object object, std::shared_ptr<const JsonPathStep> path)
      : object_(object), path_(std::move(path)) {}
  simdjson::dom::object object_;
  std::shared_ptr<const JsonPathStep> path_;  // null: the root
};

class JsonArray {
 public:
  size_t size() const { return array_.size(); }
  // The elements in order, each with its path ("history[3]").
  std::vector<JsonValue> items() const;

 private:
  friend class JsonValue;
  JsonArray(simdjson::dom::array array, std::shared_ptr<const JsonPathStep> path)
      : array_(array), path_(std::move(path)) {}
  simdjson::dom::array array_;
  std::shared_ptr<const JsonPathStep> path_;  // null: the root
};

// Parses call inputs. The returned root is valid until the next parse on the same
// parser, so a method converts what it needs into its own types before it suspends.
class JsonParser {
 public:
  // The text's root value, its field paths under root ("" for a method's input; "usage" for
  // a document given as the string field "usage"). A refused text's error names where and
  // what (json_text.h): "input: malformed JSON at line 1, column 9: expected a value",
  // "history[0].calls: the integer 99999999999999999999 does not fit in 64 bits". Objects and
  // arrays nested deeper than kMaxJsonDepth (512) levels are refused.
  Result<JsonValue> parse(std::string_view text, const std::string& root = "");
  // A text whose messages its caller puts under its own name for it, such as a value a
  // module keeps in KV ("the calls stored for organisation 'org_a' (malformed JSON at
  // ...)"): field paths as parse(text) gives them, and a problem of the root itself said
  // without a path ("malformed JSON at line 1, column 5: ...", "expected an object, got an
  // array", where parse says "input: ..."), so no field is mistaken for the root.
  Result<JsonValue> parse_unnamed(std::string_view text);

 private:
  // root null: an unnamed root.
  Result<JsonValue> parse_text(std::string_view text, const std::string* root);
  simdjson::dom::parser parser_;
};

// Appends JSON text. Callers produce well-formed nesting; the writer handles commas,
// escaping and number formatting.
class JsonWriter {
 public:
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view name);
  JsonWriter& value(std::string_view text);
  JsonWriter& value(const char* text) { return value(std::string_view(text)); }
  JsonWriter& value(double number);
  JsonWriter& value(int64_t number);
  JsonWriter& value(int number) { return value(static_cast<int64_t>(number)); }
  JsonWriter& value(uint32_t number) { return value(static_cast<int64_t>(number)); }
  JsonWriter& value(bool flag);
  // A number, or null when there is none.
  JsonWriter& value(const std::optional<double>& number);
  JsonWriter& null();
  // Inserts already-serialised JSON as one value.
  JsonWriter& raw(std::string_view json);

  const std::string& str() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void separate();
  std::string out_;
  bool need_comma_ = false;
};

// Appends text as a JSON string literal (with quotes) to out: quotes, backslashes and control
// characters escaped, and U+2028 and U+2029 as \u2028 and \u2029, so the JSON can be put inline in
// JavaScript (a <script>) as it is.
void append_json_string(std::string& out, std::string_view text);

// {"error": "<status name>", "message": "<message>"}
std::string error_json(const Error& error);

// The number a text holds when the whole text is one number as JSON writes numbers ("-12",
// "0.5", "1.5e+20"): no spaces, no '+' or leading zeros, no hex, "inf" or "nan". For numbers
// in headers and in the text the modules keep in KV. Unlike strtod, it reads the same in every
// build and every C locale. nullopt for anything else, or a number beyond a double's range.
std::optional<double> parse_json_number(std::string_view text);

// snprintf of a format with one double ("%.17g", "$%.2f"; with `precision`, "%.*f") in C's
// notation whatever LC_NUMERIC says: a native host that calls setlocale (a localised
// program embedding the modules) must not turn "1.5" into "1,5" in JSON, in the text kept
// in KV or in messages. Returns the length written, as snprintf does.
int format_double(char* buffer, size_t size, const char* format, double value);
int format_double(char* buffer, size_t size, const char* format, int precision, double value);

}  // namespace qv
