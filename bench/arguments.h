// The native benchmarks' arguments, read whole: a word that is not all a number is refused,
// where atof took "0.001s" as 0.001 and "inf" as a run that never ends.
#pragma once

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string>
#include <string_view>

#include "qv/result.h"

namespace qv::bench {

// The argument `name` (as the usage line calls it) given as `word`: a number of seconds,
// finite and above 0; else "NAME: must be a finite number of seconds above 0, got 'WORD'".
inline Result<double> read_seconds(std::string_view name, const char* word) {
  char* end = nullptr;
  errno = 0;
  const double seconds = std::strtod(word, &end);
  if (end == word || *end != '\0' || errno != 0 || !std::isfinite(seconds) || !(seconds > 0)) {
    return invalid_input(std::string(name) + ": must be a finite number of seconds above 0, got '" +
                         word + "'");
  }
  return seconds;
}

}  // namespace qv::bench
