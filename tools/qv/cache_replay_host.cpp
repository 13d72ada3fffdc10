// The host imports of qv_abi.h for qv_cache_replay alone. Linking modules/core pulls in the
// ABI layer, which declares these imports; trace replay calls no module method, so they
// only need to exist and be honest: wall clock, OS randomness, stderr. The full qv CLI
// links the native shim (host-shims/native) instead.
#include <chrono>
#include <cstdio>
#include <random>

#include "qv_abi.h"

extern "C" {

double qv_host_now_ms(void) {
  using namespace std::chrono;
  return duration<double, std::milli>(system_clock::now().time_since_epoch()).count();
}

void qv_host_random_bytes(uint8_t* buf, uint32_t len) {
  std::random_device device;
  for (uint32_t i = 0; i < len; ++i) buf[i] = static_cast<uint8_t>(device());
}

void qv_host_log(uint32_t level, const char* msg, uint32_t len) {
  static const char* kLevels[] = {"debug", "info", "warn", "error"};
  std::fprintf(stderr, "[qv %s] %.*s\n", kLevels[level < 4 ? level : 3], static_cast<int>(len),
               msg);
}

}  // extern "C"
