// The engine: runs a scenario against its target and returns what it measured.
//
// wrk's design: one thread per core, each with its own epoll loop, its own VUs (one
// keep-alive HTTP/1.1 connection each), its own histograms and its own random numbers; no
// locks and no shared counters on the request path. Once a second each thread hands the
// calling thread a sparse copy of that second's histograms and counters (one mutex, once a
// second), which is how the live progress line, abortOnFail thresholds and the per-second
// plots see the run while it goes.
//
// Latency: from the actual send time, and in arrival-rate executors also from the scheduled
// (intended) send time, wrk2's correction for coordinated omission: when the server stalls,
// the requests that should have gone out during the stall are charged for the wait.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "result.h"
#include "run_result.h"
#include "scenario.h"

namespace qv::loadtest {

struct Progress {
  Micros elapsed = 0, planned = 0;
  uint64_t vus = 0, vus_max = 0;
  double requests_per_second = 0;                             // in the last second
  int64_t p95 = 0;                                            // µs, in the last second
  uint64_t requests = 0, failed = 0, dropped_iterations = 0;  // so far
};

// One of the addresses a host resolves to.
struct Address {
  sockaddr_storage storage{};
  socklen_t length = 0;
};

struct RunHooks {
  // Called on the calling thread after each second of the run.
  std::function<void(const Progress&)> on_progress;
  // Set (e.g. from a SIGINT handler) to stop the run early; the result is still returned.
  const std::atomic<bool>* interrupted = nullptr;
  // An origin's addresses, in the order they are tried; unset, getaddrinfo's (tests give
  // their own, not this machine's /etc/hosts).
  std::function<Result<std::vector<Address>>(const Origin&)> resolve;
};

// Resolves every origin and picks, for the whole run, the first of its addresses that accepts
// a TCP connection (then checks the TLS handshake on it), raises the open-file limit
// as far as the VUs need, runs the scenario and returns its result. Bad input and an
// unreachable target are errors; failures during the run are measurements.
Result<RunResult> run_load_test(const Scenario& scenario, const RunHooks& hooks = {});

// Raises the soft RLIMIT_NOFILE to at least `needed` (up to the hard limit).
Status ensure_open_file_limit(uint64_t needed);

}  // namespace qv::loadtest
