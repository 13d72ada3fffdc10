#include "summary.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "qv/json.h"
#include "url.h"

namespace qv::loadtest {

std::string json_string(const std::string& text) {
  std::string out;
  append_json_string(out, text);
  return out;
}

std::string json_number(double value) {
  if (!std::isfinite(value)) return "null";
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%.17g", value);
  // Shortest form that reads back the same.
  for (int precision = 1; precision <= 17; ++precision) {
    char shorter[40];
    std::snprintf(shorter, sizeof shorter, "%.*g", precision, value);
    if (std::strtod(shorter, nullptr) == value) return shorter;
  }
  return buffer;
}

namespace {

struct TrendValues {
  uint64_t count = 0;
  double avg = 0, min = 0, med = 0, max = 0, p90 = 0, p95 = 0, p99 = 0;  // ms
};

TrendValues trend(const Histogram& histogram) {
  TrendValues values;
  values.count = histogram.count();
  if (!values.count) return values;
  values.avg = histogram.mean() / 1000;
  values.min = static_cast<double>(histogram.min()) / 1000;
  values.max = static_cast<double>(histogram.max()) / 1000;
  values.med = static_cast<double>(histogram.value_at_percentile(50)) / 1000;
  values.p90 = static_cast<double>(histogram.value_at_percentile(90)) / 1000;
  values.p95 = static_cast<double>(histogram.value_at_percentile(95)) / 1000;
  values.p99 = static_cast<double>(histogram.value_at_percentile(99)) / 1000;
  return values;
}

std::string trend_text(const TrendValues& v) {
  if (!v.count) return "no responses";
  auto ms = [](double value) { return format_duration(value * 1000); };
  return "avg=" + ms(v.avg) + " min=" + ms(v.min) + " med=" + ms(v.med) + " max=" + ms(v.max) +
         " p(90)=" + ms(v.p90) + " p(95)=" + ms(v.p95) + " p(99)=" + ms(v.p99);
}

std::string percent(double share) {
  return format_number(share * 100, 2) + "%";
}

std::string dotted(const std::string& label, size_t width = 34) {
  std::string out = label;
  if (out.size() < width) out += std::string(width - out.size(), '.');
  return out + ": ";
}

}  // namespace

std::string visible_controls(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    int code = -1;
    if ((byte < 0x20 && byte != '\n') || byte == 0x7F) {
      code = byte;
    } else if (byte == 0xC2 && i + 1 < text.size() &&
               static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(text[i + 1]) <= 0x9F) {
      code = static_cast<unsigned char>(text[++i]);
    }
    if (code < 0) {
      out += text[i];
      continue;
    }
    char escape[8];
    std::snprintf(escape, sizeof escape, "\\u%04x", code);
    out += escape;
  }
  return out;
}

std::string joined(const std::vector<std::string>& parts, const std::string& separator) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? separator : "") + parts[i];
  return out;
}

std::string format_addresses(const std::vector<OriginAddress>& addresses) {
  const bool one_origin =
      std::all_of(addresses.begin(), addresses.end(),
                  [&](const OriginAddress& each) { return each.origin == addresses[0].origin; });
  std::string out;
  for (const OriginAddress& each : addresses) {
    out += (out.empty() ? "" : ", ") + each.address;
    if (!one_origin) out += " (" + each.origin + ")";
  }
  return out;
}

bool urls_name_their_addresses(const std::vector<OriginAddress>& addresses) {
  return std::all_of(addresses.begin(), addresses.end(), [](const OriginAddress& each) {
    auto url = split_url(each.origin);
    if (!url.ok()) return false;
    const Origin& origin = url.value().origin;
    const bool v6 = origin.host.find(':') != std::string::npos;
    return each.address ==
           (v6 ? "[" + origin.host + "]" : origin.host) + ":" + std::to_string(origin.port);
  });
}

std::string format_threshold_value(const ThresholdOutcome& outcome) {
  using A = Threshold::Aggregation;
  const Threshold& t = outcome.threshold;
  std::string name;
  switch (t.aggregation) {
    case A::kAvg:
      name = "avg";
      break;
    case A::kMin:
      name = "min";
      break;
    case A::kMax:
      name = "max";
      break;
    case A::kMed:
      name = "med";
      break;
    case A::kPercentile:
      name = "p(" + format_number(t.percentile, 3) + ")";
      break;
    case A::kRate:
      name = "rate";
      break;
    case A::kCount:
      name = "count";
      break;
  }
  if (!outcome.has_value) return name + (outcome.ok ? "=no data" : "=no data: no request answered");
  if (t.kind == MetricKind::kTrend) return name + "=" + format_duration(outcome.value * 1000);
  if (t.kind == MetricKind::kRate) return name + "=" + percent(outcome.value);
  if (t.aggregation == A::kRate) return name + "=" + format_number(outcome.value, 2) + "/s";
  return name + "=" + format_number(outcome.value, 0);
}

std::vector<Recommendation> recommendations(const RunResult& result) {
  std::vector<Recommendation> out;
  const Histogram latency = result.total_latency(true);
  const RequestCounters totals = result.total_counters();
  const double avg_ms = latency.mean() / 1000;
  const double p95_ms = static_cast<double>(latency.value_at_percentile(95)) / 1000;
  const double error_rate =
      totals.requests ? static_cast<double>(totals.failed) / totals.requests : 0;

  if (latency.count() && avg_ms > 500) {
    out.push_back(
        {"high", "Average API response time exceeds 500ms (" + format_duration(avg_ms * 1000) + ")",
         "Implement caching and optimize database queries"});
  }
  if (latency.count() && p95_ms > 200) {
    std::string slowest;
    double slowest_p95 = 0;
    for (const RequestTotals& request : result.requests) {
      const double p95 = static_cast<double>(request.latency.value_at_percentile(95)) / 1000;
      if (p95 > slowest_p95) slowest_p95 = p95, slowest = request.name;
    }
    out.push_back(
        {"high",
         "P95 response time " + format_duration(p95_ms * 1000) + " is above the 200 ms target" +
             (result.requests.size() > 1
                  ? " (slowest: " + slowest + ", p(95)=" + format_duration(slowest_p95 * 1000) + ")"
                  : ""),
         "Serve hot reads from the edge cache (L1 memory, L2 KV) and keep slow work off "
         "the request path; route callers to the nearest healthy region"});
  }
  if (error_rate > 0.0005) {
    out.push_back({error_rate > 0.01 ? "high" : "medium",
                   "Error rate " + percent(error_rate) + " exceeds the 0.05% a 99.95% SLA allows",
                   "See the error classes above: HTTP statuses point at the service, connect "
                   "errors and timeouts at its capacity"});
  }
  const uint64_t timeouts = totals.errors[static_cast<size_t>(ErrorClass::kTimeout)];
  if (timeouts) {
    out.push_back({"high",
                   format_count(timeouts, "request", "requests") +
                       " timed out (in the latency figures at the timeout, a floor)",
                   "The service saturates at this load: add capacity (autoscale earlier) or shed "
                   "load with admission control before queues grow"});
  }
  const uint64_t refused = totals.errors[static_cast<size_t>(ErrorClass::kConnect)];
  if (refused) {
    out.push_back({"high", format_count(refused, "connection", "connections") + " failed",
                   "Check the target's listen backlog, worker connection limit and open-file "
                   "limit"});
  }
  if (result.dropped_iterations) {
    out.push_back({"medium",
                   format_count(result.dropped_iterations, "iteration was", "iterations were") +
                       " dropped: no VU was free when due",
                   "Raise maxVUs (or preAllocatedVUs); if VUs are plenty, the service is too slow "
                   "for this arrival rate"});
  }
  if (totals.interrupted && !totals.requests) {
    out.push_back({"high",
                   "No request was answered: " + format_count(totals.interrupted, "was", "were") +
                       " still waiting for a response when cut off (at the run's end or a "
                       "ramp-down)",
                   "The service hangs (or is slower than the run): check that it is up and "
                   "answering, and lower the request timeout to see the failures counted"});
  }
  if (result.delayed_iterations) {
    // How many VUs the arrival rate keeps busy on average (Little's law, by the response
    // times alone: think time adds to it). The rate of the arrivals, not of the answers:
    // when the VUs are too few, the answers come at what they can do, and that rate keeps
    // no more VUs busy than there are.
    const uint64_t arrivals = result.iterations + totals.interrupted + result.dropped_iterations;
    const double busy =
        arrivals / std::max(result.seconds(), 1e-9) * result.total_latency(false).mean() / 1e6;
    out.push_back({"medium",
                   format_count(result.delayed_iterations, "iteration", "iterations") +
                       " waited for a free VU and went out late (the latency counts the wait; " +
                       format_count(result.vus_max, "VU", "VUs") + " at most)",
                   "Raise maxVUs above rate x response time (here about " +
                       format_count(static_cast<uint64_t>(std::ceil(busy)), "VU", "VUs") +
                       " on average); if it already is, the waits came when the service "
                       "slowed down or stalled"});
  } else if (result.info.corrected && latency.count()) {
    // (With delayed iterations the gap below may be the wait for a VU, said above.)
    const Histogram uncorrected = result.total_latency(false);
    const double corrected_p99 = static_cast<double>(latency.value_at_percentile(99));
    const double uncorrected_p99 = static_cast<double>(uncorrected.value_at_percentile(99));
    if (corrected_p99 > 2 * uncorrected_p99 && corrected_p99 > 50'000) {
      out.push_back({"high",
                     "The service stalled: p(99) is " + format_duration(corrected_p99) +
                         " counted from the scheduled send times, " +
                         format_duration(uncorrected_p99) + " from the actual ones",
                     "Users waited through pauses the uncorrected figure hides: look for GC "
                     "pauses, blocking I/O or an exhausted pool"});
    }
  }
  if (out.empty() && latency.count()) {
    out.push_back({"info",
                   "Within the spec's targets: p(95) " + format_duration(p95_ms * 1000) +
                       " under 200 ms, error rate " + percent(error_rate),
                   "Raise the load (intensity, rate or VUs) to find where that stops being true"});
  }
  return out;
}

RunEnd run_end(const RunInfo& info, const std::vector<ThresholdOutcome>& outcomes) {
  const std::vector<std::string>& reasons = info.abort_reasons;
  // A run cut short is no pass, whatever its thresholds said about the part that ran.
  if (std::find(reasons.begin(), reasons.end(), kInterruptedReason) != reasons.end())
    return RunEnd::kInterrupted;
  // A run an abortOnFail threshold stopped failed that threshold (k6 exits 99), also when
  // what finished during gracefulStop (or, merged, the other machines' data) brought its
  // metric back within the limit.
  const bool failed = info.aborted || std::any_of(outcomes.begin(), outcomes.end(),
                                                  [](const auto& o) { return !o.ok; });
  return failed ? RunEnd::kThresholdFailed : RunEnd::kPassed;
}

std::string summary_text(const RunResult& result, const std::vector<ThresholdOutcome>& outcomes) {
  const RunInfo& info = result.info;
  const double seconds = std::max(result.seconds(), 1e-9);
  std::string out;
  out += "\n  scenario: " + joined(info.scenarios, " + ") + " (" + joined(info.executors, " + ") +
         "), target " + joined(info.targets, " + ") + "\n";
  // The addresses, unless each is what its origin's URL says already.
  if (!urls_name_their_addresses(info.addresses)) {
    out += std::string("  target ") + (info.addresses.size() > 1 ? "addresses" : "address") + ": " +
           format_addresses(info.addresses) + "\n";
  }
  out += "  " + format_duration(static_cast<double>(info.duration)) + ", " +
         format_count(static_cast<uint64_t>(info.threads), "thread", "threads") +
         (info.machines > 1 ? ", " + std::to_string(info.machines) + " machines merged" : "") +
         (info.corrected ? ", latency from scheduled send times (coordinated omission corrected)"
                         : "") +
         "\n";
  if (info.aborted) out += "  ABORTED: " + joined(info.abort_reasons, "; ") + "\n";

  if (!outcomes.empty()) {
    out += "\n  THRESHOLDS\n";
    std::string last_metric;
    for (const ThresholdOutcome& outcome : outcomes) {
      if (outcome.threshold.source.metric != last_metric) {
        last_metric = outcome.threshold.source.metric;
        out += "    " + last_metric + "\n";
      }
      out += std::string("    ") + (outcome.ok ? "\xE2\x9C\x93" : "\xE2\x9C\x97") + " '" +
             outcome.threshold.source.expression + "' " + format_threshold_value(outcome) + "\n";
    }
  }

  const RequestCounters totals = result.total_counters();
  const CheckCounts checks = result.total_checks();
  out += "\n  METRICS\n";
  if (checks.passes + checks.fails) {
    out += "    " + dotted("checks") +
           percent(static_cast<double>(checks.passes) / (checks.passes + checks.fails)) +
           "  \xE2\x9C\x93 " + std::to_string(checks.passes) + "  \xE2\x9C\x97 " +
           std::to_string(checks.fails) + "\n";
  }
  // A per-name row under a metric, as k6 shows a sub-metric.
  auto name_label = [](const RequestTotals& request) { return "  { name:" + request.name + " }"; };
  // data_received and data_sent: the bytes and their rate, then per name when there are several.
  auto data_lines = [&](const char* metric, uint64_t RequestCounters::*bytes) {
    auto line = [&](const std::string& label, uint64_t count) {
      out += "    " + dotted(label) + format_bytes(static_cast<double>(count)) + "  " +
             format_bytes(count / seconds) + "/s\n";
    };
    line(metric, totals.*bytes);
    if (result.requests.size() > 1) {
      for (const RequestTotals& request : result.requests)
        line(name_label(request), request.counters.*bytes);
    }
  };
  data_lines("data_received", &RequestCounters::bytes_received);
  data_lines("data_sent", &RequestCounters::bytes_sent);
  if (info.corrected || result.dropped_iterations) {
    out += "    " + dotted("dropped_iterations") + std::to_string(result.dropped_iterations) + "\n";
  }
  if (result.delayed_iterations) {
    out += "    " + dotted("delayed_iterations") + std::to_string(result.delayed_iterations) + "\n";
  }
  // The phases in k6's (alphabetical) places; each only when measured (no TLS over http).
  auto phase_line = [&](Phase phase) {
    const Histogram histogram = result.total_phase(phase);
    if (!histogram.count()) return;
    out +=
        "    " + dotted(kPhaseMetrics[static_cast<size_t>(phase)]) + trend_text(trend(histogram));
    if (phase == Phase::kTlsHandshaking && totals.tls_resumed) {
      out += "  " + std::to_string(totals.tls_resumed) + " of " +
             std::to_string(histogram.count()) + " resumed";
    }
    out += "\n";
  };
  phase_line(Phase::kConnecting);
  out +=
      "    " + dotted("http_req_duration") + trend_text(trend(result.total_latency(true))) + "\n";
  if (result.requests.size() > 1) {
    for (const RequestTotals& request : result.requests)
      out += "    " + dotted(name_label(request)) + trend_text(trend(request.latency)) + "\n";
  }
  if (info.corrected) {
    out += "    " + dotted("http_req_duration_uncorrected") +
           trend_text(trend(result.total_latency(false))) + "\n";
  }
  out += "    " + dotted("http_req_failed") +
         percent(totals.requests ? static_cast<double>(totals.failed) / totals.requests : 0) +
         "  " + std::to_string(totals.failed) + " of " + std::to_string(totals.requests) + "\n";
  for (Phase phase : {Phase::kReceiving, Phase::kSending, Phase::kTlsHandshaking, Phase::kWaiting})
    phase_line(phase);
  // http_reqs: the requests and their rate, and those cut off unanswered, which are not in them.
  auto requests_line = [&](const std::string& label, const RequestCounters& counters) {
    out += "    " + dotted(label) + std::to_string(counters.requests) + "  " +
           format_number(counters.requests / seconds, 2) + "/s" +
           (counters.interrupted ? "  (and " + std::to_string(counters.interrupted) +
                                       " cut off unanswered at the run's end or a ramp-down, not "
                                       "counted)"
                                 : "") +
           "\n";
  };
  requests_line("http_reqs", totals);
  if (result.requests.size() > 1) {
    for (const RequestTotals& request : result.requests)
      requests_line(name_label(request), request.counters);
  }
  out += "    " + dotted("iterations") + std::to_string(result.iterations) + "  " +
         format_number(result.iterations / seconds, 2) + "/s\n";
  out += "    " + dotted("vus_max") + std::to_string(result.vus_max) + "\n";

  bool any_error = false;
  for (uint64_t count : totals.errors) any_error = any_error || count;
  if (any_error) {
    out += "\n  ERRORS\n    ";
    for (size_t i = 0; i < kErrorClassCount; ++i) {
      out += std::string(i ? " \xC2\xB7 " : "") + kErrorClassNames[i] + " " +
             std::to_string(totals.errors[i]);
    }
    out += "\n";
    for (const auto& [reason, count] : totals.protocol_reasons)
      out += "    protocol: " + reason + " (" + std::to_string(count) + ")\n";
  }
  bool any_check = false;
  for (const RequestTotals& request : result.requests)
    any_check = any_check || !request.check_names.empty();
  if (any_check) {
    out += "\n  CHECKS\n";
    for (const RequestTotals& request : result.requests) {
      for (size_t i = 0; i < request.check_names.size(); ++i) {
        const CheckCounts& c = request.counters.checks[i];
        out += std::string("    ") + (c.fails ? "\xE2\x9C\x97 " : "\xE2\x9C\x93 ") + request.name +
               ": " + request.check_names[i] + "  " + std::to_string(c.passes) + " passed, " +
               std::to_string(c.fails) + " failed\n";
      }
    }
  }
  out += "\n  RECOMMENDATIONS\n";
  for (const Recommendation& r : recommendations(result)) {
    out += "    [" + r.severity + "] " + r.description + "\n      " + r.suggestion + "\n";
  }
  return visible_controls(out);
}

namespace {

void trend_json(std::string& out, const Histogram& histogram, double seconds) {
  const TrendValues v = trend(histogram);
  out +=
      "{\"type\":\"trend\",\"contains\":\"time\",\"values\":{\"count\":" + std::to_string(v.count) +
      ",\"rate\":" + json_number(v.count / seconds);
  if (v.count) {
    out += ",\"avg\":" + json_number(v.avg) + ",\"min\":" + json_number(v.min) +
           ",\"med\":" + json_number(v.med) + ",\"max\":" + json_number(v.max) +
           ",\"p(90)\":" + json_number(v.p90) + ",\"p(95)\":" + json_number(v.p95) +
           ",\"p(99)\":" + json_number(v.p99);
  }
  out += "}";
}

void counter_json(std::string& out, uint64_t count, double seconds) {
  out += "{\"type\":\"counter\",\"values\":{\"count\":" + std::to_string(count) +
         ",\"rate\":" + json_number(count / seconds) + "}";
}

void rate_json(std::string& out, uint64_t passes, uint64_t total) {
  out += "{\"type\":\"rate\",\"values\":{\"rate\":" +
         json_number(total ? static_cast<double>(passes) / total : 0) +
         ",\"passes\":" + std::to_string(passes) + ",\"fails\":" + std::to_string(total - passes) +
         ",\"count\":" + std::to_string(total) + "}";
}

}  // namespace

std::string summary_json(const RunResult& result, const std::vector<ThresholdOutcome>& outcomes) {
  const RunInfo& info = result.info;
  const double seconds = std::max(result.seconds(), 1e-9);
  std::string out = "{";
  out += "\"state\":{\"testRunDurationMs\":" + json_number(info.duration / 1000.0) +
         ",\"startedUnixMs\":" + std::to_string(info.started_unix_ms) +
         ",\"aborted\":" + (info.aborted ? "true" : "false") +
         ",\"abortReason\":" + json_string(joined(info.abort_reasons, "; ")) +
         ",\"threads\":" + std::to_string(info.threads) +
         ",\"machines\":" + std::to_string(info.machines) +
         ",\"peakRssKiB\":" + std::to_string(info.peak_rss_kib) + "}";
  out += ",\"options\":{\"scenario\":" + json_string(joined(info.scenarios, " + ")) +
         ",\"executor\":" + json_string(joined(info.executors, " + ")) +
         ",\"target\":" + json_string(joined(info.targets, " + ")) + ",\"addresses\":[";
  for (size_t i = 0; i < info.addresses.size(); ++i) {
    out += std::string(i ? "," : "") + "{\"origin\":" + json_string(info.addresses[i].origin) +
           ",\"address\":" + json_string(info.addresses[i].address) + "}";
  }
  out += std::string("],\"coordinatedOmissionCorrected\":") + (info.corrected ? "true" : "false") +
         "}";

  // Metrics, each with the thresholds on it (k6: metrics.NAME.thresholds).
  auto thresholds_of = [&](const std::string& key) {
    std::string text;
    for (const ThresholdOutcome& outcome : outcomes) {
      if (outcome.threshold.source.metric != key) continue;
      text += (text.empty() ? "" : ",") + json_string(outcome.threshold.source.expression) +
              ":{\"ok\":" + (outcome.ok ? "true" : "false") + "}";
    }
    return text.empty() ? std::string() : ",\"thresholds\":{" + text + "}";
  };
  const RequestCounters totals = result.total_counters();
  const CheckCounts checks = result.total_checks();
  std::vector<std::pair<std::string, std::string>> metrics;
  auto add = [&](const std::string& key, std::string body) {
    body.insert(body.size(), thresholds_of(key));
    metrics.emplace_back(key, body + "}");
  };
  std::string body;
  body.clear();
  trend_json(body, result.total_latency(true), seconds);
  add("http_req_duration", body);
  body.clear();
  trend_json(body, result.total_latency(false), seconds);
  add("http_req_duration_uncorrected", body);
  for (size_t p = 0; p < kPhaseCount; ++p) {
    body.clear();
    trend_json(body, result.total_phase(static_cast<Phase>(p)), seconds);
    add(kPhaseMetrics[p], body);
  }
  // A request counters' metrics: of all requests (tag ""), or of one name ("{name:X}").
  auto add_counters = [&](const RequestCounters& counted, const std::string& tag) {
    body.clear();
    rate_json(body, counted.failed, counted.requests);
    add("http_req_failed" + tag, body);
    for (const auto& [metric, count] :
         {std::pair<const char*, uint64_t>{"http_reqs", counted.requests},
          {"tls_resumed", counted.tls_resumed},
          {"http_reqs_interrupted", counted.interrupted},
          {"data_received", counted.bytes_received},
          {"data_sent", counted.bytes_sent}}) {
      body.clear();
      counter_json(body, count, seconds);
      add(metric + tag, body);
    }
  };
  add_counters(totals, "");
  body.clear();
  rate_json(body, checks.passes, checks.passes + checks.fails);
  add("checks", body);
  body.clear();
  counter_json(body, result.iterations, seconds);
  add("iterations", body);
  body.clear();
  counter_json(body, result.dropped_iterations, seconds);
  add("dropped_iterations", body);
  body.clear();
  counter_json(body, result.delayed_iterations, seconds);
  add("delayed_iterations", body);
  metrics.emplace_back("vus_max", "{\"type\":\"gauge\",\"values\":{\"value\":" +
                                      std::to_string(result.vus_max) + "}}");
  for (const RequestTotals& request : result.requests) {
    const std::string tag = "{name:" + request.name + "}";
    body.clear();
    trend_json(body, request.latency, seconds);
    add("http_req_duration" + tag, body);
    body.clear();
    trend_json(body, request.latency_uncorrected, seconds);
    add("http_req_duration_uncorrected" + tag, body);
    for (size_t p = 0; p < kPhaseCount; ++p) {
      body.clear();
      trend_json(body, request.phases[p], seconds);
      add(kPhaseMetrics[p] + tag, body);
    }
    add_counters(request.counters, tag);
    uint64_t passes = 0, all = 0;
    for (const CheckCounts& c : request.counters.checks)
      passes += c.passes, all += c.passes + c.fails;
    if (all) {
      body.clear();
      rate_json(body, passes, all);
      add("checks" + tag, body);
    }
  }
  out += ",\"metrics\":{";
  for (size_t i = 0; i < metrics.size(); ++i) {
    out += (i ? "," : "") + json_string(metrics[i].first) + ":" + metrics[i].second;
  }
  out += "}";

  out += ",\"checks\":[";
  bool first = true;
  for (const RequestTotals& request : result.requests) {
    for (size_t i = 0; i < request.check_names.size(); ++i) {
      const CheckCounts& c = request.counters.checks[i];
      out += std::string(first ? "" : ",") + "{\"name\":" + json_string(request.check_names[i]) +
             ",\"request\":" + json_string(request.name) +
             ",\"passes\":" + std::to_string(c.passes) + ",\"fails\":" + std::to_string(c.fails) +
             "}";
      first = false;
    }
  }
  out += "]";

  out += ",\"thresholds\":{";
  std::vector<std::string> keys;
  for (const ThresholdOutcome& outcome : outcomes) {
    if (std::find(keys.begin(), keys.end(), outcome.threshold.source.metric) == keys.end()) {
      keys.push_back(outcome.threshold.source.metric);
    }
  }
  for (size_t k = 0; k < keys.size(); ++k) {
    out += (k ? "," : "") + json_string(keys[k]) + ":{";
    bool first_expression = true;
    for (const ThresholdOutcome& outcome : outcomes) {
      if (outcome.threshold.source.metric != keys[k]) continue;
      out += std::string(first_expression ? "" : ",") +
             json_string(outcome.threshold.source.expression) +
             ":{\"ok\":" + (outcome.ok ? "true" : "false") +
             ",\"value\":" + (outcome.has_value ? json_number(outcome.value) : "null") +
             ",\"abortOnFail\":" + (outcome.threshold.source.abort_on_fail ? "true" : "false") +
             "}";
      first_expression = false;
    }
    out += "}";
  }
  out += "}";

  out += ",\"errors\":{";
  for (size_t i = 0; i < kErrorClassCount; ++i) {
    out += std::string(i ? "," : "") + "\"" + kErrorClassNames[i] +
           "\":" + std::to_string(totals.errors[i]);
  }
  out += "}";
  // What the response parser refused, by its reason.
  out += ",\"protocol_errors\":{";
  for (const auto& [reason, count] : totals.protocol_reasons) {
    if (out.back() != '{') out += ',';
    out += json_string(reason) + ":" + std::to_string(count);
  }
  out += "}";

  out += ",\"recommendations\":[";
  const auto advice = recommendations(result);
  for (size_t i = 0; i < advice.size(); ++i) {
    out += (i ? "," : "") + std::string("{\"severity\":") + json_string(advice[i].severity) +
           ",\"description\":" + json_string(advice[i].description) +
           ",\"suggestion\":" + json_string(advice[i].suggestion) + "}";
  }
  out += "]}\n";
  return out;
}

}  // namespace qv::loadtest
