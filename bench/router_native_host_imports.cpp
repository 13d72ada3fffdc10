// The host imports of qv_abi.h for qv_bench_router, until the native shim
// (host-shims/native) provides them: delete this file and link the shim instead.
//
// The clock is frozen, as the WebAssembly side of bench/router.bench.mjs freezes it, so
// both time the same decisions; random bytes come from SplitMix64 (the router draws none
// on the paths benchmarked); log lines go to stderr.
#include <cstdio>

#include "qv_abi.h"

extern "C" {

double qv_host_now_ms(void) {
  return 1764115200000.0;  // 2025-11-26T00:00:00Z
}

void qv_host_random_bytes(uint8_t* buf, uint32_t len) {
  static uint64_t state = 0x9e3779b97f4a7c15ull;
  for (uint32_t i = 0; i < len; ++i) {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    buf[i] = static_cast<uint8_t>(z ^ (z >> 31));
  }
}

void qv_host_log(uint32_t level, const char* msg, uint32_t len) {
  std::fprintf(stderr, "[qv %u] %.*s\n", level, static_cast<int>(len), msg);
}

}  // extern "C"
