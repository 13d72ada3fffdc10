// What the cache's Catch2 tests share: the directory of the shared traces.
#pragma once

#include <cstdlib>
#include <string>

#include "support/environment.h"

namespace qv::cache::test {

// The shared traces: $QV_TRACES_DIR, else <repository>/../shared/traces.
inline std::string traces_dir() {
  if (const char* dir = std::getenv("QV_TRACES_DIR")) return dir;
  return qv::test::source_dir() + "/../shared/traces";
}

}  // namespace qv::cache::test
