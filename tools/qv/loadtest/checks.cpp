#include "checks.h"

#include <cmath>
#include <cstdlib>

#include "expression_text.h"

namespace qv::loadtest {

bool read_comparison(std::string_view& text, Comparison& out) {
  if (consume(text, "<=")) return out = Comparison::kLessOrEqual, true;
  if (consume(text, ">=")) return out = Comparison::kGreaterOrEqual, true;
  if (consume(text, "===") || consume(text, "==")) return out = Comparison::kEqual, true;
  if (consume(text, "!==") || consume(text, "!=")) return out = Comparison::kNotEqual, true;
  if (consume(text, "<")) return out = Comparison::kLess, true;
  if (consume(text, ">")) return out = Comparison::kGreater, true;
  return false;
}

bool compare(double value, Comparison comparison, double bound) {
  switch (comparison) {
    case Comparison::kLess:
      return value < bound;
    case Comparison::kLessOrEqual:
      return value <= bound;
    case Comparison::kGreater:
      return value > bound;
    case Comparison::kGreaterOrEqual:
      return value >= bound;
    case Comparison::kEqual:
      return value == bound;
    case Comparison::kNotEqual:
      return value != bound;
  }
  return false;
}

Result<Check> Check::parse(const std::string& name, std::string_view expression) {
  const Error bad{"cannot parse '" + std::string(expression) +
                  "' (use status == 200, duration < 500, body contains 'text', bodySize > 0)"};
  Check check;
  check.name = name;
  std::string_view text = expression;
  skip_spaces(text);
  if (consume(text, "status")) {
    check.subject = Subject::kStatus;
  } else if (consume(text, "duration")) {
    check.subject = Subject::kDuration;
  } else if (consume(text, "bodySize")) {
    check.subject = Subject::kBodySize;
  } else if (consume(text, "body")) {
    skip_spaces(text);
    if (!consume(text, "contains")) return bad;
    // A word of its own: "body containsid" is no check of "id".
    if (!text.empty() && text.front() != ' ' && text.front() != '\t' && text.front() != '\'' &&
        text.front() != '"')
      return bad;
    skip_spaces(text);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    if (text.size() >= 2 && (text.front() == '\'' || text.front() == '"') &&
        text.back() == text.front()) {
      text = text.substr(1, text.size() - 2);
    }
    if (text.empty()) return bad;
    check.subject = Subject::kBodyContains;
    check.text = std::string(text);
    return check;
  } else {
    return bad;
  }
  skip_spaces(text);
  if (!read_comparison(text, check.comparison)) return bad;
  skip_spaces(text);
  if (!read_number(text, check.bound)) return bad;
  skip_spaces(text);
  if (!text.empty()) return bad;
  return check;
}

bool Check::passes(int status, double duration_ms, std::string_view body,
                   uint64_t body_size) const {
  switch (subject) {
    case Subject::kStatus:
      return compare(status, comparison, bound);
    case Subject::kDuration:
      return compare(duration_ms, comparison, bound);
    case Subject::kBodySize:
      return compare(static_cast<double>(body_size), comparison, bound);
    case Subject::kBodyContains:
      return body.find(text) != std::string_view::npos;
  }
  return false;
}

}  // namespace qv::loadtest
