// Checks: named assertions on each response, counted as passes and fails (k6's `check`).
// A check is a small expression:
//   status == 200        status OP NUMBER          (OP: == != < <= > >=, and JavaScript's
//                                                   === and !==, the same as == and !=)
//   duration < 500       duration OP MILLISECONDS  (from the actual send time)
//   body contains 'id'   body contains TEXT        (TEXT quoted with ' or ", or bare: the
//                                                   rest of the expression, spaces at its
//                                                   ends trimmed; no escapes)
//   bodySize > 0         bodySize OP BYTES
#pragma once

#include <string>
#include <string_view>

#include "result.h"

namespace qv::loadtest {

enum class Comparison { kLess, kLessOrEqual, kGreater, kGreaterOrEqual, kEqual, kNotEqual };

// Reads an operator at the start of text ("<=", "==", "===", "!=", ...); advances text.
bool read_comparison(std::string_view& text, Comparison& out);
bool compare(double value, Comparison comparison, double bound);

struct Check {
  enum class Subject { kStatus, kDuration, kBodyContains, kBodySize };
  std::string name;
  Subject subject = Subject::kStatus;
  Comparison comparison = Comparison::kEqual;
  double bound = 0;
  std::string text;  // kBodyContains

  static Result<Check> parse(const std::string& name, std::string_view expression);
  bool needs_body() const { return subject == Subject::kBodyContains; }
  bool passes(int status, double duration_ms, std::string_view body, uint64_t body_size) const;
};

}  // namespace qv::loadtest
