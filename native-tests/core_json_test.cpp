// core's JSON numbers (modules/core/include/qv/json.h): the writer prints the shortest of
// %.15g and %.17g that reads back to the same double, the form every answer's numbers take
// on every runtime; parse_json_number reads them, and only them, back.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <random>
#include <string>

#include "qv/json.h"
#include "qv/json_text.h"
#include "support/numeric_locale.h"

namespace {

std::string written(double number) {
  qv::JsonWriter out;
  out.value(number);
  return out.take();
}

// The definition, with glibc's exact strtod.
std::string expected(double number) {
  if (!std::isfinite(number)) return "null";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.15g", number);
  if (std::strtod(buffer, nullptr) != number) std::snprintf(buffer, sizeof buffer, "%.17g", number);
  return buffer;
}

}  // namespace

TEST_CASE("numbers are written as the shortest of %.15g and %.17g that reads back exactly") {
  const double specials[] = {0.0,
                             -0.0,
                             1.0,
                             -1.0,
                             0.1,
                             0.8,
                             1764115200000.0,
                             1764115200000.5,
                             999999999999999.0,
                             1e15,
                             -1e15,
                             1234567890123456.0,
                             9007199254740993.0,
                             1e21,
                             1e-4,
                             1e-5,
                             5e-324,
                             std::numeric_limits<double>::max(),
                             std::numeric_limits<double>::min(),
                             0.1 + 0.2,
                             std::nan(""),
                             std::numeric_limits<double>::infinity()};
  for (double number : specials) CHECK(written(number) == expected(number));

  std::mt19937_64 random(20261127);
  for (int i = 0; i < 200000; ++i) {
    double number = 0;
    switch (i % 4) {
      case 0: {  // any bit pattern
        const uint64_t bits = random();
        std::memcpy(&number, &bits, sizeof number);
        break;
      }
      case 1:  // money: cents
        number = static_cast<double>(static_cast<int64_t>(random() % 100000000)) / 100;
        break;
      case 2:  // whole numbers of every size
        number = static_cast<double>(static_cast<int64_t>(random() >> (random() % 64)));
        break;
      default:  // ratios
        number = static_cast<double>(random() % 1000000) / static_cast<double>(random() % 999 + 1);
    }
    if (random() % 2) number = -number;
    INFO(expected(number));
    REQUIRE(written(number) == expected(number));
  }
}

TEST_CASE("parse_json_number reads exactly the numbers JSON writes, as glibc's strtod does") {
  using qv::parse_json_number;
  for (const char* text :
       {"0", "-0", "7", "-12", "0.5", "40.7128", "-122.4194", "1e5", "1E5", "1.5e+20", "2.5E-3",
        "1764115200000", "0.30000000000000004", "1.7976931348623157e+308", "5e-324",
        "123456789012345678901234567890", "0.0000000000000000000000001", "1e-400"}) {
    INFO(text);
    const std::optional<double> value = parse_json_number(text);
    REQUIRE(value.has_value());
    CHECK(*value == std::strtod(text, nullptr));
    CHECK(std::signbit(*value) == std::signbit(std::strtod(text, nullptr)));
  }
  // What strtod accepts and a JSON number is not, and numbers past a double's range.
  for (const char* text :
       {"",     " 1",  "1 ",        "+1",  "01",  "-",     "1.",  ".5",    "1e",     "1e+",
        "0x10", "inf", "-Infinity", "nan", "1,5", "1.5.2", "--1", "1e400", "-1e400", "12abc"}) {
    INFO(text);
    CHECK_FALSE(parse_json_number(text).has_value());
  }
  // A number inside a longer text is read to the view's end only: "0.0" of "0.05" is 0.
  const std::string line = "0.000000000000000000000000005";
  CHECK(parse_json_number(std::string_view(line).substr(0, 27)) == 0.0);

  // Every number the writer writes reads back to the same double.
  std::mt19937_64 random(20261127);
  for (int i = 0; i < 100000; ++i) {
    double number = 0;
    const uint64_t bits = random();
    std::memcpy(&number, &bits, sizeof number);
    if (!std::isfinite(number)) continue;
    INFO(written(number));
    REQUIRE(parse_json_number(written(number)) == number);
  }
}

TEST_CASE("numbers are written in C's notation whatever LC_NUMERIC says", "[json][locale]") {
  // A localised program embedding the native modules. de_DE writes "1,5"; ps_AF's decimal
  // point is U+066B, two bytes in UTF-8.
  for (const char* name : {"de_DE", "ps_AF"}) {
    INFO(name);
    qv::test::NumericLocale locale(name);
    REQUIRE(locale.error() == "");
    char probe[16];
    std::snprintf(probe, sizeof probe, "%.1f", 1.5);
    CHECK(std::string(probe) != "1.5");  // the locale is in force for libc

    CHECK(written(1.5) == "1.5");
    CHECK(written(0.1) == "0.1");
    CHECK(written(-2.25e-7) == "-2.25e-07");
    char buffer[32];
    CHECK(qv::format_double(buffer, sizeof buffer, "$%.2f", 1234.5) == 8);
    CHECK(std::string(buffer) == "$1234.50");
    CHECK(qv::format_double(buffer, sizeof buffer, "%.*f", 3, 0.25) == 5);
    CHECK(std::string(buffer) == "0.250");
  }
}

TEST_CASE("an integer field's error quotes the number as JSON writes it, in any locale", "[json]") {
  qv::test::NumericLocale locale("de_DE");
  REQUIRE(locale.error() == "");
  qv::JsonParser parser;
  auto root = parser.parse(R"({"n": 2.5, "big": 12.0, "tiny": -3e-7})");
  REQUIRE(root.ok());
  auto object = root.value().object().value();
  CHECK(object.required("n").value().integer(0, 10).error().message ==
        "n: expected an integer, got 2.5");
  CHECK(object.required("tiny").value().integer(0, 10).error().message ==
        "tiny: expected an integer, got -3e-07");
  CHECK(object.required("big").value().integer(0, 10).error().message ==
        "big: must be between 0 and 10, got 12");
  CHECK(object.required("big").value().integer(0, 12).value() == 12);
}

TEST_CASE("an integer field is read exactly, past 2^53 too, and its range error quotes it",
          "[json]") {
  qv::JsonParser parser;
  auto root = parser.parse(
      R"({"above": 9007199254740993, "at": 9007199254740992, "max": 9223372036854775807,)"
      R"( "min": -9223372036854775808, "unsigned": 18446744073709551615,)"
      R"( "fraction": 9007199254740993.0, "exponent": 1e300, "small": 5.0})");
  REQUIRE(root.ok());
  auto object = root.value().object().value();
  auto integer = [&](const char* name, int64_t min, int64_t max) {
    return object.required(name).value().integer(min, max);
  };
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  CHECK(integer("above", 0, kMax).value() == 9007199254740993);
  CHECK(integer("at", 0, kMax).value() == 9007199254740992);
  CHECK(integer("max", 0, kMax).value() == kMax);
  CHECK(integer("min", kMin, 0).value() == kMin);
  CHECK(integer("small", 0, 10).value() == 5);
  CHECK(integer("above", 0, 9007199254740992).error().message ==
        "above: must be between 0 and 9007199254740992, got 9007199254740993");
  CHECK(integer("max", 0, kMax - 1).error().message ==
        "max: must be between 0 and 9223372036854775806, got 9223372036854775807");
  CHECK(integer("min", kMin + 1, 0).error().message ==
        "min: must be between -9223372036854775807 and 0, got -9223372036854775808");
  CHECK(integer("unsigned", 0, kMax).error().message ==
        "unsigned: must be between 0 and 9223372036854775807, got 18446744073709551615");
  const std::string inexact =
      " (with a fraction or an exponent, a number is exact only below 2^53: write a larger "
      "integer in digits alone)";
  CHECK(integer("fraction", 0, kMax).error().message ==
        "fraction: expected an integer, got 9007199254740992" + inexact);
  CHECK(integer("exponent", 0, 10).error().message ==
        "exponent: expected an integer, got 1e+300" + inexact);
}

TEST_CASE("U+2028 and U+2029 are written escaped, so the JSON can be inline JavaScript", "[json]") {
  // U+2027, U+202A and U+2030 share their first bytes (E2 80) and stay as they are, as does a
  // string that ends before a sequence does.
  const std::string text = "a\u2028b\u2029c\u2027\u202A\u2030 \xE2\x80";
  qv::JsonWriter out;
  out.value(text);
  CHECK(out.str() == "\"a\\u2028b\\u2029c\u2027\u202A\u2030 \xE2\x80\"");
  qv::JsonParser parser;
  auto back = parser.parse(qv::JsonWriter().value("x\u2028\u2029y").str());
  REQUIRE(back.ok());
  CHECK(back.value().string().value() == "x\u2028\u2029y");
}

TEST_CASE("a key the plain path form would make ambiguous is written [\"key\"]", "[json][path]") {
  qv::JsonParser parser;
  auto root = parser.parse(R"({"a": {"": [1], "b.c": {"[d]": true}, "e": 1}})");
  REQUIRE(root.ok());
  auto a = root.value().object().value().required("a").value().object().value();
  auto empty = a.required("").value().array().value().items();
  CHECK(empty[0].string().error().message == R"(a[""][0]: expected a string, got a number)");
  auto dotted = a.required("b.c").value().object().value();
  CHECK(dotted.required("[d]").value().path() == R"(a["b.c"]["[d]"])");
  CHECK(dotted.child_path("plain") == R"(a["b.c"].plain)");
  CHECK(a.required("e").value().path() == "a.e");
  CHECK(a.required("missing").error().message == "a.missing: is required");

  SECTION("'\"' and '\\' in such a key are escaped, so no two paths read alike") {
    auto quoted = parser.parse(R"({"q\"]\\": {"b": 1}, "q": {"\"]": 2}})");
    REQUIRE(quoted.ok());
    auto object = quoted.value().object().value();
    CHECK(object.required("q\"]\\").value().object().value().child_path("b") == R"(["q\"]\\"].b)");
    CHECK(object.required("q").value().object().value().child_path("\"]") == R"(q["\"]"])");
  }

  SECTION("a key holding \": \" is bracketed, and its error is positioned after the whole path") {
    const std::string text = "{\"a\": {\"b\": 1,\n  \"k: x\": true}}";
    const std::string path = qv::key_path("a", "k: x");
    CHECK(path == R"(a["k: x"])");
    CHECK(qv::with_position(qv::invalid_input(path + ": a problem"), text, "").message ==
          R"(a["k: x"] (line 2, column 3): a problem)");
    // A path that does not read back is left without a position, not given the text's start.
    CHECK(qv::with_position(qv::invalid_input(R"(a["k: x: a problem)"), text, "").message ==
          R"(a["k: x: a problem)");
  }

  SECTION("an out-of-range number under such keys is named the same way, and located") {
    auto refused = parser.parse(R"({"a": {"": [{"x.y": 1e999}]}})");
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message.find(R"(a[""][0]["x.y"]: )") == 0);
    auto located = parser.parse("{\"a\": {\"k\\\"]\": 1,\n  \"n\\\"]\": 1e999}}");
    REQUIRE_FALSE(located.ok());
    CHECK(located.error().message.find(R"(a["n\"]"] (line 2, column 11): )") == 0);
  }
}

TEST_CASE("an error is positioned only where the position says something", "[json][path]") {
  auto positioned = [](std::string_view message, std::string_view text) {
    return qv::with_position(qv::invalid_input(std::string(message)), text, "").message;
  };
  // A key given twice: where it is repeated, the copy that is refused.
  CHECK(positioned("a: given twice", "{\n  \"a\": 1,\n  \"b\": 2,\n  \"a\": 3\n}") ==
        "a (line 4, column 3): given twice");
  // Absent from the root: the root's position would say nothing; absent deeper: its parent.
  CHECK(positioned("b: is required", "{\n  \"a\": 1\n}") == "b: is required");
  CHECK(positioned("a.b: is required", "{\n  \"a\": {}\n}") ==
        "a.b (line 2, column 3): is required");
  // Inside a document given as text, whose paths point into that text: none; past another
  // value (an id given as a bare string): that value.
  CHECK(positioned("usage.calls: is required", "{\n  \"usage\": \"{}\"\n}") ==
        "usage.calls: is required");
  CHECK(positioned("usage.calls: is required", "{\n  \"usage\": \"\\n  [1]\"\n}") ==
        "usage.calls: is required");
  CHECK(positioned("nodes[1].id: twice", "{\n  \"nodes\": [\"a\", \"a\"]\n}") ==
        "nodes[1].id (line 2, column 18): twice");
  // One line, with or without a final newline, needs no position.
  CHECK(positioned("a: bad", "{\"a\": 1}\n") == "a: bad");
  CHECK(positioned("a: bad", "{\"a\": 1}\r\n\n") == "a: bad");
  CHECK(positioned("a: bad", "\n{\"a\": 1}") == "a (line 2, column 2): bad");
}

TEST_CASE("a refused text's position counts characters, and invalid UTF-8 is named where it is",
          "[json][path]") {
  // "ééééé" is ten bytes, five characters: the comma's column counts five.
  CHECK(qv::refused_text_error("{\n\"name\":\"ééééé\", \"x\":1,}", "base", "").message ==
        "base: malformed JSON at line 2, column 23: expected a key in double quotes");
  CHECK(qv::refused_text_error("{\"a\": \"x\xff\"}", "", "UTF8_ERROR").message ==
        "input: not valid UTF-8 at line 1, column 9 (byte 0xFF)");
  // Well-formed sequences pass; overlong forms, surrogates and truncated ones do not.
  CHECK(qv::refused_text_error("[\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x8e\x89\"", "", "?").message ==
        "input: malformed JSON at line 1, column 7: expected ',' or ']' after an array element");
  for (const char* bad :
       {"\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82"}) {
    INFO(bad);
    CHECK(qv::refused_text_error(std::string("[\"") + bad + "\"]", "", "?")
              .message.rfind("input: not valid UTF-8 at line 1, column 3", 0) == 0);
  }
}

TEST_CASE(
    "a text parsed unnamed says a problem of its root without a path, a field's with its path",
    "[json][path]") {
  qv::JsonParser parser;
  auto message = [](const auto& result) {
    REQUIRE_FALSE(result.ok());
    return result.error().message;
  };
  CHECK(message(parser.parse_unnamed("[1,2")) ==
        "malformed JSON at line 1, column 5: expected ',' or ']' after an array element");
  CHECK(message(parser.parse_unnamed("{\"a\": \"x\xff\"}")) ==
        "not valid UTF-8 at line 1, column 9 (byte 0xFF)");
  CHECK(message(parser.parse_unnamed("1e999")).find("the number 1e999 ") == 0);
  CHECK(message(parser.parse_unnamed("\n1e999")).find("at line 2, column 1: the number 1e999 ") ==
        0);
  CHECK(message(parser.parse_unnamed(R"({"c1": 1e999})")).find("c1: the number 1e999 ") == 0);
  auto root = parser.parse_unnamed("[]");
  REQUIRE(root.ok());
  CHECK(message(root.value().object()) == "expected an object, got an array");
  CHECK(message(root.value().integer(0, 1)) == "expected a number, got an array");
  // A field named "input" is not mistaken for the root.
  auto calls = parser.parse_unnamed(R"({"input": "x"})");
  REQUIRE(calls.ok());
  auto object = calls.value().object().value();
  CHECK(message(object.required("input").value().number()) ==
        "input: expected a number, got a string");
  CHECK(message(object.required("c1")) == "c1: is required");
  CHECK(message(parser.parse_unnamed(std::string(qv::kMaxInputBytes + 1, ' '))) ==
        std::to_string(qv::kMaxInputBytes + 1) + " bytes is above the limit of " +
            std::to_string(qv::kMaxInputBytes) + " bytes");
  // parse names the root "input", or the root it is given, as before.
  CHECK(message(parser.parse("[1,2")) ==
        "input: malformed JSON at line 1, column 5: expected ',' or ']' after an array element");
  CHECK(message(parser.parse("\n1e999")).find("input (line 2, column 1): the number 1e999 ") == 0);
  CHECK(message(parser.parse("[]").value().object()) == "input: expected an object, got an array");
  CHECK(message(parser.parse("[]", "usage").value().object()) ==
        "usage: expected an object, got an array");
}

TEST_CASE("an error's shown message is cut past 1000 bytes, on a character's start, saying so",
          "[json]") {
  auto shown = [](const std::string& message) {
    qv::JsonParser parser;
    auto root = parser.parse(qv::error_json({QV_INVALID_INPUT, message}));
    REQUIRE(root.ok());
    return std::string(root.value().object().value().required("message").value().string().value());
  };
  CHECK(shown("currentTier: unknown tier 'abc'") == "currentTier: unknown tier 'abc'");
  const std::string echoed = "currentTier: unknown tier '" + std::string(100'000, 'x') + "'";
  const std::string cut = shown(echoed);
  CHECK(cut == echoed.substr(0, 1000) + "... (99028 more bytes)");
  // "é" is two bytes: byte 1000 is the second of one, so the cut comes before that "é".
  std::string wide;
  for (int i = 0; i < 600; ++i) wide += "\xc3\xa9";
  CHECK(shown("a" + wide) == "a" + wide.substr(0, 998) + "... (202 more bytes)");
}

TEST_CASE("a field given twice is named among thousands, the first repeated in the text's order",
          "[json]") {
  // (One pass with the keys seen so far: comparing each key with every earlier one held an
  // isolate for seconds on an input of 90,000 fields. Time is no test's to check.)
  std::string fields;
  for (int i = 0; i < 4'000; ++i) fields += "\"f" + std::to_string(i) + "\":0,";
  qv::JsonParser parser;
  for (int repeated = 0; repeated < 8; ++repeated) {
    const std::string again = "f" + std::to_string(repeated * 500);
    const std::string text = "{" + fields + "\"" + again + "\":1,\"f1\":1}";
    REQUIRE(text.size() <= qv::kMaxInputBytes);
    auto root = parser.parse(text);
    REQUIRE(root.ok());
    const auto object = root.value().object().value();
    auto unique = object.unique_fields();
    REQUIRE_FALSE(unique.ok());
    CHECK(unique.error().message == again + ": given twice");
    auto only = object.only_fields({"f0"});
    REQUIRE_FALSE(only.ok());
    CHECK(only.error().message == again + ": given twice");
  }
  auto distinct = parser.parse("{" + fields + "\"g\":0}");
  REQUIRE(distinct.ok());
  CHECK(distinct.value().object().value().unique_fields().ok());
}

TEST_CASE("nesting deeper than 512 levels is refused where it goes too deep, as the scanner says",
          "[json]") {
  qv::JsonParser parser;
  auto nested = [](size_t depth, const std::string& inside) {
    return std::string(depth, '[') + inside + std::string(depth, ']');
  };
  CHECK(parser.parse(nested(qv::kMaxJsonDepth, "1")).ok());
  CHECK(parser.parse(nested(qv::kMaxJsonDepth, "{}")).ok());  // empty: as simdjson counts
  CHECK(parser.parse_unnamed(nested(qv::kMaxJsonDepth, "{\"a\":1}")).error().message ==
        "malformed JSON at line 1, column 513: nesting deeper than 512 levels");
  // The same place when the text is refused for another problem too.
  CHECK(parser.parse_unnamed(nested(qv::kMaxJsonDepth, "{\"a\":1}") + "x").error().message ==
        "malformed JSON at line 1, column 513: nesting deeper than 512 levels");
  // simdjson alone took up to 1024 levels: the scanner, at 512, then named the depth of a
  // text whose problem was elsewhere, and passed this one.
  CHECK(parser.parse(nested(600, "1")).error().message ==
        "input: malformed JSON at line 1, column 513: nesting deeper than 512 levels");
  CHECK(parser.parse("[{\"a\":" + nested(600, "1") + "}]").error().message ==
        "input: malformed JSON at line 1, column 517: nesting deeper than 512 levels");
  // The limit holds for every parse, not only the first.
  CHECK(parser.parse(std::string(2000, ' ') + nested(513, "0")).error().message ==
        "input: malformed JSON at line 1, column 2513: nesting deeper than 512 levels");
  CHECK(parser.parse(nested(100, "2")).ok());
}

TEST_CASE("a surrogate escape without its other half is named where it is", "[json]") {
  qv::JsonParser parser;
  // JSON.stringify writes half a character (a string cut inside an emoji) as such an escape;
  // simdjson refuses it, and the scanner passed it: no line, no column, simdjson's words.
  const std::string lone = " is half of a surrogate pair without its other half";
  CHECK(parser.parse("{\"name\": \"ab\\ud83d\"}").error().message ==
        "input: malformed JSON at line 1, column 13: the escape \\ud83d" + lone);
  CHECK(parser.parse("{\n  \"n\\ude00\": 1}").error().message ==
        "input: malformed JSON at line 2, column 5: the escape \\ude00" + lone);
  CHECK(parser.parse("[\"\\uD83Dx\"]").error().message ==
        "input: malformed JSON at line 1, column 3: the escape \\uD83D" + lone);
  CHECK(parser.parse("[\"\\ud83d\\ud83d\"]").error().message ==
        "input: malformed JSON at line 1, column 3: the escape \\ud83d" + lone);
  CHECK(parser.parse_unnamed("\"\\ud83d\\u00e9\"").error().message ==
        "malformed JSON at line 1, column 2: the escape \\ud83d" + lone);
  // A pair is one character; other escapes, \u0000 too, are characters of their own.
  CHECK(parser.parse("[\"\\ud83d\\ude00\", \"a\\u0000b\\u00e9\"]").ok());
  CHECK(parser.parse("[\"\\ud83d\\ude00\", 1,]").error().message ==
        "input: malformed JSON at line 1, column 20: expected a value (object, array, string, "
        "number, true, false or null)");
}

TEST_CASE("a text that starts with a byte order mark is scanned past it, as simdjson reads it",
          "[json][path]") {
  const std::string bom = "\xEF\xBB\xBF";
  qv::JsonParser parser;
  CHECK(parser.parse(bom + "{\"a\": 1}").ok());
  // The scanner stopped at the mark: "column 1: expected a value", whatever the problem was.
  CHECK(parser.parse(bom + "{\"a\": 1,}").error().message ==
        "input: malformed JSON at line 1, column 9: expected a key in double quotes");
  CHECK(qv::with_position(qv::invalid_input("a: bad"), bom + "{\n  \"a\": 1\n}", "").message ==
        "a (line 2, column 3): bad");
  CHECK(qv::with_position(qv::invalid_input("a: bad"), bom + "{\"a\":\n 1}", "").message ==
        "a (line 1, column 2): bad");
}
