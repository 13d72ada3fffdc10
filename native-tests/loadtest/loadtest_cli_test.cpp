// `qv loadtest` as a user runs it, against Debian's nginx and our test server on loopback:
// exit codes (0 passed, 99 threshold failed, 2 bad input) with messages that name the
// problem, the JSON summary, the HTML report, histogram logs and merge, built-in scenarios.
#include <signal.h>

#include <catch2/catch.hpp>

#include "loadtest/histogram_log.h"
#include "simdjson.h"
#include "support.h"
#include "support/environment.h"

using namespace qv::loadtest;
using namespace qv::loadtest::testing;

namespace {

const std::string kQv = qv::test::required_env("QV_BINARY");

CommandResult run_qv(std::vector<std::string> args) {
  args.insert(args.begin(), {kQv, "loadtest"});
  return run_command(args);
}

struct Summary {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  explicit Summary(const std::string& path) {
    const std::string text = read_text(path);
    if (parser.parse(text).get(root)) FAIL("not JSON: " << path << ": " << text);
  }
  double number(const char* pointer) {
    double value = -1;
    if (root.at_pointer(pointer).get_double().get(value)) FAIL("no number at " << pointer);
    return value;
  }
  bool boolean(const char* pointer) {
    bool value = false;
    if (root.at_pointer(pointer).get_bool().get(value)) FAIL("no boolean at " << pointer);
    return value;
  }
};

}  // namespace

TEST_CASE("quick mode against nginx: every request counted matches nginx's access log") {
  Nginx nginx;
  TempDir temp;
  const std::string& dir = temp.path;
  // A scenario with a graceful stop, so in-flight requests finish and are counted.
  write_text(dir + "/s.json", R"({"baseUrl": ")" + nginx.url("") + R"(", "executor": "constant-vus",
    "vus": 8, "duration": "1s", "gracefulStop": "10s", "threads": 2,
    "requests": [{"name": "index", "url": "/index.html", "checks": {"ok": "status == 200", "html": "body contains 'qv loadtest'"}}]})");
  auto run = run_qv({"run", dir + "/s.json", "--summary-json", dir + "/summary.json", "-q"});
  INFO(run.out << run.err);
  REQUIRE(run.exit_code == 0);
  Summary summary(dir + "/summary.json");
  const double requests = summary.number("/metrics/http_reqs/values/count");
  REQUIRE(requests > 0);
  REQUIRE(static_cast<double>(nginx.access_log_lines()) == requests);
  REQUIRE(summary.number("/metrics/checks/values/rate") == 1.0);
  REQUIRE(summary.number("/metrics/http_req_failed/values/rate") == 0.0);

  // wrk's form of the command runs too, and says what it measured.
  auto quick =
      run_qv({"run", "--url", nginx.url("/index.html"), "-c", "4", "-t", "2", "-d", "1s", "-q"});
  REQUIRE(quick.exit_code == 0);
  REQUIRE(quick.out.find("http_reqs") != std::string::npos);
  REQUIRE(quick.out.find("scenario: quick (constant-vus), target " + nginx.url("/index.html")) !=
          std::string::npos);
  // ... and where it sent the requests: the address of the host that accepted, in the JSON;
  // the text does not say it again under a URL that names it already.
  const std::string address = nginx.url("").substr(std::string("http://").size());
  REQUIRE(quick.out.find("target address") == std::string::npos);
  std::string_view chosen;
  REQUIRE(summary.root.at_pointer("/options/addresses/0/address").get(chosen) == simdjson::SUCCESS);
  REQUIRE(chosen == address);
}

TEST_CASE("https: --cacert and tlsCaFile trust a CA, --insecure skips the check, else exit 2") {
  Nginx nginx(64, true);
  TempDir temp;
  const std::string& dir = temp.path;
  auto trusted = run_qv({"run", "--url", nginx.https_url("/index.html"), "--cacert",
                         nginx.certificate(), "-c", "2", "-t", "1", "-d", "1s", "-q"});
  INFO(trusted.out << trusted.err);
  REQUIRE(trusted.exit_code == 0);
  REQUIRE(trusted.out.find("target " + nginx.https_url("/index.html")) != std::string::npos);
  auto refused = run_qv({"run", "--url", nginx.https_url("/"), "-d", "1s", "-q"});
  REQUIRE(refused.exit_code == 2);
  REQUIRE(refused.err.find("certificate verify failed: self-signed certificate") !=
          std::string::npos);
  REQUIRE(
      run_qv({"run", "--url", nginx.https_url("/"), "-k", "-c", "1", "-t", "1", "-d", "1s", "-q"})
          .exit_code == 0);
  // The same settings in a scenario file; the command line's win over the file's.
  write_text(dir + "/s.json", R"({"baseUrl": ")" + nginx.https_url("") + R"(", "tlsCaFile": ")" +
                                  nginx.certificate() + R"(", "executor": "constant-vus",
    "vus": 1, "duration": "1s", "requests": [{"url": "/index.html"}]})");
  REQUIRE(run_qv({"run", dir + "/s.json", "-q"}).exit_code == 0);
  auto missing = run_qv({"run", dir + "/s.json", "-q", "--cacert", dir + "/none.pem"});
  REQUIRE(missing.exit_code == 2);
  REQUIRE(missing.err.find("tlsCaFile (--cacert): cannot load certificates from '" + dir +
                           "/none.pem'") != std::string::npos);
  auto directory = run_qv({"run", dir + "/s.json", "-q", "--cacert", dir});
  REQUIRE(directory.exit_code == 2);
  REQUIRE(directory.err.find("tlsCaFile (--cacert): cannot load certificates from '" + dir +
                             "' (Is a directory)") != std::string::npos);
  // A name mismatch with --cacert given: the hint says so, and suggests no other CA.
  auto mismatch = run_qv({"run", "--url", nginx.https_url("/", "127.0.0.2"), "--cacert",
                          nginx.certificate(), "-d", "1s", "-q"});
  REQUIRE(mismatch.exit_code == 2);
  REQUIRE(mismatch.err.find("(the certificate does not name the IP address 127.0.0.2; -k / "
                            "--insecure skips verification)") != std::string::npos);
  write_text(dir + "/bad.json",
             R"({"baseUrl": ")" + nginx.https_url("") +
                 R"(", "insecureSkipTLSVerify": "yes", "executor": "constant-vus",
    "vus": 1, "duration": "1s", "requests": [{"url": "/"}]})");
  auto bad = run_qv({"run", dir + "/bad.json", "-q"});
  REQUIRE(bad.exit_code == 2);
  REQUIRE(bad.err.find("insecureSkipTLSVerify (line 1, column ") != std::string::npos);
  REQUIRE(bad.err.find("): expected true or false, got a string") != std::string::npos);
  // Session resumption: --tls-resume, or tlsResumeSessions in the file; the summary says how
  // many handshakes resumed (nginx's /close makes every request a new connection).
  auto resumed = run_qv({"run", "--url", nginx.https_url("/close"), "--cacert", nginx.certificate(),
                         "--tls-resume", "-c", "2", "-t", "1", "-d", "1s"});
  INFO(resumed.out << resumed.err);
  REQUIRE(resumed.exit_code == 0);
  REQUIRE(resumed.out.find(" resumed\n") != std::string::npos);
  write_text(dir + "/resume.json", R"({"baseUrl": ")" + nginx.https_url("") +
                                       R"(", "tlsCaFile": ")" + nginx.certificate() +
                                       R"(", "tlsResumeSessions": 1, "executor": "constant-vus",
    "vus": 1, "duration": "1s", "requests": [{"url": "/close"}]})");
  auto not_boolean = run_qv({"run", dir + "/resume.json", "-q"});
  REQUIRE(not_boolean.exit_code == 2);
  REQUIRE(not_boolean.err.find("tlsResumeSessions (line 1, column ") != std::string::npos);
  REQUIRE(not_boolean.err.find("): expected true or false, got a number") != std::string::npos);
}

TEST_CASE("thresholds decide the exit code: 0 when all hold, 99 when one fails") {
  TestServer server;
  TempDir temp;
  const std::string& dir = temp.path;
  auto holds = run_qv({"run", "--url", server.url("/delay/20"), "-c", "2", "-t", "1", "-d", "1s",
                       "-q", "--threshold", "http_req_duration:p(95)<60000", "--threshold",
                       "http_req_failed:rate<0.01", "--summary-json", dir + "/ok.json"});
  INFO(holds.out << holds.err);
  REQUIRE(holds.exit_code == 0);
  Summary ok(dir + "/ok.json");
  REQUIRE(ok.boolean("/thresholds/http_req_duration/p(95)<60000/ok"));
  REQUIRE(ok.boolean("/metrics/http_req_duration/thresholds/p(95)<60000/ok"));

  auto slow =
      run_qv({"run", "--url", server.url("/delay/20"), "-c", "2", "-t", "1", "-d", "1s", "-q",
              "--threshold", "http_req_duration:p(95)<5", "--summary-json", dir + "/slow.json"});
  REQUIRE(slow.exit_code == 99);
  REQUIRE(slow.out.find("\xE2\x9C\x97 'p(95)<5'") != std::string::npos);
  REQUIRE(slow.err.find("some thresholds failed") != std::string::npos);
  Summary failed(dir + "/slow.json");
  REQUIRE_FALSE(failed.boolean("/thresholds/http_req_duration/p(95)<5/ok"));

  auto errors = run_qv({"run", "--url", server.url("/status/503"), "-c", "2", "-t", "1", "-d",
                        "500ms", "-q", "--threshold", "http_req_failed:rate<0.01"});
  REQUIRE(errors.exit_code == 99);
  REQUIRE(errors.out.find("http_5xx") != std::string::npos);

  // An abortOnFail threshold that stops the run: 99, and the message names it.
  write_text(dir + "/abort.json", R"({"baseUrl": ")" + server.url("") + R"(",
    "executor": "constant-vus", "vus": 1, "duration": "30s", "threads": 1,
    "requests": [{"url": "/status/503"}],
    "thresholds": {"http_req_failed": [{"threshold": "rate<0.01", "abortOnFail": true}]}})");
  auto aborted = run_qv({"run", dir + "/abort.json", "-q"});
  INFO(aborted.out << aborted.err);
  REQUIRE(aborted.exit_code == 99);
  REQUIRE(aborted.out.find("ABORTED: threshold http_req_failed 'rate<0.01' failed (abortOnFail)") !=
          std::string::npos);
  REQUIRE(aborted.err.find("qv loadtest: the run was aborted: threshold http_req_failed "
                           "'rate<0.01' failed (abortOnFail)") != std::string::npos);
}

TEST_CASE("Ctrl-C or SIGTERM stops the run with its summary so far, and exits 105 (k6's)") {
  TestServer server;
  TempDir temp;
  const std::string& dir = temp.path;
  for (int signal : {SIGINT, SIGTERM}) {
    INFO("signal " << signal);
    auto stopped = run_command(
        {kQv, "loadtest", "run", "--url", server.url("/delay/5"), "-c", "2", "-t", "1", "-d", "30s",
         "-q", "--threshold", "http_req_duration:p(95)<60000", "--summary-json",
         dir + "/stopped.json", "--out", "hist=" + dir + "/stopped.log"},
        signal, 700);
    INFO(stopped.out << stopped.err);
    // Every threshold held on what ran, but a run cut short is no pass.
    REQUIRE(stopped.exit_code == 105);
    REQUIRE(stopped.out.find("ABORTED: interrupted") != std::string::npos);
    REQUIRE(stopped.err.find("interrupted") != std::string::npos);
    Summary summary(dir + "/stopped.json");
    REQUIRE(summary.number("/metrics/http_reqs/values/count") > 0);
    REQUIRE(summary.boolean("/state/aborted"));
    // Merged, alone or with a run that went to its end, its log is no pass either.
    auto whole = read_histogram_log_file(dir + "/stopped.log");
    REQUIRE(whole.ok());
    whole.value().info.aborted = false;
    whole.value().info.abort_reasons.clear();
    REQUIRE(write_histogram_log_file(whole.value(), dir + "/whole.log").ok());
    for (const std::vector<std::string>& logs :
         {std::vector<std::string>{dir + "/stopped.log"},
          std::vector<std::string>{dir + "/whole.log", dir + "/stopped.log"}}) {
      std::vector<std::string> args = {"merge"};
      args.insert(args.end(), logs.begin(), logs.end());
      auto merged = run_qv(args);
      INFO(merged.out << merged.err);
      REQUIRE(merged.exit_code == 105);
      REQUIRE(merged.out.find("ABORTED: interrupted") != std::string::npos);
      REQUIRE(merged.err.find("qv loadtest: the run of " + dir +
                              "/stopped.log was interrupted before its end") != std::string::npos);
    }
    REQUIRE(run_qv({"merge", dir + "/whole.log"}).exit_code == 0);
  }
}

TEST_CASE("a merge where one machine's run was aborted by a threshold is no pass (exit 99)") {
  TempDir temp;
  const std::string& dir = temp.path;
  // One second of `requests` answered in 1 ms, `failed` of them failed, under an abortOnFail
  // threshold on the failure rate.
  auto machine = [](uint64_t requests, uint64_t failed) {
    RunResult result;
    result.info.scenarios = {"calls"};
    result.info.executors = {"constant-vus"};
    result.info.targets = {"http://127.0.0.1:1/"};
    result.info.threads = 1;
    result.info.started_unix_ms = 1'700'000'000'000;
    result.info.duration = kMicrosPerSecond;
    result.thresholds.push_back({"http_req_failed", "rate<0.01", true, 0});
    result.declare_request("home", {});
    Interval interval = second_of_requests(result.info.started_unix_ms, requests, failed);
    interval.iterations = requests;
    interval.vus = interval.vus_max = 1;
    result.add_interval(interval);
    return result;
  };
  // Machine a stopped at 10% failed; b saw none fail in 990: together 0.1%, which holds.
  RunResult a = machine(10, 1);
  a.info.aborted = true;
  a.info.abort_reasons = {"threshold http_req_failed 'rate<0.01' failed (abortOnFail)"};
  REQUIRE(write_histogram_log_file(a, dir + "/a.log").ok());
  REQUIRE(write_histogram_log_file(machine(990, 0), dir + "/b.log").ok());

  auto merged = run_qv({"merge", dir + "/b.log", dir + "/a.log", "--summary-json",
                        dir + "/all.json", "--out", "hist=" + dir + "/all.log"});
  INFO(merged.out << merged.err);
  REQUIRE(merged.out.find("\xE2\x9C\x93 'rate<0.01'") != std::string::npos);  // holds together
  REQUIRE(merged.out.find("ABORTED: threshold http_req_failed 'rate<0.01' failed (abortOnFail)") !=
          std::string::npos);
  REQUIRE(merged.err.find("qv loadtest: the run of " + dir +
                          "/a.log was aborted: threshold http_req_failed 'rate<0.01' failed "
                          "(abortOnFail)") != std::string::npos);
  REQUIRE(merged.exit_code == 99);
  Summary summary(dir + "/all.json");
  REQUIRE(summary.boolean("/state/aborted"));
  // The merged log keeps it: merged again, it is still no pass.
  REQUIRE(run_qv({"merge", dir + "/all.log"}).exit_code == 99);
  REQUIRE(run_qv({"merge", dir + "/b.log"}).exit_code == 0);
  // An output given the file of a log merged is refused, and the log is left as it was.
  const std::string b_log = read_text(dir + "/b.log");
  auto over = run_qv({"merge", dir + "/a.log", dir + "/b.log", "--report", dir + "/b.log"});
  INFO(over.err);
  REQUIRE(over.exit_code == 2);
  REQUIRE(over.err.find("--report " + dir + "/b.log: is one of the logs merged") !=
          std::string::npos);
  REQUIRE(read_text(dir + "/b.log") == b_log);
  // A log given twice is refused: its requests would count twice.
  auto twice = run_qv({"merge", dir + "/b.log", dir + "/a.log", dir + "/b.log"});
  REQUIRE(twice.exit_code == 2);
  REQUIRE(twice.err.find(dir + "/b.log: given twice (each machine's log is merged once)") !=
          std::string::npos);
  // With a run stopped by Ctrl-C: 105, as that run's was, and both reasons are given.
  RunResult c = machine(990, 0);
  c.info.aborted = true;
  c.info.abort_reasons = {kInterruptedReason};
  REQUIRE(write_histogram_log_file(c, dir + "/c.log").ok());
  for (const auto& logs : {std::vector<std::string>{dir + "/c.log", dir + "/a.log"},
                           std::vector<std::string>{dir + "/c.log", dir + "/all.log"}}) {
    auto both = run_qv({"merge", logs[0], logs[1]});
    INFO(both.out << both.err);
    REQUIRE(both.exit_code == 105);
    REQUIRE(both.out.find("ABORTED: interrupted; threshold http_req_failed 'rate<0.01' failed "
                          "(abortOnFail)\n") != std::string::npos);
    REQUIRE(both.err.find("qv loadtest: the run of " + logs[1] + " was aborted: threshold") !=
            std::string::npos);
    REQUIRE(both.err.find("qv loadtest: the run of " + dir +
                          "/c.log was interrupted before its end") != std::string::npos);
  }
}

TEST_CASE("bad input exits 2 with a message naming the problem") {
  TestServer server;
  TempDir temp;
  const std::string& dir = temp.path;
  auto expect = [&](std::vector<std::string> args, const std::string& message) {
    auto result = run_qv(args);
    INFO("stderr: " << result.err);
    REQUIRE(result.exit_code == 2);
    REQUIRE(result.err.find(message) != std::string::npos);
  };
  const std::string base = R"({"baseUrl": ")" + server.url("") + R"(", )";
  write_text(dir + "/threshold.json",
             base + R"("executor": "constant-vus", "vus": 1, "duration": "1s",
    "requests": [{"url": "/"}], "thresholds": {"http_req_duration": ["p(95)<<200"]}})");
  expect({"run", dir + "/threshold.json"},
         "threshold.json: thresholds.http_req_duration[0] (line 2, column 70): cannot parse "
         "'p(95)<<200'");
  write_text(
      dir + "/executor.json",
      base +
          R"("executor": "constant-vu", "vus": 1, "duration": "1s", "requests": [{"url": "/"}]})");
  expect({"run", dir + "/executor.json"},
         "executor.json: executor: unknown executor 'constant-vu'");
  // A check that does not parse, in a file written over lines: named with its line and
  // column, as docs/loadtest.md shows this run's output.
  write_text(dir + "/calls.json", R"({
  "name": "calls",
  "baseUrl": ")" + server.url("") + R"(",
  "executor": "constant-vus",
  "vus": 2,
  "duration": "10s",
  "requests": [
    {"name": "calls.start", "method": "POST", "url": "/api/calls/start"},
    {"name": "calls.transcript", "url": "/api/calls/transcript",
     "checks": {"ok": "status = 200"}}
  ]
}
)");
  const std::string check_error =
      "calls.json: requests[1].checks.ok (line 10, column 17): cannot parse 'status = 200' (use "
      "status == 200, duration < 500, body contains 'text', bodySize > 0)\n";
  expect({"run", dir + "/calls.json"}, "/" + check_error);
  REQUIRE(read_text(qv::test::source_dir() + "/docs/loadtest.md")
              .find("\nqv loadtest: " + check_error) != std::string::npos);
  write_text(dir + "/broken.json", "{\"executor\": ");
  expect({"run", dir + "/broken.json"},
         "broken.json: malformed JSON at line 1, column 14: expected a value, got the end of the "
         "text");
  expect({"run", dir + "/missing.json"},
         "missing.json: cannot be opened (No such file or directory)");
  // A directory opens and then fails to read: named, not an abort.
  expect({"run", dir}, dir + ": cannot be read (Is a directory)");
  expect({"merge", dir}, dir + ": cannot be read (Is a directory)");
  expect({"run", "--url", "http://127.0.0.1:" + std::to_string(closed_port()) + "/", "-d", "1s"},
         "is unreachable: tried 127.0.0.1:");
  expect({"run", "--url", server.url("/"), "-c", "zero"},
         "-c: expected a whole number from 1 to 10000000, got 'zero'");
  expect({"run", "--url", server.url("/"), "-c", "20000000"},
         "-c: expected a whole number from 1 to 10000000, got '20000000'");
  expect({"run", "--url", server.url("/"), "-d", "forever"}, "-d: cannot parse duration 'forever'");
  // A flag given an empty value (a script's unset variable, -c "$CONNECTIONS") is no number,
  // not a flag left out: the run does not go ahead with the default.
  expect({"run", "--url", server.url("/"), "-d", "1s", "-c", ""},
         "-c: expected a whole number from 1 to 10000000, got ''");
  expect({"run", "--url", server.url("/"), "-d", "1s", "--rate", ""},
         "--rate: expected a number of requests per second, more than 0 and at most 100000000, "
         "got ''");
  expect({"run", "--url", server.url("/"), "-d", ""}, "-d: cannot parse duration ''");
  expect({"run", "--scenario", "dashboard-load", "-c", ""},
         "-c applies to --url (quick mode); set it in the scenario");
  expect({"run", "--scenario", "dashboard-load", "--base-url", server.url(""), "-d", "1s", "--seed",
          ""},
         "--seed: expected a whole number from 0 to 10000000, got ''");
  expect({"run", "--url", server.url("/"), "-c", "2", "-t", "3"},
         "-t: 3 is more than the 2 VUs (-c): each thread runs VUs of its own, so give at most 2 "
         "threads");
  expect({"run", "--scenario", "dashboard-load", "--intensity", "low", "--threads", "51"},
         "--threads: 51 is more than the 50 VUs (intensities.low.stages[1].target)");
  expect({"run", "--url", server.url("/"), "--threshold", "http_req_duration:p95<1"},
         "--threshold 'http_req_duration:p95<1': cannot parse 'p95<1'");
  expect({"run", "--scenario", "dashboard-load", "--method", "POST"},
         "--method applies to --url (quick mode); set it in the scenario");
  expect({"run", "--url", server.url("/"), "--seed", "7"},
         "--seed applies to scenarios (quick mode picks nothing at random)");
  expect({"run", "--url", server.url("/"), "-H", "Content-Length: 5"},
         "-H 'Content-Length: 5': set by the load tester from the body");
  expect({"run", "--url", server.url("/"), "--out", "csv=x"},
         "--out 'csv=x': unknown output (supported: hist=FILE)");
  expect({"run", "--scenario", "voice"},
         "--scenario: no built-in scenario 'voice' (built in: api-crud-load, dashboard-load, "
         "voice-api-load)");
  expect({"run", "--scenario", "voice-api-load", "--intensity", "insane"},
         "voice-api-load: --intensity: intensity 'insane' is not defined");
  expect({"run"}, "give a scenario file, --scenario NAME or --url URL");
  // Two outputs given one file: refused before the run, as one would overwrite the other.
  expect({"run", "--url", server.url("/"), "-d", "1s", "--out", "hist=" + dir + "/same",
          "--summary-json", dir + "/same"},
         "--summary-json " + dir + "/same and --out hist=" + dir +
             "/same: each output needs a file of its own");
  // The URL given as wrk takes it, with wrk's flags: not taken for a file.
  expect({"run", "-c", "10", "-d", "1s", server.url("/")},
         "qv loadtest: '" + server.url("/") +
             "' is a URL, not a scenario file: give it with --url (quick mode, like wrk)");
  // Checked before the run, also when nothing would read them until it ends (or at all).
  expect({"run", "--url", server.url("/"), "-d", "1s", "--summary-json", dir + "/no/s.json"},
         "--summary-json " + dir + "/no/s.json: cannot be written (" + dir +
             "/no: No such file or directory)");
  expect({"run", "--url", server.url("/"), "-d", "1s", "--report", dir},
         "--report " + dir + ": is a directory");
  expect({"run", "--url", server.url("/"), "-d", "1s", "--cacert", dir + "/none.pem"},
         "tlsCaFile (--cacert): cannot load certificates from '" + dir + "/none.pem'");
  expect({"merge", dir + "/broken.json"}, "broken.json: not a qv loadtest histogram log");
  expect({"merge"}, "merge: give the histogram logs to merge");
  // merge prints no progress line, so it has no -q to silence one.
  expect({"merge", "-q", dir + "/a.log"}, "unknown argument '-q' (see qv loadtest merge --help)");
  expect({"run", "--url", server.url("/"), "--connections-typo", "5"},
         "unknown argument '--connections-typo'");
}

TEST_CASE("names quoted on stderr write control characters as escapes, as the summary does") {
  // A name in someone else's scenario or log must not drive the terminal the message reaches
  // (here: set the window title, clear the screen).
  TestServer server;
  TempDir temp;
  const std::string& dir = temp.path;
  auto expect = [](const CommandResult& result, const std::string& shown) {
    INFO("stderr: " << result.err);
    REQUIRE(result.exit_code == 2);
    CHECK(result.err.find(shown) != std::string::npos);
    for (char control = 0; control < 0x20; ++control) {
      if (control != '\n') CHECK(result.err.find(control) == std::string::npos);
    }
    CHECK(result.err.find("\xc2\x9b") == std::string::npos);
  };
  write_text(dir + "/check.json", R"({"baseUrl": ")" + server.url("") + R"(",
    "executor": "constant-vus", "vus": 1, "duration": "1s",
    "requests": [{"url": "/", "checks": {"x\u001b]0;title\u0007": "status = 200"}}]})");
  expect(run_qv({"run", dir + "/check.json"}),
         "requests[0].checks.x\\u001b]0;title\\u0007 (line 3, column");

  // merge: a threshold of a log naming a request the logs do not have.
  RunResult result;
  result.info.scenarios = {"s"};
  result.info.executors = {"constant-vus"};
  result.declare_request("a\x1b[2Jb", {});
  result.thresholds.push_back(
      {"http_req_duration{name:c\xc2\x9b"
       "2J}",
       "p(95)<1", false, 0});
  REQUIRE(write_histogram_log_file(result, dir + "/a.log").ok());
  expect(run_qv({"merge", dir + "/a.log"}),
         "qv loadtest: threshold http_req_duration{name:c\\u009b2J} 'p(95)<1': no request named "
         "'c\\u009b2J' (requests: a\\u001b[2Jb)");
}

TEST_CASE("the HTML report is one self-contained file with its plots") {
  TestServer server;
  TempDir temp;
  const std::string& dir = temp.path;
  auto run = run_qv({"run", "--url", server.url("/"), "-c", "4", "-t", "1", "-d", "2s", "--rate",
                     "200", "-q", "--report", dir + "/report.html", "--threshold",
                     "http_req_duration:p(99)<60000"});
  REQUIRE(run.exit_code == 0);
  const std::string html = read_text(dir + "/report.html");
  for (const char* part :
       {"<!DOCTYPE html>", "<svg", "Latency percentiles per second",
        "Throughput and errors per second", "Latency by percentile", "p99 uncorrected",
        "Thresholds", "Recommendations", "id=\"qv-summary\"", "<h2>Phases</h2>",
        "<td>http_req_connecting</td>", "<td>http_req_waiting</td>"}) {
    INFO(part);
    REQUIRE(html.find(part) != std::string::npos);
  }
  // Nothing is fetched: no external scripts, styles, images or fonts.
  for (const char* external : {"src=", "href=", "@import", "url("}) {
    INFO(external);
    REQUIRE(html.find(external) == std::string::npos);
  }
}

TEST_CASE("merge: two machines' logs add up to one histogram; one log reproduces its run") {
  TestServer server;
  TempDir temp;
  const std::string& dir = temp.path;
  for (const char* name : {"a", "b"}) {
    auto run =
        run_qv({"run", "--url", server.url("/delay/2"), "-c", "4", "-t", "2", "-d", "1s", "--rate",
                "150", "-q", "--threshold", "http_req_duration:p(95)<60000", "--out",
                "hist=" + dir + "/" + name + ".log", "--summary-json", dir + "/" + name + ".json"});
    INFO(run.err);
    REQUIRE(run.exit_code == 0);
  }
  auto merge =
      run_qv({"merge", dir + "/a.log", dir + "/b.log", "--summary-json", dir + "/merged.json",
              "--out", "hist=" + dir + "/merged.log", "--report", dir + "/merged.html"});
  INFO(merge.err);
  REQUIRE(merge.exit_code == 0);
  REQUIRE(merge.out.find("2 machines merged") != std::string::npos);
  // Both machines went to the address the URL names: the text does not say it again.
  REQUIRE(merge.out.find("target address") == std::string::npos);

  auto a = read_histogram_log_file(dir + "/a.log");
  auto b = read_histogram_log_file(dir + "/b.log");
  auto merged = read_histogram_log_file(dir + "/merged.log");
  REQUIRE((a.ok() && b.ok() && merged.ok()));
  // ... and the merged log keeps it once.
  REQUIRE(merged.value().info.addresses ==
          std::vector<OriginAddress>{
              {server.url(""), server.url("").substr(std::string("http://").size())}});
  Histogram sum = a.value().total_latency(true);
  sum.add(b.value().total_latency(true));
  REQUIRE(merged.value().total_latency(true) == sum);
  Histogram uncorrected = a.value().total_latency(false);
  uncorrected.add(b.value().total_latency(false));
  REQUIRE(merged.value().total_latency(false) == uncorrected);

  Summary a_summary(dir + "/a.json"), b_summary(dir + "/b.json"), m_summary(dir + "/merged.json");
  REQUIRE(m_summary.number("/metrics/http_reqs/values/count") ==
          a_summary.number("/metrics/http_reqs/values/count") +
              b_summary.number("/metrics/http_reqs/values/count"));
  REQUIRE(m_summary.number("/metrics/http_req_duration/values/p(99)") ==
          static_cast<double>(sum.value_at_percentile(99)) / 1000);
  REQUIRE(m_summary.boolean(
      "/thresholds/http_req_duration/p(95)<60000/ok"));  // thresholds travel in logs

  // One log alone gives back the run's own metrics, exactly.
  auto single = run_qv({"merge", dir + "/a.log", "--summary-json", dir + "/single.json"});
  REQUIRE(single.exit_code == 0);
  const std::string run_json = read_text(dir + "/a.json"),
                    single_json = read_text(dir + "/single.json");
  const auto metrics = [](const std::string& json) {
    const size_t start = json.find("\"metrics\":");
    return json.substr(start, json.find(",\"checks\":") - start);
  };
  REQUIRE(metrics(single_json) == metrics(run_json));
}

TEST_CASE("built-in scenarios list, print, and run briefly against any server") {
  auto list = run_qv({"scenarios"});
  REQUIRE(list.exit_code == 0);
  for (const char* name : {"voice-api-load", "dashboard-load", "api-crud-load"})
    REQUIRE(list.out.find(name) != std::string::npos);
  REQUIRE(list.out.find("extreme (1000 VUs, 15m)") != std::string::npos);
  auto show = run_qv({"scenarios", "voice-api-load"});
  REQUIRE(show.exit_code == 0);
  REQUIRE(show.out.find("\"/api/calls/start\"") != std::string::npos);
  // An unknown name is told the built-in ones, as --scenario's is.
  auto unknown = run_qv({"scenarios", "voice"});
  REQUIRE(unknown.exit_code == 2);
  REQUIRE(unknown.err.find("no built-in scenario 'voice' (built in: api-crud-load, "
                           "dashboard-load, voice-api-load)") != std::string::npos);

  TestServer server;
  TempDir temp;
  const std::string& dir = temp.path;
  auto run =
      run_qv({"run", "--scenario", "dashboard-load", "--intensity", "low", "--duration", "2s",
              "--base-url", server.url(""), "-q", "--summary-json", dir + "/dashboard.json"});
  INFO(run.out << run.err);
  REQUIRE(run.exit_code == 0);
  Summary summary(dir + "/dashboard.json");
  REQUIRE(summary.number("/metrics/http_reqs/values/count") > 0);
  REQUIRE(summary.number("/metrics/http_reqs{name:leads.list}/values/count") > 0);
  REQUIRE(run.out.find("RECOMMENDATIONS") != std::string::npos);
  REQUIRE(server.log().find("GET /api/leads?page=") != std::string::npos);
}
