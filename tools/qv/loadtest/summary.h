// The end-of-run summary, as text for the terminal (k6's layout) and as JSON for machines
// (--summary-json, k6-like fields), with the spec's recommendations at the end.
#pragma once

#include <string>
#include <vector>

#include "run_result.h"
#include "thresholds.h"

namespace qv::loadtest {

struct Recommendation {
  std::string severity;  // "high", "medium", "info"
  std::string description;
  std::string suggestion;
};

// From the spec's PerformanceMonitor (average over 500 ms: cache and optimise queries; the
// 200 ms P95 target; the 99.95% SLA's error budget) and from what a load test can see
// (timeouts, refused connections, dropped iterations, stalls shown by the correction).
std::vector<Recommendation> recommendations(const RunResult& result);

std::string summary_text(const RunResult& result, const std::vector<ThresholdOutcome>& outcomes);

// How a run ended, which `qv loadtest` tells by its exit code (k6's: 0, 99, 105): interrupted
// by Ctrl-C or SIGTERM before its end; else a threshold failed, on the final data or by
// aborting the run (abortOnFail), whatever the final data says of it; else passed. For a
// merge, `info` is the merged runs' (with each one's abort reasons).
enum class RunEnd { kPassed, kThresholdFailed, kInterrupted };
RunEnd run_end(const RunInfo& info, const std::vector<ThresholdOutcome>& outcomes);
std::string summary_json(const RunResult& result, const std::vector<ThresholdOutcome>& outcomes);

// Texts joined by a separator, as the summaries show a merge's scenarios, executors or targets
// ("calls + dashboard") and its abort reasons ("interrupted; threshold ...").
std::string joined(const std::vector<std::string>& parts, const std::string& separator);

// "p(95)=1.23ms", "rate=0.50%", "count=1234": a threshold's value the way it was written.
std::string format_threshold_value(const ThresholdOutcome& outcome);

// The addresses a run's connections went to, "127.0.0.1:8080", each followed by its origin
// when they are of several origins: "127.0.0.1:8080 (http://localhost:8080), ...".
std::string format_addresses(const std::vector<OriginAddress>& addresses);

// Whether each address is what its origin's URL says already (http://127.0.0.1:8080 went to
// 127.0.0.1:8080, http://[::1] to [::1]:80), so the summary and the report need not say it
// again; true for none.
bool urls_name_their_addresses(const std::vector<OriginAddress>& addresses);

// The text with every control character but the line break written as a visible \u escape:
// C0 (and DEL) bytes, and C1 characters (U+0080 to U+009F, two bytes in UTF-8). The text
// summary and the messages on stderr go through it: scenario, request, check and threshold
// names come from files, other machines' histogram logs among them, and one holding ESC or
// CSI could otherwise move the cursor or rewrite the terminal's title.
std::string visible_controls(const std::string& text);

// Minimal JSON text helpers, shared with the HTML report.
std::string json_string(const std::string& text);
std::string json_number(double value);

}  // namespace qv::loadtest
