// The engine end to end, against our test server on loopback: exact request counts,
// latencies against a known injected delay, coordinated-omission correction under a 1 s
// SIGSTOP, error classes, chunked bodies, templates on the wire, each executor, dropped
// iterations, abortOnFail, and a retry on a fresh connection within its request's deadline. Only
// behaviour is asserted, never speed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "loadtest/engine.h"
#include "loadtest/histogram_log.h"
#include "loadtest/summary.h"
#include "loadtest/thresholds.h"
#include "support.h"

using namespace qv::loadtest;
using qv::loadtest::testing::TestServer;

namespace {

Scenario scenario_from(const std::string& json) {
  auto scenario = parse_scenario(json, {});
  if (!scenario.ok()) FAIL("scenario: " << scenario.error().message);
  return scenario.value();
}

RunResult run(const Scenario& scenario) {
  auto result = run_load_test(scenario);
  if (!result.ok()) FAIL("run: " << result.error().message);
  return result.value();
}

std::string base(const TestServer& server) {
  return "\"baseUrl\": \"" + server.url("") + "\"";
}

// A loopback listener with a backlog of 0 (room for one queued connection) on a free port,
// written to address: once the queue is full, the kernel drops further connection attempts.
int listen_with_room_for_one(sockaddr_in& address) {
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  REQUIRE(bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(listen(listener, 0) == 0);
  getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
  return listener;
}

}  // namespace

TEST_CASE("a constant arrival rate sends exactly rate x duration requests, all answered") {
  TestServer server;
  const RunResult result = run(scenario_from("{" + base(server) + R"(,
    "executor": "constant-arrival-rate", "rate": 200, "duration": "2s", "preAllocatedVUs": 20,
    "gracefulStop": "10s", "threads": 2, "requests": [{"url": "/"}]})"));
  const RequestCounters totals = result.total_counters();
  REQUIRE(totals.requests + result.dropped_iterations == 400);
  REQUIRE(server.served() == totals.requests);
  REQUIRE(totals.failed == 0);
  REQUIRE(result.iterations == totals.requests);
  REQUIRE(result.total_latency(true).count() == totals.requests);
  REQUIRE(result.info.corrected);
  REQUIRE(result.info.threads == 2);
}

TEST_CASE("constant VUs: every request the server answered is counted, and only those") {
  TestServer server;
  const RunResult result = run(scenario_from("{" + base(server) + R"(,
    "executor": "constant-vus", "vus": 6, "duration": "1s", "gracefulStop": "10s", "threads": 2,
    "requests": [{"url": "/"}]})"));
  const RequestCounters totals = result.total_counters();
  REQUIRE(totals.requests > 0);
  REQUIRE(server.served() == totals.requests);
  REQUIRE(totals.bytes_received > 0);
  REQUIRE(totals.bytes_sent > 0);
  REQUIRE(result.vus_max == 6);
  REQUIRE(!result.info.corrected);
  // Closed model: corrected and uncorrected latencies are the same samples.
  REQUIRE(result.total_latency(true) == result.total_latency(false));
}

TEST_CASE("latency percentiles reflect a known injected delay, per request name") {
  TestServer server;
  const RunResult result = run(scenario_from("{" + base(server) + R"(,
    "executor": "constant-vus", "vus": 8, "duration": "1500ms", "gracefulStop": "10s", "threads": 2,
    "requests": [{"name": "slow", "url": "/delay/60"}, {"name": "fast", "url": "/"}]})"));
  const RequestTotals& slow = result.requests[0];
  const RequestTotals& fast = result.requests[1];
  REQUIRE(slow.name == "slow");
  REQUIRE(slow.latency.count() > 10);
  REQUIRE(fast.latency.count() > 10);
  // Never faster than the injected delay, and the delay dominates the slow request's figures.
  REQUIRE(slow.latency.min() >= 60'000);
  REQUIRE(slow.latency.value_at_percentile(50) >= 60'000);
  REQUIRE(fast.latency.value_at_percentile(50) < slow.latency.value_at_percentile(50));
  REQUIRE(slow.counters.requests + fast.counters.requests == server.served());
}

TEST_CASE("phases: one connect per connection opened; the injected delay is in waiting") {
  TestServer server;
  const RunResult kept = run(scenario_from("{" + base(server) + R"(,
    "executor": "constant-vus", "vus": 4, "duration": "1s", "gracefulStop": "10s", "threads": 2,
    "requests": [{"url": "/delay/30"}]})"));
  const RequestTotals& request = kept.requests[0];
  auto phase = [](const RequestTotals& totals, Phase p) -> const Histogram& {
    return totals.phases[static_cast<size_t>(p)];
  };
  // Kept-alive: each VU connected once; plain http has no handshake.
  REQUIRE(phase(request, Phase::kConnecting).count() == 4);
  REQUIRE(phase(request, Phase::kTlsHandshaking).count() == 0);
  // Every response came to a request written whole: each has the three response phases,
  // and the server's delay is time to first byte, not sending or receiving.
  const uint64_t responses = request.latency.count();
  REQUIRE(responses > 10);
  for (Phase p : {Phase::kSending, Phase::kWaiting, Phase::kReceiving})
    REQUIRE(phase(request, p).count() == responses);
  // (Medians: the moment a request was written is read after send() returns, so a thread
  // preempted there shortens that one request's waiting.)
  REQUIRE(phase(request, Phase::kWaiting).value_at_percentile(50) >= 30'000);
  REQUIRE(phase(request, Phase::kSending).value_at_percentile(50) < 30'000);
  REQUIRE(phase(request, Phase::kReceiving).value_at_percentile(50) < 30'000);
  REQUIRE(kept.total_phase(Phase::kWaiting) == phase(request, Phase::kWaiting));
  // The three phases add up to the duration exactly: from one clock, each response's send,
  // write, first byte and end read once (a phase under 1 µs is 0, not rounded up).
  const uint64_t phases = phase(request, Phase::kSending).sum() +
                          phase(request, Phase::kWaiting).sum() +
                          phase(request, Phase::kReceiving).sum();
  REQUIRE(phases == request.latency_uncorrected.sum());
  REQUIRE(phase(request, Phase::kReceiving).max() <= request.latency_uncorrected.max());

  // The server closes after each answer: every request opens its own connection.
  const RunResult closing = run(scenario_from("{" + base(server) + R"(,
    "executor": "constant-vus", "vus": 2, "duration": "500ms", "gracefulStop": "10s",
    "threads": 1, "requests": [{"url": "/close"}]})"));
  const RequestTotals& closed = closing.requests[0];
  REQUIRE(closed.counters.requests > 4);
  REQUIRE(closed.counters.failed == 0);
  REQUIRE(phase(closed, Phase::kConnecting).count() == closed.counters.requests);
}

TEST_CASE("coordinated omission: a 1 s stall shows in the corrected p99, not the uncorrected") {
  TestServer server;
  QuickOptions options;
  options.url = server.url("/");
  options.connections = 10;
  options.threads = 1;
  options.rate = 1000;
  options.duration = 4 * kMicrosPerSecond;
  auto scenario = quick_scenario(options);
  REQUIRE(scenario.ok());
  std::thread staller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
    server.pause();  // SIGSTOP: the server answers nothing for a second
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    server.resume();
  });
  const RunResult result = run(scenario.value());
  staller.join();
  const Histogram corrected = result.total_latency(true);
  const Histogram uncorrected = result.total_latency(false);
  INFO("corrected p99 " << corrected.value_at_percentile(99) << " µs, uncorrected p99 "
                        << uncorrected.value_at_percentile(99) << " µs, requests "
                        << corrected.count());
  REQUIRE(corrected.count() > 1000);
  REQUIRE(corrected.value_at_percentile(99) >= 500'000);
  REQUIRE(uncorrected.value_at_percentile(99) < 500'000);
  REQUIRE(corrected.max() >= 900'000);
}

TEST_CASE("errors are classified: status, timeout, reset, connect") {
  TestServer server;
  const RunResult statuses = run(scenario_from("{" + base(server) + R"(,
    "executor": "constant-vus", "vus": 2, "duration": "300ms", "gracefulStop": "5s", "threads": 1,
    "requests": [{"name": "e500", "url": "/status/503"}, {"name": "e404", "url": "/status/404"}]})"));
  const RequestCounters& e500 = statuses.requests[0].counters;
  const RequestCounters& e404 = statuses.requests[1].counters;
  REQUIRE(e500.requests > 0);
  REQUIRE(e500.errors[static_cast<size_t>(ErrorClass::kHttp5xx)] == e500.requests);
  REQUIRE(e404.errors[static_cast<size_t>(ErrorClass::kHttp4xx)] == e404.requests);
  REQUIRE(e500.failed == e500.requests);
  REQUIRE(statuses.requests[0].latency.count() == e500.requests);  // responses have latencies

  const RunResult hangs = run(scenario_from("{" + base(server) + R"(,
    "executor": "constant-vus", "vus": 2, "duration": "700ms", "timeouts": {"request": "200ms"},
    "gracefulStop": "5s", "threads": 1, "requests": [{"url": "/hang"}]})"));
  const RequestCounters hang = hangs.total_counters();
  REQUIRE(hang.errors[static_cast<size_t>(ErrorClass::kTimeout)] >= 2);
  REQUIRE(hang.errors[static_cast<size_t>(ErrorClass::kTimeout)] == hang.requests);
  // A timeout counts its whole wait in the duration (as k6): latency goals see it.
  const Histogram waited = hangs.total_latency(false);
  REQUIRE(waited.count() == hang.requests);
  REQUIRE(waited.min() == 200'000);
  REQUIRE(waited.max() == 200'000);
  REQUIRE(hangs.total_latency(true).count() == hang.requests);

  const RunResult resets = run(scenario_from("{" + base(server) + R"(,
    "executor": "constant-vus", "vus": 2, "duration": "300ms", "gracefulStop": "5s", "threads": 1,
    "requests": [{"url": "/reset"}]})"));
  const RequestCounters reset = resets.total_counters();
  REQUIRE(reset.requests > 0);
  REQUIRE(reset.errors[static_cast<size_t>(ErrorClass::kReset)] == reset.requests);

  // The server goes away in the middle of a run: new connections are refused.
  auto doomed = std::make_unique<TestServer>();
  const Scenario closing = scenario_from("{\"baseUrl\": \"" + doomed->url("") + R"(",
    "executor": "constant-vus", "vus": 2, "duration": "1s", "gracefulStop": "5s", "threads": 1,
    "requests": [{"url": "/close"}]})");
  std::thread killer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    doomed.reset();
  });
  const RunResult refused = run(closing);
  killer.join();
  const RequestCounters gone = refused.total_counters();
  REQUIRE(gone.errors[static_cast<size_t>(ErrorClass::kConnect)] > 0);
  REQUIRE(gone.requests > gone.failed);  // it answered before it went
}

TEST_CASE("requests the server never answers before the run ends are counted interrupted") {
  TestServer server;
  // The request timeout is longer than the run and its graceful stop: no request ends.
  Scenario hung = scenario_from("{" + base(server) + R"(,
    "executor": "constant-vus", "vus": 3, "duration": "300ms", "gracefulStop": "200ms",
    "threads": 1, "requests": [{"url": "/hang"}],
    "thresholds": {"http_req_duration": ["p(95)<200"]}})");
  const RunResult result = run(hung);
  const RequestCounters totals = result.total_counters();
  REQUIRE(totals.requests == 0);
  REQUIRE(totals.interrupted == 3);
  // No latency goal holds for a server that answered nothing.
  REQUIRE_FALSE(evaluate_threshold(hung.thresholds[0], result).ok);
}

TEST_CASE("a response that comes while the request body is still being sent is read") {
  TestServer server;
  // 8 MB: more than the loopback socket buffers take while the server reads nothing. The
  // server answers from the headers, and keeps the connection, or closes it at once.
  for (const char* path : {"/early", "/early-close"}) {
    INFO(path);
    const RunResult result =
        run(scenario_from("{" + base(server) + R"(,
      "executor": "constant-vus", "vus": 2, "duration": "500ms", "gracefulStop": "0s",
      "threads": 1, "timeouts": {"request": "5s"},
      "requests": [{"method": "POST", "url": ")" +
                          path + R"(", "body": ")" + std::string(8u << 20, 'x') + R"("}]})"));
    const RequestCounters& early = result.requests[0].counters;
    REQUIRE(early.requests > 0);
    CHECK(early.errors[static_cast<size_t>(ErrorClass::kHttp4xx)] == early.requests);
    CHECK(result.requests[0].latency.count() == early.requests);
    CHECK(result.requests[0].phases[static_cast<size_t>(Phase::kWaiting)].count() == 0);
  }
}

TEST_CASE("a request retried on a fresh connection counts the time its first attempt took") {
  TestServer server;
  // Each request after the first goes out on the connection the server answered on, which it
  // no longer reads and closes 20 ms later: the request is sent again on a new connection.
  const RunResult result = run(scenario_from("{" + base(server) + R"(,
    "executor": "constant-vus", "vus": 1, "duration": "500ms", "gracefulStop": "5s", "threads": 1,
    "requests": [{"url": "/idle-close"}]})"));
  const RequestCounters& counters = result.requests[0].counters;
  REQUIRE(counters.requests >= 5);
  REQUIRE(counters.failed == 0);
  // All but the first waited for the close: 20 ms.
  CHECK(result.requests[0].latency_uncorrected.value_at_percentile(50) >= 19'000);
  CHECK(result.requests[0].latency.value_at_percentile(50) >= 19'000);
}

TEST_CASE("a retry whose new connection hangs times out at the request's deadline") {
  // A listener with room for one queued connection: it answers the first request on its
  // connection (keep-alive), then takes no more connections and fills its queue with one of
  // its own, so the kernel drops every further connection attempt: the retry's connect hangs.
  sockaddr_in address{};
  const int listener = listen_with_room_for_one(address);
  const int filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  std::thread server([&] {
    // The load tester's reachability check connects first and sends nothing.
    int connection = -1;
    std::string request;
    char buffer[4096];
    while (request.empty()) {
      if (connection >= 0) close(connection);
      connection = accept(listener, nullptr, nullptr);
      if (connection < 0) return;
      while (request.find("\r\n\r\n") == std::string::npos) {
        const ssize_t got = read(connection, buffer, sizeof buffer);
        if (got <= 0) break;
        request.append(buffer, static_cast<size_t>(got));
      }
    }
    connect(filler, reinterpret_cast<sockaddr*>(&address), sizeof address);
    const std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    CHECK(write(connection, answer.data(), answer.size()) == static_cast<ssize_t>(answer.size()));
    // The next request comes on this connection: a reset for it, and the load tester sends
    // it again on a new connection.
    CHECK(read(connection, buffer, sizeof buffer) > 0);
    linger reset{1, 0};
    setsockopt(connection, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    close(connection);
  });
  const RunResult result = run(scenario_from(R"({"baseUrl": "http://127.0.0.1:)" +
                                             std::to_string(ntohs(address.sin_port)) + R"(",
    "executor": "constant-vus", "vus": 1, "duration": "100ms", "gracefulStop": "10s",
    "threads": 1, "timeouts": {"connect": "8s", "request": "300ms"},
    "requests": [{"url": "/"}]})"));
  server.join();
  close(filler);
  close(listener);
  const RequestCounters& counters = result.requests[0].counters;
  REQUIRE(counters.requests == 2);
  CHECK(counters.errors[static_cast<size_t>(ErrorClass::kTimeout)] == 1);
  // The retry's connect had the request's deadline (300 ms after it was sent), not the
  // connect timeout's 8 s: the timed-out request's duration is its deadline.
  const auto& latency = result.requests[0].latency_uncorrected;
  CHECK(latency.count() == 2);
  CHECK(latency.max() >= 300'000);
  CHECK(latency.max() < 4'000'000);
}

TEST_CASE("a connection not made within the connect timeout is a connect error, no latency") {
  // A listener that never accepts, with room for one queued connection: the load tester's
  // reachability check fills it, and the kernel drops every later connection attempt.
  sockaddr_in address{};
  const int listener = listen_with_room_for_one(address);
  const RunResult result = run(scenario_from(R"({"baseUrl": "http://127.0.0.1:)" +
                                             std::to_string(ntohs(address.sin_port)) + R"(",
    "executor": "constant-vus", "vus": 1, "duration": "400ms", "gracefulStop": "5s",
    "threads": 1, "timeouts": {"connect": "100ms", "request": "10s"},
    "requests": [{"url": "/"}]})"));
  close(listener);
  const RequestCounters& counters = result.requests[0].counters;
  REQUIRE(counters.requests >= 1);
  CHECK(counters.errors[static_cast<size_t>(ErrorClass::kConnect)] == counters.requests);
  CHECK(counters.errors[static_cast<size_t>(ErrorClass::kTimeout)] == 0);
  // The request never went out: it has no duration (a connect error's has none).
  CHECK(result.requests[0].latency.count() == 0);
  CHECK(result.requests[0].latency_uncorrected.count() == 0);
}

TEST_CASE("a protocol error is counted with what the response parser refused") {
  TestServer server;
  const RunResult result = run(scenario_from("{" + base(server) + R"(,
    "executor": "constant-vus", "vus": 2, "duration": "300ms", "gracefulStop": "5s",
    "threads": 1, "requests": [{"url": "/malformed"}]})"));
  const RequestCounters& counters = result.requests[0].counters;
  REQUIRE(counters.requests > 0);
  CHECK(counters.errors[static_cast<size_t>(ErrorClass::kProtocol)] == counters.requests);
  CHECK(counters.protocol_reasons ==
        std::map<std::string, uint64_t>{{"malformed status code", counters.requests}});
  const std::string text = summary_text(result, {});
  CHECK(text.find("    protocol: malformed status code (" + std::to_string(counters.requests) +
                  ")\n") != std::string::npos);
  CHECK(summary_json(result, {}).find(R"("protocol_errors":{"malformed status code":)") !=
        std::string::npos);
  // A histogram log carries them, and reads them back.
  auto back = read_histogram_log(write_histogram_log(result), "log");
  REQUIRE(back.ok());
  CHECK(back.value().requests[0].counters.protocol_reasons == counters.protocol_reasons);
}

TEST_CASE("a response complete after the request timeout is a timeout") {
  TestServer server;
  // Answered 10 ms after a 1.05 s timeout: before the sweep for timeouts (every 100 ms here)
  // comes round.
  const RunResult result = run(scenario_from("{" + base(server) + R"(,
    "executor": "constant-vus", "vus": 4, "duration": "1s", "gracefulStop": "5s", "threads": 1,
    "timeouts": {"request": "1050ms"}, "requests": [{"url": "/delay/1060"}]})"));
  const RequestCounters& counters = result.requests[0].counters;
  REQUIRE(counters.requests >= 4);
  CHECK(counters.errors[static_cast<size_t>(ErrorClass::kTimeout)] == counters.requests);
}

TEST_CASE("chunked bodies are read whole, and checks see them") {
  TestServer server;
  const RunResult result = run(scenario_from("{" + base(server) + R"(,
    "executor": "constant-vus", "vus": 2, "duration": "300ms", "gracefulStop": "5s", "threads": 1,
    "requests": [{"url": "/chunked", "checks": {"whole body": "body contains 'hello, world'",
                                                "ok": "status == 200", "wrong": "status == 201"}}]})"));
  const RequestCounters& counters = result.requests[0].counters;
  REQUIRE(counters.requests > 0);
  REQUIRE(counters.failed == 0);
  REQUIRE(counters.checks[0].passes == counters.requests);
  REQUIRE(counters.checks[1].passes == counters.requests);
  REQUIRE(counters.checks[2].fails == counters.requests);
  REQUIRE(result.total_checks().passes == 2 * counters.requests);
}

TEST_CASE("template variables reach the server: ids in range, sequence numbers unique") {
  TestServer server;
  const RunResult result = run(scenario_from("{" + base(server) + R"(,
    "executor": "constant-arrival-rate", "rate": 100, "duration": "1s", "preAllocatedVUs": 4,
    "gracefulStop": "5s", "threads": 2,
    "variables": {"organizationId": {"range": [1, 3], "prefix": "org_"}, "callId": {"sequence": true, "prefix": "call_"},
                  "q": ["café & co/x"], "note": "say \"hi\" \\ o"},
    "requests": [{"method": "POST", "url": "/calls/{{callId}}?org={{organizationId}}&q={{q}}",
                  "body": {"organizationId": "{{organizationId}}", "callId": "{{callId}}", "note": "{{note}}"}}]})"));
  const uint64_t requests = result.total_counters().requests;
  REQUIRE(requests > 50);
  const std::string log = server.log();
  std::set<std::string> calls;
  size_t lines = 0;
  for (size_t at = 0, end; (end = log.find('\n', at)) != std::string::npos; at = end + 1, ++lines) {
    const std::string line = log.substr(at, end - at);
    // POST /calls/call_N?org=org_K&q=... HTTP/1.1 {"organizationId":"org_K","callId":"call_N",...}
    const size_t call_start = line.find("/calls/") + 7;
    const std::string call = line.substr(call_start, line.find('?') - call_start);
    const std::string org = line.substr(line.find("?org=") + 5, 5);
    INFO(line);
    REQUIRE(call.rfind("call_", 0) == 0);
    REQUIRE((org == "org_1" || org == "org_2" || org == "org_3"));
    // A value in the URL is percent-encoded; the URL's own '?', '=' and '&' are not.
    REQUIRE(line.find("&q=caf%C3%A9%20%26%20co%2Fx HTTP/1.1") != std::string::npos);
    // A value in a body written as inline JSON is escaped as a JSON string, so the body is
    // still JSON: the note's quotes and backslash go as \" and \\.
    REQUIRE(line.find("{\"organizationId\":\"" + org + "\",\"callId\":\"" + call +
                      R"(","note":"say \"hi\" \\ o"})") != std::string::npos);
    calls.insert(call);
  }
  REQUIRE(lines == requests);
  REQUIRE(calls.size() == requests);  // unique across both threads
}

TEST_CASE("ramping VUs follow the stages; ramping arrival rate sends the integral of its rate") {
  TestServer server;
  const RunResult ramping = run(scenario_from("{" + base(server) + R"(,
    "executor": "ramping-vus", "startVUs": 0, "gracefulStop": "5s", "threads": 2,
    "stages": [{"duration": "1s", "target": 6}, {"duration": "1s", "target": 6}, {"duration": "500ms", "target": 0}],
    "thinkTime": "20ms", "requests": [{"url": "/"}]})"));
  REQUIRE(ramping.vus_max == 6);
  REQUIRE(ramping.total_counters().requests > 0);
  REQUIRE(ramping.intervals.size() >= 2);
  REQUIRE(ramping.intervals[1].vus == 6);  // at 2 s the ramp is at its top
  REQUIRE(server.served() == ramping.total_counters().requests);

  // 0 -> 200/s over 1 s (100 arrivals), then 200/s for 1 s (200 arrivals).
  const RunResult arrivals = run(scenario_from("{" + base(server) + R"(,
    "executor": "ramping-arrival-rate", "startRate": 0, "preAllocatedVUs": 10, "gracefulStop": "5s",
    "threads": 2, "stages": [{"duration": "1s", "target": 200}, {"duration": "1s", "target": 200}],
    "requests": [{"url": "/"}]})"));
  REQUIRE(arrivals.total_counters().requests + arrivals.dropped_iterations == 300);
}

TEST_CASE("ramping VUs down keeps a VU until the line reaches the number below it, as k6") {
  TestServer server;
  // One VU ramped down to none over 1 s leaves at the end of the stage, not at its start:
  // it goes on sending its 50 ms requests through the stage.
  const RunResult result = run(scenario_from("{" + base(server) + R"(,
    "executor": "ramping-vus", "startVUs": 1, "gracefulStop": "5s", "threads": 1,
    "stages": [{"duration": "1s", "target": 0}], "requests": [{"url": "/delay/50"}]})"));
  CHECK(result.vus_max == 1);
  CHECK(result.total_counters().requests >= 2);
  CHECK(server.served() == result.total_counters().requests);
}

TEST_CASE("a VU ramped down mid-request has gracefulRampDown to finish it, then it is cut off") {
  TestServer server;
  // Two VUs each send one 3 s request at the start; the second stage ramps them down to none
  // from 1 s, which takes one VU away at 1.5 s (as k6, when the line reaches the number below
  // it): its request has 200 ms left to finish, and does not; the other VU's request ends
  // within the graceful stop after the stages.
  const std::string ramp_down = "{" + base(server) + R"(,
    "executor": "ramping-vus", "startVUs": 2, "gracefulStop": "10s", "threads": 1,
    "stages": [{"duration": "1s", "target": 2}, {"duration": "1s", "target": 0}],
    "requests": [{"url": "/delay/3000"}])";
  const RunResult cut = run(scenario_from(ramp_down + R"(, "gracefulRampDown": "200ms"})"));
  CHECK(cut.total_counters().requests == 1);
  CHECK(cut.total_counters().interrupted == 1);
  CHECK(cut.iterations == 1);
  // By default (30s, as k6) the ramped-down VU's request has time to finish.
  const RunResult finished = run(scenario_from(ramp_down + "}"));
  CHECK(finished.total_counters().requests == 2);
  CHECK(finished.total_counters().interrupted == 0);
  CHECK(finished.iterations == 2);
}

TEST_CASE("with whenNoVuFree drop, arrivals that find every VU busy are dropped and counted") {
  TestServer server;
  const RunResult result = run(scenario_from("{" + base(server) + R"(,
    "executor": "constant-arrival-rate", "rate": 100, "duration": "1s", "preAllocatedVUs": 1,
    "maxVUs": 1, "whenNoVuFree": "drop", "gracefulStop": "5s", "threads": 1,
    "requests": [{"url": "/delay/100"}]})"));
  const uint64_t requests = result.total_counters().requests;
  REQUIRE(requests + result.dropped_iterations == 100);
  REQUIRE(requests <= 11);  // one VU, 100 ms each: about ten in a second
  REQUIRE(result.dropped_iterations >= 89);
  REQUIRE(result.delayed_iterations == 0);  // none waited: they were dropped
}

TEST_CASE(
    "with whenNoVuFree queue, arrivals that find every VU busy wait and are counted delayed") {
  TestServer server;
  // One VU, 100 ms a request, 20 arrivals in 1 s (one every 50 ms): the first is sent on
  // time, the others wait their turn; those still waiting at the end never ran (dropped).
  // (The run is ten times the first response's 100 ms, so a loaded machine still sees the
  // second request go out.)
  const RunResult result = run(scenario_from("{" + base(server) + R"(,
    "executor": "constant-arrival-rate", "rate": 20, "duration": "1s", "preAllocatedVUs": 1,
    "maxVUs": 1, "gracefulStop": "5s", "threads": 1, "requests": [{"url": "/delay/100"}]})"));
  const uint64_t requests = result.total_counters().requests;
  REQUIRE(requests + result.dropped_iterations == 20);
  REQUIRE(requests >= 2);
  REQUIRE(result.delayed_iterations == requests - 1);
  const auto findings = recommendations(result);
  REQUIRE(std::any_of(findings.begin(), findings.end(), [&](const Recommendation& r) {
    return r.description.find(format_count(requests - 1, "iteration", "iterations") +
                              " waited for a free VU") == 0;
  }));
}

TEST_CASE("an arrival that waited for a VU is counted delayed though the loop slept through it") {
  TestServer server;
  // One VU, two arrivals 50 ms apart (20 a second for 100 ms, then none for 2 s), 80 ms a
  // request: the second finds the VU busy and goes out when the first response frees it,
  // which is the first thing that wakes the loop unless the machine is slow (its timeout
  // sweep is at 100 ms). It waited for a VU all the same.
  for (const char* mode : {"queue", "drop"}) {
    INFO(mode);
    const RunResult result = run(scenario_from("{" + base(server) + R"(,
      "executor": "ramping-arrival-rate", "startRate": 20, "stages": [
        {"duration": "100ms", "target": 20}, {"duration": 0, "target": 0},
        {"duration": "2s", "target": 0}],
      "preAllocatedVUs": 1, "maxVUs": 1, "whenNoVuFree": ")" +
                                               mode + R"(", "gracefulStop": "5s", "threads": 1,
      "requests": [{"url": "/delay/80"}]})"));
    if (std::string(mode) == "queue") {
      CHECK(result.total_counters().requests == 2);
      CHECK(result.delayed_iterations == 1);
      CHECK(result.dropped_iterations == 0);
    } else {
      CHECK(result.total_counters().requests == 1);
      CHECK(result.delayed_iterations == 0);
      CHECK(result.dropped_iterations == 1);
    }
  }
}

TEST_CASE("at a rate no VU can keep up with, every arrival is sent or counted dropped") {
  TestServer server;
  // Millions a second, up to the highest rate a scenario takes (1e8): the arrivals that found
  // no VU are counted in one step, not one by one, up to the last one due before the end
  // (none rounds past it).
  struct Case {
    const char* rate;
    uint64_t arrivals;  // in 300 ms
  };
  for (const Case& c :
       {Case{"1000000", 300'000}, Case{"9999999", 3'000'000}, Case{"100000000", 30'000'000}}) {
    for (const char* mode : {"drop", "queue"}) {
      INFO(c.rate << " a second, " << mode);
      const RunResult result = run(scenario_from("{" + base(server) + R"(,
        "executor": "constant-arrival-rate", "rate": )" +
                                                 c.rate + R"(, "duration": "300ms",
        "preAllocatedVUs": 3, "maxVUs": 3, "whenNoVuFree": ")" +
                                                 mode + R"(",
        "gracefulStop": "5s", "threads": 2, "requests": [{"url": "/"}]})"));
      CHECK(result.total_counters().requests + result.dropped_iterations == c.arrivals);
      CHECK(result.dropped_iterations > c.arrivals * 8 / 10);
    }
  }
}

TEST_CASE("arrivals go to the threads in proportion to their VUs") {
  TestServer server;
  // Three VUs on two threads: thread 0 has VUs 0 and 2, thread 1 has VU 1, so thread 1 takes
  // a third of the arrivals (an even split would give its one VU half of them).
  const RunResult result = run(scenario_from("{" + base(server) + R"(,
    "executor": "constant-arrival-rate", "rate": 30, "duration": "1s", "preAllocatedVUs": 3,
    "maxVUs": 3, "gracefulStop": "5s", "threads": 2, "requests": [{"url": "/vu/{{vu}}"}]})"));
  REQUIRE(result.total_counters().requests == 30);
  REQUIRE(result.dropped_iterations == 0);
  REQUIRE(result.delayed_iterations == 0);  // a VU was free for every arrival
  const std::string log = server.log();
  size_t by_vu[3] = {0, 0, 0};
  for (size_t at = 0; (at = log.find("GET /vu/", at)) != std::string::npos; at += 8)
    ++by_vu[log[at + 8] - '0'];
  CHECK(by_vu[1] == 10);
  CHECK(by_vu[0] + by_vu[2] == 20);
}

TEST_CASE("abortOnFail stops the run early") {
  TestServer server;
  const auto started = std::chrono::steady_clock::now();
  const RunResult result = run(scenario_from("{" + base(server) + R"(,
    "executor": "constant-vus", "vus": 2, "duration": "30s", "gracefulStop": "1s", "threads": 1,
    "requests": [{"url": "/delay/20"}],
    "thresholds": {"http_req_duration": [{"threshold": "p(95)<5", "abortOnFail": true}]}})"));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  REQUIRE(result.info.aborted);
  REQUIRE(result.info.abort_reasons ==
          std::vector<std::string>{"threshold http_req_duration 'p(95)<5' failed (abortOnFail)"});
  REQUIRE(seconds < 25);  // far less than the 30 s asked for
  REQUIRE(result.total_counters().requests > 0);
}

TEST_CASE("an unreachable target is an error before the run") {
  QuickOptions options;
  const std::string port = std::to_string(qv::loadtest::testing::closed_port());
  options.url = "http://127.0.0.1:" + port + "/";
  auto scenario = quick_scenario(options);
  REQUIRE(scenario.ok());
  auto result = run_load_test(scenario.value());
  REQUIRE_FALSE(result.ok());
  REQUIRE(result.error().message == "target http://127.0.0.1:" + port +
                                        " is unreachable: tried 127.0.0.1:" + port +
                                        " (Connection refused)");
  options.url = "http://no-such-host.invalid/";
  auto unresolved = run_load_test(quick_scenario(options).value());
  REQUIRE_FALSE(unresolved.ok());
  REQUIRE(unresolved.error().message.rfind("cannot resolve host 'no-such-host.invalid'", 0) == 0);
}

TEST_CASE("a host's addresses are tried in order, and the run keeps the first that accepts") {
  // localhost as a stock /etc/hosts has it, ::1 first, with the server on 127.0.0.1 only: as
  // given here, not as this machine resolves it. ::1 refuses (or, without IPv6, cannot be
  // reached at all); either way 127.0.0.1 is next.
  TestServer server;
  const int closed = qv::loadtest::testing::closed_port();
  auto loopback = [](int family, int port) {
    Address address;
    if (family == AF_INET6) {
      auto& v6 = reinterpret_cast<sockaddr_in6&>(address.storage);
      v6.sin6_family = AF_INET6;
      v6.sin6_addr = in6addr_loopback;
      v6.sin6_port = htons(static_cast<uint16_t>(port));
      address.length = sizeof v6;
    } else {
      auto& v4 = reinterpret_cast<sockaddr_in&>(address.storage);
      v4.sin_family = AF_INET;
      v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      v4.sin_port = htons(static_cast<uint16_t>(port));
      address.length = sizeof v4;
    }
    return address;
  };
  std::vector<std::string> resolved;
  RunHooks hooks;
  hooks.resolve = [&](const Origin& origin) -> Result<std::vector<Address>> {
    resolved.push_back(origin.host + ":" + std::to_string(origin.port));
    return std::vector<Address>{loopback(AF_INET6, origin.port), loopback(AF_INET, origin.port)};
  };
  QuickOptions options;
  options.url = "http://localhost:" + std::to_string(server.port()) + "/";
  options.connections = 4;
  options.threads = 1;
  options.duration = 300 * kMicrosPerMilli;
  auto result = run_load_test(quick_scenario(options).value(), hooks);
  if (!result.ok()) FAIL("run: " << result.error().message);
  REQUIRE(resolved == std::vector<std::string>{"localhost:" + std::to_string(server.port())});
  // Every connection of the run went to 127.0.0.1: none failed on ::1.
  const auto totals = result.value().total_counters();
  REQUIRE(totals.requests > 0);
  REQUIRE(totals.failed == 0);
  REQUIRE(server.served() >= totals.requests);
  // The result says which address that was, for the summaries.
  const std::string port = std::to_string(server.port());
  REQUIRE(result.value().info.addresses ==
          std::vector<OriginAddress>{{"http://localhost:" + port, "127.0.0.1:" + port}});

  // None accepting: every address is named with its reason.
  hooks.resolve = [&](const Origin&) -> Result<std::vector<Address>> {
    return std::vector<Address>{loopback(AF_INET6, closed), loopback(AF_INET, closed)};
  };
  options.url = "http://localhost:" + std::to_string(closed) + "/";
  auto refused = run_load_test(quick_scenario(options).value(), hooks);
  REQUIRE_FALSE(refused.ok());
  const std::string closed_port = std::to_string(closed);
  const std::string& message = refused.error().message;
  INFO(message);
  REQUIRE(message.rfind("target http://localhost:" + closed_port +
                            " is unreachable: tried [::1]:" + closed_port + " (",
                        0) == 0);
  REQUIRE(message.ends_with("), 127.0.0.1:" + closed_port + " (Connection refused)"));
}

TEST_CASE("two requests with one name keep their own checks apart") {
  TestServer server;
  const RunResult result = run(scenario_from("{" + base(server) + R"(,
    "executor": "constant-vus", "vus": 2, "duration": "300ms", "gracefulStop": "5s", "threads": 1,
    "requests": [{"name": "calls", "url": "/", "checks": {"ok": "status == 200"}},
                 {"name": "calls", "url": "/status/404", "checks": {"missing": "status == 404", "ok": "status == 200"}}]})"));
  REQUIRE(result.requests.size() == 1);
  const RequestTotals& calls = result.requests[0];
  REQUIRE(calls.check_names == std::vector<std::string>{"ok", "missing"});
  const uint64_t not_found = calls.counters.errors[static_cast<size_t>(ErrorClass::kHttp4xx)];
  REQUIRE(not_found > 0);
  REQUIRE(calls.counters.checks[1].passes == not_found);  // "missing" judged 404s only
  REQUIRE(calls.counters.checks[1].fails == 0);
  REQUIRE(calls.counters.checks[0].passes == calls.counters.requests - not_found);
  REQUIRE(calls.counters.checks[0].fails == not_found);
}
