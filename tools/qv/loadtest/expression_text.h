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

inline bool read_number(std::string_view& text, double& out) {
  const std::string copy(text);
  char* end = nullptr;
  out = std::strtod(copy.c_str(), &end);
  if (end == copy.c_str() || !std::isfinite(out)) return false;
  text.remove_prefix(static_cast<size_t>(end - copy.c_str()));
  return true;
}

}  // namespace qv::loadtest
