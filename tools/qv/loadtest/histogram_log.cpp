#include "histogram_log.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string_view>

#include "text_file.h"

namespace qv::loadtest {

namespace {

constexpr const char* kMagic = "#qv-loadtest-histogram-log 4";
// Version 1 logs (before the phases) are read too: their R lines end after UNCORRECTED.
constexpr const char* kMagicVersion1 = "#qv-loadtest-histogram-log 1";
constexpr size_t kFieldsVersion1 = 15;
// Version 2 adds the phases and the TLS handshakes resumed.
constexpr const char* kMagicVersion2 = "#qv-loadtest-histogram-log 2";
constexpr size_t kFieldsVersion2 = kFieldsVersion1 + kPhaseCount + 1;
// Version 3 adds the requests interrupted at the end of the run and the protocol errors'
// reasons.
constexpr const char* kMagicVersion3 = "#qv-loadtest-histogram-log 3";
constexpr size_t kFieldsVersion3 = kFieldsVersion2 + 2;
// Version 4 adds the delayed iterations to the I lines (R lines as version 3).
constexpr size_t kIntervalFields = 8;

std::string encode(const std::string& text) {
  static const char* const kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (c <= ' ' || c == '%' || c == 0x7F) {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out.empty() ? "%00" : out;  // an empty field would vanish between two spaces
}

Result<std::string> decode(std::string_view text) {
  if (text == "%00") return std::string();
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    unsigned value = 0;
    if (i + 2 >= text.size()) return Error{"malformed %-escape"};
    const auto [end, error] = std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16);
    if (error != std::errc() || end != text.data() + i + 3) return Error{"malformed %-escape"};
    out += static_cast<char>(value);
    i += 2;
  }
  return out;
}

std::vector<std::string_view> split(std::string_view line) {
  std::vector<std::string_view> fields;
  while (!line.empty()) {
    const size_t space = line.find(' ');
    fields.push_back(line.substr(0, space));
    if (space == std::string_view::npos) break;
    line.remove_prefix(space + 1);
  }
  return fields;
}

template <typename T>
bool parse_number(std::string_view text, T& out) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  return error == std::errc() && end == text.data() + text.size();
}

// "key=value" fields of an #info line.
bool key_value(std::string_view field, std::string_view& key, std::string_view& value) {
  const size_t equals = field.find('=');
  if (equals == std::string_view::npos) return false;
  key = field.substr(0, equals);
  value = field.substr(equals + 1);
  return true;
}

// The histogram settings line, for a histogram whose values start at `lowest` µs.
std::string settings_line(int64_t lowest) {
  return "#histogram lowest_us=" + std::to_string(lowest) +
         " highest_us=" + std::to_string(Histogram::kHighest) +
         " significant_digits=" + std::to_string(Histogram::kSignificantDigits);
}

}  // namespace

std::string write_histogram_log(const RunResult& result) {
  std::string out;
  out += kMagic;
  out += "\n" + settings_line(Histogram::kLowest) + "\n";
  const RunInfo& info = result.info;
  // A merge's several scenarios, executors or targets: a field for each.
  out += "#info";
  for (const auto& [key, names] : {std::pair{"scenario", &info.scenarios},
                                   {"executor", &info.executors},
                                   {"target", &info.targets}}) {
    for (const std::string& name : *names) out += std::string(" ") + key + "=" + encode(name);
  }
  out += std::string(" corrected=") + (info.corrected ? "1" : "0") +
         " threads=" + std::to_string(info.threads) + " machines=" + std::to_string(info.machines) +
         " started_unix_ms=" + std::to_string(info.started_unix_ms) +
         " duration_us=" + std::to_string(info.duration) + " aborted=" + (info.aborted ? "1" : "0");
  for (const std::string& reason : info.abort_reasons) out += " abort_reason=" + encode(reason);
  out += "\n";
  for (const OriginAddress& each : info.addresses)
    out += "#address " + encode(each.origin) + " " + encode(each.address) + "\n";
  for (const RequestTotals& request : result.requests) {
    out += "#request " + encode(request.name);
    for (const std::string& check : request.check_names) out += " " + encode(check);
    out += "\n";
  }
  for (const ThresholdSource& threshold : result.thresholds) {
    out += "#threshold " + encode(threshold.metric) + " " + encode(threshold.expression) + " " +
           (threshold.abort_on_fail ? "1" : "0") + " " +
           std::to_string(threshold.delay_abort_eval) + "\n";
  }
  for (const Interval& interval : result.intervals) {
    out += "I " + std::to_string(interval.start_unix_ms) + " " +
           std::to_string(interval.length_ms) + " " + std::to_string(interval.iterations) + " " +
           std::to_string(interval.dropped_iterations) + " " + std::to_string(interval.vus) + " " +
           std::to_string(interval.vus_max) + " " + std::to_string(interval.delayed_iterations) +
           "\n";
    for (size_t i = 0; i < interval.requests.size(); ++i) {
      const RequestInterval& part = interval.requests[i];
      const RequestCounters& c = part.counters;
      if (part.empty()) continue;
      out += "R " + std::to_string(i) + " " + std::to_string(c.requests) + " " +
             std::to_string(c.failed) + " " + std::to_string(c.bytes_sent) + " " +
             std::to_string(c.bytes_received);
      for (uint64_t error : c.errors) out += " " + std::to_string(error);
      std::string checks;
      for (const CheckCounts& check : c.checks) {
        checks += (checks.empty() ? "" : ",") + std::to_string(check.passes) + "/" +
                  std::to_string(check.fails);
      }
      out += " " + (checks.empty() ? std::string("-") : checks);
      out += " " + part.latency.encode() + " " + part.latency_uncorrected.encode();
      for (const SparseHistogram& phase : part.phases) out += " " + phase.encode();
      out += " " + std::to_string(c.tls_resumed) + " " + std::to_string(c.interrupted) + " ";
      std::string reasons;
      for (const auto& [reason, count] : c.protocol_reasons) {
        std::string text = encode(reason);
        for (size_t at = 0; (at = text.find(',', at)) != std::string::npos; at += 3)
          text.replace(at, 1, "%2C");
        reasons += (reasons.empty() ? "" : ",") + std::to_string(count) + ":" + text;
      }
      out += (reasons.empty() ? std::string("-") : reasons) + "\n";
    }
  }
  return out;
}

Status write_histogram_log_file(const RunResult& result, const std::string& path) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) return Error{path + ": cannot be written"};
  file << write_histogram_log(result);
  file.close();
  if (!file) return Error{path + ": cannot be written"};
  return Ok{};
}

Result<RunResult> read_histogram_log(const std::string& text, const std::string& source) {
  RunResult result;
  std::istringstream lines(text);
  std::string line;
  size_t number = 0;
  size_t r_fields = kFieldsVersion3;
  size_t i_fields = kIntervalFields;
  Interval* interval = nullptr;
  std::vector<Interval> intervals;
  auto fail = [&](const std::string& why) {
    return Error{source + ":" + std::to_string(number) + ": " + why};
  };
  while (std::getline(lines, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (number == 1) {
      if (line == kMagicVersion1) {
        r_fields = kFieldsVersion1;
      } else if (line == kMagicVersion2) {
        r_fields = kFieldsVersion2;
      } else if (line != kMagicVersion3 && line != kMagic) {
        // Say which versions are read: 1 to 4, not only the one written.
        const std::string prefix = "#qv-loadtest-histogram-log ";
        if (line.rfind(prefix, 0) == 0) {
          return Error{source + ": histogram log version '" + line.substr(prefix.size()) +
                       "' is not one this qv reads (it reads versions 1 to 4)"};
        }
        return Error{source +
                     ": not a qv loadtest histogram log (its first line is not "
                     "'#qv-loadtest-histogram-log N' for a version N this qv reads: 1 to 4)"};
      }
      if (line != kMagic) i_fields = kIntervalFields - 1;  // before the delayed iterations
    }
    // Every line written ends with a line break: a log whose last line has none was cut short
    // (a copy that stopped, a disk that filled), and what is left of that line may still read.
    // getline reaches the end of the text only on such a line.
    if (lines.eof()) {
      return fail(
          "the log ends inside this line: it was cut short (every line of a log ends with "
          "a line break)");
    }
    if (number == 1) continue;
    if (line.empty()) continue;
    const std::vector<std::string_view> fields = split(line);
    const std::string_view kind = fields[0];
    if (kind == "#histogram") {
      // Logs written before sub-µs values were kept as 0 say lowest_us=1: their values
      // under 1 µs were counted as 1 µs, which merges with these as it is.
      const std::string expected = settings_line(Histogram::kLowest);
      if (line != expected && line != settings_line(1))
        return fail("histogram settings differ from this build's ('" + expected.substr(11) + "')");
    } else if (kind == "#info") {
      for (size_t i = 1; i < fields.size(); ++i) {
        std::string_view key, value;
        if (!key_value(fields[i], key, value))
          return fail("malformed #info field '" + std::string(fields[i]) + "'");
        auto decoded = decode(value);
        if (!decoded.ok()) return fail(decoded.error().message);
        const std::string& v = decoded.value();
        bool ok = true;
        if (key == "scenario")
          result.info.scenarios.push_back(v);
        else if (key == "executor")
          result.info.executors.push_back(v);
        else if (key == "target")
          result.info.targets.push_back(v);
        else if (key == "corrected")
          result.info.corrected = v == "1";
        else if (key == "threads")
          ok = parse_number(v, result.info.threads);
        else if (key == "machines")
          ok = parse_number(v, result.info.machines);
        else if (key == "started_unix_ms")
          ok = parse_number(v, result.info.started_unix_ms);
        else if (key == "duration_us")
          ok = parse_number(v, result.info.duration);
        else if (key == "aborted")
          result.info.aborted = v == "1";
        else if (key == "abort_reason" && !v.empty())  // older logs: empty when not aborted
          result.info.abort_reasons.push_back(v);
        if (!ok) return fail("malformed #info " + std::string(key));
      }
      if (result.info.aborted && result.info.abort_reasons.empty())
        result.info.abort_reasons.push_back("for a reason its log does not record");
    } else if (kind == "#address") {
      if (fields.size() != 3) return fail("malformed #address line");
      auto origin = decode(fields[1]);
      auto address = decode(fields[2]);
      if (!origin.ok() || !address.ok()) return fail("malformed #address line");
      result.info.addresses.push_back({origin.value(), address.value()});
    } else if (kind == "#request") {
      if (fields.size() < 2) return fail("#request without a name");
      std::vector<std::string> decoded;
      for (size_t i = 1; i < fields.size(); ++i) {
        auto text_field = decode(fields[i]);
        if (!text_field.ok()) return fail(text_field.error().message);
        decoded.push_back(text_field.value());
      }
      const std::string name = decoded.front();
      decoded.erase(decoded.begin());
      if (result.declare_request(name, decoded) != result.requests.size() - 1) {
        return fail("request '" + name + "' declared twice");
      }
    } else if (kind == "#threshold") {
      if (fields.size() != 5) return fail("malformed #threshold line");
      auto metric = decode(fields[1]);
      auto expression = decode(fields[2]);
      if (!metric.ok() || !expression.ok()) return fail("malformed #threshold line");
      ThresholdSource threshold{metric.value(), expression.value(), fields[3] == "1", 0};
      if (!parse_number(fields[4], threshold.delay_abort_eval))
        return fail("malformed #threshold line");
      result.thresholds.push_back(threshold);
    } else if (kind[0] == '#') {
      continue;  // comments
    } else if (kind == "I") {
      if (fields.size() != i_fields)
        return fail("an I line has " + std::to_string(i_fields) + " fields");
      intervals.emplace_back();
      interval = &intervals.back();
      if (!parse_number(fields[1], interval->start_unix_ms) ||
          !parse_number(fields[2], interval->length_ms) ||
          !parse_number(fields[3], interval->iterations) ||
          !parse_number(fields[4], interval->dropped_iterations) ||
          !parse_number(fields[5], interval->vus) || !parse_number(fields[6], interval->vus_max) ||
          (i_fields > 7 && !parse_number(fields[7], interval->delayed_iterations))) {
        return fail("malformed I line");
      }
      interval->requests.resize(result.requests.size());
    } else if (kind == "R") {
      if (!interval) return fail("an R line before any I line");
      if (fields.size() != r_fields)
        return fail("an R line has " + std::to_string(r_fields) + " fields");
      size_t index;
      if (!parse_number(fields[1], index) || index >= result.requests.size()) {
        return fail("R line names no declared request");
      }
      RequestInterval& part = interval->requests[index];
      RequestCounters& c = part.counters;
      bool ok = parse_number(fields[2], c.requests) && parse_number(fields[3], c.failed) &&
                parse_number(fields[4], c.bytes_sent) && parse_number(fields[5], c.bytes_received);
      for (size_t e = 0; e < kErrorClassCount; ++e)
        ok = ok && parse_number(fields[6 + e], c.errors[e]);
      if (!ok) return fail("malformed R line counters");
      c.checks.assign(result.requests[index].check_names.size(), CheckCounts{});
      if (fields[12] != "-") {
        std::string_view checks = fields[12];
        size_t check = 0;
        while (!checks.empty()) {
          const size_t comma = checks.find(',');
          const std::string_view pair = checks.substr(0, comma);
          const size_t slash = pair.find('/');
          if (check >= c.checks.size() || slash == std::string_view::npos ||
              !parse_number(pair.substr(0, slash), c.checks[check].passes) ||
              !parse_number(pair.substr(slash + 1), c.checks[check].fails)) {
            return fail("malformed R line checks");
          }
          ++check;
          if (comma == std::string_view::npos) break;
          checks.remove_prefix(comma + 1);
        }
      }
      // LATENCY, UNCORRECTED, then the phases.
      std::array<SparseHistogram*, 2 + kPhaseCount> histograms{&part.latency,
                                                               &part.latency_uncorrected};
      for (size_t p = 0; p < kPhaseCount; ++p) histograms[2 + p] = &part.phases[p];
      static const char* const kHistogramFields[2 + kPhaseCount] = {
          "LATENCY", "UNCORRECTED", "CONNECTING", "TLS_HANDSHAKING",
          "SENDING", "WAITING",     "RECEIVING"};
      for (size_t h = 0; 13 + h < fields.size() && h < histograms.size(); ++h) {
        auto histogram = SparseHistogram::decode(fields[13 + h]);
        if (!histogram.ok())
          return fail("R line " + std::string(kHistogramFields[h]) + ": " +
                      histogram.error().message);
        *histograms[h] = histogram.value();
      }
      if (r_fields >= kFieldsVersion2 && !parse_number(fields[kFieldsVersion2 - 1], c.tls_resumed))
        return fail("malformed R line TLS_RESUMED");
      if (r_fields >= kFieldsVersion3 && !parse_number(fields[kFieldsVersion3 - 2], c.interrupted))
        return fail("malformed R line INTERRUPTED");
      if (r_fields >= kFieldsVersion3 && fields[kFieldsVersion3 - 1] != "-") {
        std::string_view reasons = fields[kFieldsVersion3 - 1];
        while (!reasons.empty()) {
          const std::string_view entry = reasons.substr(0, reasons.find(','));
          reasons.remove_prefix(std::min(reasons.size(), entry.size() + 1));
          const size_t colon = entry.find(':');
          uint64_t count = 0;
          auto reason = decode(colon == std::string_view::npos ? "" : entry.substr(colon + 1));
          if (colon == std::string_view::npos || !parse_number(entry.substr(0, colon), count) ||
              !reason.ok())
            return fail("malformed R line PROTOCOL_REASONS");
          c.protocol_reasons[reason.value()] += count;
        }
      }
    } else {
      return fail("unknown line kind '" + std::string(kind) + "'");
    }
  }
  if (number == 0) return Error{source + ": empty file, not a histogram log"};
  const RunInfo info = result.info;
  for (const Interval& each : intervals) result.add_interval(each);
  result.info = info;
  return result;
}

Result<RunResult> read_histogram_log_file(const std::string& path) {
  auto text = read_text_file(path);
  if (!text.ok()) return text.error();
  return read_histogram_log(text.value(), path);
}

namespace {

// Adds to `held` (the scenarios, executors, targets, addresses or abort reasons of a merge's
// logs) those of `other` it does not hold yet, in their order: each is listed once, however
// many machines (or logs that are merges themselves) share it.
template <typename T>
void add_new(std::vector<T>& held, const std::vector<T>& other) {
  for (const T& each : other) {
    if (std::find(held.begin(), held.end(), each) == held.end()) held.push_back(each);
  }
}

// origin: the earliest interval start of all the logs merged. Machines start their seconds
// at different milliseconds; each interval is put in the second since origin it began in,
// so that the machines' seconds add up (requests per second, VUs) instead of alternating.
void merge_into(RunResult& into, const RunResult& from, bool first, int64_t origin) {
  // Request names (and their checks) of `from`, as indices of `into`.
  std::vector<size_t> request_map;
  std::vector<std::vector<size_t>> check_map;
  for (const RequestTotals& request : from.requests) {
    const size_t index = into.declare_request(request.name, request.check_names);
    request_map.push_back(index);
    std::vector<size_t> checks;
    const auto& names = into.requests[index].check_names;
    for (const std::string& check : request.check_names) {
      checks.push_back(
          static_cast<size_t>(std::find(names.begin(), names.end(), check) - names.begin()));
    }
    check_map.push_back(checks);
    into.requests[index].counters.checks.resize(names.size());
  }
  for (const Interval& interval : from.intervals) {
    Interval mapped = interval;
    mapped.start_unix_ms = origin + (interval.start_unix_ms - origin) / 1000 * 1000;
    mapped.requests.assign(into.requests.size(), RequestInterval{});
    for (size_t i = 0; i < interval.requests.size() && i < request_map.size(); ++i) {
      RequestInterval& target = mapped.requests[request_map[i]];
      target = interval.requests[i];
      RequestCounters counters = interval.requests[i].counters;
      counters.checks.assign(into.requests[request_map[i]].check_names.size(), CheckCounts{});
      for (size_t c = 0; c < interval.requests[i].counters.checks.size() && c < check_map[i].size();
           ++c) {
        counters.checks[check_map[i][c]] = interval.requests[i].counters.checks[c];
      }
      target.counters = counters;
    }
    into.add_interval(mapped);
  }
  // A threshold is its metric and expression: stated on several machines (with abortOnFail
  // on some of them only, say) it is one threshold, and one key in the summary.
  for (const ThresholdSource& threshold : from.thresholds) {
    auto held = std::find_if(
        into.thresholds.begin(), into.thresholds.end(), [&](const ThresholdSource& earlier) {
          return earlier.metric == threshold.metric && earlier.expression == threshold.expression;
        });
    if (held == into.thresholds.end()) {
      into.thresholds.push_back(threshold);
    } else {
      held->abort_on_fail = held->abort_on_fail || threshold.abort_on_fail;
    }
  }
  RunInfo& info = into.info;
  const RunInfo& other = from.info;
  if (first) {
    const int machines = other.machines;
    info = other;
    info.machines = machines;
    info.peak_rss_kib = 0;
    return;
  }
  const int64_t end = std::max(info.started_unix_ms * 1000 + info.duration,
                               other.started_unix_ms * 1000 + other.duration);
  info.started_unix_ms = std::min(info.started_unix_ms, other.started_unix_ms);
  info.duration = end - info.started_unix_ms * 1000;
  add_new(info.scenarios, other.scenarios);
  add_new(info.executors, other.executors);
  add_new(info.targets, other.targets);
  add_new(info.addresses, other.addresses);
  info.corrected = info.corrected || other.corrected;
  info.threads += other.threads;
  info.machines += other.machines;
  info.aborted = info.aborted || other.aborted;
  add_new(info.abort_reasons, other.abort_reasons);
  info.peak_rss_kib = 0;
}

}  // namespace

RunResult merge_results(const std::vector<RunResult>& results) {
  RunResult merged;
  int64_t origin = INT64_MAX;
  for (const RunResult& result : results) {
    for (const Interval& interval : result.intervals)
      origin = std::min(origin, interval.start_unix_ms);
  }
  for (size_t i = 0; i < results.size(); ++i) merge_into(merged, results[i], i == 0, origin);
  return merged;
}

}  // namespace qv::loadtest
