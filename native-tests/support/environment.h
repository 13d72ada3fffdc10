// The paths CTest hands every test in its environment (native-tests/CMakeLists.txt): the
// repository and the qv binary. They are read at run time, not compiled in, so a build in
// any checkout compiles the same objects and a compiler cache serves them.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

namespace qv::test {

// The value of the environment variable `name`; a test run without it (not through ctest)
// stops at once and says so.
inline std::string required_env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') {
    std::fprintf(stderr, "%s is not set: run the tests through ctest (ctest --preset native)\n",
                 name);
    std::exit(2);
  }
  return value;
}

// The repository's root directory.
inline std::string source_dir() {
  return required_env("QV_SOURCE_DIR");
}

}  // namespace qv::test
