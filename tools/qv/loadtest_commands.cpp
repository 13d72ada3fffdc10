// qv loadtest ...: a native load tester with k6's scenarios and thresholds, wrk2's latency
// correction and wrk's engine design.
//   qv loadtest run FILE | --scenario NAME | --url URL -c N -t N -d DURATION [--rate R]
//   qv loadtest merge LOG...       one summary from the histogram logs of several machines
//   qv loadtest scenarios [NAME]   the built-in scenarios (or one's JSON)
#include "loadtest_commands.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>

#include "loadtest/builtin_scenarios.h"
#include "loadtest/engine.h"
#include "loadtest/histogram_log.h"
#include "loadtest/report_html.h"
#include "loadtest/scenario.h"
#include "loadtest/summary.h"
#include "loadtest/text_file.h"

namespace qv::cli {

namespace {

using namespace qv::loadtest;

constexpr int kExitOk = 0;
constexpr int kExitBadInput = 2;
constexpr int kExitThresholdFailed = 99;  // k6's code for failed thresholds
constexpr int kExitInterrupted = 105;     // k6's ExternalAbort: stopped by SIGINT or SIGTERM

struct OutputOptions {
  std::string summary_json;
  std::string report;
  std::vector<std::string> outs;  // "hist=FILE"
};

struct RunOptions {
  std::string file;
  std::string scenario;
  std::string url;
  // Numbers and durations: given (an empty one too, which is no number) or not.
  std::optional<std::string> connections, threads, duration, rate, timeout, seed;
  std::string base_url, intensity, method, body;  // method: empty is GET
  std::vector<std::string> headers, thresholds;
  TlsSettings tls;     // --insecure, --cacert, --tls-resume
  bool quiet = false;  // no progress line (merge has none)
  OutputOptions output;
};

// A message on stderr, its control characters written as escapes as the text summary writes
// them: the names it quotes may come from someone else's scenario or histogram log.
void print_message(const std::string& message) {
  std::cerr << "qv loadtest: " << visible_controls(message) << "\n";
}

int bad_input(const std::string& message) {
  print_message(message);
  return kExitBadInput;
}

Result<int64_t> parse_count(const std::string& text, const std::string& option, int64_t minimum) {
  char* end = nullptr;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || value < minimum || value > 10'000'000) {
    return Error{option + ": expected a whole number from " + std::to_string(minimum) +
                 " to 10000000, got '" + text + "'"};
  }
  return static_cast<int64_t>(value);
}

// "api-crud-load, dashboard-load, voice-api-load": what an unknown name is told.
std::string builtin_scenario_names() {
  std::string names;
  for (const auto& each : builtin_scenarios())
    names += (names.empty() ? "" : ", ") + std::string(each.name);
  return names;
}

Result<std::string> histogram_out(const std::vector<std::string>& outs) {
  std::string path;
  for (const std::string& out : outs) {
    if (out.rfind("hist=", 0) != 0 || out.size() == 5) {
      return Error{"--out '" + out + "': unknown output (supported: hist=FILE)"};
    }
    path = out.substr(5);
  }
  return path;
}

// Whether a file can be written at `path` (`option` names it: "--report "), checked before a run,
// so that a run of minutes does not end in an output it cannot write (the file itself is not
// created yet).
Status writable(const std::string& option, const std::string& path) {
  struct stat info {};
  if (stat(path.c_str(), &info) == 0) {
    if (S_ISDIR(info.st_mode)) return Error{option + path + ": is a directory"};
    if (access(path.c_str(), W_OK) != 0)
      return Error{option + path + ": cannot be written (" + std::strerror(errno) + ")"};
    return Ok{};
  }
  const size_t slash = path.rfind('/');
  const std::string directory =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  if (access(directory.c_str(), W_OK) != 0) {
    return Error{option + path + ": cannot be written (" + directory + ": " + std::strerror(errno) +
                 ")"};
  }
  return Ok{};
}

// The outputs given, each with the option that names it ("--report ").
std::vector<std::pair<std::string, std::string>> given_outputs(const OutputOptions& output,
                                                               const std::string& histogram_path) {
  std::vector<std::pair<std::string, std::string>> given;
  for (auto [option, path] :
       {std::pair{"--summary-json ", &output.summary_json}, std::pair{"--report ", &output.report},
        std::pair{"--out hist=", &histogram_path}}) {
    if (!path->empty()) given.emplace_back(option, *path);
  }
  return given;
}

Status check_outputs(const OutputOptions& output, const std::string& histogram_path) {
  const auto given = given_outputs(output, histogram_path);
  for (size_t i = 0; i < given.size(); ++i) {
    const auto& [option, path] = given[i];
    if (auto status = writable(option, path); !status.ok()) return status;
    // Each output is written whole at the end: two given one file would leave the last only.
    for (size_t j = 0; j < i; ++j) {
      if (given[j].second == path) {
        return Error{given[j].first + path + " and " + option + path +
                     ": each output needs a file of its own"};
      }
    }
  }
  return Ok{};
}

// --- Progress ------------------------------------------------------------------------------

std::atomic<bool> g_interrupted{false};
void on_interrupt(int) {
  g_interrupted.store(true);
  static const char kMessage[] =
      "\nqv loadtest: interrupted: stopping (requests in flight may finish within gracefulStop); "
      "Ctrl-C again to quit at once, without a summary\n";
  const ssize_t ignored = write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
  (void)ignored;
}

class ProgressPrinter {
 public:
  explicit ProgressPrinter(bool quiet) : quiet_(quiet), terminal_(isatty(STDERR_FILENO) == 1) {}

  void operator()(const Progress& p) {
    if (quiet_) return;
    const std::string line =
        "running " + format_clock(p.elapsed / kMicrosPerSecond * kMicrosPerSecond) + "/" +
        format_clock(p.planned) + "  VUs " + std::to_string(p.vus) + "/" +
        std::to_string(p.vus_max) + "  " + format_number(p.requests_per_second, 0) +
        " req/s  p95 " + (p.p95 ? format_duration(static_cast<double>(p.p95)) : std::string("-")) +
        "  errors " + std::to_string(p.failed) + " (" +
        format_number(p.requests ? 100.0 * p.failed / p.requests : 0, 2) + "%)" +
        (p.dropped_iterations ? "  dropped " + std::to_string(p.dropped_iterations) : "");
    if (terminal_) {
      std::fprintf(stderr, "\r\033[K%s", line.c_str());  // refreshed in place
      live_ = true;
    } else if (++seconds_ % 5 == 0) {
      std::fprintf(stderr, "%s\n", line.c_str());  // plain lines, every 5 s
    }
    std::fflush(stderr);
  }
  void finish() {
    if (live_) std::fprintf(stderr, "\r\033[K");
  }

 private:
  bool quiet_, terminal_, live_ = false;
  int seconds_ = 0;
};

// --- Output --------------------------------------------------------------------------------

// `interrupted`: what the message names when the run was interrupted ("the run was", "the runs
// of a.log, b.log were"); `aborted`: a message for each run a threshold aborted.
int report(const RunResult& result, const std::vector<Threshold>& thresholds,
           const OutputOptions& output, const std::string& histogram_path,
           const std::string& interrupted, const std::vector<std::string>& aborted) {
  const std::vector<ThresholdOutcome> outcomes = evaluate_thresholds(thresholds, result);
  std::cout << summary_text(result, outcomes) << std::flush;
  if (!output.summary_json.empty()) {
    if (auto written = write_text_file(output.summary_json, summary_json(result, outcomes));
        !written.ok()) {
      return bad_input(written.error().message);
    }
  }
  if (!output.report.empty()) {
    if (auto written = write_text_file(output.report, report_html(result, outcomes));
        !written.ok()) {
      return bad_input(written.error().message);
    }
  }
  if (!histogram_path.empty()) {
    if (auto written = write_histogram_log_file(result, histogram_path); !written.ok()) {
      return bad_input(written.error().message);
    }
  }
  if (std::any_of(outcomes.begin(), outcomes.end(), [](const auto& o) { return !o.ok; }))
    print_message("some thresholds failed");
  for (const std::string& each : aborted) print_message(each);
  const RunEnd end = run_end(result.info, outcomes);
  if (end == RunEnd::kInterrupted) {
    print_message(interrupted + " interrupted before its end");
    return kExitInterrupted;
  }
  return end == RunEnd::kThresholdFailed ? kExitThresholdFailed : kExitOk;
}

Result<Scenario> build_scenario(const RunOptions& options) {
  std::vector<ThresholdSource> extra;
  for (const std::string& text : options.thresholds) {
    auto source = parse_threshold_option(text);
    if (!source.ok()) return in_field("--threshold", source.error());
    extra.push_back(source.value());
  }
  // wrk, hey and ab take the URL as their argument: given so here, it is no file to open.
  if (options.file.rfind("http://", 0) == 0 || options.file.rfind("https://", 0) == 0) {
    return Error{"'" + options.file +
                 "' is a URL, not a scenario file: give it with --url (quick mode, like wrk)"};
  }
  const int sources = !options.file.empty() + !options.scenario.empty() + !options.url.empty();
  if (sources == 0) return Error{"give a scenario file, --scenario NAME or --url URL (see --help)"};
  if (sources > 1) return Error{"give only one of a scenario file, --scenario NAME and --url URL"};

  if (!options.url.empty()) {
    if (!options.base_url.empty() || !options.intensity.empty()) {
      return Error{"--base-url and --intensity apply to scenarios, not to --url"};
    }
    if (options.seed) {
      return Error{"--seed applies to scenarios (quick mode picks nothing at random)"};
    }
    QuickOptions quick;
    quick.url = options.url;
    if (options.connections) {
      auto count = parse_count(*options.connections, "-c", 1);
      if (!count.get(quick.connections)) return count.error();
    }
    if (options.threads) {
      auto count = parse_count(*options.threads, "-t", 1);
      if (!count.ok()) return count.error();
      quick.threads = static_cast<int>(count.value());
    }
    if (options.duration) {
      auto duration = parse_duration(*options.duration);
      if (!duration.get(quick.duration)) return in_field("-d", duration.error());
    }
    if (options.timeout) {
      auto timeout = parse_duration(*options.timeout);
      if (!timeout.get(quick.timeout)) return in_field("--timeout", timeout.error());
      if (quick.timeout <= 0) return Error{"--timeout: must be longer than 0"};
    }
    if (options.rate) {
      char* end = nullptr;
      const double rate = std::strtod(options.rate->c_str(), &end);
      if (*end != '\0' || !(rate > 0) || rate > kMaxArrivalRate) {
        return Error{
            "--rate: expected a number of requests per second, more than 0 and at most "
            "100000000, got '" +
            *options.rate + "'"};
      }
      quick.rate = rate;
    }
    if (!options.method.empty()) quick.method = options.method;
    quick.headers = options.headers;
    quick.body = options.body;
    quick.thresholds = extra;
    quick.tls = options.tls;
    return quick_scenario(quick);
  }

  for (const auto& [given, name] : {std::pair{options.connections.has_value(), "-c"},
                                    {options.rate.has_value(), "--rate"},
                                    {options.timeout.has_value(), "--timeout"},
                                    {!options.method.empty(), "--method"},
                                    {!options.body.empty(), "--body"}}) {
    if (given)
      return Error{std::string(name) + " applies to --url (quick mode); set it in the scenario"};
  }
  std::string json, source;
  if (!options.scenario.empty()) {
    const BuiltinScenario* builtin = find_builtin_scenario(options.scenario);
    if (!builtin) {
      return Error{"--scenario: no built-in scenario '" + options.scenario +
                   "' (built in: " + builtin_scenario_names() + ")"};
    }
    json = std::string(builtin->json);
    source = options.scenario;
  } else {
    auto text = read_text_file(options.file);
    if (!text.get(json)) return text.error();
    source = options.file;
  }
  ScenarioOverrides overrides;
  overrides.intensity = options.intensity;
  overrides.base_url = options.base_url;
  overrides.extra_thresholds = extra;
  overrides.tls = options.tls;
  overrides.headers = options.headers;
  if (options.duration) {
    auto duration = parse_duration(*options.duration);
    if (!duration.ok()) return in_field("--duration", duration.error());
    overrides.duration = duration.value();
  }
  if (options.threads) {
    auto count = parse_count(*options.threads, "--threads", 1);
    if (!count.ok()) return count.error();
    overrides.threads = static_cast<int>(count.value());
  }
  auto scenario = parse_scenario(json, overrides);
  if (!scenario.ok()) return in_field(source, scenario.error());
  if (options.seed) {
    auto seed = parse_count(*options.seed, "--seed", 0);
    if (!seed.ok()) return seed.error();
    scenario.value().seed = static_cast<uint64_t>(seed.value());
  }
  return scenario;
}

int run_command(const RunOptions& options) {
  auto histogram_path = histogram_out(options.output.outs);
  if (!histogram_path.ok()) return bad_input(histogram_path.error().message);
  auto scenario = build_scenario(options);
  if (!scenario.ok()) return bad_input(scenario.error().message);
  if (auto outputs = check_outputs(options.output, histogram_path.value()); !outputs.ok())
    return bad_input(outputs.error().message);

  ProgressPrinter printer(options.quiet);
  RunHooks hooks;
  hooks.on_progress = [&printer](const Progress& progress) { printer(progress); };
  hooks.interrupted = &g_interrupted;
  g_interrupted.store(false);
  struct sigaction action {
  }, previous{};
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESETHAND;  // a second Ctrl-C ends the process at once
  struct sigaction previous_term {};
  sigaction(SIGINT, &action, &previous);
  sigaction(SIGTERM, &action, &previous_term);  // as k6: a CI job's timeout, say
  signal(SIGPIPE, SIG_IGN);
  auto result = run_load_test(scenario.value(), hooks);
  sigaction(SIGINT, &previous, nullptr);
  sigaction(SIGTERM, &previous_term, nullptr);
  printer.finish();
  if (!result.ok()) return bad_input(result.error().message);
  std::vector<std::string> aborted;  // by an abortOnFail threshold, named
  for (const std::string& reason : result.value().info.abort_reasons) {
    if (reason != kInterruptedReason) aborted.push_back("the run was aborted: " + reason);
  }
  return report(result.value(), scenario.value().thresholds, options.output, histogram_path.value(),
                "the run was", aborted);
}

int merge_command(const std::vector<std::string>& files, const OutputOptions& output) {
  auto histogram_path = histogram_out(output.outs);
  if (!histogram_path.ok()) return bad_input(histogram_path.error().message);
  if (auto outputs = check_outputs(output, histogram_path.value()); !outputs.ok())
    return bad_input(outputs.error().message);
  // An output written over a log merged would lose that machine's log.
  for (const auto& [option, path] : given_outputs(output, histogram_path.value())) {
    if (std::find(files.begin(), files.end(), path) != files.end())
      return bad_input(option + path + ": is one of the logs merged (write it to another file)");
  }
  std::vector<RunResult> results;
  // The logs of runs stopped by Ctrl-C or SIGTERM: merged, they are no pass either, as the
  // runs were not (exit 105). Nor are those of runs a threshold aborted (exit 99): the
  // thresholds may hold on all the machines' data, but one machine stopped its share.
  std::vector<std::string> interrupted, aborted;
  for (const std::string& file : files) {
    // A log given twice would count its machine's requests twice.
    if (std::count(files.begin(), files.end(), file) > 1)
      return bad_input(file + ": given twice (each machine's log is merged once)");
    auto result = read_histogram_log_file(file);
    if (!result.ok()) return bad_input(result.error().message);
    const RunInfo& info = result.value().info;
    // A log that is a merge itself holds each of its runs' reasons.
    for (const std::string& reason : info.abort_reasons) {
      if (reason == kInterruptedReason)
        interrupted.push_back(file);
      else
        aborted.push_back("the run of " + file + " was aborted: " + reason);
    }
    results.push_back(std::move(result.value()));
  }
  RunResult merged = merge_results(results);
  std::vector<std::string> names;
  for (const RequestTotals& request : merged.requests) names.push_back(request.name);
  std::vector<Threshold> thresholds;
  for (const ThresholdSource& source : merged.thresholds) {
    auto threshold = parse_threshold(source, names);
    if (!threshold.ok())
      return bad_input("threshold " + source.metric + " '" + source.expression +
                       "': " + threshold.error().message);
    thresholds.push_back(threshold.value());
  }
  std::string which;  // "the run of a.log was", "the runs of a.log, b.log were"
  for (const std::string& file : interrupted) which += (which.empty() ? "" : ", ") + file;
  if (interrupted.size() == 1) which = "the run of " + which + " was";
  if (interrupted.size() > 1) which = "the runs of " + which + " were";
  return report(merged, thresholds, output, histogram_path.value(), which, aborted);
}

int scenarios_command(const std::string& name) {
  if (!name.empty()) {
    const BuiltinScenario* builtin = find_builtin_scenario(name);
    if (!builtin) {
      return bad_input("no built-in scenario '" + name +
                       "' (built in: " + builtin_scenario_names() + ")");
    }
    std::cout << builtin->json;
    return kExitOk;
  }
  std::cout << "Built-in scenarios (qv loadtest run --scenario NAME [--intensity I] "
               "[--duration D] [--base-url URL]):\n\n";
  for (const BuiltinScenario& builtin : builtin_scenarios()) {
    auto scenario = parse_scenario(builtin.json, {});
    std::cout << "  " << builtin.name << "\n";
    if (!scenario.ok()) {
      std::cout << "    (invalid: " << scenario.error().message << ")\n";
      continue;
    }
    std::cout << "    " << scenario.value().description << "\n    requests:";
    for (const RequestSpec& request : scenario.value().requests) std::cout << " " << request.name;
    std::cout << "\n    intensities:";
    for (const char* intensity : {"low", "medium", "high", "extreme"}) {
      ScenarioOverrides overrides;
      overrides.intensity = intensity;
      auto at = parse_scenario(builtin.json, overrides);
      if (!at.ok()) continue;
      std::cout << " " << intensity << " (" << at.value().executor.peak_vus() << " VUs, "
                << format_clock(at.value().executor.total_duration()) << ")";
    }
    std::cout << "\n";
  }
  std::cout << "\nShow one as JSON, to copy and edit: qv loadtest scenarios NAME\n";
  return kExitOk;
}

// Unknown options and extra arguments are bad input (exit 2) like any other, so each
// command takes them in and refuses them itself, naming them.
bool refuse_extras(CLI::App& command, int& exit_code) {
  const std::vector<std::string> extras = command.remaining();
  if (extras.empty()) return false;
  exit_code = bad_input("unknown argument '" + extras.front() + "' (see qv loadtest " +
                        command.get_name() + " --help)");
  return true;
}

void add_output_options(CLI::App& command, OutputOptions& output) {
  command.add_option("--summary-json", output.summary_json,
                     "Write the summary as JSON (k6-like fields)");
  command.add_option("--report", output.report, "Write a self-contained HTML report");
  command.add_option("--out", output.outs,
                     "hist=FILE: write the histogram log (for qv loadtest merge)");
}

}  // namespace

int loadtest_usage_error(const std::string& message) {
  return bad_input(message + "\nRun with --help for more information.");
}

void add_loadtest_commands(CLI::App& app, int& exit_code) {
  auto* loadtest = app.add_subcommand(
      "loadtest",
      "Load test an HTTP service: k6 scenarios and thresholds, wrk2 latency, wrk speed");
  loadtest->require_subcommand(1);

  auto run = std::make_shared<RunOptions>();
  auto* run_command_app = loadtest->add_subcommand(
      "run", "Run a scenario file, a built-in scenario, or one URL (quick mode, like wrk)");
  run_command_app->add_option("file", run->file, "Scenario JSON file (docs/loadtest.md)");
  run_command_app->add_option("--scenario", run->scenario,
                              "Built-in scenario (qv loadtest scenarios)");
  run_command_app->add_option("--url", run->url, "Quick mode: the URL to load");
  run_command_app->add_option("-c,--connections", run->connections,
                              "Quick mode: connections (VUs), default 10");
  run_command_app->add_option("-t,--threads", run->threads,
                              "Threads, at most one per VU (quick mode default 2; scenarios: "
                              "one per core)");
  run_command_app->add_option(
      "-d,--duration", run->duration,
      "Duration, e.g. 30s (quick mode default 10s; scenarios: stages are scaled to it)");
  run_command_app->add_option(
      "--rate", run->rate,
      "Quick mode: requests per second in total (constant arrival rate, latency "
      "corrected for coordinated omission)");
  run_command_app->add_option("--timeout", run->timeout,
                              "Quick mode: connect and request timeout, default 10s");
  run_command_app->add_option(
      "-H,--header", run->headers,
      "A request header 'Name: value' (scenarios: on every request, replacing the "
      "scenario's header of that name)");
  run_command_app->add_option("--method", run->method,
                              "Quick mode: the request method, default GET");
  run_command_app->add_option("--body", run->body, "Quick mode: the request body");
  run_command_app->add_option("--base-url", run->base_url,
                              "Scenarios: send to this base URL instead");
  run_command_app->add_option("--intensity", run->intensity,
                              "Scenarios: low, medium, high or extreme");
  run_command_app->add_option(
      "--threshold", run->thresholds,
      "An extra threshold METRIC:EXPRESSION, e.g. 'http_req_duration:p(95)<200'");
  run_command_app->add_option("--seed", run->seed, "Seed for random picks (default: the clock)");
  run_command_app->add_option("--cacert", run->tls.ca_file,
                              "https: trust the CA certificates in this PEM file instead of "
                              "the system's");
  run_command_app->add_flag("-k,--insecure", run->tls.skip_verify,
                            "https: skip the certificate and host name checks");
  run_command_app->add_flag("--tls-resume", run->tls.resume_sessions,
                            "https: each VU resumes its previous connection's TLS session "
                            "(a returning client) instead of a full handshake per connection");
  run_command_app->add_flag("-q,--quiet", run->quiet, "No progress line");
  add_output_options(*run_command_app, run->output);
  run_command_app->allow_extras();
  run_command_app->callback([run, run_command_app, &exit_code] {
    if (!refuse_extras(*run_command_app, exit_code)) exit_code = run_command(*run);
  });

  auto files = std::make_shared<std::vector<std::string>>();
  auto merge_output = std::make_shared<OutputOptions>();
  auto* merge = loadtest->add_subcommand(
      "merge", "One summary from the histogram logs of several runs or machines");
  merge->add_option("files", *files, "Histogram logs written with --out hist=FILE");
  add_output_options(*merge, *merge_output);
  merge->allow_extras();
  merge->callback([files, merge_output, merge, &exit_code] {
    if (refuse_extras(*merge, exit_code)) return;
    exit_code = files->empty() ? bad_input("merge: give the histogram logs to merge")
                               : merge_command(*files, *merge_output);
  });

  auto name = std::make_shared<std::string>();
  auto* scenarios =
      loadtest->add_subcommand("scenarios", "List the built-in scenarios, or print one as JSON");
  scenarios->add_option("name", *name, "A built-in scenario to print");
  scenarios->allow_extras();
  scenarios->callback([name, scenarios, &exit_code] {
    if (!refuse_extras(*scenarios, exit_code)) exit_code = scenarios_command(*name);
  });
}

}  // namespace qv::cli
