#include "qv/json.h"

#include "qv/json_text.h"

#include <clocale>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_set>

namespace qv {

namespace {

// 2^53: a double holds every integer below it, and from it on only some (2^53 + 1 reads
// as 2^53).
constexpr double kTwoTo53 = 9007199254740992.0;

}  // namespace

const char* JsonValue::type_name() const {
  switch (element_.type()) {
    case simdjson::dom::element_type::ARRAY:
      return "an array";
    case simdjson::dom::element_type::OBJECT:
      return "an object";
    case simdjson::dom::element_type::INT64:
    case simdjson::dom::element_type::UINT64:
    case simdjson::dom::element_type::DOUBLE:
      return "a number";
    case simdjson::dom::element_type::STRING:
      return "a string";
    case simdjson::dom::element_type::BOOL:
      return "a boolean";
    case simdjson::dom::element_type::NULL_VALUE:
      return "null";
  }
  return "an unknown value";
}

std::string key_path(std::string path, std::string_view key) {
  if (key.empty() || key.find_first_of(".[]\"\\:") != std::string_view::npos) {
    path += "[\"";
    for (char c : key) {
      if (c == '"' || c == '\\') path += '\\';
      path += c;
    }
    path += "\"]";
    return path;
  }
  if (!path.empty()) path += '.';
  path += key;
  return path;
}

std::string JsonPathStep::text() const {
  // The steps from the root down, then their text.
  std::vector<const JsonPathStep*> steps;
  for (const JsonPathStep* step = this; step; step = step->parent.get()) steps.push_back(step);
  std::string text;
  for (auto it = steps.rbegin(); it != steps.rend(); ++it) {
    const JsonPathStep& step = **it;
    switch (step.kind) {
      case Kind::kFull:
        text = step.key;
        break;
      case Kind::kUnnamed:
        break;
      case Kind::kKey:
        text = key_path(std::move(text), step.key);
        break;
      case Kind::kIndex:
        text += '[';
        text += std::to_string(step.index);
        text += ']';
        break;
    }
  }
  return text;
}

std::string JsonValue::where() const {
  if (step_.kind == JsonPathStep::Kind::kUnnamed) return "";
  std::string path = this->path();
  return path.empty() ? "input" : path;
}

std::shared_ptr<const JsonPathStep> JsonValue::container_path() const {
  if (step_.kind == JsonPathStep::Kind::kUnnamed ||
      (step_.kind == JsonPathStep::Kind::kFull && step_.key.empty()))
    return nullptr;  // the root
  return std::make_shared<const JsonPathStep>(step_);
}

Error JsonValue::problem(const std::string& what) const {
  const std::string path = where();
  return invalid_input(path.empty() ? what : path + ": " + what);
}

Error JsonValue::type_error(const char* expected) const {
  return problem(std::string("expected ") + expected + ", got " + type_name());
}

Result<JsonObject> JsonValue::object() const {
  simdjson::dom::object object;
  if (element_.get_object().get(object)) return type_error("an object");
  return JsonObject(object, container_path());
}

Result<JsonArray> JsonValue::array() const {
  simdjson::dom::array array;
  if (element_.get_array().get(array)) return type_error("an array");
  return JsonArray(array, container_path());
}

Result<std::string_view> JsonValue::string() const {
  std::string_view text;
  if (element_.get_string().get(text)) return type_error("a string");
  return text;
}

Result<double> JsonValue::number() const {
  if (!element_.is_number()) return type_error("a number");
  double number = 0;
  if (element_.get_double().get(number)) return type_error("a number");
  return number;
}

Result<bool> JsonValue::boolean() const {
  bool flag = false;
  if (element_.get_bool().get(flag)) return type_error("a boolean");
  return flag;
}

Result<int64_t> JsonValue::integer(int64_t min, int64_t max) const {
  auto outside = [&](const std::string& got) {
    return problem("must be between " + std::to_string(min) + " and " + std::to_string(max) +
                   ", got " + got);
  };
  // Written in digits alone, a number is an INT64 or (above INT64_MAX) a UINT64 element: read
  // as it is, never through a double, which rounds 2^53 + 1 to 2^53.
  int64_t whole = 0;
  if (element_.get_int64().get(whole) == simdjson::SUCCESS) {
    if (whole < min || whole > max) return outside(std::to_string(whole));
    return whole;
  }
  uint64_t above = 0;
  if (element_.get_uint64().get(above) == simdjson::SUCCESS) return outside(std::to_string(above));
  // With a fraction or an exponent ("5.0", "1e3") it is a double, whole and exact below 2^53.
  auto number = this->number();
  if (!number.ok()) return number.take_error();
  const double n = number.value();
  // The number as the input would write it: "2.5", not std::to_string's "2.500000" (which
  // also follows LC_NUMERIC).
  JsonWriter got;
  got.value(n);
  if (n != std::floor(n)) return problem("expected an integer, got " + got.str());
  if (std::fabs(n) >= kTwoTo53) {
    return problem("expected an integer, got " + got.str() +
                   " (with a fraction or an exponent, a number is exact only below 2^53: "
                   "write a larger integer in digits alone)");
  }
  whole = static_cast<int64_t>(n);
  if (whole < min || whole > max) return outside(got.str());
  return whole;
}

std::string JsonObject::child_path(std::string_view key) const {
  return member(key, simdjson::dom::element()).path();
}

std::optional<JsonValue> JsonObject::find(std::string_view key) const {
  simdjson::dom::element element;
  if (object_.at_key(key).get(element)) return std::nullopt;
  return member(key, element);
}

Result<JsonValue> JsonObject::required(std::string_view key) const {
  auto found = find(key);
  if (!found) return invalid_input(child_path(key) + ": is required");
  return *found;
}

Status JsonObject::unique_fields() const {
  // JSON.parse keeps a repeated field's last value and find() its first: refused, so that
  // no two readers of one input can see different values. One pass with the keys seen so
  // far: comparing each key with every earlier one took seconds for an input of 90,000
  // fields.
  std::unordered_set<std::string_view> seen;
  seen.reserve(object_.size());
  for (auto field : object_) {
    if (!seen.insert(field.key).second)
      return invalid_input(child_path(field.key) + ": given twice");
  }
  return ok_status();
}

Status JsonObject::only_fields(std::span<const std::string_view> allowed) const {
  if (auto s = unique_fields(); !s.ok()) return s;
  for (auto field : object_) {
    bool known = false;
    for (auto name : allowed) known = known || name == field.key;
    if (!known) {
      if (allowed.size() == 0)
        return invalid_input(child_path(field.key) + ": unknown field (this takes no fields)");
      std::string names;
      for (auto name : allowed) names += (names.empty() ? "" : ", ") + std::string(name);
      return invalid_input(child_path(field.key) + ": unknown field (expected one of: " + names +
                           ")");
    }
  }
  return ok_status();
}

std::vector<JsonValue> JsonArray::items() const {
  std::vector<JsonValue> items;
  items.reserve(array_.size());
  size_t index = 0;
  for (auto element : array_) {
    items.push_back(
        JsonValue(element, {path_, std::string(), index++, JsonPathStep::Kind::kIndex}));
  }
  return items;
}

Result<JsonValue> JsonParser::parse(std::string_view text, const std::string& root) {
  return parse_text(text, &root);
}

Result<JsonValue> JsonParser::parse_unnamed(std::string_view text) {
  return parse_text(text, nullptr);
}

Result<JsonValue> JsonParser::parse_text(std::string_view text, const std::string* root) {
  if (text.size() > kMaxInputBytes) {
    const std::string name = !root ? "" : root->empty() ? "input: " : *root + ": ";
    return Error{QV_TOO_LARGE, name + std::to_string(text.size()) +
                                   " bytes is above the limit of " +
                                   std::to_string(kMaxInputBytes) + " bytes"};
  }
  // The scanner's depth (simdjson's max_depth counts one more than the levels it takes).
  if (parser_.max_depth() != kMaxJsonDepth + 1) {
    if (auto error = parser_.allocate(text.size(), kMaxJsonDepth + 1))
      return Error{QV_INTERNAL, simdjson::error_message(error)};
  }
  simdjson::dom::element element;
  if (auto error = parser_.parse(text.data(), text.size()).get(element)) {
    return root ? refused_text_error(text, *root, simdjson::error_message(error))
                : refused_unnamed_text_error(text, simdjson::error_message(error));
  }
  if (!root) return JsonValue(element, JsonPathStep{nullptr, "", 0, JsonPathStep::Kind::kUnnamed});
  return JsonValue(element, *root);
}

void append_json_string(std::string& out, std::string_view text) {
  static const char* kHex = "0123456789abcdef";
  out += '"';
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else if (c == 0xE2 && i + 2 < text.size() && text[i + 1] == '\x80' &&
                   (text[i + 2] == '\xA8' || text[i + 2] == '\xA9')) {
          // U+2028 and U+2029 are valid in a JSON string, but JavaScript before ES2019 ends
          // a line at them, inside a string literal too: JSON put inline in a <script> broke.
          out += text[i + 2] == '\xA8' ? "\\u2028" : "\\u2029";
          i += 2;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

void JsonWriter::separate() {
  if (need_comma_) out_ += ',';
  need_comma_ = true;
}

JsonWriter& JsonWriter::begin_object() {
  separate();
  out_ += '{';
  need_comma_ = false;
  return *this;
}

JsonWriter& JsonWriter::end_object() {
  out_ += '}';
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::begin_array() {
  separate();
  out_ += '[';
  need_comma_ = false;
  return *this;
}

JsonWriter& JsonWriter::end_array() {
  out_ += ']';
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::key(std::string_view name) {
  separate();
  append_json_string(out_, name);
  out_ += ':';
  need_comma_ = false;
  return *this;
}

JsonWriter& JsonWriter::value(std::string_view text) {
  separate();
  append_json_string(out_, text);
  return *this;
}

namespace {

// The double the text of a JSON number (such as "%.15g" writes) reads as. Most take Clinger's fast
// path: at most 15 significant digits (an exact integer) and a power of ten up to 10^22 (exact too)
// make one correctly rounded multiplication or division. The rest go to simdjson's exact parser.
// (Not libc's strtod: it computes in long double, which wasm32 emulates in software.)
double read_back(const char* text, size_t length) {
  static constexpr double kPowersOfTen[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                            1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                            1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  const char* at = text;
  const char* end = text + length;
  const bool negative = at < end && *at == '-';
  if (negative) ++at;
  int64_t mantissa = 0;
  int digits = 0;
  int exponent = 0;
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  auto add = [&](char c) {  // past 15 digits the text goes to the exact parser anyway
    if (++digits <= 15) mantissa = mantissa * 10 + (c - '0');
  };
  for (; at < end && digit(*at); ++at) add(*at);
  if (at < end && *at == '.') {
    for (++at; at < end && digit(*at); ++at, --exponent) add(*at);
  }
  if (at < end && *at == 'e') {
    ++at;
    const bool below = at < end && *at == '-';
    if (at < end && (*at == '-' || *at == '+')) ++at;
    int power = 0;
    for (; at < end && digit(*at) && power < 1000; ++at) power = power * 10 + (*at - '0');
    exponent += below ? -power : power;
  }
  if (at != end || digits > 15 || exponent < -22 || exponent > 22) {
    // simdjson's exact reader can look past the end of a run of zeros after the point (into
    // the digits of a longer text around a parsed view): it reads a copy, which ends in NUL.
    const std::string copy(text, length);
    return simdjson::internal::from_chars(copy.c_str(), copy.c_str() + length);
  }
  const double value = exponent < 0 ? static_cast<double>(mantissa) / kPowersOfTen[-exponent]
                                    : static_cast<double>(mantissa) * kPowersOfTen[exponent];
  return negative ? -value : value;
}

// Whether text is one JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
bool is_json_number(std::string_view text) {
  size_t at = 0;
  auto digits = [&] {
    const size_t start = at;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') ++at;
    return at > start;
  };
  if (at < text.size() && text[at] == '-') ++at;
  if (at < text.size() && text[at] == '0') {
    ++at;
  } else if (!digits()) {
    return false;
  }
  if (at < text.size() && text[at] == '.') {
    ++at;
    if (!digits()) return false;
  }
  if (at < text.size() && (text[at] == 'e' || text[at] == 'E')) {
    ++at;
    if (at < text.size() && (text[at] == '+' || text[at] == '-')) ++at;
    if (!digits()) return false;
  }
  return at == text.size();
}

}  // namespace

std::optional<double> parse_json_number(std::string_view text) {
  if (!is_json_number(text)) return std::nullopt;
  const double value = read_back(text.data(), text.size());
  if (!std::isfinite(value)) return std::nullopt;
  return value;
}

JsonWriter& JsonWriter::value(double number) {
  // Whole numbers below 10^15 (times in ms, counts, sizes) print as %.15g would print them,
  // without formatting a double.
  if (std::fabs(number) < 1e15 && number == std::trunc(number) &&
      (number != 0 || !std::signbit(number)))  // -0 keeps its sign through %.15g
    return value(static_cast<int64_t>(number));
  separate();
  if (!std::isfinite(number)) {
    out_ += "null";  // JSON has no NaN or infinity
    return *this;
  }
  // Shortest of %.15g and %.17g that reads back to the same double: "0.8" rather than
  // "0.80000000000000004", exact when it matters.
  char buffer[32];
  int length = format_double(buffer, sizeof buffer, "%.15g", number);
  if (read_back(buffer, static_cast<size_t>(length)) != number)
    length = format_double(buffer, sizeof buffer, "%.17g", number);
  out_.append(buffer, static_cast<size_t>(length));
  return *this;
}

JsonWriter& JsonWriter::value(int64_t number) {
  separate();
  out_ += std::to_string(number);
  return *this;
}

JsonWriter& JsonWriter::value(bool flag) {
  separate();
  out_ += flag ? "true" : "false";
  return *this;
}

JsonWriter& JsonWriter::value(const std::optional<double>& number) {
  return number ? value(*number) : null();
}

JsonWriter& JsonWriter::null() {
  separate();
  out_ += "null";
  return *this;
}

JsonWriter& JsonWriter::raw(std::string_view json) {
  separate();
  out_ += json;
  return *this;
}

namespace {

// An error message as shown: a value quoted in it can be as long as the input (1 MiB), so a
// message past kMaxShownMessage bytes is cut there (on a UTF-8 character's start) and says so.
constexpr size_t kMaxShownMessage = 1000;

std::string shown_message(const std::string& message) {
  if (message.size() <= kMaxShownMessage) return message;
  size_t cut = kMaxShownMessage;
  while (cut > 0 && (static_cast<unsigned char>(message[cut]) & 0xC0) == 0x80) --cut;
  return message.substr(0, cut) + "... (" + std::to_string(message.size() - cut) + " more bytes)";
}

}  // namespace

std::string error_json(const Error& error) {
  JsonWriter writer;
  writer.begin_object()
      .key("error")
      .value(status_name(error.status))
      .key("message")
      .value(shown_message(error.message))
      .end_object();
  return writer.take();
}

namespace {

// The locale's decimal point in a formatted number, if it is not '.', replaced by '.'.
// WebAssembly builds have a libc of their own that stays in the "C" locale: no host can
// change it, and its locale tables would only add to the bundle.
int in_c_notation(char* buffer, int length) {
#ifdef __wasm__
  (void)buffer;
  return length;
#else
  const char* point = std::localeconv()->decimal_point;
  if (length <= 0 || (point[0] == '.' && point[1] == '\0')) return length;
  char* at = std::strstr(buffer, point);
  if (!at) return length;
  const size_t width = std::strlen(point);  // a multi-byte point in some locales
  *at = '.';
  std::memmove(at + 1, at + width, std::strlen(at + width) + 1);
  return length - static_cast<int>(width - 1);
#endif
}

}  // namespace

int format_double(char* buffer, size_t size, const char* format, double value) {
  return in_c_notation(buffer, std::snprintf(buffer, size, format, value));
}

int format_double(char* buffer, size_t size, const char* format, int precision, double value) {
  return in_c_notation(buffer, std::snprintf(buffer, size, format, precision, value));
}

}  // namespace qv
