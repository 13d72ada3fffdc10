#include "run_result.h"

#include <algorithm>

namespace qv::loadtest {

void RequestCounters::add(const RequestCounters& other) {
  requests += other.requests;
  failed += other.failed;
  bytes_sent += other.bytes_sent;
  bytes_received += other.bytes_received;
  for (size_t i = 0; i < kErrorClassCount; ++i) errors[i] += other.errors[i];
  if (checks.size() < other.checks.size()) checks.resize(other.checks.size());
  for (size_t i = 0; i < other.checks.size(); ++i) {
    checks[i].passes += other.checks[i].passes;
    checks[i].fails += other.checks[i].fails;
  }
}

size_t RunResult::declare_request(const std::string& name,
                                  const std::vector<std::string>& check_names) {
  for (size_t i = 0; i < requests.size(); ++i) {
    if (requests[i].name == name) {
      for (const std::string& check : check_names) {
        auto& known = requests[i].check_names;
        if (std::find(known.begin(), known.end(), check) == known.end()) known.push_back(check);
      }
      return i;
    }
  }
  RequestTotals totals;
  totals.name = name;
  totals.check_names = check_names;
  totals.counters.checks.resize(check_names.size());
  requests.push_back(std::move(totals));
  return requests.size() - 1;
}

void RunResult::add_interval(const Interval& interval) {
  for (size_t i = 0; i < interval.requests.size() && i < requests.size(); ++i) {
    const RequestInterval& part = interval.requests[i];
    requests[i].latency.add(part.latency);
    requests[i].latency_uncorrected.add(part.latency_uncorrected);
    requests[i].counters.add(part.counters);
  }
  iterations += interval.iterations;
  dropped_iterations += interval.dropped_iterations;
  vus_max = std::max(vus_max, interval.vus_max);

  auto at =
      std::lower_bound(intervals.begin(), intervals.end(), interval.start_unix_ms,
                       [](const Interval& a, int64_t start) { return a.start_unix_ms < start; });
  if (at == intervals.end() || at->start_unix_ms != interval.start_unix_ms) {
    Interval copy = interval;
    copy.requests.resize(requests.size());
    intervals.insert(at, std::move(copy));
    return;
  }
  // Same second on another machine: add it in.
  if (at->requests.size() < requests.size()) at->requests.resize(requests.size());
  for (size_t i = 0; i < interval.requests.size() && i < at->requests.size(); ++i) {
    at->requests[i].latency.add(interval.requests[i].latency);
    at->requests[i].latency_uncorrected.add(interval.requests[i].latency_uncorrected);
    at->requests[i].counters.add(interval.requests[i].counters);
  }
  at->length_ms = std::max(at->length_ms, interval.length_ms);
  at->iterations += interval.iterations;
  at->dropped_iterations += interval.dropped_iterations;
  at->vus += interval.vus;
  at->vus_max += interval.vus_max;
  vus_max = std::max(vus_max, at->vus_max);
}

Histogram RunResult::total_latency(bool corrected) const {
  Histogram total;
  for (const RequestTotals& request : requests) {
    total.add(corrected ? request.latency : request.latency_uncorrected);
  }
  return total;
}

RequestCounters RunResult::total_counters() const {
  RequestCounters total;
  for (const RequestTotals& request : requests) {
    RequestCounters counters = request.counters;
    counters.checks.clear();
    total.add(counters);
  }
  return total;
}

CheckCounts RunResult::total_checks() const {
  CheckCounts total;
  for (const RequestTotals& request : requests) {
    for (const CheckCounts& check : request.counters.checks) {
      total.passes += check.passes;
      total.fails += check.fails;
    }
  }
  return total;
}

}  // namespace qv::loadtest
