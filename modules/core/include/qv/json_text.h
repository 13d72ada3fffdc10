// What simdjson does not say about a JSON text it refused, and where a field sits in it.
//
// simdjson's DOM keeps no source positions and its errors name no field, so these run a
// second pass over the raw text, on the error path only: a small scanner that follows the
// JSON grammar (strings with escapes, nesting) and
// - reports the first syntax problem with its line and column, or the first number out of
//   range (an integer beyond 64 bits, a number beyond a double's range) with its field path;
// - walks down a field path ("usage.calls[2].perMonth", `usage.prices["livekit.agent"]`) to
//   the position of that field. Scanning by grammar rather than searching for the key's
//   text finds the right "perMonth" when several objects have one.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "qv/result.h"

namespace qv {

// The deepest nesting of objects and arrays a text may have (an empty one innermost does
// not count, as simdjson counts). JsonParser refuses deeper texts (simdjson alone would take
// 1024 levels) and the scanner stops there, so a text refused for its depth is named where
// it goes too deep, and one that is not is scanned to its real problem.
inline constexpr size_t kMaxJsonDepth = 512;

struct TextPosition {
  size_t line = 1;    // 1-based
  size_t column = 1;  // 1-based, in characters (UTF-8 sequences; a leading BOM is none)
};

struct SyntaxProblem {
  TextPosition at;
  std::string what;  // "expected ',' or '}' after an object member"
  // For a number out of range: the path of the field that holds it ("history[0].calls",
  // "" for the root). nullopt for a syntax problem.
  std::optional<std::string> field;
};

// The first problem of text, or nullopt when the scanner finds none (simdjson may still
// refuse the text, e.g. for invalid UTF-8).
std::optional<SyntaxProblem> find_syntax_problem(std::string_view text);

// Where the value at path (relative to the text's root, "" for the root) sits in text: the
// position of its key inside an object (the repeated one, for a key given twice), of the
// value itself inside an array. A path that is not in the text gives its nearest ancestor
// that is. nullopt when path is not a field path as key_path writes them, when the text
// holds none of it (the root's position would say nothing), and when it goes on inside a
// string holding a JSON object or array (a document given as text: its paths point into
// that text).
std::optional<TextPosition> locate(std::string_view text, std::string_view path);

// Adds the position to an error whose message starts "PATH: ...", when PATH is root or
// lies under it: "usage.calls.perMonth (line 4, column 5): expected a number, ...".
// Paths of root are relative to text. Errors already positioned, texts of one line (compact
// JSON, where the path says as much; a final newline does not count), and paths locate()
// finds no position for are left as they are.
Error with_position(Error error, std::string_view text, std::string_view root);

// The error for a text simdjson refused, as JsonParser::parse gives it: "ROOT: malformed
// JSON at line L, column C: WHAT", or "ROOT.PATH: the integer 1234… does not fit in 64
// bits"; ROOT is root, or "input" when root is "". simdjson's own message otherwise.
Error refused_text_error(std::string_view text, const std::string& root,
                         std::string_view simdjson_message);

// The same for a text whose root has no name (JsonParser::parse_unnamed): a problem of the
// root itself is said without a path ("malformed JSON at line 1, column 5: WHAT"), a number
// out of range in a field under its path ("c1: the integer 1234… does not fit in 64 bits").
Error refused_unnamed_text_error(std::string_view text, std::string_view simdjson_message);

}  // namespace qv
