// qv_bench_cost ESTIMATE_INPUT ALLOCATE_INPUT: the native half of the `cost` benchmark
// (bench/cost.bench.mjs writes both inputs and runs it). Prints one JSON line:
//   estimate: ns per cost.estimate call through the ABI (JSON in, JSON out, as the JS shim
//             calls it), and per estimate of the engine alone (parsed usage in, no JSON);
//   allocate: ns per cost.allocate call through the ABI, and per allocate() alone.
// Timing as bench/lib.mjs: iterations scaled to ~300 ms per run, 5 runs, the median.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "qv/cost/allocate.h"
#include "qv/cost/catalogue.h"
#include "qv/cost/estimate.h"
#include "qv/cost/usage.h"
#include "qv/instance.h"
#include "qv/json.h"
#include "qv_abi.h"

namespace {

constexpr int kRuns = 5;
constexpr double kTargetMs = 300;

struct Timing {
  double ns_per_call = 0;
  long iterations = 0;
};

template <typename Fn>
Timing measure(Fn fn) {
  using Clock = std::chrono::steady_clock;
  auto run = [&](long iterations) {
    const auto start = Clock::now();
    for (long i = 0; i < iterations; ++i) fn();
    return std::chrono::duration<double, std::nano>(Clock::now() - start).count();
  };
  long iterations = 1;
  for (;;) {
    const double ns = run(iterations);
    if (ns >= kTargetMs * 1e6 / 4) {
      iterations = std::max(1L, static_cast<long>(iterations * kTargetMs * 1e6 / ns));
      break;
    }
    iterations *= 4;
  }
  std::vector<double> runs;
  for (int r = 0; r < kRuns; ++r) runs.push_back(run(iterations) / static_cast<double>(iterations));
  std::sort(runs.begin(), runs.end());
  return {runs[kRuns / 2], iterations};
}

std::string read_file(const char* path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// One ABI call, as a host makes it; false when the method failed.
bool call(const std::string& method, const std::string& input, size_t* output_size) {
  uint32_t handle = 0;
  const qv_status status = qv_call_start(method.data(), static_cast<uint32_t>(method.size()),
                                         reinterpret_cast<const uint8_t*>(input.data()),
                                         static_cast<uint32_t>(input.size()), &handle);
  const uint8_t* out = nullptr;
  uint32_t length = 0;
  qv_call_output(handle, &out, &length);
  if (status != QV_OK)
    std::fprintf(stderr, "%s: %.*s\n", method.c_str(), static_cast<int>(length), out);
  *output_size = length;
  qv_call_free(handle);
  return status == QV_OK;
}

int fail(const char* what) {
  std::fprintf(stderr, "qv_bench_cost: %s\n", what);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) return fail("usage: qv_bench_cost ESTIMATE_INPUT ALLOCATE_INPUT");
  const std::string estimate_input = read_file(argv[1]);
  const std::string allocate_input = read_file(argv[2]);
  size_t size = 0;
  if (!call("cost.estimate", estimate_input, &size)) return fail("cost.estimate failed");
  if (!call("cost.allocate", allocate_input, &size)) return fail("cost.allocate failed");

  volatile size_t sink = 0;
  const Timing estimate_abi = measure([&] {
    call("cost.estimate", estimate_input, &size);
    sink = sink + size;
  });
  const Timing allocate_abi = measure([&] {
    call("cost.allocate", allocate_input, &size);
    sink = sink + size;
  });

  // The engine alone: inputs parsed once, then estimate() and write_estimate() per call
  // (the answer is what a caller needs), and allocate() per call.
  qv::JsonParser parser, catalogue_parser, tiers_parser;
  auto catalogue_root = catalogue_parser.parse(qv::cost::embedded_catalogue_json());
  auto catalogue = qv::cost::parse_catalogue(catalogue_root.value());
  auto root = parser.parse(estimate_input);
  if (!root.ok() || !catalogue.ok()) return fail("inputs do not parse");
  auto fields = root.value().object();
  auto usage_json = fields.value().find("usage");
  auto tiers_json = fields.value().find("tiers");
  if (!usage_json || !tiers_json) return fail("the estimate input needs usage and tiers objects");
  auto usage = qv::cost::parse_usage(*usage_json);
  auto tiers = qv::cost::parse_tier_catalogue(*tiers_json);
  if (!usage.ok() || !tiers.ok()) return fail("usage or tiers do not parse");
  const Timing estimate_direct = measure([&] {
    auto result = qv::cost::estimate(usage.value(), catalogue.value(), &tiers.value());
    qv::JsonWriter out;
    qv::cost::write_estimate(out, result.value(), catalogue.value());
    sink = sink + out.str().size();
  });

  qv::JsonParser allocation_parser;
  auto allocation_root = allocation_parser.parse(allocate_input);
  auto allocation_fields = allocation_root.value().object();
  auto organisations_json = allocation_fields.value().find("organizations");
  if (!organisations_json) return fail("the allocate input needs organizations");
  auto organisations = qv::cost::parse_organisations(*organisations_json);
  if (!organisations.ok()) return fail("organizations do not parse");
  // The same three shared costs the JS side writes: even, proportional, by calls.
  std::vector<qv::cost::SharedCost> costs = {
      {"platform", 12000, qv::cost::Split::kEven, "", "sharedCosts[0]"},
      {"database", 4800.5, qv::cost::Split::kProportional, "", "sharedCosts[1]"},
      {"media", 9100.25, qv::cost::Split::kMetric, "calls", "sharedCosts[2]"},
  };
  const Timing allocate_direct = measure([&] {
    auto allocation = qv::cost::allocate(costs, organisations.value(), "organizations");
    sink = sink + allocation.value().shares.size();
  });

  std::printf(
      "{\"estimate\":{\"ns_per_call\":%.1f,\"iterations\":%ld,\"ns_per_estimate_direct\":%.1f},"
      "\"allocate\":{\"organizations\":%zu,\"ns_per_call\":%.1f,\"iterations\":%ld,"
      "\"ns_per_allocate_direct\":%.1f}}\n",
      estimate_abi.ns_per_call, estimate_abi.iterations, estimate_direct.ns_per_call,
      organisations.value().size(), allocate_abi.ns_per_call, allocate_abi.iterations,
      allocate_direct.ns_per_call);
  return 0;
}
