// qv_bench_cache: the native side of the cache benchmark's part (c). Runs a key stream
// through the cache module's L1 exports as the wasm side does (bench/cache.bench.mjs): per
// access, qv_l1_touch when the key's value is registered, else qv_l1_put; the host keeps
// each key's hash, slot and version in arrays indexed by key number, so both sides do the
// same work outside the module. Prints one JSON line:
//   {"ns_per_op": ..., "ops": ..., "hits": ..., "hit_ratio": ..., "runs": [...]}
//
//   qv_bench_cache STREAM HASHES [RUNS]
// STREAM: little-endian int32 key numbers, one per access; HASHES: per key number, the
// little-endian uint32 pair (low, high) of the JS shim's key hash. Both are written by the
// JS side, so both sides register the same hashes. Each run starts from a fresh module
// instance (a fresh L1).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <vector>

#include "qv/instance.h"
#include "qv_abi.h"

namespace {

// The little-endian 32-bit words of a file; false when it cannot be read.
template <typename Word>
bool read_words(const char* path, std::vector<Word>& words) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return false;
  Word word;
  while (file.read(reinterpret_cast<char*>(&word), sizeof word)) words.push_back(word);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: qv_bench_cache STREAM HASHES [RUNS]\n");
    return 2;
  }
  std::vector<int32_t> stream;
  std::vector<uint32_t> hashes;  // low, high per key
  if (!read_words(argv[1], stream) || !read_words(argv[2], hashes)) {
    std::fprintf(stderr, "qv_bench_cache: cannot read %s or %s\n", argv[1], argv[2]);
    return 1;
  }
  const int runs = argc > 3 ? std::atoi(argv[3]) : 5;
  const size_t keys = hashes.size() / 2;
  constexpr uint32_t kValueBytes = 400;
  std::vector<double> times;
  uint64_t hits = 0;
  for (int run = 0; run < runs; ++run) {
    qv::Instance instance;
    qv::Instance::Scope scope(instance);
    std::vector<uint32_t> slot(keys), version(keys, 0);  // 0: not registered
    hits = 0;
    const double now = 1764115200000.0;
    const auto started = std::chrono::steady_clock::now();
    for (int32_t k : stream) {
      if (version[k] != 0 && qv_l1_touch(slot[k], version[k], now) == QV_OK) {
        ++hits;
        continue;
      }
      qv_l1_ref ref;
      if (qv_l1_put(nullptr, 0, hashes[2 * k], hashes[2 * k + 1], kValueBytes, 60000, now, &ref) ==
          QV_OK) {
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
