// A load test scenario: who sends what, how fast, for how long, and what counts as passing.
// Read from JSON (docs/loadtest.md has the format), built from the command line (quick mode,
// like wrk), or taken from the built-in scenarios. Every error names the field and the
// problem: "requests[1].method: expected a string", "executor: unknown executor 'x' (...)".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "checks.h"
#include "result.h"
#include "run_result.h"
#include "template.h"
#include "thresholds.h"
#include "tls.h"
#include "units.h"
#include "url.h"

namespace qv::loadtest {

// k6's executors. VU executors are closed models (a VU sends, waits, sends again); arrival
// executors are open models (iterations start on a schedule whether or not the server keeps
// up), and there latency counts from the scheduled time: coordinated-omission correction.
enum class ExecutorKind { kConstantVus, kRampingVus, kConstantArrivalRate, kRampingArrivalRate };
const char* executor_name(ExecutorKind kind);

struct Stage {
  Micros duration = 0;
  double target = 0;  // VUs, or iterations per second
};

struct Executor {
  ExecutorKind kind = ExecutorKind::kConstantVus;
  int64_t vus = 0;                             // constant-vus
  Micros duration = 0;                         // constant-vus, constant-arrival-rate
  int64_t start_vus = 1;                       // ramping-vus (k6's default: 1)
  double rate = 0;                             // constant-arrival-rate: iterations per second
  double start_rate = 0;                       // ramping-arrival-rate: iterations per second
  std::vector<Stage> stages;                   // ramping-*
  int64_t pre_allocated_vus = 0, max_vus = 0;  // arrival-rate
  // Arrival-rate only: an arrival that finds no VU free waits for one (wrk2: it is sent late
  // and its latency counts from its scheduled time), or with drop it is skipped (k6). Either
  // way arrivals that never ran are counted in dropped_iterations.
  bool drop_when_no_vu_free = false;
  Micros graceful_stop = 30 * kMicrosPerSecond;  // how long in-flight requests may finish
  // Ramping-vus only (k6's gracefulRampDown): how long a VU a stage ramps down may take to
  // finish the iteration it is in; past that its request is cut off.
  Micros graceful_ramp_down = 30 * kMicrosPerSecond;

  bool arrival_rate() const {
    return kind == ExecutorKind::kConstantArrivalRate || kind == ExecutorKind::kRampingArrivalRate;
  }
  Micros total_duration() const;
  // The most VUs the executor can have at once.
  int64_t peak_vus() const;
  // The VUs a VU executor wants `elapsed` µs into the run (ramping-vus: linear within each
  // stage). As k6, a VU joins when the line reaches its number and leaves when the line
  // reaches the number below it: ramping up is the line rounded down, ramping down the line
  // rounded up, so a stage down to 0 keeps its last VU to the stage's end.
  int64_t vus_wanted(Micros elapsed) const;
};

struct RequestSpec {
  std::string name;
  std::string method = "GET";
  Origin origin;
  Template target;  // path and query
  std::vector<std::pair<std::string, Template>> headers;
  std::optional<Template> body;
  bool json_body = false;  // the body was written as inline JSON: its values are JSON-escaped
  double weight = 1;
  std::vector<Check> checks;
  bool keeps_body() const;
};

struct Scenario {
  std::string name = "default";
  std::string description;
  std::string base_url;
  Executor executor;
  Micros think_time_min = 0, think_time_max = 0;  // after each iteration, uniform
  Micros connect_timeout = 10 * kMicrosPerSecond;
  Micros request_timeout = 60 * kMicrosPerSecond;
  int threads = 0;    // 0: one per core, at most one per VU
  uint64_t seed = 0;  // 0: from the clock
  TlsSettings tls;    // for https:// origins
  std::vector<Variable> variables;
  std::vector<RequestSpec> requests;
  std::vector<Threshold> thresholds;

  std::vector<std::string> request_names() const;
};

// What the command line may change in a scenario file.
struct ScenarioOverrides {
  std::string intensity;           // picks one of the file's "intensities"
  std::optional<Micros> duration;  // constant executors: the duration; ramping: stages scaled
  std::string base_url;
  std::optional<int> threads;
  std::vector<ThresholdSource> extra_thresholds;
  TlsSettings tls;  // --insecure and --tls-resume turn theirs on; --cacert replaces the file's
  std::vector<std::string> headers;  // -H 'Name: value': on every request, replacing the file's
};

Result<Scenario> parse_scenario(std::string_view json, const ScenarioOverrides& overrides);

// Quick mode, like wrk: one URL, C connections (VUs) over T threads for a duration; with a
// rate, a constant arrival rate spread over the connections (as wrk2).
struct QuickOptions {
  std::string url;
  int64_t connections = 10;
  std::optional<int> threads;  // default 2, at most one per connection
  Micros duration = 10 * kMicrosPerSecond;
  std::optional<double> rate;  // requests per second, all threads together
  std::string method = "GET";
  std::vector<std::string> headers;  // "Name: value"
  std::string body;
  Micros timeout = 10 * kMicrosPerSecond;
  std::vector<ThresholdSource> thresholds;
  TlsSettings tls;
};
Result<Scenario> quick_scenario(const QuickOptions& options);

}  // namespace qv::loadtest
