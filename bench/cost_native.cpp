// qv_bench_cost ESTIMATE_INPUT ALLOCATE_INPUT: the native half of the `cost` benchmark
// (bench/cost.bench.mjs writes both inputs and runs it). Prints one JSON line:
//   estimate: ns per cost.estimate call through the ABI (JSON in, JSON out, as the JS shim
//             calls it), and per estimate of the engine alone (parsed usage in, no JSON),
//             which reads the input by cost.estimate's own readers (qv/cost/input.h): its
//             usage (scaled by its scale), its catalogue (else the embedded one) and its
//             tiers, if any;
//   allocate: ns per cost.allocate call through the ABI, and per allocate() alone.
// An input either refuses is named, with the file and the field, and the exit status is 1.
// Timing as bench/lib.mjs: iterations scaled to ~300 ms per run, 5 runs, the median.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "qv/cost/allocate.h"
#include "qv/cost/catalogue.h"
#include "qv/cost/estimate.h"
#include "qv/cost/input.h"
#include "qv/cost/usage.h"
#include "qv/instance.h"
#include "qv/json.h"
#include "qv_abi.h"
#include "read_file.h"

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

// One ABI call, as a host makes it; false when the method failed, with its answer in `error`.
bool call(const std::string& method, const std::string& input, size_t* output_size,
          std::string* error = nullptr) {
  uint32_t handle = 0;
  const qv_status status = qv_call_start(method.data(), static_cast<uint32_t>(method.size()),
                                         reinterpret_cast<const uint8_t*>(input.data()),
                                         static_cast<uint32_t>(input.size()), &handle);
  const uint8_t* out = nullptr;
  uint32_t length = 0;
  qv_call_output(handle, &out, &length);
  if (status != QV_OK && error) error->assign(reinterpret_cast<const char*>(out), length);
  *output_size = length;
  qv_call_free(handle);
  return status == QV_OK;
}

int fail(const std::string& what) {
  std::fprintf(stderr, "qv_bench_cost: %s\n", what.c_str());
  return 1;
}

// The estimate input read for the engine alone by the readers cost.estimate reads it by
// (qv/cost/input.h), in their order: its catalogue, else the embedded one; its tiers, if
// any; its scale; its usage, scaled by it. The parsers hold what the readers return.
struct EstimateInput {
  qv::JsonParser root_parser, catalogue_parser, tiers_parser, usage_parser;
  qv::cost::EmbeddedCatalogue embedded;
  std::shared_ptr<const qv::cost::Catalogue> catalogue;
  std::optional<qv::cost::TierCatalogue> tiers;
  std::optional<qv::cost::InputUsage> usage;  // as given, with its document
  qv::cost::Usage scaled;
};

qv::Status read_estimate_input(const std::string& text, EstimateInput& input) {
  auto root = input.root_parser.parse(text);
  if (!root.ok()) return root.take_error();
  auto fields = root.value().object();
  if (!fields.ok()) return fields.take_error();
  const qv::JsonObject& object = fields.value();
  auto catalogue = qv::cost::input_catalogue(object, input.catalogue_parser, input.embedded);
  if (!catalogue.ok()) return catalogue.take_error();
  input.catalogue = std::move(catalogue.value());
  auto tiers = qv::cost::input_tiers(object, input.tiers_parser);
  if (!tiers.ok()) return tiers.take_error();
  input.tiers = std::move(tiers.value());
  auto scale = qv::cost::input_scale(object);
  if (!scale.ok()) return scale.take_error();
  auto usage = qv::cost::input_usage(object, "usage", input.usage_parser);
  if (!usage.ok()) return usage.take_error();
  input.usage = std::move(usage.value());
  input.scaled = qv::cost::scale_usage(input.usage->usage, scale.value());
  return qv::Unit{};
}

// The organisations of an allocate input.
qv::Result<std::vector<qv::cost::Organisation>> read_organisations(const std::string& text,
                                                                   std::string& path) {
  qv::JsonParser parser;
  auto root = parser.parse(text);
  if (!root.ok()) return root.take_error();
  auto fields = root.value().object();
  if (!fields.ok()) return fields.take_error();
  auto organisations = fields.value().required("organizations");
  if (!organisations.ok()) return organisations.take_error();
  path = organisations.value().path();
  return qv::cost::parse_organisations(organisations.value());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) return fail("usage: qv_bench_cost ESTIMATE_INPUT ALLOCATE_INPUT");
  const char* estimate_path = argv[1];
  const char* allocate_path = argv[2];
  const auto estimate_text = qv::bench::read_file(estimate_path);
  if (!estimate_text) return fail(std::string(estimate_path) + ": cannot be read");
  const auto allocate_text = qv::bench::read_file(allocate_path);
  if (!allocate_text) return fail(std::string(allocate_path) + ": cannot be read");
  const std::string& estimate_input = *estimate_text;
  const std::string& allocate_input = *allocate_text;

  // Every input is checked, through the ABI and for the engine alone, before anything is
  // timed: a refused one is named with its file and field, never a crash.
  size_t size = 0;
  std::string refused;
  if (!call("cost.estimate", estimate_input, &size, &refused))
    return fail(std::string(estimate_path) + ": cost.estimate failed: " + refused);
  if (!call("cost.allocate", allocate_input, &size, &refused))
    return fail(std::string(allocate_path) + ": cost.allocate failed: " + refused);

  // The engine alone: inputs parsed once, then estimate() and write_estimate() per call
  // (the answer is what a caller needs), and allocate() per call.
  EstimateInput estimate;
  if (auto read = read_estimate_input(estimate_input, estimate); !read.ok())
    return fail(std::string(estimate_path) + ": " + read.error().message);
  const qv::cost::Catalogue& catalogue = *estimate.catalogue;
  const qv::cost::TierCatalogue* tiers = estimate.tiers ? &*estimate.tiers : nullptr;
  if (auto check = qv::cost::estimate(estimate.scaled, catalogue, tiers); !check.ok()) {
    return fail(std::string(estimate_path) + ": " +
                estimate.usage->source.positioned(check.take_error()).message);
  }

  std::string organisations_path;
  auto organisations = read_organisations(allocate_input, organisations_path);
  if (!organisations.ok())
    return fail(std::string(allocate_path) + ": " + organisations.error().message);
  // The same three shared costs the JS side writes: even, proportional, by calls.
  std::vector<qv::cost::SharedCost> costs = {
      {"platform", 12000, qv::cost::Split::kEven, "", "sharedCosts[0]"},
      {"database", 4800.5, qv::cost::Split::kProportional, "", "sharedCosts[1]"},
      {"media", 9100.25, qv::cost::Split::kMetric, "calls", "sharedCosts[2]"},
  };
  if (auto check = qv::cost::allocate(costs, organisations.value(), organisations_path);
      !check.ok()) {
    return fail(std::string(allocate_path) + ": " + check.error().message +
                " (the engine alone splits the three shared costs bench/cost.bench.mjs writes: "
                "even, in proportion to directCost, by metrics.calls)");
  }

  volatile size_t sink = 0;
  const Timing estimate_abi = measure([&] {
    call("cost.estimate", estimate_input, &size);
    sink = sink + size;
  });
  const Timing allocate_abi = measure([&] {
    call("cost.allocate", allocate_input, &size);
    sink = sink + size;
  });
  const Timing estimate_direct = measure([&] {
    auto result = qv::cost::estimate(estimate.scaled, catalogue, tiers);
    qv::JsonWriter out;
    qv::cost::write_estimate(out, result.value(), catalogue);
    sink = sink + out.str().size();
  });
  const Timing allocate_direct = measure([&] {
    auto allocation = qv::cost::allocate(costs, organisations.value(), organisations_path);
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
