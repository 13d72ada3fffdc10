// The host imports of qv_abi.h for the cache's Catch2 tests: a clock the tests set,
// deterministic random bytes, logs to stderr. (The vector runner uses the native shim.)
#include <cstdio>
#include <cstdlib>

#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include "cache_test_support.h"
#include "qv_abi.h"

namespace {
double clock_ms = 1764115200000.0;
uint64_t random_state = 0x9e3779b97f4a7c15ull;
}  // namespace

namespace qv::cache::test {

void set_now(double ms) {
  clock_ms = ms;
}
double now() {
  return clock_ms;
}

std::string traces_dir() {
  if (const char* dir = std::getenv("QV_TRACES_DIR")) return dir;
  return QV_DEFAULT_TRACES_DIR;
}

}  // namespace qv::cache::test

extern "C" {

double qv_host_now_ms(void) {
  return clock_ms;
}

void qv_host_random_bytes(uint8_t* buf, uint32_t len) {
  for (uint32_t i = 0; i < len; ++i) {
    random_state ^= random_state << 13;
    random_state ^= random_state >> 7;
    random_state ^= random_state << 17;
    buf[i] = static_cast<uint8_t>(random_state);
  }
}

void qv_host_log(uint32_t level, const char* msg, uint32_t len) {
  if (level >= 2) std::fprintf(stderr, "[qv] %.*s\n", static_cast<int>(len), msg);
}

}  // extern "C"
