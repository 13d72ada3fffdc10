// Thresholds in k6's syntax: pass/fail criteria on the run's metrics, e.g.
//   "http_req_duration": ["p(95)<200", "avg<100"]            latency in milliseconds
//   "http_req_failed": ["rate<0.01"]                          share of failed requests
//   "http_req_duration{name:calls.start}": ["p(99)<=300"]     one request name (its tag)
//   "checks": [{"threshold": "rate>0.99", "abortOnFail": true, "delayAbortEval": "10s"}]
// An expression is AGGREGATION OPERATOR NUMBER: avg, min, max, med, p(N) on trends; rate on
// rates; count and rate (per second) on counters; operators < <= > >= == !=.
#pragma once

#include <string>
#include <vector>

#include "checks.h"
#include "result.h"
#include "run_result.h"

namespace qv::loadtest {

enum class MetricKind { kTrend, kRate, kCounter };

struct MetricDescription {
  const char* name;
  MetricKind kind;
  const char* what;
};

// Every metric a threshold can name, with what it measures.
const std::vector<MetricDescription>& known_metrics();

struct Threshold {
  enum class Aggregation { kAvg, kMin, kMax, kMed, kPercentile, kRate, kCount };
  ThresholdSource source;
  std::string metric;        // without the tag
  std::string request_name;  // from {name:...}; empty for all requests
  MetricKind kind = MetricKind::kTrend;
  Aggregation aggregation = Aggregation::kAvg;
  double percentile = 0;
  Comparison comparison = Comparison::kLess;
  double bound = 0;
};

// Parses one threshold; request_names are those the run has (for {name:...} tags). The
// message names the problem only; the caller prefixes the field ("thresholds.x[0]: ").
Result<Threshold> parse_threshold(const ThresholdSource& source,
                                  const std::vector<std::string>& request_names);

// Parses a command-line threshold "METRIC:EXPRESSION", e.g. "http_req_duration:p(95)<200".
Result<ThresholdSource> parse_threshold_option(const std::string& text);

struct ThresholdOutcome {
  Threshold threshold;
  // false: the metric has no data. The threshold then holds (as k6), except a request
  // duration's when requests were made: each of them failed without an answer.
  bool has_value = false;
  double value = 0;
  bool ok = true;
};

// `final`: the run is over. During it (abortOnFail's checks) a request duration with no
// data holds, since the requests in flight may yet be answered.
ThresholdOutcome evaluate_threshold(const Threshold& threshold, const RunResult& result,
                                    bool final = true);
std::vector<ThresholdOutcome> evaluate_thresholds(const std::vector<Threshold>& thresholds,
                                                  const RunResult& result);

// The abortOnFail check, once a second during a run on everything measured so far (`so_far`,
// its duration the time measured): the first abortOnFail threshold past its delayAbortEval
// that fails aborts the run. Marks so_far aborted, naming that threshold ("threshold
// http_req_failed 'rate<0.01' failed (abortOnFail)"), and returns true: the run is to stop.
bool abort_on_fail(const std::vector<Threshold>& thresholds, RunResult& so_far);

}  // namespace qv::loadtest
