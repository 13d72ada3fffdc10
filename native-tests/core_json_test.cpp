// core's JSON writer (modules/core/include/qv/json.h): numbers print as the shortest of
// %.15g and %.17g that reads back to the same double, the form every answer's numbers take
// on every runtime.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>

#include "qv/json.h"

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
