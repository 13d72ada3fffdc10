// Timing for the native benchmarks: the iteration count is scaled until a run lasts about
// the target, then 5 runs, the median reported (as bench/lib.mjs does for the JS side).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace qv::bench {

constexpr int kRuns = 5;

struct Figures {
  double ns_per_call = 0;
  long long iterations = 0;
  std::vector<double> runs;  // ns per call of each run
};

template <typename Fn>
double seconds_for(long long iterations, Fn& fn) {
  const auto start = std::chrono::steady_clock::now();
  for (long long i = 0; i < iterations; ++i) fn();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Scales the iteration count until a run lasts about target_seconds, then measures.
template <typename Fn>
Figures measure(Fn fn, double target_seconds) {
  long long iterations = 1;
  for (;;) {
    const double elapsed = seconds_for(iterations, fn);
    if (elapsed >= target_seconds / 10) {
      iterations = std::max(1LL, static_cast<long long>(iterations * target_seconds / elapsed));
      break;
    }
    iterations *= 2;
  }
  Figures figures;
  figures.iterations = iterations;
  for (int run = 0; run < kRuns; ++run) {
    figures.runs.push_back(seconds_for(iterations, fn) * 1e9 / static_cast<double>(iterations));
  }
  std::vector<double> sorted = figures.runs;
  std::sort(sorted.begin(), sorted.end());
  figures.ns_per_call = sorted[sorted.size() / 2];
  return figures;
}

inline std::string runs_json(const std::vector<double>& runs) {
  std::string out = "[";
  for (size_t i = 0; i < runs.size(); ++i) {
    char number[32];
    std::snprintf(number, sizeof number, "%s%.1f", i ? "," : "", runs[i]);
    out += number;
  }
  return out + "]";
}

}  // namespace qv::bench
