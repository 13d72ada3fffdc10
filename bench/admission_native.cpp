// qv_bench_admission CATALOGUE_FILE [SECONDS_PER_RUN]: ns per tiers.admit decision on the
// leased path (no KV operation) through the native shim's run(). The catalogue in the file
// (bench/admission.bench.mjs passes bench/inputs/admission-catalogue.json: a tier 'Bench'
// whose limit is never reached) is configured first, the clock is frozen so the lease never
// lapses, and one admission takes the lease. Prints one JSON line; compare with the
// WebAssembly side measured in the same run. A catalogue it cannot use is named with its
// file and field, and a SECONDS_PER_RUN (default 1) that is not a finite number above 0 with
// the word given, exit 1, before anything is timed.
#include <cstdio>
#include <memory>
#include <string>

#include "arguments.h"
#include "measure.h"
#include "qv/host/instance.h"
#include "read_file.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: qv_bench_admission CATALOGUE_FILE [SECONDS_PER_RUN]\n");
    return 2;
  }
  double target_seconds = 1.0;
  if (argc > 2) {
    auto seconds = qv::bench::read_seconds("SECONDS_PER_RUN", argv[2]);
    if (!seconds.ok()) {
      std::fprintf(stderr, "qv_bench_admission: %s\n", seconds.error().message.c_str());
      return 1;
    }
    target_seconds = seconds.value();
  }
  const auto catalogue = qv::bench::read_file(argv[1]);
  if (!catalogue) {
    std::fprintf(stderr, "qv_bench_admission: %s: cannot be read\n", argv[1]);
    return 1;
  }
  qv::host::InstanceOptions options;
  options.environment.now_ms = [] { return 1764115200000.0; };
  options.kv = std::make_shared<qv::host::MemoryKv>(options.environment.now_ms);
  auto created = qv::host::Instance::create(std::move(options));
  if (!created.ok()) {
    std::fprintf(stderr, "qv_bench_admission: %s\n", created.error().message.c_str());
    return 1;
  }
  qv::host::Instance& instance = created.value();
  const std::string input = R"({"organizationId":"org_bench","tier":"Bench"})";
  for (const auto& [method, body] :
       {std::pair<std::string, std::string>{"tiers.configure", *catalogue},
        {"tiers.admit", input}}) {
    const qv::host::Answer answer = instance.run(method, body);
    if (!answer.ok()) {
      std::fprintf(stderr, "qv_bench_admission: %s: %s failed: %s%s\n", argv[1], method.c_str(),
                   answer.output.c_str(),
                   method == "tiers.admit" ? " (the benchmark admits its organisation on the "
                                             "catalogue's tier 'Bench')"
                                           : "");
      return 1;
    }
  }
  volatile size_t sink = 0;
  const qv::bench::Figures figures = qv::bench::measure(
      [&] { sink = sink + instance.run("tiers.admit", input).output.size(); }, target_seconds);
  std::printf(
      "{\"benchmark\":\"admission\",\"runtime\":\"native\",\"ns_per_call\":%.1f,"
      "\"iterations\":%lld,\"runs\":%s}\n",
      figures.ns_per_call, figures.iterations, qv::bench::runs_json(figures.runs).c_str());
  return 0;
}
