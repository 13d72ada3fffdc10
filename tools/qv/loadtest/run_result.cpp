#include "run_result.h"

#include <algorithm>

namespace qv::loadtest {

void RequestCounters::add(const RequestCounters& other) {
  requests += other.requests;
  failed += other.failed;
  bytes_sent += other.bytes_sent;
  bytes_received += other.bytes_received;
  tls_resumed += other.tls_resumed;
  interrupted += other.interrupted;
  for (const auto& [reason, count] : other.protocol_reasons) protocol_reasons[reason] += count;
  for (size_t i = 0; i < kErrorClassCount; ++i) errors[i] += other.errors[i];
  if (checks.size() < other.checks.size()) checks.resize(other.checks.size());
  for (size_t i = 0; i < other.checks.size(); ++i) {
    checks[i].passes += other.checks[i].passes;
    checks[i].fails += other.checks[i].fails;
  }
}

namespace {

// Adds one interval's figures of a request into `into` (an interval or the totals: the same
// fields, histograms sparse or dense).
template <typename Figures>
void add_figures(Figures& into, const RequestInterval& from) {
  into.latency.add(from.latency);
  into.latency_uncorrected.add(from.latency_uncorrected);
  for (size_t i = 0; i < kPhaseCount; ++i) into.phases[i].add(from.phases[i]);
  into.counters.add(from.counters);
}

}  // namespace

void RequestInterval::add(const RequestInterval& other) {
  add_figures(*this, other);
}

bool RequestInterval::empty() const {
  for (const SparseHistogram& phase : phases)
    if (!phase.empty()) return false;
  return counters.empty() && latency.empty();
}

void RequestTotals::add(const RequestInterval& part) {
  add_figures(*this, part);
}

const Histogram& RequestTotals::trend(std::string_view metric) const {
  if (metric == "http_req_duration") return latency;
  for (size_t p = 0; p < kPhaseCount; ++p) {
    if (metric == kPhaseMetrics[p]) return phases[p];
  }
  return latency_uncorrected;
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
  for (size_t i = 0; i < interval.requests.size() && i < requests.size(); ++i)
    requests[i].add(interval.requests[i]);
  iterations += interval.iterations;
  dropped_iterations += interval.dropped_iterations;
  delayed_iterations += interval.delayed_iterations;
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
  for (size_t i = 0; i < interval.requests.size() && i < at->requests.size(); ++i)
    at->requests[i].add(interval.requests[i]);
  at->length_ms = std::max(at->length_ms, interval.length_ms);
  at->iterations += interval.iterations;
  at->dropped_iterations += interval.dropped_iterations;
  at->delayed_iterations += interval.delayed_iterations;
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

Histogram RunResult::total_phase(Phase phase) const {
  Histogram total;
  for (const RequestTotals& request : requests)
    total.add(request.phases[static_cast<size_t>(phase)]);
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
