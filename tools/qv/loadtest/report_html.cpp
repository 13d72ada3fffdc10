#include "report_html.h"

#include <algorithm>
#include <cmath>
#include <fstream>

#include "summary.h"

namespace qv::loadtest {

namespace {

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string fixed(double value, int decimals = 1) {
  char buffer[48];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return buffer;
}

struct Series {
  std::string label;
  std::string color;
  bool dashed = false;
  std::vector<std::pair<double, double>> points;  // (x, y)
};

// Tick positions 1, 2 or 5 times a power of ten, about `count` of them up to `max`.
std::vector<double> nice_ticks(double max, int count) {
  if (max <= 0) max = 1;
  const double raw = max / count;
  const double power = std::pow(10, std::floor(std::log10(raw)));
  double step = power;
  for (double factor : {1.0, 2.0, 5.0, 10.0}) {
    step = factor * power;
    if (step >= raw) break;
  }
  std::vector<double> ticks;
  for (double tick = 0; tick <= max * 1.0001 + step * 0.999; tick += step) {
    ticks.push_back(tick);
    if (tick >= max) break;
  }
  return ticks;
}

std::string tick_label(double value) {
  if (value == 0) return "0";
  if (std::fabs(value) >= 100) return fixed(value, 0);
  if (std::fabs(value) >= 10) return format_number(value, 1);
  return format_number(value, 3);
}

// A line chart in SVG, in a box that scrolls on a narrow screen. With percentile_axis, x is
// -log10(1 - p) and ticks read 90%, 99%, ...
std::string line_chart(const std::string& title, const std::string& x_label,
                       const std::string& y_label, const std::vector<Series>& series,
                       bool percentile_axis = false) {
  const double width = 880, height = 300, left = 70, right = 20, top = 34, bottom = 48;
  const double plot_w = width - left - right, plot_h = height - top - bottom;
  double max_x = 0, max_y = 0;
  bool any = false;
  for (const Series& s : series) {
    for (const auto& [x, y] : s.points) {
      max_x = std::max(max_x, x);
      max_y = std::max(max_y, y);
      any = true;
    }
  }
  std::string svg = "<div class=\"scroll\"><svg viewBox=\"0 0 " + fixed(width, 0) + " " +
                    fixed(height, 0) + "\" role=\"img\" aria-label=\"" + escape(title) + "\">";
  svg += "<text x=\"" + fixed(left, 0) + "\" y=\"20\" class=\"title\">" + escape(title) + "</text>";
  if (!any) {
    svg += "<text x=\"" + fixed(width / 2, 0) + "\" y=\"" + fixed(height / 2, 0) +
           "\" text-anchor=\"middle\" class=\"axis\">no data</text></svg></div>";
    return svg;
  }
  const std::vector<double> y_ticks = nice_ticks(max_y * 1.05, 5);
  const double y_top = y_ticks.back();
  std::vector<std::pair<double, std::string>> x_ticks;
  if (percentile_axis) {
    max_x = std::max(max_x, 2.0);
    const char* labels[] = {"0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%"};
    for (int i = 0; i <= 6 && i <= std::ceil(max_x); ++i) x_ticks.emplace_back(i, labels[i]);
    max_x = std::ceil(max_x);
  } else {
    for (double tick : nice_ticks(std::max(max_x, 1.0), 8))
      x_ticks.emplace_back(tick, tick_label(tick));
    max_x = std::max(max_x, x_ticks.back().first);
  }
  auto px = [&](double x) { return left + (max_x > 0 ? x / max_x : 0) * plot_w; };
  auto py = [&](double y) { return top + plot_h - (y_top > 0 ? y / y_top : 0) * plot_h; };
  for (double tick : y_ticks) {
    svg += "<line x1=\"" + fixed(left) + "\" x2=\"" + fixed(left + plot_w) + "\" y1=\"" +
           fixed(py(tick)) + "\" y2=\"" + fixed(py(tick)) + "\" class=\"grid\"/>";
    svg += "<text x=\"" + fixed(left - 6) + "\" y=\"" + fixed(py(tick) + 4) +
           "\" text-anchor=\"end\" class=\"axis\">" + tick_label(tick) + "</text>";
  }
  for (const auto& [tick, label] : x_ticks) {
    svg += "<line x1=\"" + fixed(px(tick)) + "\" x2=\"" + fixed(px(tick)) + "\" y1=\"" +
           fixed(top) + "\" y2=\"" + fixed(top + plot_h) + "\" class=\"grid\"/>";
    svg += "<text x=\"" + fixed(px(tick)) + "\" y=\"" + fixed(top + plot_h + 16) +
           "\" text-anchor=\"middle\" class=\"axis\">" + escape(label) + "</text>";
  }
  svg += "<text x=\"" + fixed(left + plot_w / 2) + "\" y=\"" + fixed(height - 8) +
         "\" text-anchor=\"middle\" class=\"axis\">" + escape(x_label) + "</text>";
  svg += "<text transform=\"translate(16 " + fixed(top + plot_h / 2) +
         ") rotate(-90)\" text-anchor=\"middle\" class=\"axis\">" + escape(y_label) + "</text>";
  double legend_x = left + plot_w;
  for (auto s = series.rbegin(); s != series.rend(); ++s) {
    legend_x -= 14 + 7.0 * static_cast<double>(s->label.size()) + 18;
    svg += "<line x1=\"" + fixed(legend_x) + "\" x2=\"" + fixed(legend_x + 14) +
           "\" y1=\"16\" y2=\"16\" stroke=\"" + s->color + "\" stroke-width=\"2\"" +
           (s->dashed ? " stroke-dasharray=\"4 3\"" : "") + "/>";
    svg += "<text x=\"" + fixed(legend_x + 18) + "\" y=\"20\" class=\"axis\">" + escape(s->label) +
           "</text>";
  }
  for (const Series& s : series) {
    if (s.points.empty()) continue;
    if (s.points.size() == 1) {  // a line of one point draws nothing: a dot instead
      svg += "<circle cx=\"" + fixed(px(s.points[0].first)) + "\" cy=\"" +
             fixed(py(s.points[0].second)) + "\" r=\"3\" fill=\"" + s.color + "\"><title>" +
             escape(s.label) + "</title></circle>";
      continue;
    }
    std::string path;
    for (const auto& [x, y] : s.points) {
      path += (path.empty() ? "M" : " L") + fixed(px(x)) + " " + fixed(py(y));
    }
    svg += "<path d=\"" + path + "\" fill=\"none\" stroke=\"" + s.color +
           "\" stroke-width=\"1.6\"" + (s.dashed ? " stroke-dasharray=\"5 4\"" : "") + "><title>" +
           escape(s.label) + "</title></path>";
  }
  svg += "</svg></div>";
  return svg;
}

// The percentile spectrum of a histogram: (x = -log10(1 - p), latency in ms).
std::vector<std::pair<double, double>> spectrum(const Histogram& histogram) {
  std::vector<std::pair<double, double>> points;
  if (!histogram.count()) return points;
  const double deepest = std::min(6.0, std::log10(static_cast<double>(histogram.count())));
  for (double x = 0; x <= deepest + 1e-9; x += 0.05) {
    const double percentile = 100.0 * (1.0 - std::pow(10.0, -x));
    points.emplace_back(x, static_cast<double>(histogram.value_at_percentile(percentile)) / 1000.0);
  }
  points.emplace_back(deepest, static_cast<double>(histogram.max()) / 1000.0);
  return points;
}

const char* const kPalette[] = {"#2563eb", "#16a34a", "#ea580c", "#9333ea", "#0891b2", "#be123c"};

}  // namespace

std::string report_html(const RunResult& result, const std::vector<ThresholdOutcome>& outcomes) {
  const RunInfo& info = result.info;
  const double seconds = std::max(result.seconds(), 1e-9);
  const int64_t start_ms =
      result.intervals.empty() ? info.started_unix_ms : result.intervals.front().start_unix_ms;

  // Per-second series.
  Series p50{"p50", "#16a34a", false, {}}, p90{"p90", "#2563eb", false, {}};
  Series p99{"p99", "#ea580c", false, {}}, max{"max", "#be123c", false, {}};
  Series p99_uncorrected{"p99 uncorrected", "#ea580c", true, {}};
  Series throughput{"requests/s", "#2563eb", false, {}}, errors{"errors/s", "#be123c", false, {}};
  Series vus{"VUs", "#9333ea", false, {}};
  for (const Interval& interval : result.intervals) {
    const double t = static_cast<double>(interval.start_unix_ms - start_ms) / 1000.0 +
                     static_cast<double>(interval.length_ms) / 1000.0;
    // The run's last interval can be a sliver (the few ms after the last whole second): its
    // rates would be noise. It still counts in every total.
    if (interval.length_ms < 100 && &interval != &result.intervals.front()) continue;
    const double length = static_cast<double>(interval.length_ms) / 1000.0;
    SparseHistogram latency, uncorrected;
    uint64_t requests = 0, failed = 0;
    for (const RequestInterval& part : interval.requests) {
      latency.add(part.latency);
      uncorrected.add(part.latency_uncorrected);
      requests += part.counters.requests;
      failed += part.counters.failed;
    }
    throughput.points.emplace_back(t, static_cast<double>(requests) / length);
    errors.points.emplace_back(t, static_cast<double>(failed) / length);
    vus.points.emplace_back(t, static_cast<double>(interval.vus));
    if (latency.empty()) continue;
    p50.points.emplace_back(t, static_cast<double>(latency.value_at_percentile(50)) / 1000);
    p90.points.emplace_back(t, static_cast<double>(latency.value_at_percentile(90)) / 1000);
    p99.points.emplace_back(t, static_cast<double>(latency.value_at_percentile(99)) / 1000);
    max.points.emplace_back(t, static_cast<double>(latency.max) / 1000);
    p99_uncorrected.points.emplace_back(
        t, static_cast<double>(uncorrected.value_at_percentile(99)) / 1000);
  }
  std::vector<Series> over_time = {p50, p90, p99, max};
  if (info.corrected) over_time.push_back(p99_uncorrected);

  std::vector<Series> spectra;
  const Histogram total = result.total_latency(true);
  spectra.push_back(
      {info.corrected ? "all (corrected)" : "all requests", "#111827", false, spectrum(total)});
  if (info.corrected) {
    spectra.push_back(
        {"all (uncorrected)", "#6b7280", true, spectrum(result.total_latency(false))});
  }
  if (result.requests.size() > 1) {
    for (size_t i = 0; i < result.requests.size() && i < 6; ++i) {
      spectra.push_back(
          {result.requests[i].name, kPalette[i], false, spectrum(result.requests[i].latency)});
    }
  }

  std::string html;
  html += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">";
  html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">";
  // The browser itself holds the page to what it promises: no script runs, nothing is fetched.
  html +=
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src "
      "'unsafe-inline'\">";
  html += "<title>qv loadtest: " + escape(joined(info.scenarios, " + ")) + "</title><style>";
  html +=
      "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px "
      "auto;max-width:940px;color:#111827;padding:0 12px}"
      "h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}"
      ".meta{color:#4b5563}.aborted{color:#be123c;font-weight:600}"
      "table{border-collapse:collapse;width:100%;margin:6px 0}th,td{padding:4px "
      "8px;border-bottom:1px solid #e5e7eb;text-align:right;white-space:nowrap}"
      "th:first-child,td:first-child{text-align:left;white-space:normal}th{background:#f9fafb;font-"
      "weight:600}"
      ".ok{color:#16a34a;font-weight:600}.fail{color:#be123c;font-weight:600}"
      "svg{box-sizing:border-box;width:100%;height:auto;border:1px solid "
      "#e5e7eb;border-radius:6px;margin:6px "
      "0;background:#fff}"
      "svg .title{font-size:14px;font-weight:600;fill:#111827}svg "
      ".axis{font-size:11px;fill:#4b5563}svg .grid{stroke:#eef0f3}"
      ".rec{border-left:4px solid #9ca3af;padding:4px 10px;margin:6px "
      "0;background:#f9fafb}.rec.high{border-color:#be123c}.rec.medium{border-color:#ea580c}.rec."
      "info{border-color:#16a34a}"
      // On a narrow screen a wide table or plot scrolls in its own box, never the page; a
      // plot keeps a width at which its labels stay readable.
      ".scroll{overflow-x:auto}.scroll svg{min-width:600px}"
      "</style></head><body>\n";
  html += "<h1>Load test: " + escape(joined(info.scenarios, " + ")) + "</h1>";
  html +=
      "<div class=\"meta\">" + escape(joined(info.executors, " + ")) + " against " +
      escape(joined(info.targets, " + ")) +
      // The addresses, unless each is what its origin's URL says already: said once, then.
      (urls_name_their_addresses(info.addresses)
           ? ""
           : " at " + escape(format_addresses(info.addresses))) +
      " &middot; " + escape(format_duration(static_cast<double>(info.duration))) + " &middot; " +
      format_count(static_cast<uint64_t>(info.threads), "thread", "threads") +
      (info.machines > 1 ? " &middot; " + std::to_string(info.machines) + " machines merged" : "") +
      (info.corrected
           ? " &middot; latency from scheduled send times (coordinated omission corrected)"
           : "") +
      "</div>";
  if (info.aborted)
    html += "<p class=\"aborted\">Aborted: " + escape(joined(info.abort_reasons, "; ")) + "</p>";

  if (!outcomes.empty()) {
    html +=
        "<h2>Thresholds</h2><div "
        "class=\"scroll\"><table><tr><th>metric</th><th>threshold</th><th>value</th><th>result</"
        "th></tr>";
    for (const ThresholdOutcome& outcome : outcomes) {
      html += "<tr><td>" + escape(outcome.threshold.source.metric) + "</td><td>" +
              escape(outcome.threshold.source.expression) + "</td><td>" +
              escape(format_threshold_value(outcome)) + "</td><td class=\"" +
              (outcome.ok ? "ok\">pass" : "fail\">FAIL") + "</td></tr>";
    }
    html += "</table></div>";
  }

  html +=
      "<h2>Requests</h2><div "
      "class=\"scroll\"><table><tr><th>name</th><th>requests</th><th>req/s</th><th>failed</th>"
      "<th>received</th><th>sent</th><th>avg</th><th>med</th><th>p90</th><th>p95</th><th>p99</"
      "th><th>max</th></tr>";
  // avg, med, p90, p95, p99 and max cells, the row's end.
  auto latency_cells = [&](const Histogram& latency) {
    auto d = [](double micros) { return escape(format_duration(micros)); };
    if (latency.count()) {
      html += "<td>" + d(latency.mean()) + "</td><td>" + d(latency.value_at_percentile(50)) +
              "</td><td>" + d(latency.value_at_percentile(90)) + "</td><td>" +
              d(latency.value_at_percentile(95)) + "</td><td>" +
              d(latency.value_at_percentile(99)) + "</td><td>" + d(latency.max()) + "</td></tr>";
    } else {
      html += "<td colspan=\"6\">no responses</td></tr>";
    }
  };
  auto request_row = [&](const std::string& name, const Histogram& latency,
                         const RequestCounters& counters) {
    html += "<tr><td>" + escape(name) + "</td><td>" + std::to_string(counters.requests) +
            "</td><td>" + format_number(counters.requests / seconds, 1) + "</td><td>" +
            format_number(counters.requests ? 100.0 * counters.failed / counters.requests : 0, 2) +
            "%</td><td>" + escape(format_bytes(static_cast<double>(counters.bytes_received))) +
            "</td><td>" + escape(format_bytes(static_cast<double>(counters.bytes_sent))) + "</td>";
    latency_cells(latency);
  };
  for (const RequestTotals& request : result.requests)
    request_row(request.name, request.latency, request.counters);
  if (result.requests.size() > 1) request_row("all", total, result.total_counters());
  if (info.corrected)
    request_row("all, uncorrected", result.total_latency(false), result.total_counters());
  html += "</table></div>";

  // Where the time went: connections opened (connecting, TLS) and responses (sending,
  // waiting, receiving), all requests together.
  html +=
      "<h2>Phases</h2><div "
      "class=\"scroll\"><table><tr><th>phase</th><th>measured</th><th>avg</th><th>med</th>"
      "<th>p90</th><th>p95</th><th>p99</th><th>max</th></tr>";
  for (size_t p = 0; p < kPhaseCount; ++p) {
    const Histogram phase = result.total_phase(static_cast<Phase>(p));
    if (!phase.count()) continue;
    html += "<tr><td>" + std::string(kPhaseMetrics[p]) + "</td><td>" +
            std::to_string(phase.count()) + "</td>";
    latency_cells(phase);
  }
  html += "</table></div>";

  const RequestCounters counters = result.total_counters();
  html +=
      "<h2>Totals</h2><div class=\"scroll\"><table><tr><th>iterations</th><th>dropped</th>"
      "<th>delayed</th><th>VUs max</th><th>data received</th><th>data sent</th></tr><tr><td>" +
      std::to_string(result.iterations) + "</td><td>" + std::to_string(result.dropped_iterations) +
      "</td><td>" + std::to_string(result.delayed_iterations) + "</td><td>" +
      std::to_string(result.vus_max) + "</td><td>" +
      escape(format_bytes(static_cast<double>(counters.bytes_received))) + "</td><td>" +
      escape(format_bytes(static_cast<double>(counters.bytes_sent))) + "</td></tr></table></div>";
  html += "<h2>Errors by class</h2><div class=\"scroll\"><table><tr>";
  for (const char* name : kErrorClassNames) html += std::string("<th>") + name + "</th>";
  html += "</tr><tr>";
  for (uint64_t count : counters.errors) html += "<td>" + std::to_string(count) + "</td>";
  html += "</tr></table></div>";

  bool any_check = false;
  for (const RequestTotals& request : result.requests)
    any_check = any_check || !request.check_names.empty();
  if (any_check) {
    html +=
        "<h2>Checks</h2><div class=\"scroll\"><table><tr><th>request: "
        "check</th><th>passed</th><th>failed</th></tr>";
    for (const RequestTotals& request : result.requests) {
      for (size_t i = 0; i < request.check_names.size(); ++i) {
        const CheckCounts& c = request.counters.checks[i];
        html += "<tr><td>" + escape(request.name + ": " + request.check_names[i]) + "</td><td>" +
                std::to_string(c.passes) + "</td><td" + (c.fails ? " class=\"fail\"" : "") + ">" +
                std::to_string(c.fails) + "</td></tr>";
      }
    }
    html += "</table></div>";
  }

  html += "<h2>Over time</h2>";
  html += line_chart("Latency percentiles per second", "seconds", "ms", over_time);
  html +=
      line_chart("Throughput and errors per second", "seconds", "per second", {throughput, errors});
  html += line_chart("Active VUs", "seconds", "VUs", {vus});
  html += "<h2>Percentile spectrum</h2>";
  html += line_chart("Latency by percentile", "percentile", "ms", spectra, true);

  html += "<h2>Recommendations</h2>";
  for (const Recommendation& r : recommendations(result)) {
    html += "<div class=\"rec " + escape(r.severity) + "\"><strong>" + escape(r.description) +
            "</strong><br>" + escape(r.suggestion) + "</div>";
  }
  // The summary as data, for whoever wants the numbers behind the page (never executed). No
  // '<' in it, as JSON's \u003c (a '<' only ever sits in a string): a name holding
  // "<!--<script" would make the parser read this element's own end tag as text.
  std::string data;
  for (char c : summary_json(result, outcomes)) {
    if (c == '<')
      data += "\\u003c";
    else
      data += c;
  }
  html += "\n<script type=\"application/json\" id=\"qv-summary\">" + data + "</script>\n";
  html += "</body></html>\n";
  return html;
}

Status write_text_file(const std::string& path, const std::string& text) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) return Error{path + ": cannot be written"};
  file << text;
  file.close();
  if (!file) return Error{path + ": cannot be written"};
  return Ok{};
}

}  // namespace qv::loadtest
