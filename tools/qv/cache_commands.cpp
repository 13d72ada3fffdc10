// `qv cache ...`: the cache module's native commands.
//
//   qv cache replay --capacity N --format lirs|cache2k|scarab [--policy P[,P...]] FILE|-
//
// Replays a trace through eviction policies (the very W-TinyLFU engine the L1 store uses)
// and prints one JSON line per policy: {policy, capacity, accesses, hits, hit_ratio,
// trace, format, seconds}. Exit code 0; 2 for bad arguments; 1 when the trace cannot be read
// or cannot be in its format (empty, text as a binary format, binary as lirs: trace.h), or a
// policy breaks an invariant (the message names which).
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "cache_commands.h"
#include "qv/cache/policy.h"
#include "qv/cache/trace.h"
#include "qv/json.h"

namespace {

struct ReplayOptions {
  uint64_t capacity = 0;
  std::string format;
  std::string policies = "adaptive";
  std::string file;
};

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    const size_t comma = text.find(',', start);
    parts.push_back(text.substr(start, comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return parts;
}

int run_replay(const ReplayOptions& options) {
  auto format = qv::cache::parse_trace_format(options.format);
  if (!format.ok()) {
    std::fprintf(stderr, "qv cache replay: %s\n", format.error().message.c_str());
    return 2;
  }
  // Every policy name is checked before the trace is read.
  std::vector<std::string> names = split_list(options.policies);
  for (const auto& name : names) {
    auto policy = qv::cache::make_policy(name, options.capacity);
    if (!policy.ok()) {
      std::fprintf(stderr, "qv cache replay: %s\n", policy.error().message.c_str());
      return 2;
    }
  }
  auto trace = qv::cache::read_trace(options.file, format.value());
  if (!trace.ok()) {
    std::fprintf(stderr, "qv cache replay: %s\n", trace.error().message.c_str());
    return 1;
  }
  for (const auto& name : names) {
    auto policy = qv::cache::make_policy(name, options.capacity);
    const auto started = std::chrono::steady_clock::now();
    auto stats = qv::cache::replay(*policy.value(), options.capacity, trace.value());
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (!stats.ok()) {
      std::fprintf(stderr, "qv cache replay: invariant broken: %s\n",
                   stats.error().message.c_str());
      return 1;
    }
    const auto& s = stats.value();
    qv::JsonWriter out;
    out.begin_object()
        .key("policy")
        .value(s.policy)
        .key("capacity")
        .value(static_cast<int64_t>(s.capacity))
        .key("accesses")
        .value(static_cast<int64_t>(s.accesses))
        .key("hits")
        .value(static_cast<int64_t>(s.hits))
        .key("hit_ratio")
        .value(s.hit_ratio())
        .key("trace")
        .value(options.file)
        .key("format")
        .value(options.format)
        .key("seconds")
        .value(seconds)
        .end_object();
    std::printf("%s\n", out.str().c_str());
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

namespace qv::cli {

void add_cache_commands(CLI::App& app, int& exit_code) {
  CLI::App* cache = app.add_subcommand("cache", "The multi-layer cache: trace replay");
  cache->require_subcommand(1);

  auto options = std::make_shared<ReplayOptions>();
  CLI::App* replay = cache->add_subcommand(
      "replay",
      "Replay a cache trace through eviction policies; one JSON line per policy with "
      "policy, capacity, accesses, hits and hit_ratio (0-1)");
  // The policies allocate for their capacity up front: past the L1's own bound
  // (l1.maxEntries) a replay would take gigabytes, or fail to allocate and abort.
  replay
      ->add_option("--capacity", options->capacity,
                   "Cache capacity in entries, 1 to 1000000 (the L1's own bound)")
      ->required()
      ->check(CLI::Range(uint64_t{1}, uint64_t{1000000}));
  replay->add_option("--format", options->format, "Trace format: lirs, cache2k or scarab")
      ->required();
  replay->add_option("--policy", options->policies,
                     "adaptive (default), lru, tinylfu, opt or caffeine-climber (adaptive with "
                     "Caffeine's hill climber); several comma-separated");
  replay->add_option("file", options->file, "Trace file (gzip, xz or plain), - for stdin")
      ->required();
  replay->callback([options, &exit_code] { exit_code = run_replay(*options); });
}

}  // namespace qv::cli
