#include "qv/json_text.h"

#include <cstdio>
#include <vector>

#include "qv/json.h"

namespace qv {

namespace {

// One step of a field path: an object key or an array index.
struct Segment {
  bool is_index = false;
  size_t index = 0;
  std::string key;
};

// Splits "calls[2].perMonth" or `prices["a.b"].price` into segments; nullopt when the
// text is not a path (then nothing is located).
std::optional<std::vector<Segment>> split_path(std::string_view path) {
  std::vector<Segment> segments;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '.') {
      ++i;
      continue;
    }
    Segment segment;
    if (path[i] == '[') {
      if (i + 1 < path.size() && path[i + 1] == '"') {
        // ["key"], '"' and '\' escaped with '\' (key_path)
        size_t k = i + 2;
        for (; k < path.size() && path[k] != '"'; ++k) {
          if (path[k] == '\\' && k + 1 < path.size()) ++k;
          segment.key += path[k];
        }
        if (k + 1 >= path.size() || path[k + 1] != ']') return std::nullopt;
        i = k + 2;
      } else {
        const size_t end = path.find(']', i);
        if (end == std::string_view::npos || end == i + 1) return std::nullopt;
        segment.is_index = true;
        for (size_t k = i + 1; k < end; ++k) {
          if (path[k] < '0' || path[k] > '9') return std::nullopt;
          segment.index = segment.index * 10 + static_cast<size_t>(path[k] - '0');
        }
        i = end + 1;
      }
    } else {
      const size_t end = path.find_first_of(".[", i);
      const size_t stop = end == std::string_view::npos ? path.size() : end;
      segment.key.assign(path.substr(i, stop - i));
      i = stop;
    }
    segments.push_back(std::move(segment));
  }
  return segments;
}

// A field path as error messages write it: "calls[2].perMonth" ("" for the root).
std::string path_text(const std::vector<Segment>& segments) {
  std::string text;
  for (const Segment& segment : segments) {
    if (segment.is_index) {
      text += '[' + std::to_string(segment.index) + ']';
    } else {
      text = key_path(std::move(text), segment.key);
    }
  }
  return text;
}

// Whether text is written over several lines: a line break before its last character that
// is not white space (a one-line text that ends in a newline, as `echo` and `jq -c` write
// them, is one line).
bool spans_lines(std::string_view text) {
  const size_t last = text.find_last_not_of(" \t\r\n");
  return last != std::string_view::npos &&
         text.substr(0, last).find('\n') != std::string_view::npos;
}

// Where the field path that starts message ends: at the first ": " outside a bracketed
// key (which may hold one); npos when there is none.
size_t path_end(std::string_view message) {
  for (size_t i = 0; i < message.size(); ++i) {
    if (message.compare(i, 2, "[\"") == 0) {
      for (i += 2; i < message.size() && message[i] != '"'; ++i) {
        if (message[i] == '\\') ++i;
      }
    } else if (message.compare(i, 2, ": ") == 0) {
      return i;
    }
  }
  return std::string_view::npos;
}

// relative (a path as path_text writes it) under root; "input" for the root of an input.
std::string joined_path(std::string_view root, std::string_view relative) {
  if (root.empty()) return relative.empty() ? "input" : std::string(relative);
  if (relative.empty()) return std::string(root);
  return std::string(root) + (relative.front() == '[' ? "" : ".") + std::string(relative);
}

// Whether an integer token (no fraction, no exponent; "-" and digits) fits in the 64-bit
// integers simdjson reads: [-2^63, 2^64 - 1].
bool integer_fits(std::string_view token) {
  const bool negative = token.front() == '-';
  const std::string_view digits = negative ? token.substr(1) : token;
  const std::string_view largest = negative ? "9223372036854775808" : "18446744073709551615";
  return digits.size() < largest.size() || (digits.size() == largest.size() && digits <= largest);
}

// Where a text's JSON starts: after the byte order mark some editors write at the start of a
// UTF-8 file, which simdjson skips, and so do the scanner and the columns of line 1.
size_t json_start(std::string_view text) {
  return text.starts_with("\xEF\xBB\xBF") ? 3 : 0;
}

// A recursive-descent pass over JSON text that checks its syntax and its numbers' ranges,
// and records where the deepest existing prefix of a target path sits. Nesting is capped so
// a hostile text cannot exhaust the stack.
class Scanner {
 public:
  Scanner(std::string_view text, const std::vector<Segment>& target)
      : text_(text), target_(target) {}

  // Scans the whole text; false on a syntax problem (see error_offset(), error()).
  bool run() {
    pos_ = json_start(text_);
    skip_space();
    best_offset_ = pos_;
    if (!value(true)) return false;
    skip_space();
    if (pos_ != text_.size()) return fail("unexpected text after the JSON value");
    return true;
  }

  size_t best_offset() const { return best_offset_; }
  // How many of the target's steps the text holds, and whether the last one found is a
  // string holding a JSON object or array (a document given as text).
  size_t best_depth() const { return best_depth_; }
  bool best_is_document() const { return best_is_document_; }
  size_t error_offset() const { return error_offset_; }
  const std::string& error() const { return error_; }
  const std::optional<std::string>& error_field() const { return error_field_; }

 private:
  bool fail(std::string what) {
    if (error_.empty()) {
      error_ = std::move(what);
      error_offset_ = pos_;
    }
    return false;
  }

  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  // The value at pos_, whose path is at_; on_path: at_ equals the target's first segments.
  bool value(bool on_path) {
    if (pos_ >= text_.size()) return fail("expected a value, got the end of the text");
    switch (text_[pos_]) {
      case '{':
        return object(on_path);
      case '[':
        return array(on_path);
      case '"':
        return string(nullptr);
      case 't':
        return literal("true");
      case 'f':
        return literal("false");
      case 'n':
        return literal("null");
      default:
        if (text_[pos_] == '-' || (text_[pos_] >= '0' && text_[pos_] <= '9')) return number();
        return fail("expected a value (object, array, string, number, true, false or null)");
    }
  }

  // Steps into the container opening at pos_: true when it closes at once with `close`.
  // A container that holds something past kMaxJsonDepth open ones (at_ holds one step per
  // enclosing one) is a problem; an empty one is not, as simdjson counts them.
  std::optional<bool> open(char close) {
    const size_t start = pos_;
    ++pos_;  // the opening bracket
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == close) {
      ++pos_;
      return true;
    }
    if (at_.size() >= kMaxJsonDepth) {
      pos_ = start;
      fail("nesting deeper than " + std::to_string(kMaxJsonDepth) + " levels");
      return std::nullopt;
    }
    return false;
  }

  // Whether the value at pos_ is a string whose text starts an object or an array.
  bool holds_document() const {
    if (pos_ >= text_.size() || text_[pos_] != '"') return false;
    size_t at = pos_ + 1;
    while (at + 1 < text_.size() && text_[at] == '\\' &&
           (text_[at + 1] == 'n' || text_[at + 1] == 't' || text_[at + 1] == 'r'))
      at += 2;
    while (at < text_.size() && (text_[at] == ' ' || text_[at] == '\t')) ++at;
    return at < text_.size() && (text_[at] == '{' || text_[at] == '[');
  }

  // The value of the child step `step`, on the target's path if its parent is and the step
  // is the target's next one; the deepest such child's `offset` is recorded.
  bool child(bool on_path, Segment step, size_t offset) {
    const size_t depth = at_.size();
    const bool child_on_path =
        on_path && depth < target_.size() && target_[depth].is_index == step.is_index &&
        (step.is_index ? target_[depth].index == step.index : target_[depth].key == step.key);
    // (>=: a key given twice is found where it is repeated, the copy that is refused)
    if (child_on_path && depth + 1 >= best_depth_) {
      best_depth_ = depth + 1;
      best_offset_ = offset;
      best_is_document_ = holds_document();
    }
    at_.push_back(std::move(step));
    if (!value(child_on_path)) return false;
    at_.pop_back();
    return true;
  }

  bool object(bool on_path) {
    const std::optional<bool> empty = open('}');
    if (!empty || *empty) return empty.has_value();
    for (;;) {
      skip_space();
      if (pos_ >= text_.size() || text_[pos_] != '"')
        return fail("expected a key in double quotes");
      const size_t key_offset = pos_;
      std::string key;
      if (!string(&key)) return false;
      skip_space();
      if (pos_ >= text_.size() || text_[pos_] != ':') return fail("expected ':' after the key");
      ++pos_;
      skip_space();
      if (!child(on_path, Segment{false, 0, std::move(key)}, key_offset)) return false;
      const Next next = after_item('}', "expected ',' or '}' after an object member");
      if (next != Next::kMore) return next == Next::kDone;
    }
  }

  bool array(bool on_path) {
    const std::optional<bool> empty = open(']');
    if (!empty || *empty) return empty.has_value();
    for (size_t index = 0;; ++index) {
      skip_space();
      if (!child(on_path, Segment{true, index, {}}, pos_)) return false;
      const Next next = after_item(']', "expected ',' or ']' after an array element");
      if (next != Next::kMore) return next == Next::kDone;
    }
  }

  // After an object member or an array element: ',' (another follows) or the closing
  // bracket (the container is done); `problem` otherwise.
  enum class Next { kMore, kDone, kBroken };
  Next after_item(char close, const char* problem) {
    skip_space();
    if (pos_ < text_.size() && (text_[pos_] == ',' || text_[pos_] == close)) {
      return text_[pos_++] == ',' ? Next::kMore : Next::kDone;
    }
    fail(problem);
    return Next::kBroken;
  }

  // A string at pos_ (on '"'); its content goes to out with simple escapes decoded
  // (\uXXXX is kept as written: keys compared with it then simply do not match).
  bool string(std::string* out) {
    ++pos_;  // opening quote
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) return fail("control character inside a string");
      if (c == '\\') {
        if (pos_ + 1 >= text_.size()) break;
        const char e = text_[pos_ + 1];
        static constexpr std::string_view kEscapes = "\"\\/bfnrt";
        if (e == 'u') {
          const std::optional<unsigned> unit = code_unit(pos_);
          if (!unit) return fail("expected four hex digits after \\u");
          // A surrogate escape is one half of a character: a high one (D800-DBFF) then a low
          // one (DC00-DFFF), which simdjson requires (JSON.stringify writes a lone half as is).
          size_t length = 6;
          if (*unit >= 0xDC00 && *unit <= 0xDFFF) return fail(lone_surrogate(pos_));
          if (*unit >= 0xD800 && *unit <= 0xDBFF) {
            const std::optional<unsigned> low =
                text_.substr(pos_ + 6, 2) == "\\u" ? code_unit(pos_ + 6) : std::nullopt;
            if (!low || *low < 0xDC00 || *low > 0xDFFF) return fail(lone_surrogate(pos_));
            length = 12;
          }
          if (out) out->append(text_.substr(pos_, length));
          pos_ += length;
          continue;
        }
        const size_t which = kEscapes.find(e);
        if (which == std::string_view::npos) return fail("invalid escape in a string");
        if (out) out->push_back("\"\\/\b\f\n\r\t"[which]);
        pos_ += 2;
        continue;
      }
      if (out) out->push_back(c);
      ++pos_;
    }
    return fail("unterminated string");
  }

  // The code unit of the escape \\uXXXX at `at`, nullopt when XXXX are not four hex digits.
  std::optional<unsigned> code_unit(size_t at) const {
    unsigned unit = 0;
    for (size_t k = 2; k < 6; ++k) {
      const char h = at + k < text_.size() ? text_[at + k] : '\0';
      const int digit = h >= '0' && h <= '9'   ? h - '0'
                        : h >= 'a' && h <= 'f' ? h - 'a' + 10
                        : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                               : -1;
      if (digit < 0) return std::nullopt;
      unit = unit * 16 + static_cast<unsigned>(digit);
    }
    return unit;
  }

  std::string lone_surrogate(size_t at) const {
    return "the escape " + std::string(text_.substr(at, 6)) +
           " is half of a surrogate pair without its other half";
  }

  bool digits() {
    const size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
    return pos_ > start;
  }

  bool number() {
    const size_t start = pos_;
    if (!number_syntax()) return false;
    const std::string_view token = text_.substr(start, pos_ - start);
    const bool integer = token.find_first_of(".eE") == std::string_view::npos;
    if (integer ? integer_fits(token) : parse_json_number(token).has_value()) return true;
    // The token as written, shortened: a number can be as long as the text.
    const std::string shown =
        token.size() > 32 ? std::string(token.substr(0, 24)) + "…" : std::string(token);
    pos_ = start;
    error_field_ = path_text(at_);
    return fail(integer ? "the integer " + shown + " does not fit in 64 bits"
                        : "the number " + shown + " is beyond a double's range");
  }

  bool number_syntax() {
    if (text_[pos_] == '-') ++pos_;
    if (pos_ < text_.size() && text_[pos_] == '0') {
      ++pos_;
    } else if (!digits()) {
      return fail("expected a digit");
    }
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      if (!digits()) return fail("expected a digit after the decimal point");
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      if (!digits()) return fail("expected a digit in the exponent");
    }
    return true;
  }

  bool literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) {
      return fail("expected a value (object, array, string, number, true, false or null)");
    }
    pos_ += word.size();
    return true;
  }

  std::string_view text_;
  const std::vector<Segment>& target_;
  std::vector<Segment> at_;  // the path to the value being scanned
  std::optional<std::string> error_field_;
  size_t pos_ = 0;
  size_t best_depth_ = 0;
  size_t best_offset_ = 0;
  bool best_is_document_ = false;
  size_t error_offset_ = 0;
  std::string error_;
};

// Columns count characters, as editors do: a UTF-8 continuation byte is not one.
TextPosition position_of(std::string_view text, size_t offset) {
  TextPosition at;
  for (size_t i = json_start(text); i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++at.line;
      at.column = 1;
    } else if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
      ++at.column;
    }
  }
  return at;
}

// The offset of the first byte that does not start a well-formed UTF-8 sequence (RFC 3629:
// no overlong forms, no surrogates, nothing above U+10FFFF), or npos.
size_t invalid_utf8_at(std::string_view text) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  for (size_t i = 0; i < n;) {
    const unsigned char c = bytes[i];
    size_t length = 0;
    unsigned char low = 0x80, high = 0xBF;  // the second byte's range
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      if (c == 0xE0) low = 0xA0;   // overlong
      if (c == 0xED) high = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      if (c == 0xF0) low = 0x90;   // overlong
      if (c == 0xF4) high = 0x8F;  // above U+10FFFF
    } else {
      return i;
    }
    if (i + length > n || bytes[i + 1] < low || bytes[i + 1] > high) return i;
    for (size_t k = 2; k < length; ++k) {
      if ((bytes[i + k] & 0xC0) != 0x80) return i;
    }
    i += length;
  }
  return std::string_view::npos;
}

// "line L, column C"
std::string describe(const TextPosition& at) {
  return "line " + std::to_string(at.line) + ", column " + std::to_string(at.column);
}

}  // namespace

std::optional<SyntaxProblem> find_syntax_problem(std::string_view text) {
  const std::vector<Segment> none;
  Scanner scanner(text, none);
  if (scanner.run()) return std::nullopt;
  return SyntaxProblem{position_of(text, scanner.error_offset()), scanner.error(),
                       scanner.error_field()};
}

std::optional<TextPosition> locate(std::string_view text, std::string_view path) {
  auto segments = split_path(path);
  if (!segments) return std::nullopt;
  Scanner scanner(text, *segments);
  scanner.run();  // a syntax problem after the path's value does not move its position
  if (scanner.best_depth() < segments->size()) {
    // Absent from the root: the root's position would say nothing. Going on inside a
    // document given as text: its paths do not point into this one.
    if (scanner.best_depth() == 0 || scanner.best_is_document()) return std::nullopt;
  }
  return position_of(text, scanner.best_offset());
}

Error with_position(Error error, std::string_view text, std::string_view root) {
  // On one line the field path says all a position would: compact JSON from a program
  // gets no "(line 1, column 734)". Files, written over many lines, do.
  if (error.status != QV_INVALID_INPUT || !spans_lines(text)) return error;
  const size_t colon = path_end(error.message);
  if (colon == std::string::npos) return error;
  const std::string_view path = std::string_view(error.message).substr(0, colon);
  if (path.find(" (line ") != std::string_view::npos) return error;  // already positioned
  std::string_view relative;
  if (root.empty()) {
    if (path == "input") return error;  // the whole input: a position says nothing
    relative = path;
  } else {
    if (path.substr(0, root.size()) != root) return error;
    relative = path.substr(root.size());
    if (relative.empty()) return error;
    if (relative.front() != '.' && relative.front() != '[') return error;  // "usageX"
    if (relative.front() == '.') relative.remove_prefix(1);
  }
  const auto at = locate(text, relative);
  if (!at) return error;
  error.message.insert(colon, " (" + describe(*at) + ")");
  return error;
}

namespace {

// refused_text_error's message, or, when the root has no name (`named` false), the same with
// a problem of the root itself said without a path.
Error refused(std::string_view text, const std::string& root, bool named,
              std::string_view simdjson_message) {
  // "PATH: " (with " (line L, column C)" after PATH when at is given) for the field at
  // relative, "" for the root, and "at line L, column C: " for a place in it.
  const auto prefix = [&](std::string_view relative, const std::optional<TextPosition>& at) {
    if (!named && relative.empty()) return at ? "at " + describe(*at) + ": " : std::string();
    return joined_path(root, relative) + (at ? " (" + describe(*at) + ")" : "") + ": ";
  };
  const auto problem = find_syntax_problem(text);
  if (!problem) {
    if (const size_t bad = invalid_utf8_at(text); bad != std::string_view::npos) {
      char byte[8];
      std::snprintf(byte, sizeof byte, "0x%02X", static_cast<unsigned char>(text[bad]));
      return invalid_input(prefix("", std::nullopt) + "not valid UTF-8 at " +
                           describe(position_of(text, bad)) + " (byte " + byte + ")");
    }
    return invalid_input(prefix("", std::nullopt) + "malformed JSON (" +
                         std::string(simdjson_message) + ")");
  }
  if (problem->field) {
    // A file, written over lines, also gets the number's position (as with_position adds).
    const bool lines = spans_lines(text);
    return invalid_input(
        prefix(*problem->field, lines ? std::optional(problem->at) : std::nullopt) + problem->what);
  }
  return invalid_input(prefix("", std::nullopt) + "malformed JSON at " + describe(problem->at) +
                       ": " + problem->what);
}

}  // namespace

Error refused_text_error(std::string_view text, const std::string& root,
                         std::string_view simdjson_message) {
  return refused(text, root, true, simdjson_message);
}

Error refused_unnamed_text_error(std::string_view text, std::string_view simdjson_message) {
  return refused(text, "", false, simdjson_message);
}

}  // namespace qv
