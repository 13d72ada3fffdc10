// Line and column of a field in a JSON text, for error messages about usage files.
//
// simdjson's DOM keeps no source positions, so the position is found by a second pass over
// the raw text: a small scanner that follows the JSON grammar (strings with escapes,
// nesting) and walks down the field path of the error ("usage.calls[2].perMonth",
// `usage.prices["livekit.agent_session_minutes"]`). Scanning by grammar rather than
// searching for the key's text finds the right "perMonth" when several objects have one.
// The same scanner reports the first syntax error of a malformed text with its position,
// which simdjson's error codes do not give. It runs only on the error path.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "qv/json.h"
#include "qv/result.h"

namespace qv::cost {

struct TextPosition {
  size_t line = 1;    // 1-based
  size_t column = 1;  // 1-based, in bytes
};

struct SyntaxProblem {
  TextPosition at;
  std::string what;  // "expected ',' or '}' after a member"
};

// The first syntax problem of text, or nullopt when the scanner finds none (simdjson may
// still refuse the text, e.g. for invalid UTF-8 or a number out of range).
std::optional<SyntaxProblem> find_syntax_problem(std::string_view text);

// Where the value at path (relative to the text's root, "" for the root) sits in text: the
// position of its key inside an object, of the value itself inside an array. A path that
// is not in the text gives its nearest ancestor that is.
TextPosition locate(std::string_view text, std::string_view path);

// Adds the position to an error whose message starts "PATH: ...", when PATH is root or
// lies under it: "usage.calls.perMonth (line 4, column 5): expected a number, ...".
// Paths of root are relative to text. Errors already positioned, and texts of one line
// (compact JSON, where the path says as much), are left as they are.
Error with_position(Error error, std::string_view text, std::string_view root);

// Parses text as JSON whose root is named root ("" for a method input, "usage" for a
// usage file given as a string). A malformed text gives "ROOT: malformed JSON at line L,
// column C: WHAT".
Result<JsonValue> parse_positioned(JsonParser& parser, std::string_view text,
                                   const std::string& root);

}  // namespace qv::cost
