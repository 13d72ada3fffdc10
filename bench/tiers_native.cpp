// qv_bench_tiers [INPUT_FILE] [SECONDS_PER_RUN]: ns per tiers.evaluate call through the
// native shim's run() (JSON in, ABI calls, JSON out), and ns per direct C++ call of
// qv::tiers::evaluate on the already parsed input. The default input is 30 days of
// history against the default catalogue; bench/run.mjs passes bench/inputs/
// tiers-evaluate.json so the WebAssembly side measures the same thing.
//
// Each figure: the iteration count is scaled to about SECONDS_PER_RUN (default 1) per
// run, 5 runs, the median reported. Prints one JSON line. Absolute times on a shared
// machine mean little: compare with the peers measured in the same run. An input it cannot
// use is named with its file and field, and a SECONDS_PER_RUN that is not a finite number
// above 0 with the word given, exit 1, before anything is timed.
#include <cstdio>
#include <string>
#include <vector>

#include "arguments.h"
#include "measure.h"
#include "qv/host/instance.h"
#include "qv/json.h"
#include "qv/tiers/tiers.h"
#include "read_file.h"

namespace {

using qv::bench::Figures;
using qv::bench::measure;
using qv::bench::runs_json;

// 30 days of an organisation on Startup whose load climbs and falls, ending high.
std::string default_input() {
  std::string history;
  for (int day = 1; day <= 30; ++day) {
    char entry[160];
    std::snprintf(entry, sizeof entry,
                  "%s{\"date\":\"2026-10-%02d\",\"concurrentCalls\":%d,"
                  "\"apiRequestsPerSecond\":%d,\"activeUsers\":%d}",
                  day == 1 ? "" : ",", day, 30 + (day * 7) % 18, 60 + (day * 13) % 30,
                  40 + (day * 5) % 25);
    history += entry;
  }
  return R"({"organizationId":"org_bench","currentTier":"Startup","history":[)" + history + "]}";
}

}  // namespace

int main(int argc, char** argv) {
  std::string input = default_input();
  const std::string input_name = argc > 1 ? argv[1] : "the default input";
  if (argc > 1) {
    auto read = qv::bench::read_file(argv[1]);
    if (!read) {
      std::fprintf(stderr, "qv_bench_tiers: %s: cannot be read\n", argv[1]);
      return 1;
    }
    input = std::move(*read);
  }
  double target_seconds = 1.0;
  if (argc > 2) {
    auto seconds = qv::bench::read_seconds("SECONDS_PER_RUN", argv[2]);
    if (!seconds.ok()) {
      std::fprintf(stderr, "qv_bench_tiers: %s\n", seconds.error().message.c_str());
      return 1;
    }
    target_seconds = seconds.value();
  }

  auto created = qv::host::Instance::create();
  if (!created.ok()) {
    std::fprintf(stderr, "qv_bench_tiers: %s\n", created.error().message.c_str());
    return 1;
  }
  qv::host::Instance& instance = created.value();
  const qv::host::Answer check = instance.run("tiers.evaluate", input);
  if (!check.ok()) {
    std::fprintf(stderr, "qv_bench_tiers: %s: tiers.evaluate failed: %s\n", input_name.c_str(),
                 check.output.c_str());
    return 1;
  }

  // The same input, parsed once, for the direct call.
  const qv::tiers::Catalogue& catalogue = qv::tiers::default_catalogue();
  qv::JsonParser parser;
  auto root = parser.parse(input);
  auto parsed = root.ok() ? qv::tiers::parse_evaluate_input(root.value(), catalogue)
                          : qv::Result<qv::tiers::EvaluateInput>(root.take_error());
  if (!parsed.ok()) {
    std::fprintf(stderr, "qv_bench_tiers: %s: %s\n", input_name.c_str(),
                 parsed.error().message.c_str());
    return 1;
  }
  const qv::tiers::EvaluateInput& evaluate_input = parsed.value();

  volatile size_t sink = 0;  // keeps the measured work from being optimised away
  const Figures through_shim = measure(
      [&] { sink = sink + instance.run("tiers.evaluate", input).output.size(); }, target_seconds);
  const Figures direct =
      measure([&] { sink = sink + qv::tiers::evaluate(evaluate_input, catalogue).detail.size(); },
              target_seconds);

  std::printf(
      "{\"benchmark\":\"tiers\",\"runtime\":\"native\",\"ns_per_call\":%.1f,\"iterations\":%lld,"
      "\"runs\":%s,\"ns_per_evaluate_direct\":%.1f,\"direct_iterations\":%lld,"
      "\"direct_runs\":%s,\"input_bytes\":%zu}\n",
      through_shim.ns_per_call, through_shim.iterations, runs_json(through_shim.runs).c_str(),
      direct.ns_per_call, direct.iterations, runs_json(direct.runs).c_str(), input.size());
  return 0;
}
