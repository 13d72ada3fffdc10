// Reading the small expression languages of checks and thresholds ("status == 200",
// "p(95)<200"): spaces, literal words and numbers, each consumed from the front of text.
#pragma once

#include <cmath>
#include <cstdlib>
#include <string>
#include <string_view>

namespace qv::loadtest {

inline void skip_spaces(std::string_view& text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
}

inline bool consume(std::string_view& text, std::string_view word) {
  if (text.substr(0, word.size()) != word) return false;
  text.remove_prefix(word.size());
  return true;
}

// The length of the decimal number at the front of text — digits with at most one point,
// at least one digit; with `signed_exponent` also a leading '-' and an exponent (e5, E-3)
// — or 0. What strtod takes besides (hex, inf, nan, a '+') is not a number here.
inline size_t decimal_length(std::string_view text, bool signed_exponent) {
  size_t at = signed_exponent && !text.empty() && text.front() == '-' ? 1 : 0;
  size_t digits = 0;
  bool point = false;
  for (; at < text.size(); ++at) {
    if (text[at] >= '0' && text[at] <= '9') {
      ++digits;
    } else if (text[at] == '.' && !point) {
      point = true;
    } else {
      break;
    }
  }
  if (digits == 0) return 0;
  if (signed_exponent && at < text.size() && (text[at] == 'e' || text[at] == 'E')) {
    size_t end = at + 1;
    if (end < text.size() && (text[end] == '-' || text[end] == '+')) ++end;
    const size_t first = end;
    while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
    if (end > first) at = end;
  }
  return at;
}

inline bool read_number(std::string_view& text, double& out) {
  const size_t length = decimal_length(text, /*signed_exponent=*/true);
  if (length == 0) return false;
  const std::string copy(text.substr(0, length));
  out = std::strtod(copy.c_str(), nullptr);
  if (!std::isfinite(out)) return false;
  text.remove_prefix(length);
  return true;
}

}  // namespace qv::loadtest
