// What a load test measured: per request name, latency histograms (corrected for
// coordinated omission and uncorrected) and counters, for every one-second interval and in
// total. A run produces one; a histogram log stores one; merging logs adds them up. The
// summary, the thresholds and the HTML report all read this and nothing else, so a merged
// result from several machines is summarised exactly like a single run.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "histogram.h"
#include "units.h"

namespace qv::loadtest {

// Why a request failed. HTTP statuses >= 400 fail a request too (k6's default
// expected_response: 200-399), and are counted by class.
enum class ErrorClass : uint8_t { kConnect, kTimeout, kReset, kProtocol, kHttp4xx, kHttp5xx };
inline constexpr size_t kErrorClassCount = 6;
inline constexpr const char* kErrorClassNames[kErrorClassCount] = {
    "connect", "timeout", "reset", "protocol", "http_4xx", "http_5xx"};

struct CheckCounts {
  uint64_t passes = 0, fails = 0;
  bool operator==(const CheckCounts&) const = default;
};

struct RequestCounters {
  uint64_t requests = 0;  // completed with a response or an error
  uint64_t failed = 0;    // errors and statuses >= 400
  uint64_t bytes_sent = 0, bytes_received = 0;
  uint64_t tls_resumed = 0;  // TLS handshakes that resumed a session (--tls-resume)
  // Requests cut off unanswered: when the run ended (past gracefulStop; in quick mode, at its
  // duration), or on a VU ramped down (past gracefulRampDown): not in `requests` nor in any
  // latency, but a server that never answers must not look like one that was never asked.
  uint64_t interrupted = 0;
  std::array<uint64_t, kErrorClassCount> errors{};
  // The protocol errors by what the response parser refused ("response headers larger than
  // 64 KiB"): a few fixed texts, so the map stays small.
  std::map<std::string, uint64_t> protocol_reasons;
  std::vector<CheckCounts> checks;  // one per check of the request, in declaration order

  void add(const RequestCounters& other);
  bool empty() const {
    return requests == 0 && bytes_sent == 0 && bytes_received == 0 && tls_resumed == 0 &&
           interrupted == 0;
  }
  bool operator==(const RequestCounters&) const = default;
};

// Where a request's time went, as k6 names the parts. Connecting (TCP) and TLS handshaking
// are measured once per connection the load tester opens, for the request that opened it
// (k6 also adds a zero for every request on a reused connection, which hides the
// handshakes behind the median; here the figures describe the connections actually made).
// Sending (the first byte written to the last), waiting (the last byte written to the
// first byte of the response: time to first byte) and receiving (first byte to complete
// response) are measured per response to a request that was written whole before it:
// together they are the uncorrected duration of a request on an open connection.
enum class Phase : uint8_t { kConnecting, kTlsHandshaking, kSending, kWaiting, kReceiving };
inline constexpr size_t kPhaseCount = 5;
inline constexpr const char* kPhaseMetrics[kPhaseCount] = {
    "http_req_connecting", "http_req_tls_handshaking", "http_req_sending", "http_req_waiting",
    "http_req_receiving"};

// One request name's share of one interval. Latencies cover responses (any status);
// requests that ended in an error other than a status have no latency (as wrk).
struct RequestInterval {
  SparseHistogram latency;              // from the intended send time
  SparseHistogram latency_uncorrected;  // from the actual send time
  std::array<SparseHistogram, kPhaseCount> phases;
  RequestCounters counters;

  void add(const RequestInterval& other);
  bool empty() const;
  bool operator==(const RequestInterval&) const = default;
};

struct Interval {
  int64_t start_unix_ms = 0;
  int64_t length_ms = 1000;
  std::vector<RequestInterval> requests;  // indexed like RunResult::requests
  uint64_t iterations = 0;
  uint64_t dropped_iterations = 0;
  // Arrivals that found no VU free when due and waited for one (whenNoVuFree "queue"): sent
  // late, their latency counting the wait.
  uint64_t delayed_iterations = 0;
  uint64_t vus = 0;      // active VUs at the end of the interval
  uint64_t vus_max = 0;  // VUs allocated
  bool operator==(const Interval&) const = default;
};

struct RequestTotals {
  std::string name;
  std::vector<std::string> check_names;
  Histogram latency, latency_uncorrected;
  std::array<Histogram, kPhaseCount> phases;
  RequestCounters counters;

  void add(const RequestInterval& part);
  // The histogram of a trend metric: http_req_duration, ..._uncorrected or a phase's.
  const Histogram& trend(std::string_view metric) const;
};

// A threshold as the user wrote it; thresholds.h parses it.
struct ThresholdSource {
  std::string metric;      // "http_req_duration" or "http_req_duration{name:calls.start}"
  std::string expression;  // "p(95)<200"
  bool abort_on_fail = false;
  Micros delay_abort_eval = 0;
  bool operator==(const ThresholdSource&) const = default;
};

// The abort reason of a run stopped by Ctrl-C or SIGTERM (its histogram log keeps it).
inline constexpr const char* kInterruptedReason = "interrupted";

// The address an origin's connections went to: the first of its addresses that accepted a
// connection before the run.
struct OriginAddress {
  std::string origin;   // "http://localhost:8080"
  std::string address;  // "127.0.0.1:8080", "[::1]:8080"
  bool operator==(const OriginAddress&) const = default;
};

struct RunInfo {
  // A run's one each; after a merge, each distinct one of its runs, in the order first seen.
  // Kept apart, not joined into one text: a name may hold anything, " + " too.
  std::vector<std::string> scenarios;  // names
  std::vector<std::string> executors;  // "constant-vus", ...
  std::vector<std::string> targets;    // the base URL or the quick-mode URL
  // One per origin, in the order the requests name them; after a merge, each machine's
  // (an origin that machines reached at different addresses is listed with each).
  std::vector<OriginAddress> addresses;
  bool corrected = false;  // arrival-rate executor: latency counts from intended send times
  int threads = 0;
  int machines = 1;  // histogram logs merged into this result
  int64_t started_unix_ms = 0;
  Micros duration = 0;  // from the first to the last measured moment
  bool aborted = false;
  // Why: a run's one; after a merge, each distinct one of its runs, in the order first seen
  // (kept apart, as the names above: a reason quotes a threshold's metric, which may hold a
  // request name, and that anything).
  std::vector<std::string> abort_reasons;
  int64_t peak_rss_kib = 0;  // this process, when known (0 after a merge)
};

class RunResult {
 public:
  RunInfo info;
  std::vector<RequestTotals> requests;
  std::vector<ThresholdSource> thresholds;
  std::vector<Interval> intervals;  // ascending start, one per second
  uint64_t iterations = 0, dropped_iterations = 0, delayed_iterations = 0;
  uint64_t vus_max = 0;

  // Declares a request name (with its checks); returns its index. Same name: same index.
  size_t declare_request(const std::string& name, const std::vector<std::string>& check_names);

  // Adds an interval whose requests are indexed like this result's; one with the same
  // start adds into the existing interval (that is how machines' logs merge).
  void add_interval(const Interval& interval);

  // All requests together.
  Histogram total_latency(bool corrected) const;
  Histogram total_phase(Phase phase) const;
  RequestCounters total_counters() const;
  CheckCounts total_checks() const;
  double seconds() const { return info.duration / 1e6; }
};

}  // namespace qv::loadtest
