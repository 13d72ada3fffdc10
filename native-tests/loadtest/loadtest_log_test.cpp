// Histogram logs: what a run writes reads back identically, and merging the logs of two
// machines equals the result one machine would have measured with both streams of samples.
#include <algorithm>
#include <catch2/catch.hpp>
#include <random>
#include <sstream>

#include "loadtest/histogram_log.h"
#include "loadtest/report_html.h"
#include "loadtest/summary.h"
#include "simdjson.h"

using namespace qv::loadtest;

namespace {

// A result whose samples are drawn from `random`; `into_both` records the same samples.
RunResult make_result(std::mt19937_64& random, int64_t started_unix_ms, int seconds,
                      const std::vector<std::string>& names, RunResult* into_both = nullptr) {
  RunResult result;
  result.info.scenarios = {"merge test"};
  result.info.executors = {"constant-arrival-rate"};
  result.info.targets = {"http://127.0.0.1:1/"};
  result.info.corrected = true;
  result.info.threads = 2;
  result.info.started_unix_ms = started_unix_ms;
  result.info.duration = seconds * kMicrosPerSecond;
  result.thresholds.push_back({"http_req_duration", "p(95)<200", true, 1000});
  for (const std::string& name : names) result.declare_request(name, {"status is 200", "fast"});
  std::lognormal_distribution<double> latency(9, 1.2);
  for (int second = 0; second < seconds; ++second) {
    Interval interval;
    interval.start_unix_ms = started_unix_ms + second * 1000;
    interval.iterations = 100;
    interval.dropped_iterations = second;
    interval.delayed_iterations = 2 * second + 1;
    interval.vus = 3;
    interval.vus_max = 4;
    interval.requests.resize(names.size());
    for (size_t r = 0; r < names.size(); ++r) {
      Histogram corrected, uncorrected;
      for (int i = 0; i < 300; ++i) {
        const auto value = static_cast<int64_t>(latency(random));
        corrected.record(value * 2);
        uncorrected.record(value);
      }
      RequestInterval& part = interval.requests[r];
      part.latency = corrected.to_sparse();
      part.latency_uncorrected = uncorrected.to_sparse();
      for (size_t p = 0; p < kPhaseCount; ++p) {
        Histogram phase;
        for (int i = 0; i < 20; ++i) phase.record(static_cast<int64_t>(latency(random)) / 4);
        part.phases[p] = phase.to_sparse();
      }
      part.counters.requests = 300;
      part.counters.failed = second;
      part.counters.bytes_sent = 300 * 80;
      part.counters.bytes_received = 300 * 200;
      part.counters.tls_resumed = static_cast<uint64_t>(second) * 7;
      part.counters.interrupted = second + 1 == seconds ? 3 : 0;  // in flight at the end
      if (second == 0) {  // a reason with a space, a comma and a colon in it
        part.counters.protocol_reasons = {{"malformed status line", 2}, {"a, b: c", 1}};
      }
      part.counters.errors[static_cast<size_t>(ErrorClass::kHttp5xx)] = second;
      part.counters.checks = {{300 - static_cast<uint64_t>(second), static_cast<uint64_t>(second)},
                              {300, 0}};
    }
    result.add_interval(interval);
    if (into_both) {
      for (const std::string& name : names)
        into_both->declare_request(name, {"status is 200", "fast"});
      into_both->add_interval(interval);  // names declared in the same order in these tests
    }
  }
  return result;
}

// The log of `result` as an older version wrote it: its first line, I lines without the
// delayed iterations (before version 4), R lines without INTERRUPTED and PROTOCOL_REASONS
// (before 3) and without the five phases and TLS_RESUMED (version 1, whose lowest_us was 1).
std::string as_version(const RunResult& result, int version) {
  std::istringstream lines(write_histogram_log(result));
  std::string out, line;
  const size_t r_fields_dropped = version == 1 ? kPhaseCount + 3 : version == 2 ? 2 : 0;
  while (std::getline(lines, line)) {
    if (line.rfind("#qv-loadtest-histogram-log", 0) == 0)
      line = "#qv-loadtest-histogram-log " + std::to_string(version);
    if (line.rfind("I ", 0) == 0) line.resize(line.rfind(' '));
    if (version == 1 && line.rfind("#histogram lowest_us=0 ", 0) == 0) line.replace(21, 1, "1");
    if (line.rfind("R ", 0) == 0) {
      for (size_t field = 0; field < r_fields_dropped; ++field) line.resize(line.rfind(' '));
    }
    out += line + "\n";
  }
  return out;
}

}  // namespace

TEST_CASE("a histogram log reads back exactly what was written") {
  std::mt19937_64 random(1);
  RunResult result = make_result(random, 1'700'000'000'000, 3, {"calls.start", "calls end %"});
  result.info.aborted = true;
  result.info.abort_reasons = {"threshold failed: with spaces\nand a line break"};
  const std::string text = write_histogram_log(result);
  auto read = read_histogram_log(text, "test.log");
  REQUIRE(read.ok());
  const RunResult& back = read.value();
  REQUIRE(back.info.scenarios == result.info.scenarios);
  REQUIRE(back.info.abort_reasons == result.info.abort_reasons);
  REQUIRE(back.info.duration == result.info.duration);
  REQUIRE(back.info.corrected);
  REQUIRE(back.thresholds == result.thresholds);
  REQUIRE(back.intervals == result.intervals);
  REQUIRE(back.requests.size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    REQUIRE(back.requests[i].name == result.requests[i].name);
    REQUIRE(back.requests[i].check_names == result.requests[i].check_names);
    REQUIRE(back.requests[i].latency == result.requests[i].latency);
    REQUIRE(back.requests[i].latency_uncorrected == result.requests[i].latency_uncorrected);
    REQUIRE(back.requests[i].phases == result.requests[i].phases);
    REQUIRE(back.requests[i].phases[0].count() == 60);
    REQUIRE(back.requests[i].counters == result.requests[i].counters);
  }
  REQUIRE(back.iterations == result.iterations);
  REQUIRE(back.dropped_iterations == result.dropped_iterations);
  REQUIRE(back.delayed_iterations == result.delayed_iterations);
  REQUIRE(back.delayed_iterations > 0);
  REQUIRE(write_histogram_log(back) == text);
}

TEST_CASE(
    "a version 1 log (before the phases, values under 1 µs as 1) still reads, without phases") {
  std::mt19937_64 random(3);
  const RunResult result = make_result(random, 1'700'000'000'000, 2, {"a"});
  auto read = read_histogram_log(as_version(result, 1), "old.log");
  if (!read.ok()) FAIL(read.error().message);
  REQUIRE(read.value().requests[0].latency == result.requests[0].latency);
  RequestCounters without_resumed = result.requests[0].counters;
  without_resumed.tls_resumed = 0;  // not in version 1
  without_resumed.interrupted = 0;
  without_resumed.protocol_reasons.clear();
  REQUIRE(read.value().requests[0].counters == without_resumed);
  for (const Histogram& phase : read.value().requests[0].phases) REQUIRE(phase.count() == 0);
  // A version 2 R line missing its phases is damaged, not old.
  std::string truncated = write_histogram_log(result);
  const size_t r_line = truncated.find("\nR ") + 1;
  const size_t end = truncated.find('\n', r_line);
  std::string shortened = truncated.substr(r_line, end - r_line);
  shortened.resize(shortened.rfind(' '));
  truncated.replace(r_line, end - r_line, shortened);
  auto damaged = read_histogram_log(truncated, "new.log");
  REQUIRE_FALSE(damaged.ok());
  REQUIRE_THAT(damaged.error().message, Catch::Contains("an R line has 23 fields"));
}

TEST_CASE("a version 2 log (before the interrupted requests) still reads, without them") {
  std::mt19937_64 random(4);
  const RunResult result = make_result(random, 1'700'000'000'000, 2, {"a"});
  REQUIRE(result.requests[0].counters.interrupted == 3);
  auto read = read_histogram_log(as_version(result, 2), "v2.log");
  if (!read.ok()) FAIL(read.error().message);
  RequestCounters without_interrupted = result.requests[0].counters;
  without_interrupted.interrupted = 0;
  without_interrupted.protocol_reasons.clear();
  REQUIRE(read.value().requests[0].counters == without_interrupted);
  REQUIRE(read.value().requests[0].latency == result.requests[0].latency);
  // The current version keeps them.
  auto back = read_histogram_log(write_histogram_log(result), "v4.log");
  REQUIRE(back.ok());
  REQUIRE(back.value().requests[0].counters.interrupted == 3);
  REQUIRE(back.value().requests[0].counters.protocol_reasons ==
          std::map<std::string, uint64_t>{{"malformed status line", 2}, {"a, b: c", 1}});
}

TEST_CASE("a version 3 log (before the delayed iterations) still reads, with none delayed") {
  std::mt19937_64 random(5);
  const RunResult result = make_result(random, 1'700'000'000'000, 2, {"a"});
  auto read = read_histogram_log(as_version(result, 3), "v3.log");
  if (!read.ok()) FAIL(read.error().message);
  REQUIRE(read.value().delayed_iterations == 0);
  REQUIRE(read.value().dropped_iterations == result.dropped_iterations);
  REQUIRE(read.value().requests[0].counters == result.requests[0].counters);
  // A version 4 I line without it is damaged, not old.
  std::string text = write_histogram_log(result);
  const size_t i_line = text.find("\nI ") + 1;
  const size_t end = text.find('\n', i_line);
  text.erase(text.rfind(' ', end), end - text.rfind(' ', end));
  auto damaged = read_histogram_log(text, "v4.log");
  REQUIRE_FALSE(damaged.ok());
  REQUIRE_THAT(damaged.error().message, Catch::Contains("an I line has 8 fields"));
}

TEST_CASE("merging two machines' logs equals one histogram of all their samples") {
  std::mt19937_64 random(2);
  RunResult both;
  // Machine b started half a second later: each of its seconds joins the second (since the
  // earliest start) it began in, so the machines' seconds add up.
  RunResult a = make_result(random, 1'700'000'000'000, 4, {"start", "end"}, &both);
  RunResult b = make_result(random, 1'700'000'000'500, 3, {"start", "end"}, &both);
  auto a_back = read_histogram_log(write_histogram_log(a), "a.log");
  auto b_back = read_histogram_log(write_histogram_log(b), "b.log");
  REQUIRE(a_back.ok());
  REQUIRE(b_back.ok());
  const RunResult merged = merge_results({a_back.value(), b_back.value()});

  REQUIRE(merged.info.machines == 2);
  REQUIRE(merged.info.threads == 4);
  REQUIRE(merged.info.started_unix_ms == 1'700'000'000'000);
  REQUIRE(merged.info.duration == 4 * kMicrosPerSecond);  // b ends at 3.5 s, a at 4 s
  REQUIRE(merged.thresholds.size() == 1);                 // the same threshold once
  REQUIRE(merged.intervals.size() == 4);
  REQUIRE(merged.intervals[0].vus == a.intervals[0].vus + b.intervals[0].vus);
  REQUIRE(merged.intervals[2].iterations == a.intervals[2].iterations + b.intervals[2].iterations);
  REQUIRE(merged.intervals[3].iterations == a.intervals[3].iterations);
  REQUIRE(merged.vus_max == a.vus_max + b.vus_max);
  for (size_t i = 0; i < 2; ++i) {
    REQUIRE(merged.requests[i].latency == both.requests[i].latency);
    REQUIRE(merged.requests[i].latency_uncorrected == both.requests[i].latency_uncorrected);
    REQUIRE(merged.requests[i].phases == both.requests[i].phases);
    REQUIRE(merged.requests[i].counters == both.requests[i].counters);
  }
  REQUIRE(merged.total_latency(true) == both.total_latency(true));
  REQUIRE(merged.iterations == a.iterations + b.iterations);
  REQUIRE(merged.dropped_iterations == a.dropped_iterations + b.dropped_iterations);
  REQUIRE(merged.delayed_iterations == a.delayed_iterations + b.delayed_iterations);
  // Same second on both machines: one interval holding both.
  RunResult c = make_result(random, 1'700'000'000'000, 2, {"start", "end"});
  const RunResult same_seconds = merge_results({a, c});
  REQUIRE(same_seconds.intervals.size() == 4);
  REQUIRE(same_seconds.intervals[0].vus == 6);
  REQUIRE(same_seconds.intervals[0].requests[0].latency.total_count == 600);
}

TEST_CASE("merging maps request names and checks by name") {
  std::mt19937_64 random(3);
  RunResult a = make_result(random, 1'700'000'000'000, 1, {"x", "y"});
  RunResult b = make_result(random, 1'700'000'000'000, 1, {"y", "z"});
  b.requests[0].check_names = {"fast", "status is 200"};  // same checks, other order
  for (Interval& interval : b.intervals)
    std::swap(interval.requests[0].counters.checks[0], interval.requests[0].counters.checks[1]);
  const RunResult merged = merge_results({a, b});
  REQUIRE(merged.requests.size() == 3);
  REQUIRE(merged.requests[1].name == "y");
  REQUIRE(merged.requests[1].counters.requests == 600);
  REQUIRE(merged.requests[1].latency.count() == 600);
  REQUIRE(merged.requests[1].check_names == std::vector<std::string>{"status is 200", "fast"});
  REQUIRE(merged.requests[1].counters.checks[0].passes == 600);
  REQUIRE(merged.requests[1].counters.checks[1].passes == 600);
  REQUIRE(merged.requests[2].counters.requests == 300);
}

TEST_CASE("a threshold on several machines is one threshold, whatever its abort settings") {
  std::mt19937_64 random(4);
  RunResult a = make_result(random, 1'700'000'000'000, 1, {"x"});
  RunResult b = make_result(random, 1'700'000'000'000, 1, {"x"});
  b.thresholds = {{"http_req_duration", "p(95)<200", false, 0}, {"checks", "rate>0.9", false, 0}};
  const RunResult merged = merge_results({b, a});
  REQUIRE(merged.thresholds.size() == 2);
  REQUIRE(merged.thresholds[0].metric == "http_req_duration");
  REQUIRE(merged.thresholds[0].abort_on_fail);  // a's
  REQUIRE(merged.thresholds[1].metric == "checks");
}

TEST_CASE("a merge names each scenario, executor and target once, in the order first seen") {
  std::mt19937_64 random(5);
  RunResult a = make_result(random, 1'700'000'000'000, 1, {"x"});
  RunResult b = make_result(random, 1'700'000'000'000, 1, {"x"});
  b.info.scenarios = {"other"};
  b.info.executors = {"ramping-vus"};
  b.info.targets = {"http://127.0.0.1:2/"};
  const RunResult merged = merge_results({a, b, a, b});
  using Names = std::vector<std::string>;
  CHECK(merged.info.scenarios == Names{"merge test", "other"});
  CHECK(merged.info.executors == Names{"constant-arrival-rate", "ramping-vus"});
  CHECK(merged.info.targets == Names{"http://127.0.0.1:1/", "http://127.0.0.1:2/"});
  CHECK(summary_text(merged, {})
            .find("scenario: merge test + other (constant-arrival-rate + "
                  "ramping-vus), target http://127.0.0.1:1/ + "
                  "http://127.0.0.1:2/\n") != std::string::npos);
  // A log that is itself a merge adds only the names it brings that are new.
  RunResult c = make_result(random, 1'700'000'000'000, 1, {"x"});
  c.info.targets = {"http://127.0.0.1:3/"};
  const RunResult again = merge_results({merged, c, a});
  CHECK(again.info.targets ==
        Names{"http://127.0.0.1:1/", "http://127.0.0.1:2/", "http://127.0.0.1:3/"});
  CHECK(again.info.scenarios == Names{"merge test", "other"});
}

TEST_CASE("a name holding ' + ' survives merges, and the logs of merges, as it is") {
  std::mt19937_64 random(6);
  RunResult a = make_result(random, 1'700'000'000'000, 1, {"x"});
  RunResult b = make_result(random, 1'700'000'000'000, 1, {"x"});
  a.info.scenarios = {"checkout + pay"};
  b.info.scenarios = {"pay"};
  using Names = std::vector<std::string>;
  const RunResult merged = merge_results({a, b});
  CHECK(merged.info.scenarios == Names{"checkout + pay", "pay"});
  // Its log keeps each name in a field of its own, and reads back the same.
  auto back = read_histogram_log(write_histogram_log(merged), "m.log");
  REQUIRE(back.ok());
  CHECK(back.value().info.scenarios == Names{"checkout + pay", "pay"});
  CHECK(back.value().info.targets == Names{"http://127.0.0.1:1/"});
  // Merged again with either: nothing split, nothing lost, nothing named twice.
  for (const RunResult& run : {a, b}) {
    CHECK(merge_results({back.value(), run}).info.scenarios == Names{"checkout + pay", "pay"});
  }
  CHECK(merge_results({b, back.value()}).info.scenarios == Names{"pay", "checkout + pay"});
}

TEST_CASE("abort reasons survive merges and their logs whole, each once") {
  std::mt19937_64 random(7);
  RunResult a = make_result(random, 1'700'000'000'000, 1, {"x; interrupted; y"});
  RunResult b = make_result(random, 1'700'000'000'000, 1, {"x"});
  RunResult plain = make_result(random, 1'700'000'000'000, 1, {"x"});
  const std::string reason =
      "threshold http_req_failed{name:x; interrupted; y} 'rate<0.1' failed (abortOnFail)";
  a.info.aborted = b.info.aborted = true;
  a.info.abort_reasons = {reason};
  b.info.abort_reasons = {kInterruptedReason};
  using Reasons = std::vector<std::string>;
  const RunResult merged = merge_results({a, plain, b, a});
  CHECK(merged.info.aborted);
  CHECK(merged.info.abort_reasons == Reasons{reason, kInterruptedReason});
  CHECK(summary_text(merged, {}).find("ABORTED: " + reason + "; interrupted\n") !=
        std::string::npos);
  auto back = read_histogram_log(write_histogram_log(merged), "m.log");
  REQUIRE(back.ok());
  CHECK(back.value().info.abort_reasons == Reasons{reason, kInterruptedReason});
  auto alone = read_histogram_log(write_histogram_log(merge_results({a, plain})), "a.log");
  REQUIRE(alone.ok());
  CHECK(alone.value().info.abort_reasons == Reasons{reason});
  CHECK(run_end(alone.value().info, {}) == RunEnd::kThresholdFailed);
  // A log of an aborted run that gives no reason says so; one of a whole run has none.
  std::string text = write_histogram_log(plain);
  CHECK(text.find("abort_reason=") == std::string::npos);
  text.replace(text.find(" aborted=0"), 10, " aborted=1");
  auto unknown = read_histogram_log(text, "u.log");
  REQUIRE(unknown.ok());
  CHECK(unknown.value().info.abort_reasons == Reasons{"for a reason its log does not record"});
  CHECK(read_histogram_log(write_histogram_log(plain), "p.log").value().info.abort_reasons.empty());
}

TEST_CASE("damaged logs are refused with the file and line") {
  std::mt19937_64 random(4);
  const std::string good = write_histogram_log(make_result(random, 1'700'000'000'000, 1, {"a"}));
  REQUIRE(read_histogram_log("", "x.log").error().message ==
          "x.log: empty file, not a histogram log");
  // The error says which versions are read, not only the one written.
  REQUIRE(read_histogram_log("hello\n", "x.log").error().message ==
          "x.log: not a qv loadtest histogram log (its first line is not "
          "'#qv-loadtest-histogram-log N' for a version N this qv reads: 1 to 4)");
  REQUIRE(read_histogram_log("#qv-loadtest-histogram-log 5\n", "x.log").error().message ==
          "x.log: histogram log version '5' is not one this qv reads (it reads versions 1 to 4)");
  for (const char* version : {"1", "2", "3", "4"}) {
    INFO("version " << version);
    const std::string log = std::string("#qv-loadtest-histogram-log ") + version + "\n";
    REQUIRE(read_histogram_log(log, "x.log").ok());  // an empty log of that version
  }
  std::string other_settings = good;
  other_settings.replace(other_settings.find("significant_digits=3"), 20, "significant_digits=2");
  REQUIRE(read_histogram_log(other_settings, "x.log")
              .error()
              .message.rfind("x.log:2: histogram settings differ", 0) == 0);
  std::string other_lowest = good;
  other_lowest.replace(other_lowest.find("lowest_us=0"), 11, "lowest_us=5");
  REQUIRE(read_histogram_log(other_lowest, "x.log")
              .error()
              .message.rfind("x.log:2: histogram settings differ", 0) == 0);
  std::string bad_r = good;
  bad_r.replace(bad_r.find("\nR 0 "), 5, "\nR 9 ");
  REQUIRE(read_histogram_log(bad_r, "x.log")
              .error()
              .message.find(": R line names no declared request") != std::string::npos);
  // A histogram whose bucket lies outside its own min and max: refused, naming the file, the
  // line and the histogram (merged, its count would be lost or left in the next second).
  std::string outside = good;
  const size_t r_line = outside.find("\nR ") + 1;
  size_t field = r_line;
  for (int i = 0; i < 14; ++i) field = outside.find(' ', field) + 1;  // UNCORRECTED
  outside.replace(field, outside.find(' ', field) - field, "1/40/40/40/3:1");
  const auto line = std::count(good.begin(), good.begin() + static_cast<long>(r_line), '\n') + 1;
  REQUIRE(read_histogram_log(outside, "x.log").error().message ==
          "x.log:" + std::to_string(line) +
              ": R line UNCORRECTED: histogram bucket 3 (3 to 3 µs) lies below the histogram's "
              "recorded min of 40 µs");
  // Cut inside an R line's fields (as a copy that stopped short would be).
  std::string truncated = good.substr(0, good.rfind("\nR ") + 30) + "\n";
  REQUIRE_FALSE(read_histogram_log(truncated, "x.log").ok());
  // A file that is no log is told so, with or without a line break at its end.
  REQUIRE(read_histogram_log("{\"executor\": ", "x.log")
              .error()
              .message.rfind("x.log: not a qv loadtest histogram log", 0) == 0);
  // Cut anywhere but at a line's end: refused at the last line, also where what is left of
  // it would read (a number cut short, a header line taken for a comment).
  for (const std::string& cut_after :
       {std::string("duration_us=1"), std::string("#t"), std::string("#request a"),
        good.substr(0, good.size() - 2)}) {
    INFO("cut after " << cut_after);
    const size_t at = good.find(cut_after);
    REQUIRE(at != std::string::npos);
    const std::string cut = good.substr(0, at + cut_after.size());
    const auto line = std::count(cut.begin(), cut.end(), '\n') + 1;
    REQUIRE(read_histogram_log(cut, "x.log").error().message ==
            "x.log:" + std::to_string(line) +
                ": the log ends inside this line: it was cut short (every line of a log ends "
                "with a line break)");
  }
  REQUIRE(read_histogram_log_file("/nonexistent/x.log").error().message ==
          "/nonexistent/x.log: cannot be opened (No such file or directory)");
  REQUIRE(read_histogram_log_file("/").error().message == "/: cannot be read (Is a directory)");
}

TEST_CASE("the JSON summary carries k6's fields") {
  std::mt19937_64 random(5);
  const RunResult result = make_result(random, 1'700'000'000'000, 2, {"a"});
  auto threshold = parse_threshold(result.thresholds[0], {"a"});
  REQUIRE(threshold.ok());
  const std::string json = summary_json(result, evaluate_thresholds({threshold.value()}, result));
  for (const char* field : {"\"metrics\":{",
                            "\"http_req_duration\":{\"type\":\"trend\"",
                            "\"count\":600",
                            "\"avg\":",
                            "\"min\":",
                            "\"med\":",
                            "\"max\":",
                            "\"p(90)\":",
                            "\"p(95)\":",
                            "\"p(99)\":",
                            "\"http_req_failed\":{\"type\":\"rate\"",
                            "\"http_reqs\":{\"type\":\"counter\"",
                            "\"checks\":[{\"name\":\"status is 200\",\"request\":\"a\"",
                            "\"thresholds\":{\"http_req_duration\":{\"p(95)<200\":{\"ok\":",
                            "\"http_req_duration{name:a}\"",
                            "\"recommendations\":[",
                            "\"http_req_connecting\":{\"type\":\"trend\",\"contains\":\"time\","
                            "\"values\":{\"count\":40,",
                            "\"http_req_tls_handshaking\":{",
                            "\"http_req_sending\":{",
                            "\"http_req_waiting\":{",
                            "\"http_req_receiving{name:a}\":{"}) {
    INFO(field);
    REQUIRE(json.find(field) != std::string::npos);
  }
  // The text summary lists the measured phases among the metrics, as k6 does.
  const std::string text = summary_text(result, {});
  REQUIRE(text.find("http_req_waiting..") != std::string::npos);
  REQUIRE(text.find("http_req_tls_handshaking..") != std::string::npos);
}

TEST_CASE("the address each origin's connections went to is in the summaries, report and log") {
  std::mt19937_64 random(6);
  RunResult result = make_result(random, 1'700'000'000'000, 2, {"a"});
  result.info.addresses = {{"http://localhost:8080", "127.0.0.1:8080"}};
  CHECK(summary_text(result, {}).find("\n  target address: 127.0.0.1:8080\n") != std::string::npos);
  CHECK(summary_json(result, {})
            .find("\"addresses\":[{\"origin\":\"http://"
                  "localhost:8080\",\"address\":\"127.0.0.1:8080\"}]") != std::string::npos);
  CHECK(report_html(result, {}).find(" at 127.0.0.1:8080 &middot; ") != std::string::npos);

  // Several origins: each address with its origin.
  result.info.addresses.push_back({"https://api.example.com", "[2001:db8::1]:443"});
  CHECK(summary_text(result, {})
            .find("\n  target addresses: 127.0.0.1:8080 (http://localhost:8080), "
                  "[2001:db8::1]:443 (https://api.example.com)\n") != std::string::npos);
  CHECK(report_html(result, {})
            .find(" at 127.0.0.1:8080 (http://localhost:8080), "
                  "[2001:db8::1]:443 (https://api.example.com) &middot; ") != std::string::npos);

  {  // A URL whose host is the address already: the report's header and the text summary
     // say it once.
    RunResult direct = result;
    direct.info.targets = {"http://127.0.0.1:8080/api"};
    direct.info.addresses = {{"http://127.0.0.1:8080", "127.0.0.1:8080"}};
    CHECK(report_html(direct, {}).find("against http://127.0.0.1:8080/api &middot; ") !=
          std::string::npos);
    CHECK(summary_text(direct, {}).find("target address") == std::string::npos);
    direct.info.targets = {"http://[::1]/"};  // IPv6, the default port
    direct.info.addresses = {{"http://[::1]", "[::1]:80"}};
    CHECK(report_html(direct, {}).find("against http://[::1]/ &middot; ") != std::string::npos);
    CHECK(summary_text(direct, {}).find("target address") == std::string::npos);
    // An origin whose host is a name is still followed by every address, each with its origin.
    direct.info.addresses.push_back({"http://localhost:8080", "127.0.0.1:8080"});
    CHECK(report_html(direct, {})
              .find("against http://[::1]/ at [::1]:80 (http://[::1]), 127.0.0.1:8080 "
                    "(http://localhost:8080) &middot; ") != std::string::npos);
    CHECK(summary_text(direct, {})
              .find("\n  target addresses: [::1]:80 (http://[::1]), 127.0.0.1:8080 "
                    "(http://localhost:8080)\n") != std::string::npos);
    // The same address at another port than the URL's is said.
    direct.info.addresses = {{"http://127.0.0.1:8080", "127.0.0.1:8081"}};
    CHECK(summary_text(direct, {}).find("\n  target address: 127.0.0.1:8081\n") !=
          std::string::npos);
  }

  // A log keeps them; merged, each machine's address is listed once.
  auto back = read_histogram_log(write_histogram_log(result), "a.log");
  REQUIRE(back.ok());
  CHECK(back.value().info.addresses == result.info.addresses);
  RunResult other = make_result(random, 1'700'000'000'000, 2, {"a"});
  other.info.addresses = {{"http://localhost:8080", "127.0.0.1:8080"},
                          {"http://localhost:8080", "[::1]:8080"}};
  const RunResult merged = merge_results({result, other});
  CHECK(merged.info.addresses ==
        std::vector<OriginAddress>{{"http://localhost:8080", "127.0.0.1:8080"},
                                   {"https://api.example.com", "[2001:db8::1]:443"},
                                   {"http://localhost:8080", "[::1]:8080"}});
  // A log written before addresses were kept reads with none, and its summary names none.
  RunResult old = make_result(random, 1'700'000'000'000, 2, {"a"});
  auto old_back = read_histogram_log(write_histogram_log(old), "old.log");
  REQUIRE(old_back.ok());
  CHECK(old_back.value().info.addresses.empty());
  CHECK(summary_text(old_back.value(), {}).find("target address") == std::string::npos);
}

TEST_CASE("data_received and data_sent are given per request name too, as http_reqs is") {
  std::mt19937_64 random(6);
  RunResult result = make_result(random, 1'700'000'000'000, 2, {"a", "b"});
  result.requests[1].counters.bytes_sent = 1234;
  result.requests[1].counters.bytes_received = 56789;
  const std::string a_sent = std::to_string(result.requests[0].counters.bytes_sent);
  const std::string a_received = std::to_string(result.requests[0].counters.bytes_received);
  auto threshold = parse_threshold({"data_received{name:b}", "count<100000", false, 0}, {"a", "b"});
  REQUIRE(threshold.ok());
  const std::string json = summary_json(result, evaluate_thresholds({threshold.value()}, result));
  for (const std::string& field :
       {"\"data_sent{name:a}\":{\"type\":\"counter\",\"values\":{\"count\":" + a_sent + ",",
        "\"data_received{name:a}\":{\"type\":\"counter\",\"values\":{\"count\":" + a_received + ",",
        std::string("\"data_sent{name:b}\":{\"type\":\"counter\",\"values\":{\"count\":1234,"),
        // A threshold on a per-name metric sits on that metric, as on any other.
        std::string("\"data_received{name:b}\":{\"type\":\"counter\",\"values\":{\"count\":56789,"
                    "\"rate\":28394.5},\"thresholds\":{\"count<100000\":{\"ok\":true}}}")}) {
    INFO(field);
    CHECK(json.find(field) != std::string::npos);
  }
  // The text summary gives them per name under the totals, as it does http_reqs.
  const std::string text = summary_text(result, {});
  // The line holding the first `what` after `from`.
  auto line_with = [&](const std::string& what, size_t from) {
    const size_t at = text.find(what, from);
    if (at == std::string::npos) return std::string("(none)");
    const size_t start = text.rfind('\n', at) + 1;
    return text.substr(start, text.find('\n', at) - start);
  };
  const size_t received = text.find("    data_received..."), sent = text.find("    data_sent...");
  REQUIRE(received < sent);
  CHECK(line_with("{ name:b }", received) ==
        "      { name:b }......................: 56.8 kB  28.4 kB/s");
  CHECK(line_with("{ name:b }", sent) ==
        "      { name:b }......................: 1.23 kB  617 B/s");
  CHECK(text.find("{ name:b }", received) < sent);
  CHECK(text.find("{ name:b }", sent) < text.find("http_req_duration"));
  // The HTML report's requests table gives them per name as well, received then sent.
  const std::string html = report_html(result, {});
  CHECK(html.find("<th>failed</th><th>received</th><th>sent</th><th>avg</th>") !=
        std::string::npos);
  CHECK(html.find("<tr><td>b</td><td>600</td><td>300</td><td>0.17%</td><td>56.8 kB</td><td>1.23 "
                  "kB</td><td>") != std::string::npos);
}

TEST_CASE("tls_resumed and http_reqs_interrupted are given per request name too") {
  std::mt19937_64 random(7);
  RunResult result = make_result(random, 1'700'000'000'000, 2, {"a", "b"});
  result.requests[1].counters.tls_resumed = 5;
  result.requests[1].counters.interrupted = 0;
  const RequestCounters& a = result.requests[0].counters;
  REQUIRE(a.tls_resumed == 7);
  REQUIRE(a.interrupted == 3);
  const std::string json = summary_json(result, {});
  for (const char* field :
       {"\"tls_resumed\":{\"type\":\"counter\",\"values\":{\"count\":12,",
        "\"http_reqs_interrupted\":{\"type\":\"counter\",\"values\":{\"count\":3,",
        "\"tls_resumed{name:a}\":{\"type\":\"counter\",\"values\":{\"count\":7,",
        "\"http_reqs_interrupted{name:a}\":{\"type\":\"counter\",\"values\":{\"count\":3,",
        "\"tls_resumed{name:b}\":{\"type\":\"counter\",\"values\":{\"count\":5,",
        "\"http_reqs_interrupted{name:b}\":{\"type\":\"counter\",\"values\":{\"count\":0,"}) {
    INFO(field);
    CHECK(json.find(field) != std::string::npos);
  }
  // The text summary's per-name http_reqs rows say which name's requests were cut off.
  const std::string text = summary_text(result, {});
  const size_t requests = text.find("    http_reqs...");
  REQUIRE(requests != std::string::npos);
  std::istringstream rows(text.substr(requests));
  std::string total, row_a, row_b;
  std::getline(rows, total);
  std::getline(rows, row_a);
  std::getline(rows, row_b);
  CHECK(total ==
        "    http_reqs.........................: 1200  600/s  (and 3 cut off unanswered at "
        "the run's end or a ramp-down, not counted)");
  CHECK(row_a ==
        "      { name:a }......................: 600  300/s  (and 3 cut off unanswered at the "
        "run's end or a ramp-down, not counted)");
  CHECK(row_b == "      { name:b }......................: 600  300/s");
}

TEST_CASE("delayed iterations: the VUs asked for are those of the arrival rate, not the answers'") {
  // 100 arrivals a second for 4 s on 5 VUs, the service answering in 200 ms: the VUs answer
  // 25 a second, all of them busy, and 300 arrivals still waited at the end. The rate asked
  // for keeps 100/s x 200 ms = 20 VUs busy.
  RunResult result;
  result.info.corrected = true;
  result.info.threads = 1;
  result.info.duration = 4 * kMicrosPerSecond;
  result.declare_request("a", {});
  RequestTotals& a = result.requests[0];
  a.latency.record(1'500'000, 95);
  a.latency_uncorrected.record(200'000, 95);
  a.counters.requests = 95;
  a.counters.interrupted = 5;
  result.iterations = 95;
  result.dropped_iterations = 300;
  result.delayed_iterations = 95;
  result.vus_max = 5;
  std::string advice;
  for (const Recommendation& r : recommendations(result)) {
    if (r.description.rfind("95 iterations waited", 0) == 0) advice = r.suggestion;
  }
  CHECK(advice.find("Raise maxVUs above rate x response time (here about 20 VUs on average)") !=
        std::string::npos);
}

TEST_CASE("counts in the summary, recommendations and report agree with their nouns") {
  std::mt19937_64 random(7);
  RunResult result = make_result(random, 1'700'000'000'000, 2, {"a"});
  auto described = [](const RunResult& run, const std::string& start) {
    for (const Recommendation& r : recommendations(run)) {
      if (r.description.rfind(start, 0) == 0) return r.description;
    }
    return std::string("(none)");
  };
  auto timeouts = [&](uint64_t count) {
    result.requests[0].counters.errors[static_cast<size_t>(ErrorClass::kTimeout)] = count;
  };
  auto refused = [&](uint64_t count) {
    result.requests[0].counters.errors[static_cast<size_t>(ErrorClass::kConnect)] = count;
  };
  result.dropped_iterations = 1;
  result.delayed_iterations = 1;
  result.vus_max = 1;
  timeouts(1);
  refused(1);
  result.info.threads = 1;
  CHECK(described(result, "1 request") ==
        "1 request timed out (in the latency figures at the timeout, a floor)");
  CHECK(described(result, "1 connection") == "1 connection failed");
  CHECK(described(result, "1 iteration was") == "1 iteration was dropped: no VU was free when due");
  CHECK(described(result, "1 iteration waited") ==
        "1 iteration waited for a free VU and went out late (the latency counts the wait; 1 VU "
        "at most)");
  std::string text = summary_text(result, {});
  CHECK(text.find(", 1 thread,") != std::string::npos);
  CHECK(text.find("1 iteration was dropped") != std::string::npos);
  std::string html = report_html(result, {});
  CHECK(html.find(" &middot; 1 thread &middot; ") != std::string::npos);
  CHECK(html.find("1 iteration was dropped: no VU was free when due") != std::string::npos);

  result.dropped_iterations = 2;
  result.delayed_iterations = 3;
  result.vus_max = 2;
  timeouts(2);
  refused(2);
  result.info.threads = 2;
  CHECK(described(result, "2 requests") ==
        "2 requests timed out (in the latency figures at the timeout, a floor)");
  CHECK(described(result, "2 connections") == "2 connections failed");
  CHECK(described(result, "2 iterations were") ==
        "2 iterations were dropped: no VU was free when due");
  CHECK(described(result, "3 iterations") ==
        "3 iterations waited for a free VU and went out late (the latency counts the wait; 2 "
        "VUs at most)");
  text = summary_text(result, {});
  CHECK(text.find(", 2 threads,") != std::string::npos);
  CHECK(text.find("2 iterations were dropped") != std::string::npos);
  html = report_html(result, {});
  CHECK(html.find(" &middot; 2 threads &middot; ") != std::string::npos);

  // No request answered: how many were still waiting when cut off.
  RunResult hung;
  hung.info.threads = 1;
  hung.declare_request("a", {});
  hung.requests[0].counters.interrupted = 1;
  CHECK(described(hung, "No request") ==
        "No request was answered: 1 was still waiting for a response when cut off (at the run's "
        "end or a ramp-down)");
  hung.requests[0].counters.interrupted = 2;
  CHECK(described(hung, "No request") ==
        "No request was answered: 2 were still waiting for a response when cut off (at the "
        "run's end or a ramp-down)");

  CHECK(format_count(0, "VU", "VUs") == "0 VUs");
}

TEST_CASE("the text summary shows control characters in names as escapes, not to the terminal") {
  // Names from someone else's log: ESC and CSI (C1, two bytes in UTF-8) would reach the
  // terminal as escape sequences (here: clear the screen, set the window title).
  std::mt19937_64 random(9);
  RunResult result = make_result(random, 1'700'000'000'000, 2,
                                 {"a\x1b[2Jb",
                                  "c\xc2\x9b"
                                  "2Jd\r"});
  result.info.scenarios = {"s\x1b]0;title\x07é"};
  result.requests[0].check_names[0] = "ok\x7f";
  const std::string text = summary_text(result, {});
  INFO(text);
  for (const char* shown : {"scenario: s\\u001b]0;title\\u0007é (", "{ name:a\\u001b[2Jb }",
                            "{ name:c\\u009b2Jd\\u000d }", "a\\u001b[2Jb: ok\\u007f  "}) {
    CHECK(text.find(shown) != std::string::npos);
  }
  for (char control = 0; control < 0x20; ++control) {
    if (control != '\n') CHECK(text.find(control) == std::string::npos);
  }
  CHECK(text.find('\x7f') == std::string::npos);
  CHECK(text.find("\xc2\x9b") == std::string::npos);
  // The summary's own characters are untouched: its check marks.
  CHECK(text.find("\xE2\x9C") != std::string::npos);
}

TEST_CASE("the report's embedded summary holds no '<', whatever the names: its element ends") {
  // In a script element, "<!--<script" makes the parser take the element's own "</script>"
  // for text: the rest of the page joins the data and the summary no longer parses.
  std::mt19937_64 random(8);
  RunResult result = make_result(random, 1'700'000'000'000, 2, {"<!--<script>", "</script>"});
  result.info.scenarios = {"<!--<script>"};
  const std::string html = report_html(result, {});
  const std::string open = "<script type=\"application/json\" id=\"qv-summary\">";
  const size_t start = html.find(open);
  REQUIRE(start != std::string::npos);
  const size_t data = start + open.size();
  const size_t end = html.find('<', data);
  REQUIRE(html.compare(end, 9, "</script>") == 0);
  REQUIRE(html.find("</script>", end + 1) == std::string::npos);
  // Still the summary: its names read back as written.
  const std::string embedded = html.substr(data, end - data);
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  REQUIRE(parser.parse(embedded).get(root) == simdjson::SUCCESS);
  std::string_view scenario;
  REQUIRE(root["options"]["scenario"].get(scenario) == simdjson::SUCCESS);
  CHECK(scenario == "<!--<script>");
  simdjson::dom::element metric;
  CHECK(root["metrics"]["http_req_duration{name:</script>}"].get(metric) == simdjson::SUCCESS);
}
