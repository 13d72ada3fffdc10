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
// instance (a fresh L1). RUNS (default 5) is a positive whole number. An input it cannot use
// (a file that is not whole words, no access, a key number HASHES has no hash for) is named
// with its file and the problem, exit 1, before anything is timed.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "qv/instance.h"
#include "qv_abi.h"
#include "read_file.h"

namespace {

int fail(const std::string& what) {
  std::fprintf(stderr, "qv_bench_cache: %s\n", what.c_str());
  return 1;
}

// The little-endian 32-bit words of a file, read in groups of `group` words (one access, or
// one key's hash pair); "" when they are, else what is wrong, naming the file.
template <typename Word>
std::string read_words(const char* path, size_t group, const char* what, std::vector<Word>& words) {
  const auto read = qv::bench::read_file(path);
  if (!read) return std::string(path) + ": cannot be read";
  const std::string& bytes = *read;
  const size_t unit = group * sizeof(Word);
  if (bytes.size() % unit != 0) {
    return std::string(path) + ": " + std::to_string(bytes.size()) +
           " bytes, not a whole number of " + what + " (" + std::to_string(unit) + " bytes each)";
  }
  words.resize(bytes.size() / sizeof(Word));
  std::copy(bytes.begin(), bytes.end(), reinterpret_cast<char*>(words.data()));
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: qv_bench_cache STREAM HASHES [RUNS]\n");
    return 2;
  }
  int runs = 5;
  if (argc > 3) {
    char* end = nullptr;
    errno = 0;
    const long given = std::strtol(argv[3], &end, 10);
    if (end == argv[3] || *end != '\0' || errno != 0 || given < 1 || given > INT_MAX) {
      return fail(std::string("RUNS: must be a positive whole number, got '") + argv[3] + "'");
    }
    runs = static_cast<int>(given);
  }
  std::vector<int32_t> stream;
  std::vector<uint32_t> hashes;  // low, high per key
  if (std::string problem = read_words(argv[1], 1, "int32 key numbers", stream); !problem.empty())
    return fail(problem);
  if (std::string problem = read_words(argv[2], 2, "uint32 hash pairs", hashes); !problem.empty())
    return fail(problem);
  if (stream.empty()) return fail(std::string(argv[1]) + ": no access in it");
  const size_t keys = hashes.size() / 2;
  // The host's arrays are indexed by key number: one HASHES has no hash for would be read out
  // of bounds.
  for (size_t i = 0; i < stream.size(); ++i) {
    if (stream[i] >= 0 && static_cast<size_t>(stream[i]) < keys) continue;
    return fail(std::string(argv[1]) + ": access " + std::to_string(i) + ": key number " +
                std::to_string(stream[i]) + " is not in " + argv[2] +
                (keys == 0 ? " (it has no key)"
                           : " (its " + std::to_string(keys) + " keys are 0 to " +
                                 std::to_string(keys - 1) + ")"));
  }
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
