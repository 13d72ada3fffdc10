// qv_bench_cache: the native side of the cache benchmark's part (c). Runs a key stream
// through the cache module's L1 exports as the wasm side does (bench/cache.bench.mjs): per
// access, qv_l1_touch when the key's value is registered, else qv_l1_put; the host keeps
// each key's hash, slot and version in arrays indexed by key number, so both sides do the
// same work outside the module. Prints one JSON line:
//   {"ns_per_op": ..., "ops": ..., "hits": ..., "hit_ratio": ..., "runs": [...]}
//
//   qv_bench_cache STREAM KEYS [RUNS]
// STREAM: little-endian int32 key numbers, one per access (written by the JS side); KEYS:
// how many keys, built as bench/cache-streams.mjs edgeKeys() builds them. Each run starts
// from a fresh module instance (a fresh L1).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "qv/instance.h"
#include "qv_abi.h"

namespace {

// The JS shim's key hash (host-shims/js/l1.mjs), over the key's bytes (ASCII: the same
// code units).
void hash_key(const std::string& key, uint32_t& lo, uint32_t& hi) {
  uint32_t a = 0x811c9dc5u ^ static_cast<uint32_t>(key.size());
  uint32_t b = 0x9747b28cu;
  for (unsigned char c : key) {
    a = (a ^ c) * 0x01000193u;
    b = (b ^ c) * 0x5bd1e995u;
    b ^= b >> 13;
  }
  auto fmix = [](uint32_t h) {
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
  };
  lo = fmix(a);
  hi = fmix(b);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: qv_bench_cache STREAM KEYS [RUNS]\n");
    return 2;
  }
  std::ifstream file(argv[1], std::ios::binary);
  if (!file) {
    std::fprintf(stderr, "qv_bench_cache: cannot read %s\n", argv[1]);
    return 1;
  }
  std::vector<int32_t> stream;
  int32_t index;
  while (file.read(reinterpret_cast<char*>(&index), sizeof index)) stream.push_back(index);
  const int keys_count = std::atoi(argv[2]);
  const int runs = argc > 3 ? std::atoi(argv[3]) : 5;
  std::vector<std::string> keys;
  for (int i = 0; i < keys_count; ++i) {
    keys.push_back("org_" + std::to_string(static_cast<int64_t>(i) * 7919 % 97) +
                   ":GET /api/leads?page=" + std::to_string(i) + "&limit=50");
  }
  std::vector<uint32_t> lo(keys.size()), hi(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) hash_key(keys[i], lo[i], hi[i]);
  constexpr uint32_t kValueBytes = 400;
  std::vector<double> times;
  uint64_t hits = 0;
  for (int run = 0; run < runs; ++run) {
    qv::Instance instance;
    qv::Instance::Scope scope(instance);
    std::vector<uint32_t> slot(keys.size()), version(keys.size(), 0);  // 0: not registered
    hits = 0;
    const double now = 1764115200000.0;
    const auto started = std::chrono::steady_clock::now();
    for (int32_t k : stream) {
      if (version[k] != 0 && qv_l1_touch(slot[k], version[k], now) == QV_OK) {
        ++hits;
        continue;
      }
      qv_l1_ref ref;
      if (qv_l1_put(nullptr, 0, lo[k], hi[k], kValueBytes, 60000, now, &ref) == QV_OK) {
        slot[k] = ref.slot;
        version[k] = ref.version;
      } else {
        version[k] = 0;
      }
    }
    times.push_back(
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - started)
            .count() /
        static_cast<double>(stream.size()));
  }
  std::vector<double> sorted = times;
  std::sort(sorted.begin(), sorted.end());
  std::printf(
      "{\"ns_per_op\":%.1f,\"ops\":%zu,\"hits\":%llu,\"hit_ratio\":%.6f,\"runs\":[",
      sorted[sorted.size() / 2], stream.size(), static_cast<unsigned long long>(hits),
      stream.empty() ? 0.0 : static_cast<double>(hits) / static_cast<double>(stream.size()));
  for (size_t i = 0; i < times.size(); ++i) std::printf("%s%.1f", i ? "," : "", times[i]);
  std::printf("]}\n");
  return 0;
}
