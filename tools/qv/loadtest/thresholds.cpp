#include "thresholds.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "expression_text.h"

namespace qv::loadtest {

const std::vector<MetricDescription>& known_metrics() {
  static const std::vector<MetricDescription> metrics = {
      {"http_req_duration", MetricKind::kTrend,
       "response time in ms; from the intended send time in arrival-rate executors"},
      {"http_req_duration_uncorrected", MetricKind::kTrend,
       "response time in ms from the actual send time"},
      {"http_req_connecting", MetricKind::kTrend, "TCP connect time in ms, per connection opened"},
      {"http_req_tls_handshaking", MetricKind::kTrend,
       "TLS handshake time in ms, per https connection opened"},
      {"http_req_sending", MetricKind::kTrend, "time in ms writing a request"},
      {"http_req_waiting", MetricKind::kTrend,
       "time to first byte in ms: from the request written to the response's first byte"},
      {"http_req_receiving", MetricKind::kTrend,
       "time in ms from the response's first byte to its last"},
      {"http_req_failed", MetricKind::kRate,
       "share of requests that failed (error or status >= 400)"},
      {"http_reqs", MetricKind::kCounter, "requests completed"},
      {"checks", MetricKind::kRate, "share of checks that passed"},
      {"iterations", MetricKind::kCounter, "iterations completed"},
      {"dropped_iterations", MetricKind::kCounter, "arrivals that found no free VU and never ran"},
      {"delayed_iterations", MetricKind::kCounter,
       "arrivals that found no free VU and waited for one (sent late)"},
      {"data_received", MetricKind::kCounter, "bytes received"},
      {"data_sent", MetricKind::kCounter, "bytes sent"},
  };
  return metrics;
}

namespace {

const char* kind_name(MetricKind kind) {
  switch (kind) {
    case MetricKind::kTrend:
      return "a trend: use avg, min, max, med or p(N)";
    case MetricKind::kRate:
      return "a rate: use rate";
    case MetricKind::kCounter:
      return "a counter: use count or rate";
  }
  return "";
}

bool applies(Threshold::Aggregation aggregation, MetricKind kind) {
  using A = Threshold::Aggregation;
  switch (kind) {
    case MetricKind::kTrend:
      return aggregation != A::kRate && aggregation != A::kCount;
    case MetricKind::kRate:
      return aggregation == A::kRate;
    case MetricKind::kCounter:
      return aggregation == A::kCount || aggregation == A::kRate;
  }
  return false;
}

}  // namespace

Result<Threshold> parse_threshold(const ThresholdSource& source,
                                  const std::vector<std::string>& request_names) {
  Threshold threshold;
  threshold.source = source;

  // The metric, with an optional {name:VALUE} tag.
  std::string metric = source.metric;
  if (const size_t brace = metric.find('{'); brace != std::string::npos) {
    if (metric.back() != '}') return Error{"malformed tag in '" + metric + "'"};
    std::string tag = metric.substr(brace + 1, metric.size() - brace - 2);
    metric.resize(brace);
    const size_t colon = tag.find(':');
    if (colon == std::string::npos || tag.substr(0, colon) != "name") {
      return Error{"unsupported tag '{" + tag + "}': only {name:REQUEST} is supported"};
    }
    threshold.request_name = tag.substr(colon + 1);
    if (threshold.request_name.empty()) return Error{"empty request name in '{" + tag + "}'"};
    if (std::find(request_names.begin(), request_names.end(), threshold.request_name) ==
        request_names.end()) {
      std::string known;
      for (const std::string& name : request_names) known += (known.empty() ? "" : ", ") + name;
      return Error{"no request named '" + threshold.request_name + "' (requests: " + known + ")"};
    }
  }
  const MetricDescription* description = nullptr;
  for (const MetricDescription& known : known_metrics()) {
    if (metric == known.name) description = &known;
  }
  if (!description) {
    std::string known;
    for (const MetricDescription& m : known_metrics())
      known += (known.empty() ? "" : ", ") + std::string(m.name);
    return Error{"unknown metric '" + metric + "' (known: " + known + ")"};
  }
  if (!threshold.request_name.empty() &&
      (metric == "iterations" || metric == "dropped_iterations" ||
       metric == "delayed_iterations")) {
    return Error{metric + " is counted per run, not per request name"};
  }
  threshold.metric = metric;
  threshold.kind = description->kind;

  // AGGREGATION OPERATOR NUMBER
  using A = Threshold::Aggregation;
  const Error bad{"cannot parse '" + source.expression + "'"};
  std::string_view text = source.expression;
  skip_spaces(text);
  std::string_view aggregation_text = text;
  if (consume(text, "avg")) {
    threshold.aggregation = A::kAvg;
  } else if (consume(text, "min")) {
    threshold.aggregation = A::kMin;
  } else if (consume(text, "max")) {
    threshold.aggregation = A::kMax;
  } else if (consume(text, "med")) {
    threshold.aggregation = A::kMed;
  } else if (consume(text, "count")) {
    threshold.aggregation = A::kCount;
  } else if (consume(text, "rate")) {
    threshold.aggregation = A::kRate;
  } else if (consume(text, "p(")) {
    threshold.aggregation = A::kPercentile;
    skip_spaces(text);
    if (!read_number(text, threshold.percentile)) return bad;
    skip_spaces(text);
    if (!consume(text, ")")) return bad;
    if (threshold.percentile < 0 || threshold.percentile > 100) {
      return Error{"percentile in '" + source.expression + "' must be from 0 to 100"};
    }
  } else {
    return bad;
  }
  aggregation_text = aggregation_text.substr(0, aggregation_text.size() - text.size());
  skip_spaces(text);
  if (!read_comparison(text, threshold.comparison)) return bad;
  skip_spaces(text);
  if (!read_number(text, threshold.bound)) return bad;
  skip_spaces(text);
  if (!text.empty()) return bad;
  if (!applies(threshold.aggregation, threshold.kind)) {
    return Error{"'" + std::string(aggregation_text) + "' does not apply to " + metric + ", " +
                 kind_name(threshold.kind)};
  }
  return threshold;
}

Result<ThresholdSource> parse_threshold_option(const std::string& text) {
  // The metric ends at the first ':' outside a {tag}.
  int depth = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '{') ++depth;
    if (text[i] == '}') --depth;
    if (text[i] == ':' && depth == 0) {
      // Spaces around the colon are the shell's layout, not part of either side: with them
      // kept, 'http_req_duration: p(95)<200' was a second threshold beside the file's
      // 'p(95)<200', with a summary key that began with a space.
      auto trimmed = [](std::string part) {
        const size_t first = part.find_first_not_of(" \t");
        if (first == std::string::npos) return std::string();
        return part.substr(first, part.find_last_not_of(" \t") - first + 1);
      };
      ThresholdSource source;
      source.metric = trimmed(text.substr(0, i));
      source.expression = trimmed(text.substr(i + 1));
      if (!source.metric.empty() && !source.expression.empty()) return source;
      break;
    }
  }
  return Error{"cannot parse '" + text +
               "' (expected METRIC:EXPRESSION, e.g. "
               "http_req_duration:p(95)<200)"};
}

ThresholdOutcome evaluate_threshold(const Threshold& threshold, const RunResult& result,
                                    bool final) {
  using A = Threshold::Aggregation;
  ThresholdOutcome outcome;
  outcome.threshold = threshold;
  const bool all = threshold.request_name.empty();
  auto selected = [&](const RequestTotals& request) {
    return all || request.name == threshold.request_name;
  };
  const double seconds = std::max(result.seconds(), 1e-9);
  const std::string& metric = threshold.metric;

  double value = 0;
  bool has_value = true;
  uint64_t requests = 0;  // made, of those selected
  uint64_t answered = 0;  // of those, completed (with a response or an error)
  if (threshold.kind == MetricKind::kTrend) {
    Histogram latency;
    for (const RequestTotals& request : result.requests) {
      if (!selected(request)) continue;
      latency.add(request.trend(metric));
      // Made: answered, failed, or cut off unanswered (at the run's end or a ramp-down).
      requests += request.counters.requests + request.counters.interrupted;
    }
    has_value = latency.count() > 0;
    switch (threshold.aggregation) {
      case A::kAvg:
        value = latency.mean();
        break;
      case A::kMin:
        value = static_cast<double>(latency.min());
        break;
      case A::kMax:
        value = static_cast<double>(latency.max());
        break;
      case A::kMed:
        value = static_cast<double>(latency.value_at_percentile(50));
        break;
      case A::kPercentile:
        value = static_cast<double>(latency.value_at_percentile(threshold.percentile));
        break;
      default:
        break;
    }
    value /= 1000.0;  // µs -> ms, the unit thresholds are written in
  } else {
    uint64_t numerator = 0, denominator = 0;
    for (const RequestTotals& request : result.requests) {
      if (!selected(request)) continue;
      const RequestCounters& counters = request.counters;
      requests += counters.requests + counters.interrupted;
      answered += counters.requests;
      if (metric == "http_req_failed") {
        numerator += counters.failed;
        denominator += counters.requests;
      } else if (metric == "http_reqs") {
        numerator += counters.requests;
      } else if (metric == "checks") {
        for (const CheckCounts& check : counters.checks) {
          numerator += check.passes;
          denominator += check.passes + check.fails;
        }
      } else if (metric == "data_received") {
        numerator += counters.bytes_received;
      } else if (metric == "data_sent") {
        numerator += counters.bytes_sent;
      }
    }
    if (metric == "iterations") numerator = result.iterations;
    if (metric == "dropped_iterations") numerator = result.dropped_iterations;
    if (metric == "delayed_iterations") numerator = result.delayed_iterations;
    if (threshold.kind == MetricKind::kRate) {
      has_value = denominator > 0;
      value = has_value ? static_cast<double>(numerator) / static_cast<double>(denominator) : 0;
    } else {
      value = threshold.aggregation == A::kCount ? static_cast<double>(numerator)
                                                 : static_cast<double>(numerator) / seconds;
    }
  }
  outcome.has_value = has_value;
  outcome.value = value;
  if (has_value) {
    outcome.ok = compare(value, threshold.comparison, threshold.bound);
  } else {
    // No data holds (as k6), but not when requests were made and none could give the metric
    // a sample: for a request duration, every one failed without an answer (refused, reset)
    // or had none when the run ended (a server that hangs), which no latency goal allows; for
    // the failure rate and the checks, none completed at all (a server that hangs). (Checks
    // with no data among completed requests: there are none to pass, and that holds.)
    const bool duration = metric.rfind("http_req_duration", 0) == 0;
    const bool none_completed =
        (metric == "http_req_failed" || metric == "checks") && answered == 0;
    outcome.ok = !(final && requests > 0 && (duration || none_completed));
  }
  return outcome;
}

std::vector<ThresholdOutcome> evaluate_thresholds(const std::vector<Threshold>& thresholds,
                                                  const RunResult& result) {
  std::vector<ThresholdOutcome> outcomes;
  outcomes.reserve(thresholds.size());
  for (const Threshold& threshold : thresholds) {
    outcomes.push_back(evaluate_threshold(threshold, result));
  }
  return outcomes;
}

bool abort_on_fail(const std::vector<Threshold>& thresholds, RunResult& so_far) {
  for (const Threshold& threshold : thresholds) {
    if (!threshold.source.abort_on_fail) continue;
    if (so_far.info.duration < threshold.source.delay_abort_eval) continue;
    if (evaluate_threshold(threshold, so_far, false).ok) continue;
    so_far.info.aborted = true;
    so_far.info.abort_reasons = {"threshold " + threshold.source.metric + " '" +
                                 threshold.source.expression + "' failed (abortOnFail)"};
    return true;
  }
  return false;
}

}  // namespace qv::loadtest
