// What the load tester reads: durations, URLs, templates and their variables, checks,
// thresholds, HTTP responses, and scenario files, with the error each bad input gets.
#include <algorithm>
#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <vector>

#include "loadtest/builtin_scenarios.h"
#include "loadtest/http_response_parser.h"
#include "loadtest/scenario.h"
#include "loadtest/summary.h"
#include "support.h"

using namespace qv::loadtest;

namespace {

std::string scenario_error(std::string_view json, ScenarioOverrides overrides = {}) {
  auto scenario = parse_scenario(json, overrides);
  return scenario.ok() ? std::string("(no error)") : scenario.error().message;
}

// The error of scenario `json` when its one request sends header X-A with value `header`
// (JSON-escaped as written here).
std::string header_error(std::string json, const std::string& header) {
  const std::string request = R"({"name": "home", "url": "/"})";
  json.replace(json.find(request), request.size(),
               R"({"name": "home", "url": "/", "headers": {"X-A": ")" + header + R"("}})");
  return scenario_error(json);
}

// A valid scenario with one part replaced: `extra` is spliced in as more top-level fields.
std::string with(
    const std::string& extra,
    const std::string& executor = R"("executor": "constant-vus", "vus": 2, "duration": "1s")") {
  return R"({"baseUrl": "http://127.0.0.1:8080", )" + executor +
         R"(, "requests": [{"name": "home", "url": "/"}])" + (extra.empty() ? "" : ", " + extra) +
         "}";
}

}  // namespace

TEST_CASE("durations read the way k6 writes them") {
  REQUIRE(parse_duration("500ms").value() == 500'000);
  REQUIRE(parse_duration("30s").value() == 30'000'000);
  REQUIRE(parse_duration("5m").value() == 300'000'000);
  REQUIRE(parse_duration("1h30m").value() == 5'400'000'000);
  REQUIRE(parse_duration("1.5s").value() == 1'500'000);
  REQUIRE(parse_duration("250us").value() == 250);
  REQUIRE(parse_duration("10").value() == 10'000'000);  // bare: seconds, as wrk's -d
  REQUIRE(parse_duration(".5s").value() == 500'000);
  // Only plain decimals: strtod's hex, exponents and signs are not durations, and neither is
  // a number of seconds beyond what a run could last.
  for (const char* bad : {"", "s", "10x", "-1s", "1s-", "abc", "1e400s", "1e13", "0x1", "0x10s",
                          "+5s", "inf", "1e3s", "99999999999"}) {
    INFO(bad);
    REQUIRE_FALSE(parse_duration(bad).ok());
  }
  REQUIRE(parse_duration("10x").error().message ==
          "cannot parse duration '10x' (use e.g. 500ms, 30s, 5m, 1h30m; a bare number is seconds)");
  // A duration that reads but runs past the limit says so, not that it cannot be read.
  REQUIRE(parse_duration("1000000001").error().message ==
          "duration '1000000001' is above the limit of 1000000000 seconds");
  REQUIRE(parse_duration("1000000000").ok());
  REQUIRE(format_clock(90 * kMicrosPerSecond) == "1m30s");
  REQUIRE(format_duration(1234) == "1.23ms");
}

TEST_CASE("URLs: origin and target, base URLs, and what is refused") {
  auto split = split_url("http://127.0.0.1:8080/api/x?y=1");
  REQUIRE(split.ok());
  REQUIRE(split.value().origin.host == "127.0.0.1");
  REQUIRE(split.value().origin.port == 8080);
  REQUIRE(split.value().origin.host_header == "127.0.0.1:8080");
  REQUIRE(split.value().target == "/api/x?y=1");
  REQUIRE(split_url("http://localhost").value().target == "/");
  REQUIRE(split_url("http://[::1]:81/").value().origin.host == "::1");
  REQUIRE(resolve_url("http://h:1/base/", "/calls").value().target == "/base/calls");
  REQUIRE(resolve_url("http://h:1", "calls?x=1").value().target == "/calls?x=1");
  REQUIRE(resolve_url("http://h:1", "http://other:2/z").value().origin.host == "other");
  auto secure = split_url("https://edge.example/api?x=1").value();
  REQUIRE(secure.origin.tls);
  REQUIRE(secure.origin.port == 443);
  REQUIRE(secure.origin.host_header == "edge.example");
  REQUIRE(secure.origin.to_string() == "https://edge.example");
  REQUIRE(secure.target == "/api?x=1");
  REQUIRE(split_url("https://[::1]:8443").value().origin.port == 8443);
  REQUIRE_FALSE(split_url("http://x").value().origin.tls);
  REQUIRE(resolve_url("http://h:1", "https://h:1/z").value().origin.tls);
  // A scheme in any case is the scheme (RFC 3986).
  REQUIRE(split_url("HTTPS://Edge.example/A").value().origin.tls);
  REQUIRE(split_url("HTTPS://Edge.example/A").value().target == "/A");
  REQUIRE(resolve_url("http://h:1", "Http://other:2/z").value().origin.host == "other");
  REQUIRE(split_url("ftp://x/").error().message ==
          "'ftp://x/': expected an http:// or https:// URL");
  REQUIRE(split_url("http://x:99999/").error().message ==
          "'http://x:99999/': port '99999' is not a number from 1 to 65535");
  REQUIRE_FALSE(split_url("http://{{host}}/").ok());
  // The target goes on the request line as it is: a space, a line break, a NUL or another
  // control character would reach the server raw (a NUL makes nginx refuse the request).
  REQUIRE(
      split_url("http://x/a b").error().message ==
      "'http://x/a b': spaces, line breaks and other control characters must be percent-encoded");
  REQUIRE(split_url(std::string("http://x/a\0b", 12)).error().message ==
          "'http://x/a\\u0000b': spaces, line breaks and other control characters must be "
          "percent-encoded");
  REQUIRE(resolve_url("http://h:1", "/a\x1b[2J").error().message ==
          "'/a\\u001b[2J': spaces, line breaks and other control characters must be "
          "percent-encoded");
  REQUIRE(resolve_url("http://h:1", "/a\x7f").error().message ==
          "'/a\\u007f': spaces, line breaks and other control characters must be percent-encoded");
  REQUIRE(split_url("http://x/caf\xc3\xa9").ok());  // bytes above ASCII go as they are
  REQUIRE_FALSE(resolve_url("", "/x").ok());
}

TEST_CASE("templates draw each variable once per iteration") {
  std::vector<Variable> variables(4);
  variables[0].name = "organizationId";
  variables[0].kind = Variable::Kind::kOneOf;
  variables[0].values = {"org_1", "org_2", "org_3"};
  variables[1].name = "leadId";
  variables[1].kind = Variable::Kind::kRange;
  variables[1].min = 10;
  variables[1].max = 12;
  variables[1].prefix = "lead_";
  variables[2].name = "callId";
  variables[2].kind = Variable::Kind::kSequence;
  variables[2].prefix = "call_";
  variables[3].name = "region";
  variables[3].values = {"eu-west-1"};
  auto compiled = Template::compile(
      "{{organizationId}}|{{organizationId}}|{{leadId}}|{{callId}}|{{region}}|{{seq}}|{{vu}}|"
      "{{iteration}}|{{ uuid }}|{{timestamp}}",
      variables);
  REQUIRE(compiled.ok());
  REQUIRE_FALSE(compiled.value().is_static());
  Rng rng(1);
  IterationValues values(variables, rng);
  std::set<std::string> organizations, leads;
  for (uint64_t i = 0; i < 200; ++i) {
    values.begin(1000 + i, 7, i, 1700000000000);
    std::string out;
    compiled.value().render(values, out);
    std::vector<std::string> parts;
    size_t at = 0;
    for (size_t bar; (bar = out.find('|', at)) != std::string::npos; at = bar + 1)
      parts.push_back(out.substr(at, bar - at));
    parts.push_back(out.substr(at));
    REQUIRE(parts.size() == 10);
    REQUIRE(parts[0] == parts[1]);  // one draw per iteration
    organizations.insert(parts[0]);
    leads.insert(parts[2]);
    REQUIRE(parts[3] == "call_" + std::to_string(1000 + i));
    REQUIRE(parts[4] == "eu-west-1");
    REQUIRE(parts[5] == std::to_string(1000 + i));
    REQUIRE(parts[6] == "7");
    REQUIRE(parts[7] == std::to_string(i));
    REQUIRE(parts[8].size() == 36);
    REQUIRE(parts[8][14] == '4');  // UUID version 4
    REQUIRE(parts[9] == "1700000000000");
  }
  REQUIRE(organizations == std::set<std::string>{"org_1", "org_2", "org_3"});
  REQUIRE(leads == std::set<std::string>{"lead_10", "lead_11", "lead_12"});

  REQUIRE(Template::compile("/plain/path", variables).value().is_static());
  auto unknown = Template::compile("/x/{{orgId}}", variables);
  REQUIRE(unknown.error().message ==
          "unknown variable '{{orgId}}' (variables: organizationId, leadId, callId, region; "
          "built-in: seq, vu, iteration, uuid, timestamp)");
  REQUIRE(Template::compile("/x/{{seq", variables).error().message ==
          "unterminated '{{' at offset 3");
}

TEST_CASE("checks parse and judge responses") {
  REQUIRE(Check::parse("ok", "status == 200").value().passes(200, 1, "", 0));
  REQUIRE_FALSE(Check::parse("ok", "status == 200").value().passes(201, 1, "", 0));
  REQUIRE(Check::parse("fast", "duration < 500").value().passes(200, 499.9, "", 0));
  REQUIRE_FALSE(Check::parse("fast", "duration<500").value().passes(200, 500, "", 0));
  REQUIRE(Check::parse("b", "body contains 'world'").value().passes(200, 1, "hello, world", 12));
  REQUIRE(Check::parse("b", "body contains world").value().needs_body());
  REQUIRE(Check::parse("size", "bodySize > 0").value().passes(200, 1, "", 5));
  REQUIRE(Check::parse("x", "status is 200").error().message ==
          "cannot parse 'status is 200' (use status == 200, duration < 500, body contains 'text', "
          "bodySize > 0)");
  // As docs/loadtest.md says: JavaScript's === and !== (what a k6 script's checks use) are
  // == and !=.
  REQUIRE(Check::parse("ok", "status === 200").value().passes(200, 1, "", 0));
  REQUIRE_FALSE(Check::parse("ok", "status === 200").value().passes(201, 1, "", 0));
  REQUIRE(Check::parse("not 5xx", "status !== 500").value().passes(200, 1, "", 0));
  REQUIRE_FALSE(Check::parse("not 5xx", "status!==500").value().passes(500, 1, "", 0));
  REQUIRE(Check::parse("size", "bodySize >= 5").value().passes(200, 1, "", 5));
  // Bare text is the rest of the expression, spaces at its ends trimmed, inner ones kept;
  // quotes keep spaces at the ends; no escapes (the quotes are the first and last
  // characters, so one inside stays); a lone quote is text.
  const Check bare = Check::parse("b", "body contains  hello world  ").value();
  REQUIRE(bare.text == "hello world");
  REQUIRE(bare.passes(200, 1, "say hello world", 15));
  REQUIRE_FALSE(bare.passes(200, 1, "hello, world", 12));
  REQUIRE(Check::parse("b", "body contains ' x '").value().text == " x ");
  REQUIRE(Check::parse("b", "body contains \"it's\"").value().text == "it's");
  REQUIRE(Check::parse("b", "body contains 'it's'").value().text == "it's");
  REQUIRE(Check::parse("b", "body contains 'open").value().text == "'open");
  REQUIRE(Check::parse("b", "body contains'id'").value().text == "id");
  // "contains" is a word of its own, and needs text.
  REQUIRE_FALSE(Check::parse("b", "body containsid").ok());
  REQUIRE_FALSE(Check::parse("b", "body contains").ok());
  REQUIRE_FALSE(Check::parse("b", "body contains ''").ok());
}

TEST_CASE("thresholds parse in k6's syntax") {
  const std::vector<std::string> names = {"calls.start", "calls.end"};
  auto parse = [&](const std::string& metric, const std::string& expression) {
    return parse_threshold(ThresholdSource{metric, expression, false, 0}, names);
  };
  auto p95 = parse("http_req_duration", "p(95)<200");
  REQUIRE(p95.ok());
  REQUIRE(p95.value().aggregation == Threshold::Aggregation::kPercentile);
  REQUIRE(p95.value().percentile == 95);
  REQUIRE(p95.value().comparison == Comparison::kLess);
  REQUIRE(p95.value().bound == 200);
  REQUIRE(parse("http_req_duration", " p( 99.9 ) <= 300 ").value().percentile == 99.9);
  REQUIRE(parse("http_req_duration", "avg<100").value().aggregation ==
          Threshold::Aggregation::kAvg);
  REQUIRE(parse("http_req_duration", "med==5").ok());
  REQUIRE(parse("http_req_failed", "rate<0.01").ok());
  REQUIRE(parse("http_reqs", "count>=10").ok());
  REQUIRE(parse("http_reqs", "rate>100").ok());
  REQUIRE(parse("http_reqs", "count>1e3").value().bound == 1000);
  REQUIRE_FALSE(parse("http_req_duration", "p(95)<0x10").ok());
  REQUIRE_FALSE(parse("http_req_duration", "p(95)<inf").ok());
  REQUIRE(parse("checks", "rate>0.99").ok());
  REQUIRE(parse("http_req_duration{name:calls.start}", "p(90)<50").value().request_name ==
          "calls.start");

  REQUIRE(parse("http_req_duration", "p(95)<<200").error().message == "cannot parse 'p(95)<<200'");
  REQUIRE(parse("http_req_duration", "p95<200").error().message == "cannot parse 'p95<200'");
  REQUIRE(parse("http_req_duration", "p(95)<200ms").error().message ==
          "cannot parse 'p(95)<200ms'");
  REQUIRE(parse("http_req_duration", "p(101)<1").error().message ==
          "percentile in 'p(101)<1' must be from 0 to 100");
  REQUIRE(parse("http_req_failed", "p(95)<1").error().message ==
          "'p(95)' does not apply to http_req_failed, a rate: use rate");
  REQUIRE(parse("http_reqs", "avg<1").error().message ==
          "'avg' does not apply to http_reqs, a counter: use count or rate");
  REQUIRE(parse("http_req_latency", "p(95)<1")
              .error()
              .message.rfind("unknown metric 'http_req_latency' (known: http_req_duration, ", 0) ==
          0);
  REQUIRE(parse("http_req_duration{name:nope}", "p(95)<1").error().message ==
          "no request named 'nope' (requests: calls.start, calls.end)");
  REQUIRE(parse("http_req_duration{status:200}", "p(95)<1").error().message ==
          "unsupported tag '{status:200}': only {name:REQUEST} is supported");
  REQUIRE(parse_threshold_option("http_req_duration{name:a:b}:p(95)<200").value().metric ==
          "http_req_duration{name:a:b}");
  REQUIRE_FALSE(parse_threshold_option("p(95)<200").ok());
  // Spaces around the colon belong to neither side.
  auto spaced = parse_threshold_option("http_req_duration : p(95) < 200 ");
  REQUIRE(spaced.ok());
  CHECK(spaced.value().metric == "http_req_duration");
  CHECK(spaced.value().expression == "p(95) < 200");
  REQUIRE_FALSE(parse_threshold_option("http_req_duration: ").ok());
}

TEST_CASE("thresholds evaluate against a result") {
  RunResult result;
  result.declare_request("a", {"ok"});
  result.declare_request("b", {});
  result.declare_request("unanswered", {});
  result.declare_request("never sent", {});
  result.info.duration = 2 * kMicrosPerSecond;
  for (int i = 1; i <= 100; ++i) result.requests[0].latency.record(i * 1000);  // 1..100 ms
  result.requests[1].latency.record(500'000);
  result.requests[0].counters.requests = 100;
  result.requests[0].counters.failed = 2;
  result.requests[0].counters.checks = {{99, 1}};
  result.requests[1].counters.requests = 1;
  result.requests[2].counters.requests = 3;  // each refused or reset: no duration
  result.requests[2].counters.failed = 3;
  result.iterations = 104;
  auto outcome = [&](const std::string& metric, const std::string& expression) {
    auto threshold =
        parse_threshold({metric, expression, false, 0}, {"a", "b", "unanswered", "never sent"});
    REQUIRE(threshold.ok());
    return evaluate_threshold(threshold.value(), result);
  };
  // 95 ms reads as the top of its bucket, within 0.1% (HdrHistogram's highest equivalent).
  REQUIRE(outcome("http_req_duration{name:a}", "p(95)<=95.1").ok);
  REQUIRE_FALSE(outcome("http_req_duration{name:a}", "p(95)<95").ok);
  REQUIRE(outcome("http_req_duration{name:a}", "p(95)<95").value == Approx(95).epsilon(0.001));
  REQUIRE_FALSE(outcome("http_req_duration", "max<500").ok);
  REQUIRE(outcome("http_req_duration{name:a}", "avg==50.5").ok);
  REQUIRE(outcome("http_req_failed", "rate<0.05").ok);  // 5 of 104
  REQUIRE_FALSE(outcome("http_req_failed{name:a}", "rate<0.02").ok);
  REQUIRE(outcome("http_reqs", "count==104").ok);
  REQUIRE(outcome("http_reqs", "rate==52").ok);
  REQUIRE(outcome("checks", "rate==0.99").ok);
  REQUIRE(outcome("iterations", "count==104").ok);
  // No data: the threshold holds (k6), and says so...
  auto no_data = outcome("http_req_duration{name:never sent}", "p(99)<1");
  REQUIRE(no_data.ok);
  REQUIRE_FALSE(no_data.has_value);
  // ... but a request duration's fails when requests were made and none was answered.
  for (const char* metric :
       {"http_req_duration{name:unanswered}", "http_req_duration_uncorrected{name:unanswered}"}) {
    INFO(metric);
    auto unanswered = outcome(metric, "p(99)<1");
    REQUIRE_FALSE(unanswered.ok);
    REQUIRE_FALSE(unanswered.has_value);
  }
  REQUIRE(outcome("http_req_waiting{name:unanswered}", "p(99)<1").ok);  // a phase: no data holds
  // Requests still unanswered when the run ended (a server that hangs) were made too.
  result.declare_request("hung", {});
  result.requests[4].counters.interrupted = 2;
  // None answered: no goal on the duration, the failure rate or the checks holds.
  for (auto [metric, expression] : {std::pair{"http_req_duration{name:hung}", "p(95)<200"},
                                    std::pair{"http_req_failed{name:hung}", "rate<0.01"},
                                    std::pair{"checks{name:hung}", "rate>0.99"}}) {
    INFO(metric);
    auto threshold = parse_threshold({metric, expression, false, 0},
                                     {"a", "b", "unanswered", "never sent", "hung"});
    REQUIRE(threshold.ok());
    const ThresholdOutcome hung = evaluate_threshold(threshold.value(), result);
    REQUIRE_FALSE(hung.ok);
    REQUIRE_FALSE(hung.has_value);
  }
  // Never sent at all: still no data, and it holds; so do checks on answered requests that
  // have none.
  REQUIRE(outcome("http_req_failed{name:never sent}", "rate<0.01").ok);
  REQUIRE(outcome("checks{name:b}", "rate>0.99").ok);
  {  // During the run (abortOnFail's checks) the requests in flight may yet be answered.
    auto threshold = parse_threshold({"http_req_duration{name:unanswered}", "p(99)<1", true, 0},
                                     {"a", "b", "unanswered", "never sent"});
    REQUIRE(threshold.ok());
    REQUIRE(evaluate_threshold(threshold.value(), result, false).ok);
  }
  // The phases are trends of their own, per request name too.
  auto& phases = result.requests[0].phases;
  phases[static_cast<size_t>(Phase::kWaiting)].record(40'000);
  phases[static_cast<size_t>(Phase::kTlsHandshaking)].record(3'000);
  result.requests[1].phases[static_cast<size_t>(Phase::kWaiting)].record(80'000);
  REQUIRE(outcome("http_req_waiting", "max==80").ok);
  REQUIRE(outcome("http_req_waiting{name:a}", "max==40").ok);
  REQUIRE(outcome("http_req_tls_handshaking", "p(95)<4").ok);
  REQUIRE_FALSE(outcome("http_req_tls_handshaking", "p(95)<2").ok);
  REQUIRE_FALSE(outcome("http_req_connecting", "p(95)<1").has_value);
  REQUIRE(outcome("http_req_receiving", "avg<1").ok);
  {  // p(0) is the lowest duration recorded (min), also where its bucket holds higher ones.
    RunResult spread;
    spread.declare_request("c", {});
    for (int64_t micros : {100'010, 100'001, 250'000}) spread.requests[0].latency.record(micros);
    spread.requests[0].counters.requests = 3;
    auto evaluate = [&](const std::string& expression) {
      auto threshold = parse_threshold({"http_req_duration", expression, false, 0}, {"c"});
      REQUIRE(threshold.ok());
      return evaluate_threshold(threshold.value(), spread);
    };
    const ThresholdOutcome p0 = evaluate("p(0)<=100.001");
    REQUIRE(p0.ok);
    REQUIRE(p0.value == evaluate("min<1").value);
    REQUIRE(format_threshold_value(p0) == "p(0)=" + format_duration(100'001));
  }
}

TEST_CASE("a run an abortOnFail threshold aborted failed it, though the final data holds it") {
  // The failure rate once a second into the run, then with what finished during gracefulStop:
  // the engine's abortOnFail check and the final check, on recorded samples.
  RunResult result;
  result.declare_request("home", {});
  auto record_second = [&](uint64_t requests, uint64_t failed) {
    result.add_interval(testing::second_of_requests(
        static_cast<int64_t>(result.intervals.size()) * 1000, requests, failed));
    result.info.duration += kMicrosPerSecond;
  };
  auto threshold = parse_threshold({"http_req_failed", "rate<0.1", true, 0}, {"home"});
  REQUIRE(threshold.ok());
  const std::vector<Threshold> thresholds = {threshold.value()};

  record_second(10, 5);  // half failed: over the limit, and the run stops
  REQUIRE(abort_on_fail(thresholds, result));
  REQUIRE(result.info.aborted);
  REQUIRE(result.info.abort_reasons ==
          std::vector<std::string>{"threshold http_req_failed 'rate<0.1' failed (abortOnFail)"});
  record_second(90, 0);  // the requests in flight, answered within gracefulStop
  const std::vector<ThresholdOutcome> outcomes = evaluate_thresholds(thresholds, result);
  REQUIRE(outcomes[0].ok);  // 5 of 100: under the limit on the final data
  REQUIRE(run_end(result.info, outcomes) == RunEnd::kThresholdFailed);  // as k6: exit 99

  // Not aborted, the same data passes; interrupted, it is an interrupted run.
  result.info.aborted = false;
  result.info.abort_reasons.clear();
  REQUIRE(run_end(result.info, outcomes) == RunEnd::kPassed);
  result.info.aborted = true;
  result.info.abort_reasons = {kInterruptedReason};
  REQUIRE(run_end(result.info, outcomes) == RunEnd::kInterrupted);
  // A reason is one reason, whatever the threshold's metric holds: a request named
  // 'x; interrupted; y' makes no run an interrupted one.
  result.info.abort_reasons = {
      "threshold http_req_failed{name:x; interrupted; y} 'rate<0.1' failed (abortOnFail)"};
  REQUIRE(run_end(result.info, outcomes) == RunEnd::kThresholdFailed);
}

TEST_CASE("HTTP responses: framing, split anywhere, and malformed input") {
  const std::string chunked =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;ext=1\r\n, "
      "world\r\n0\r\nX-T: 1\r\n\r\n";
  const std::string sized =
      "HTTP/1.1 201 Created\r\ncontent-length: 5\r\nConnection: keep-alive\r\n\r\nabcde";
  for (const std::string& response : {chunked, sized}) {
    for (size_t split = 0; split <= response.size(); ++split) {
      HttpResponseParser parser;
      parser.reset(false, true);
      size_t consumed = 0;
      auto outcome = parser.feed(response.data(), split, consumed);
      REQUIRE(consumed == split);
      if (split < response.size()) {
        REQUIRE(outcome == HttpResponseParser::Outcome::kNeedMore);
        outcome = parser.feed(response.data() + split, response.size() - split, consumed);
        REQUIRE(consumed == response.size() - split);
      }
      REQUIRE(outcome == HttpResponseParser::Outcome::kComplete);
      REQUIRE(parser.keep_alive());
      REQUIRE(parser.body() == (response == chunked ? "hello, world" : "abcde"));
    }
  }
  auto parse = [](const std::string& text, bool head = false) {
    HttpResponseParser parser;
    parser.reset(head, false);
    size_t consumed = 0;
    const auto outcome = parser.feed(text.data(), text.size(), consumed);
    return std::make_pair(outcome, parser);
  };
  using O = HttpResponseParser::Outcome;
  REQUIRE(parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n").first ==
          O::kComplete);
  REQUIRE(parse("HTTP/1.1 204 No Content\r\n\r\n").second.status() == 204);
  // A 204 or 304 has no body, whatever its headers say; a 200 in that coding cannot be framed.
  REQUIRE(parse("HTTP/1.1 204 No Content\r\nTransfer-Encoding: gzip\r\n\r\n").first ==
          O::kComplete);
  REQUIRE(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n").first == O::kError);
  // 101 ends HTTP on the connection: a final answer, not an interim one.
  auto switching = parse("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n");
  REQUIRE(switching.first == O::kComplete);
  REQUIRE(switching.second.status() == 101);
  REQUIRE_FALSE(switching.second.keep_alive());
  // Headers above 64 KiB are refused, also when the whole block came in one read.
  const std::string big_header = "X-Big: " + std::string(70'000, 'a') + "\r\n";
  auto oversized = parse("HTTP/1.1 200 OK\r\n" + big_header + "Content-Length: 0\r\n\r\n");
  REQUIRE(oversized.first == O::kError);
  REQUIRE(std::string(oversized.second.error()) == "response headers larger than 64 KiB");
  REQUIRE(parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", true).first == O::kComplete);
  REQUIRE_FALSE(parse("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
                    .second.keep_alive());
  REQUIRE_FALSE(parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").second.keep_alive());
  REQUIRE(parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")
              .second.keep_alive());
  auto until_close = parse("HTTP/1.1 200 OK\r\n\r\nsome body");
  REQUIRE(until_close.first == O::kNeedMore);
  REQUIRE(until_close.second.finish_at_close() == O::kComplete);
  REQUIRE(until_close.second.body_bytes() == 9);
  REQUIRE(parse("HTTP/1.1 2x0 OK\r\n\r\n").first == O::kError);
  REQUIRE(parse("SMTP ready\r\n\r\n").first == O::kError);
  REQUIRE(parse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n").first ==
          O::kError);
  REQUIRE(parse("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n").first == O::kError);
  REQUIRE(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").first == O::kError);
  HttpResponseParser cut;
  cut.reset(false, false);
  size_t consumed;
  REQUIRE(cut.feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 41, consumed) ==
          O::kNeedMore);
  REQUIRE(cut.finish_at_close() == O::kError);
  REQUIRE(std::string(cut.error()) == "connection closed in the middle of a response");
}

TEST_CASE("scenario files: every kind of bad input names its field") {
  REQUIRE(scenario_error("{not json") ==
          "malformed JSON at line 1, column 2: expected a key in double quotes");
  // Written over several lines, a scenario's errors say where.
  REQUIRE(scenario_error("{\"executor\": \"constant-vus\",\n \"vus\": 2,\n}") ==
          "malformed JSON at line 3, column 1: expected a key in double quotes");
  // A number out of range is named by its field, invalid UTF-8 by where it is, as the
  // modules name them.
  REQUIRE(scenario_error("{\"executor\": \"constant-vus\",\n \"vus\": 1e999}") ==
          "vus (line 2, column 9): the number 1e999 is beyond a double's range");
  REQUIRE(scenario_error("{\"name\": \"caf\xe9\"}") ==
          "not valid UTF-8 at line 1, column 14 (byte 0xE9)");
  REQUIRE(scenario_error("{\"executor\": \"constant-vus\",\n \"vus\": 2,\n \"duration\": \"1x\"}")
              .rfind("duration (line 3, column 2): cannot parse duration '1x'", 0) == 0);
  REQUIRE(scenario_error("[]") == "the scenario: expected a JSON object, got an array");
  REQUIRE(scenario_error(
              with("", R"("executor": "constant-vus", "vus": 1, "vus": 5, "duration": "1s")")) ==
          "vus: given twice");
  REQUIRE(scenario_error(R"({"executor": "constant-vus", "vus": 1, "duration": "1s",
    "requests": [{"url": "http://a.test/"}, {"url": "http://a.test/", "headers": {"X-A": "1", "X-A": "2"}}]})") ==
          "requests[1].headers.X-A (line 2, column 95): given twice");
  REQUIRE(
      scenario_error(with(R"("thresholds": {"checks": ["rate>0.5"], "checks": ["rate>0.9"]})")) ==
      "thresholds.checks: given twice");
  // A request's body is sent as written: a repeated key in it is the sender's business.
  REQUIRE(scenario_error(R"({"executor": "constant-vus", "vus": 1, "duration": "1s",
    "requests": [{"url": "http://a.test/", "method": "POST", "body": {"a": 1, "a": 2}}]})") ==
          "(no error)");
  REQUIRE(scenario_error(with("", R"("executor": "constant-vu", "vus": 1, "duration": "1s")")) ==
          "executor: unknown executor 'constant-vu' (known: constant-vus, ramping-vus, "
          "constant-arrival-rate, ramping-arrival-rate)");
  REQUIRE(scenario_error(with("", R"("executor": "constant-vus", "duration": "1s")")) ==
          "vus: missing (constant-vus needs vus and duration)");
  REQUIRE(scenario_error(with("", R"("executor": "constant-vus", "vus": 0, "duration": "1s")")) ==
          "vus: expected a whole number from 1 to 10000000, got 0");
  REQUIRE(scenario_error(with("", R"("executor": "constant-vus", "vus": 2, "duration": "1x")")) ==
          "duration: cannot parse duration '1x' (use e.g. 500ms, 30s, 5m, 1h30m; a bare number is "
          "seconds)");
  REQUIRE(scenario_error(
              with("", R"("executor": "constant-vus", "vus": 2, "duration": "1s", "rate": 5)")) ==
          "rate: not used by the constant-vus executor");
  REQUIRE(scenario_error(with("", R"("executor": "ramping-vus", "stages": [])")) ==
          "stages: at least one stage is needed");
  // Arrival rates past 1e8 a second (after timeUnit) are refused, not run with counts that
  // mean nothing (1e300 dropped 2^62 iterations).
  REQUIRE(
      scenario_error(with(
          "",
          R"("executor": "constant-arrival-rate", "rate": 1e300, "duration": "1s", "preAllocatedVUs": 1)")) ==
      "rate: at most 100000000 iterations a second (the rate over timeUnit)");
  REQUIRE(
      scenario_error(with(
          "",
          R"("executor": "constant-arrival-rate", "rate": 200000, "timeUnit": "1ms", "duration": "1s", "preAllocatedVUs": 1)")) ==
      "rate: at most 100000000 iterations a second (the rate over timeUnit)");
  REQUIRE(
      scenario_error(with(
          "",
          R"("executor": "ramping-arrival-rate", "preAllocatedVUs": 1, "stages": [{"duration": "1s", "target": 10}, {"duration": "1s", "target": 1e9}])")) ==
      "stages[1].target: at most 100000000 iterations a second (the rate over timeUnit)");
  // An intensity that set the rate is named as the intensity's.
  REQUIRE(
      scenario_error(with(
          R"("intensities": {"high": {"rate": 1e9}})",
          R"("executor": "constant-arrival-rate", "rate": 10, "duration": "1s", "preAllocatedVUs": 1)")) ==
      "intensities.high.rate: at most 100000000 iterations a second (the rate over timeUnit)");
  REQUIRE(
      scenario_error(with(
          R"("intensities": {"high": {"startRate": 1e9}})",
          R"("executor": "ramping-arrival-rate", "preAllocatedVUs": 1, "stages": [{"duration": "1s", "target": 10}])")) ==
      "intensities.high.startRate: at most 100000000 iterations a second (the rate over timeUnit)");
  REQUIRE(
      scenario_error(with(
          R"("intensities": {"high": {"stages": [{"duration": "1s", "target": 10}, {"duration": "1s", "target": 1e9}]}})",
          R"("executor": "ramping-arrival-rate", "preAllocatedVUs": 1, "stages": [{"duration": "1s", "target": 10}])")) ==
      "intensities.high.stages[1].target: at most 100000000 iterations a second (the rate over "
      "timeUnit)");
  // The top level's rate, over an intensity's timeUnit, is the top level's.
  REQUIRE(
      scenario_error(with(
          R"("intensities": {"high": {"timeUnit": "1us"}})",
          R"("executor": "constant-arrival-rate", "rate": 1000, "duration": "1s", "preAllocatedVUs": 1)")) ==
      "rate: at most 100000000 iterations a second (the rate over timeUnit)");
  REQUIRE(
      scenario_error(with(
          "",
          R"("executor": "constant-arrival-rate", "rate": 100000000, "duration": "1s", "preAllocatedVUs": 1)")) ==
      "(no error)");
  REQUIRE(
      scenario_error(with("", R"("executor": "ramping-vus", "stages": [{"duration": "1s"}])")) ==
      "stages[0].target: missing");
  REQUIRE(
      scenario_error(with(
          "",
          R"("executor": "ramping-vus", "startVUs": 0, "stages": [{"duration": "1s", "target": 0}])")) ==
      "stages: the executor never has a VU (every target is 0)");
  // An intensity's stages are named as the intensity's.
  REQUIRE(
      scenario_error(with(
          R"("intensities": {"low": {"stages": [{"duration": "1s", "target": 0}]}})",
          R"("executor": "ramping-vus", "startVUs": 0, "stages": [{"duration": "1s", "target": 1}])")) ==
      "intensities.low.stages: the executor never has a VU (every target is 0)");
  REQUIRE(scenario_error(
              with("", R"("executor": "constant-arrival-rate", "rate": 10, "duration": "1s")")) ==
          "preAllocatedVUs: missing (constant-arrival-rate needs preAllocatedVUs)");
  REQUIRE(
      scenario_error(with(
          "",
          R"("executor": "constant-arrival-rate", "rate": 10, "duration": "1s", "preAllocatedVUs": 5, "maxVUs": 2)")) ==
      "maxVUs: 2 is less than preAllocatedVUs (5)");
  REQUIRE(
      scenario_error(with(
          "",
          R"("executor": "constant-arrival-rate", "rate": 10, "duration": "1s", "preAllocatedVUs": 5, "whenNoVuFree": "wait")")) ==
      "whenNoVuFree: expected \"queue\" or \"drop\", got 'wait'");
  REQUIRE(scenario_error(with(R"("vuz": 1)")).rfind("unknown key 'vuz' (known: name, ", 0) == 0);
  REQUIRE(scenario_error(with(R"("thresholds": {"http_req_duration": ["p(95)<<200"]})")) ==
          "thresholds.http_req_duration[0]: cannot parse 'p(95)<<200'");
  REQUIRE(scenario_error(with(R"("thresholds": {"http_req_duration": ["p(95)<200", "avg<"]})")) ==
          "thresholds.http_req_duration[1]: cannot parse 'avg<'");
  REQUIRE(
      scenario_error(with(
          R"("thresholds": {"http_req_failed": [{"threshold": "rate<0.1", "abortOnFail": "yes"}]})")) ==
      "thresholds.http_req_failed[0].abortOnFail: expected true or false, got a string");
  REQUIRE(scenario_error(with(R"("thinkTime": {"min": "2s", "max": "1s"})")) ==
          "thinkTime.max: less than thinkTime.min");
  REQUIRE(scenario_error(with(R"("variables": {"org": []})")) ==
          "variables.org: an empty list has nothing to pick");
  REQUIRE(scenario_error(with(R"("variables": {"seq": "x"})")) ==
          "variables.seq: 'seq' is a built-in variable");
  REQUIRE(scenario_error(with(R"("variables": {"n": {"range": [5, 1]}})")) ==
          "variables.n.range: expected [min, max] with min <= max");
  REQUIRE(scenario_error(with(R"("timeouts": {"request": "0s"})")) ==
          "timeouts.request: must be longer than 0");
  REQUIRE(
      scenario_error(
          with(
              "",
              R"("executor": "constant-vus", "vus": 2, "duration": "1s", "intensities": {"low": {"vus": 1}})"),
          ScenarioOverrides{"huge", {}, {}, {}, {}}) ==
      "--intensity: intensity 'huge' is not defined (defined: low)");
  // The file's own default names its field.
  REQUIRE(scenario_error(with("", R"("executor": "constant-vus", "vus": 2, "duration": "1s",
                                     "intensities": {"low": {"vus": 1}}, "defaultIntensity": "mid")")) ==
          "defaultIntensity (line 2, column 74): intensity 'mid' is not defined (defined: low)");
  REQUIRE(scenario_error(with(R"("intensities": {})"), ScenarioOverrides{"low", {}, {}, {}, {}}) ==
          "--intensity: intensity 'low' is not defined (defined: none)");
  // Every intensity is read, also those the run does not use: a typo in one is refused now.
  const std::string constant_vus = R"("executor": "constant-vus", "vus": 2, "duration": "1s")";
  REQUIRE(scenario_error(
              with(R"("intensities": {"low": {"vus": 1}, "high": {"vuz": 5}})", constant_vus))
              .rfind("intensities.high: unknown key 'vuz' (known: executor, vus, ", 0) == 0);
  REQUIRE(scenario_error(
              with(R"("intensities": {"low": {"vus": 1}, "high": {"vus": 0}})", constant_vus),
              ScenarioOverrides{"low", {}, {}, {}, {}}) ==
          "intensities.high.vus: expected a whole number from 1 to 10000000, got 0");
  REQUIRE(scenario_error(with(R"("intensities": {"high": {"rate": 5}})", constant_vus)) ==
          "intensities.high.rate: not used by the constant-vus executor");
  REQUIRE(scenario_error(with(R"("intensities": {"high": 5})", constant_vus)) ==
          "intensities.high: expected an object, got a number");
  REQUIRE(scenario_error(with(R"("intensities": 5)", constant_vus)) ==
          "intensities: expected an object {\"low\": {\"vus\": 10}, ...}, got a number");

  auto request_error = [](const std::string& request) {
    return scenario_error(
        R"({"baseUrl": "http://127.0.0.1:8080", "executor": "constant-vus", "vus": 1, "duration": "1s", "requests": [{"url": "/"}, )" +
        request + "]}");
  };
  REQUIRE(request_error(R"({"method": "POST"})") == "requests[1].url: missing");
  REQUIRE(request_error(R"({"url": 5})") == "requests[1].url: expected a string, got a number");
  REQUIRE(request_error(R"({"url": "/", "method": "GE T"})") ==
          "requests[1].method: 'GE T' is not a valid method");
  REQUIRE(request_error(R"({"url": "/x/{{callId}}"})") ==
          "requests[1].url: unknown variable '{{callId}}' (variables: none; built-in: seq, vu, "
          "iteration, uuid, timestamp)");
  REQUIRE(request_error(R"({"url": "/", "weight": 0})") ==
          "requests[1].weight: must be more than 0");
  REQUIRE(request_error(R"({"url": "/", "headers": {"Content-Length": "5"}})") ==
          "requests[1].headers.Content-Length: set by the load tester from the body");
  REQUIRE(request_error(R"({"url": "/", "checks": {"ok": "status = 200"}})") ==
          "requests[1].checks.ok: cannot parse 'status = 200' (use status == 200, duration < 500, "
          "body contains 'text', bodySize > 0)");
  REQUIRE(request_error(R"({"url": "/", "heders": {}})")
              .rfind("requests[1]: unknown key 'heders'", 0) == 0);
  REQUIRE(
      request_error(R"({"url": "/", "name": "a{b}"})") ==
      "requests[1].name: 'a{b}' must be 1 to 200 characters without braces, tabs or line breaks");
  REQUIRE(
      scenario_error(
          R"({"executor": "constant-vus", "vus": 1, "duration": "1s", "requests": [{"url": "/"}]})") ==
      "requests[0].url: '/' is a path, but no baseUrl is set (set baseUrl or --base-url)");
  REQUIRE(scenario_error(
              R"({"executor": "constant-vus", "vus": 1, "duration": "1s", "requests": []})") ==
          "requests: at least one request is needed");
}

TEST_CASE("a full scenario file reads into executor, requests, variables and thresholds") {
  auto scenario = parse_scenario(R"({
    "name": "mix", "baseUrl": "http://127.0.0.1:9000/v1",
    "executor": "ramping-arrival-rate", "startRate": 0, "timeUnit": "1m",
    "stages": [{"duration": "30s", "target": 600}, {"duration": "1m", "target": 600}],
    "preAllocatedVUs": 4, "maxVUs": 8, "whenNoVuFree": "drop", "gracefulStop": "2s",
    "thinkTime": {"min": "100ms", "max": "300ms"}, "threads": 2, "seed": 9,
    "variables": {"org": {"range": [1, 9], "prefix": "org_"}, "call": {"sequence": true, "prefix": "c"}},
    "requests": [
      {"name": "start", "method": "POST", "url": "/calls/{{call}}", "weight": 3,
       "headers": {"X-Org": "{{org}}"}, "body": {"org": "{{org}}", "n": 1},
       "checks": {"created": "status == 201"}},
      {"name": "list", "url": "/calls?org={{org}}"}
    ],
    "thresholds": {"http_req_duration{name:start}": ["p(99)<300"],
                   "checks": [{"threshold": "rate>0.9", "abortOnFail": true, "delayAbortEval": "5s"}]}
  })",
                                 {});
  REQUIRE(scenario.ok());
  const Scenario& s = scenario.value();
  REQUIRE(s.name == "mix");
  REQUIRE(s.executor.kind == ExecutorKind::kRampingArrivalRate);
  REQUIRE(s.executor.stages.size() == 2);
  REQUIRE(s.executor.stages[0].target == Approx(10));  // 600 per minute = 10 per second
  REQUIRE(s.executor.max_vus == 8);
  REQUIRE(s.executor.drop_when_no_vu_free);
  REQUIRE(s.executor.graceful_stop == 2 * kMicrosPerSecond);
  REQUIRE(s.executor.total_duration() == 90 * kMicrosPerSecond);
  REQUIRE(s.think_time_min == 100'000);
  REQUIRE(s.think_time_max == 300'000);
  REQUIRE(s.threads == 2);
  REQUIRE(s.requests.size() == 2);
  REQUIRE(s.requests[0].origin.port == 9000);
  REQUIRE(s.requests[0].weight == 3);
  REQUIRE(s.requests[0].body.has_value());
  REQUIRE(s.requests[1].name == "list");
  REQUIRE(s.thresholds.size() == 2);
  REQUIRE(s.thresholds[0].request_name == "start");
  REQUIRE(s.thresholds[1].source.abort_on_fail);
  REQUIRE(s.thresholds[1].source.delay_abort_eval == 5 * kMicrosPerSecond);
}

TEST_CASE("built-in scenarios: the spec's intensities, and --duration / --base-url overrides") {
  REQUIRE(builtin_scenarios().size() == 3);
  struct Intensity {
    const char* name;
    int64_t vus;
    Micros duration;
  };
  const Intensity intensities[] = {{"low", 50, 180 * kMicrosPerSecond},
                                   {"medium", 100, 300 * kMicrosPerSecond},
                                   {"high", 500, 600 * kMicrosPerSecond},
                                   {"extreme", 1000, 900 * kMicrosPerSecond}};
  for (const char* name : {"voice-api-load", "dashboard-load", "api-crud-load"}) {
    const BuiltinScenario* builtin = find_builtin_scenario(name);
    REQUIRE(builtin != nullptr);
    for (const Intensity& intensity : intensities) {
      ScenarioOverrides overrides;
      overrides.intensity = intensity.name;
      auto scenario = parse_scenario(builtin->json, overrides);
      INFO(name << " " << intensity.name);
      REQUIRE(scenario.ok());
      REQUIRE(scenario.value().name == name);
      REQUIRE(scenario.value().executor.peak_vus() == intensity.vus);
      REQUIRE(scenario.value().executor.total_duration() == intensity.duration);
      REQUIRE(scenario.value().requests.size() == 4);
    }
    ScenarioOverrides brief;
    brief.duration = 2 * kMicrosPerSecond;
    brief.base_url = "http://127.0.0.1:4321";
    auto scenario = parse_scenario(builtin->json, brief);
    REQUIRE(scenario.ok());
    REQUIRE(scenario.value().executor.total_duration() == 2 * kMicrosPerSecond);
    for (const RequestSpec& request : scenario.value().requests)
      REQUIRE(request.origin.port == 4321);
  }
  REQUIRE(find_builtin_scenario("nope") == nullptr);
}

TEST_CASE("-H sets a header on every request of a scenario, in place of the file's") {
  const BuiltinScenario* builtin = find_builtin_scenario("dashboard-load");
  REQUIRE(builtin != nullptr);
  ScenarioOverrides overrides;
  overrides.headers = {"x-api-key: qv_demo_enterprise", "x-organization-id: org_{{page}}"};
  auto scenario = parse_scenario(builtin->json, overrides);
  REQUIRE(scenario.ok());
  for (const RequestSpec& request : scenario.value().requests) {
    INFO(request.name);
    std::vector<std::string> names;
    for (const auto& [name, value] : request.headers) names.push_back(name);
    // The file's X-Organization-Id is replaced (names compare without case), the key added.
    CHECK(names == std::vector<std::string>{"Content-Type", "x-api-key", "x-organization-id"});
    CHECK(request.headers[1].second.static_text() == "qv_demo_enterprise");
    CHECK_FALSE(request.headers[2].second.is_static());  // {{page}}, the file's variable
  }
  overrides.headers = {"x-api-key: {{nope}}"};
  CHECK_THAT(scenario_error(builtin->json, overrides),
             Catch::Matchers::Contains("-H 'x-api-key: {{nope}}'"));
  // The framing headers are the load tester's: a second Content-Length would make the
  // request ambiguous (a smuggling vector), so -H refuses them as a scenario file does.
  for (const char* header : {"Content-Length: 5", "transfer-encoding: chunked"}) {
    overrides.headers = {header};
    CHECK_THAT(scenario_error(builtin->json, overrides),
               Catch::Matchers::Contains("set by the load tester from the body"));
    QuickOptions quick;
    quick.url = "http://127.0.0.1:8080/x";
    quick.headers = {header};
    CHECK_THAT(quick_scenario(quick).error().message,
               Catch::Matchers::Contains("set by the load tester from the body"));
  }
}

TEST_CASE("a header's variables may not draw a line break, in the file or with -H") {
  // Rendered into the header, the line break would start another header (or request).
  const std::string json = with(
      R"("variables": {"ok": ["a", "b"], "evil": ["a", "b\r\nX-Injected: 1"], "crlf": {"range": [1, 2], "prefix": "x\n"}})");
  auto with_header = [&](const std::string& header) { return header_error(json, header); };
  CHECK(with_header("{{ok}}") == "(no error)");
  CHECK(with_header("v={{evil}}") ==
        "requests[0].headers.X-A: variable 'evil' can hold a line break, which a header value "
        "may not");
  CHECK(with_header("{{crlf}}") ==
        "requests[0].headers.X-A: variable 'crlf' can hold a line break, which a header value "
        "may not");
  // In a body or a URL (percent-encoded there) the same variables are fine.
  ScenarioOverrides overrides;
  overrides.headers = {"X-B: {{evil}}"};
  CHECK(scenario_error(json, overrides) ==
        "-H 'X-B: {{evil}}': variable 'evil' can hold a line break, which a header value may not");
  overrides.headers = {"X-B: {{ok}}"};
  CHECK(scenario_error(json, overrides) == "(no error)");
}

TEST_CASE("a header value holds no NUL or other control character but the tab, nor its variables") {
  // RFC 9110 (5.5): a field value is visible characters, spaces and tabs. A NUL sent as is
  // makes nginx answer 400 to every request, so it is refused as a line break is.
  const std::string json = with(
      R"("variables": {"nul": ["a", "b\u0000c"], "bell": {"sequence": true, "prefix": "x\u0007"}})");
  auto with_header = [&](const std::string& header) { return header_error(json, header); };
  CHECK(with_header(R"(a\u0000b)") ==
        "requests[0].headers.X-A: a header value may not hold a NUL byte");
  CHECK(with_header(R"(a\r\nX-Injected: 1)") ==
        "requests[0].headers.X-A: a header value may not hold a line break");
  CHECK(with_header(R"(a\u0001b)") ==
        "requests[0].headers.X-A: a header value may not hold a control character (\\u0001)");
  CHECK(with_header(R"(a\u007fb)") ==
        "requests[0].headers.X-A: a header value may not hold a control character (\\u007f)");
  // A tab, a space and bytes above ASCII (obs-text) are a field value's.
  CHECK(with_header(R"(a\tb c\u00e9)") == "(no error)");
  CHECK(with_header("v={{nul}}") ==
        "requests[0].headers.X-A: variable 'nul' can hold a NUL byte, which a header value may "
        "not");
  CHECK(with_header("{{bell}}") ==
        "requests[0].headers.X-A: variable 'bell' can hold a control character (\\u0007), which "
        "a header value may not");
  ScenarioOverrides overrides;
  overrides.headers = {"X-B: {{nul}}"};
  CHECK(scenario_error(json, overrides) ==
        "-H 'X-B: {{nul}}': variable 'nul' can hold a NUL byte, which a header value may not");
  overrides.headers = {"X-B: a\x01"};
  CHECK(scenario_error(json, overrides) ==
        "-H 'X-B: a\x01': a header value may not hold a control character (\\u0001)");
  QuickOptions quick;
  quick.url = "http://127.0.0.1:8080/x";
  quick.headers = {"X-B: a\x1b[2J"};
  CHECK(quick_scenario(quick).error().message ==
        "-H 'X-B: a\x1b[2J': a header value may not hold a control character (\\u001b)");
}

TEST_CASE("ramping-vus starts at one VU unless startVUs says otherwise, as k6") {
  const std::string json =
      R"({"executor": "ramping-vus", "stages": [{"duration": "1s", "target": 1}],
    "requests": [{"url": "http://127.0.0.1:8080/"}]})";
  auto scenario = parse_scenario(json, {});
  REQUIRE(scenario.ok());
  CHECK(scenario.value().executor.start_vus == 1);
  CHECK(scenario.value().executor.peak_vus() == 1);
}

TEST_CASE("ramping-vus rounds as k6: the line rounded down going up, rounded up going down") {
  auto executor = [](const std::string& executor_json) {
    auto scenario = parse_scenario(with("", executor_json), {});
    REQUIRE(scenario.ok());
    return scenario.value().executor;
  };
  // Up 2 -> 12 in the first stage, held, down 12 -> 4, then down to 0 in the last stage: one
  // VU a second everywhere, so the line crosses a whole number on each second.
  const Executor up_first = executor(R"("executor": "ramping-vus", "startVUs": 2, "stages": [
      {"duration": "10s", "target": 12}, {"duration": "10s", "target": 12},
      {"duration": "8s", "target": 4}, {"duration": "4s", "target": 0}])");
  const std::vector<std::pair<Micros, int64_t>> up_first_at = {
      {0, 2},                              // startVUs
      {999'999, 2},     {1'000'000, 3},    // a VU joins when the line reaches it
      {1'600'000, 3},   {9'999'999, 11},   // not when the line is nearest to it
      {10'000'000, 12}, {19'999'999, 12},  // held
      {20'000'001, 12}, {20'600'000, 12},  // down: a VU leaves when the line reaches
      {21'000'000, 11}, {27'999'999, 5},   // the number below it
      {28'000'000, 4},  {31'000'000, 1},   // the last stage, down to 0
      {31'600'000, 1},  {31'999'999, 1},   // keeps its last VU to the stage's end
      {32'000'000, 0},  {40'000'000, 0}};  // the run is over
  for (auto [at, vus] : up_first_at) {
    INFO("at " << at << " µs");
    CHECK(up_first.vus_wanted(at) == vus);
  }
  // Down in the first stage, up in the last.
  const Executor down_first = executor(R"("executor": "ramping-vus", "startVUs": 10, "stages": [
      {"duration": "10s", "target": 0}, {"duration": "10s", "target": 10}])");
  const std::vector<std::pair<Micros, int64_t>> down_first_at = {
      {0, 10},         {999'999, 10},   {1'000'000, 9},   {1'600'000, 9},
      {9'999'999, 1},  {10'000'000, 0}, {10'999'999, 0},  {11'000'000, 1},
      {11'600'000, 1}, {19'999'999, 9}, {20'000'000, 10}, {30'000'000, 10}};
  for (auto [at, vus] : down_first_at) {
    INFO("at " << at << " µs");
    CHECK(down_first.vus_wanted(at) == vus);
  }
  // Where the line in floating point misses a whole number by a hair (0 + 100 * 0.29 is
  // 28.999999999999996, 100 - 100 * 0.57 is 43.00000000000001), it still counts as reaching it.
  CHECK(executor(R"("executor": "ramping-vus", "startVUs": 0, "stages": [
      {"duration": "1s", "target": 100}])")
            .vus_wanted(290'000) == 29);
  CHECK(executor(R"("executor": "ramping-vus", "startVUs": 100, "stages": [
      {"duration": "1s", "target": 0}])")
            .vus_wanted(570'000) == 43);
  CHECK(executor(R"("executor": "constant-vus", "vus": 7, "duration": "1s")").vus_wanted(500) == 7);
}

TEST_CASE("ramping-vus takes gracefulRampDown (default 30s, as k6), and no other executor") {
  const std::string ramping =
      R"("executor": "ramping-vus", "stages": [{"duration": "1s", "target": 2}])";
  auto defaulted = parse_scenario(with("", ramping), {});
  REQUIRE(defaulted.ok());
  CHECK(defaulted.value().executor.graceful_ramp_down == 30 * kMicrosPerSecond);
  auto given = parse_scenario(with(R"("gracefulRampDown": "1500ms")", ramping), {});
  REQUIRE(given.ok());
  CHECK(given.value().executor.graceful_ramp_down == 1'500'000);
  auto zero = parse_scenario(with(R"("gracefulRampDown": 0)", ramping), {});
  REQUIRE(zero.ok());
  CHECK(zero.value().executor.graceful_ramp_down == 0);
  // An intensity may set it, and --duration scales the stages, not it (nor gracefulStop).
  ScenarioOverrides shorter;
  shorter.intensity = "low";
  shorter.duration = 500'000;
  auto from_intensity = parse_scenario(
      with(R"("intensities": {"low": {"gracefulRampDown": "2s"}})", ramping), shorter);
  REQUIRE(from_intensity.ok());
  CHECK(from_intensity.value().executor.graceful_ramp_down == 2 * kMicrosPerSecond);

  // Validated as the other durations are.
  CHECK(scenario_error(with(R"("gracefulRampDown": "soon")", ramping)) ==
        "gracefulRampDown: cannot parse duration 'soon' (use e.g. 500ms, 30s, 5m, 1h30m; a bare "
        "number is seconds)");
  CHECK(scenario_error(with(R"("gracefulRampDown": -1)", ramping)) ==
        "gracefulRampDown: a duration cannot be negative");
  CHECK(scenario_error(with(R"("gracefulRampDown": true)", ramping)) ==
        "gracefulRampDown: expected a duration such as \"30s\" or \"5m\"");
  CHECK(scenario_error(with(R"("intensities": {"low": {"gracefulRampDown": "1x"}})", ramping))
            .rfind("intensities.low.gracefulRampDown: cannot parse duration '1x'", 0) == 0);
  // k6's other executors have no ramp-down to be graceful about.
  CHECK(scenario_error(with(R"("gracefulRampDown": "5s")")) ==
        "gracefulRampDown: not used by the constant-vus executor");
  CHECK(
      scenario_error(with(
          R"("gracefulRampDown": "5s")",
          R"("executor": "ramping-arrival-rate", "preAllocatedVUs": 1, "stages": [{"duration": "1s", "target": 1}])")) ==
      "gracefulRampDown: not used by the ramping-arrival-rate executor");
}

TEST_CASE("threads given above the VUs are refused, naming where; the default is lowered") {
  CHECK(scenario_error(with(R"("threads": 3)")) ==
        "threads: 3 is more than the 2 VUs (vus): each thread runs VUs of its own, so give at most "
        "2 threads");
  CHECK(scenario_error(with(R"("threads": 2)")) == "(no error)");
  ScenarioOverrides flag;
  flag.threads = 5;
  CHECK(scenario_error(with(""), flag) ==
        "--threads: 5 is more than the 2 VUs (vus): each thread runs VUs of its own, so give at "
        "most 2 threads");
  // The command line's replaces the file's, and is the one named.
  CHECK(scenario_error(with(R"("threads": 1)"), flag).rfind("--threads: 5 is more", 0) == 0);
  CHECK(
      scenario_error(with(
          R"("threads": 4)",
          R"("executor": "ramping-vus", "startVUs": 3, "stages": [{"duration": "1s", "target": 2}])")) ==
      "threads: 4 is more than the 3 VUs (startVUs): each thread runs VUs of its own, so give at "
      "most 3 threads");
  // The field that set the most VUs is named: the highest stage's target (the first of them),
  // or startVUs's default.
  const std::string ramping =
      R"("executor": "ramping-vus", "startVUs": 1, "stages": [{"duration": "1s", "target": 2}, )"
      R"({"duration": "1s", "target": 3}, {"duration": "1s", "target": 3}])";
  CHECK(scenario_error(with(R"("threads": 4)", ramping))
            .rfind("threads: 4 is more than the 3 VUs (stages[1].target): ", 0) == 0);
  CHECK(
      scenario_error(
          with(R"("threads": 2)",
               R"("executor": "ramping-vus", "stages": [{"duration": "1s", "target": 0}])"))
          .rfind("threads: 2 is more than the 1 VU (startVUs (by default 1)): each thread runs VUs "
                 "of its own, so give at most 1 thread",
                 0) == 0);
  CHECK(
      scenario_error(with(
          R"("threads": 4)",
          R"("executor": "constant-arrival-rate", "rate": 10, "duration": "1s", "preAllocatedVUs": 1, "maxVUs": 3)")) ==
      "threads: 4 is more than the 3 VUs (maxVUs): each thread runs VUs of its own, so give at "
      "most 3 threads");
  // Without maxVUs, preAllocatedVUs is the most.
  CHECK(
      scenario_error(
          with(
              R"("threads": 4)",
              R"("executor": "constant-arrival-rate", "rate": 10, "duration": "1s", "preAllocatedVUs": 3)"))
          .rfind("threads: 4 is more than the 3 VUs (preAllocatedVUs): ", 0) == 0);
  // An intensity that set the VUs is named, the one that applies.
  const std::string intensities =
      R"("threads": 4, "intensities": {"low": {"vus": 3}, "high": {"vus": 8}}, )"
      R"("defaultIntensity": "low")";
  CHECK(scenario_error(with(intensities)) ==
        "threads: 4 is more than the 3 VUs (intensities.low.vus): each thread runs VUs of its "
        "own, so give at most 3 threads");
  ScenarioOverrides high;
  high.intensity = "high";
  CHECK(scenario_error(with(intensities), high) == "(no error)");
  high.threads = 9;
  CHECK(scenario_error(with(intensities), high)
            .rfind("--threads: 9 is more than the 8 VUs (intensities.high.vus): ", 0) == 0);
  // An intensity that does not set the VUs leaves the top level's named.
  CHECK(scenario_error(with(R"("threads": 3, "intensities": {"low": {"duration": "2s"}}, )"
                            R"("defaultIntensity": "low")"))
            .rfind("threads: 3 is more than the 2 VUs (vus): ", 0) == 0);
  // A built-in scenario's intensity: the stage that ramps to the most VUs.
  const BuiltinScenario* dashboard = find_builtin_scenario("dashboard-load");
  REQUIRE(dashboard != nullptr);
  ScenarioOverrides low;
  low.threads = 51;
  CHECK(scenario_error(dashboard->json, low)
            .rfind("--threads: 51 is more than the 50 VUs (intensities.low.stages[1].target): ",
                   0) == 0);
  // A file written over lines says where.
  CHECK(scenario_error("{\"baseUrl\": \"http://127.0.0.1:8080\",\n \"executor\": \"constant-vus\", "
                       "\"vus\": 1, \"duration\": \"1s\",\n \"threads\": 2,\n \"requests\": "
                       "[{\"url\": \"/\"}]}")
            .rfind("threads (line 3, column 2): 2 is more than the 1 VU (vus)", 0) == 0);
  // Not given, one thread per core, lowered to the VUs without a word.
  auto defaulted =
      parse_scenario(with("", R"("executor": "constant-vus", "vus": 1, "duration": "1s")"), {});
  REQUIRE(defaulted.ok());
  CHECK(defaulted.value().threads == 1);
}

TEST_CASE("--threshold: errors name the flag, and a threshold stated twice is one") {
  const BuiltinScenario* builtin = find_builtin_scenario("dashboard-load");
  REQUIRE(builtin != nullptr);
  ScenarioOverrides overrides;
  overrides.extra_thresholds = {{"http_req_duration", "p(95)<<200", false, 0}};
  CHECK(scenario_error(builtin->json, overrides)
            .rfind("--threshold 'http_req_duration:p(95)<<200': ", 0) == 0);
  // The file has http_req_duration p(95)<200 already; given again, twice, it stays one.
  overrides.extra_thresholds = {{"http_req_duration", "p(95)<200", false, 0},
                                {"http_req_duration", "p(95)<200", true, 0}};
  auto scenario = parse_scenario(builtin->json, overrides);
  REQUIRE(scenario.ok());
  int count = 0;
  for (const Threshold& threshold : scenario.value().thresholds) {
    if (threshold.source.metric == "http_req_duration" &&
        threshold.source.expression == "p(95)<200") {
      ++count;
      CHECK(threshold.source.abort_on_fail);  // either statement's abortOnFail holds
    }
  }
  CHECK(count == 1);
  // Written with a space after the colon, it is still the file's threshold.
  overrides.extra_thresholds = {{parse_threshold_option("http_req_duration: p(95)<200").value()}};
  auto spaced = parse_scenario(builtin->json, overrides);
  REQUIRE(spaced.ok());
  CHECK(spaced.value().thresholds.size() == scenario.value().thresholds.size());
  // A new threshold on a metric the file limits joins that metric's, so the summary lists
  // each metric once; one on another metric comes last.
  overrides.extra_thresholds = {{"http_req_failed", "rate<0.5", false, 0},
                                {"http_req_duration", "avg<150", false, 0}};
  auto added = parse_scenario(builtin->json, overrides);
  REQUIRE(added.ok());
  std::vector<std::string> metrics;
  for (const Threshold& threshold : added.value().thresholds) {
    if (metrics.empty() || metrics.back() != threshold.source.metric)
      metrics.push_back(threshold.source.metric);
  }
  std::vector<std::string> unique = metrics;
  std::sort(unique.begin(), unique.end());
  CHECK(std::unique(unique.begin(), unique.end()) == unique.end());
  CHECK(added.value().thresholds.size() == scenario.value().thresholds.size() + 2);
}

TEST_CASE("quick mode builds a constant-vus or constant-arrival-rate scenario") {
  QuickOptions options;
  options.url = "http://127.0.0.1:8080/x";
  options.connections = 20;
  options.threads = 4;
  auto closed = quick_scenario(options);
  REQUIRE(closed.ok());
  REQUIRE(closed.value().executor.kind == ExecutorKind::kConstantVus);
  REQUIRE(closed.value().executor.vus == 20);
  REQUIRE(closed.value().threads == 4);
  options.rate = 500;
  auto open = quick_scenario(options);
  REQUIRE(open.value().executor.kind == ExecutorKind::kConstantArrivalRate);
  REQUIRE(open.value().executor.rate == 500);
  REQUIRE(open.value().executor.max_vus == 20);
  // More threads than connections: -t given is refused, the default 2 lowered.
  options.connections = 2;
  REQUIRE(quick_scenario(options).error().message ==
          "-t: 4 is more than the 2 VUs (-c): each thread runs VUs of its own, so give at most 2 "
          "threads");
  options.threads = 2;
  REQUIRE(quick_scenario(options).value().threads == 2);
  options.connections = 1;
  options.threads.reset();
  REQUIRE(quick_scenario(options).value().threads == 1);
  options.headers = {"NoColon"};
  REQUIRE(quick_scenario(options).error().message == "-H 'NoColon': expected 'Name: value'");
  options.headers.clear();
  options.url = "localhost:80";
  REQUIRE(quick_scenario(options).error().message ==
          "--url: 'localhost:80': expected an http:// or https:// URL");
}
