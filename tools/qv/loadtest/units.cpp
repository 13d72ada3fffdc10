#include "units.h"

#include "expression_text.h"

#include <time.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace qv::loadtest {

Result<Micros> parse_duration(std::string_view text) {
  const std::string shown = "cannot parse duration '" + std::string(text) +
                            "' (use e.g. 500ms, 30s, 5m, 1h30m; a bare number is seconds)";
  if (text.empty()) return Error{shown};
  const std::string copy(text);
  // A sequence of NUMBER UNIT parts, e.g. 1h30m or 1.5s; a bare number is seconds.
  double total = 0;
  size_t at = 0;
  while (at < copy.size()) {
    const size_t length = decimal_length(std::string_view(copy).substr(at), false);
    if (length == 0) return Error{shown};
    const double number = std::strtod(copy.substr(at, length).c_str(), nullptr);
    at += length;
    size_t unit_end = at;
    while (unit_end < copy.size() && ((copy[unit_end] >= 'a' && copy[unit_end] <= 'z') ||
                                      static_cast<unsigned char>(copy[unit_end]) >= 0x80)) {
      ++unit_end;
    }
    const std::string_view unit(copy.data() + at, unit_end - at);
    double scale;
    if (unit.empty() && length == copy.size()) {  // a bare number
      scale = kMicrosPerSecond;
    } else if (unit == "h") {
      scale = 3600.0 * kMicrosPerSecond;
    } else if (unit == "m") {
      scale = 60.0 * kMicrosPerSecond;
    } else if (unit == "s") {
      scale = kMicrosPerSecond;
    } else if (unit == "ms") {
      scale = kMicrosPerMilli;
    } else if (unit == "us" || unit == "\xC2\xB5s") {
      scale = 1;
    } else {
      return Error{shown};
    }
    total += number * scale;
    at = unit_end;
  }
  if (!std::isfinite(total) || total > kMaxDurationSeconds * kMicrosPerSecond) {
    return Error{"duration '" + copy + "' is above the limit of 1000000000 seconds"};
  }
  return static_cast<Micros>(std::llround(total));
}

std::string format_number(double value, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  std::string text(buffer);
  if (text.find('.') != std::string::npos) {
    while (!text.empty() && text.back() == '0') text.pop_back();
    if (!text.empty() && text.back() == '.') text.pop_back();
  }
  if (text == "-0") text = "0";
  return text;
}

std::string format_count(uint64_t count, std::string_view one, std::string_view many) {
  return std::to_string(count) + " " + std::string(count == 1 ? one : many);
}

namespace {

// Three significant figures: 1.23, 12.3, 123.
std::string three_figures(double value) {
  const int decimals = value < 10 ? 2 : value < 100 ? 1 : 0;
  return format_number(value, decimals);
}

}  // namespace

std::string format_duration(double micros) {
  if (micros < 1000) return three_figures(micros) + "\xC2\xB5s";
  if (micros < 1e6) return three_figures(micros / 1e3) + "ms";
  if (micros < 60e6) return three_figures(micros / 1e6) + "s";
  const auto whole_seconds = static_cast<int64_t>(std::llround(micros / 1e6));
  if (whole_seconds < 3600) {
    return std::to_string(whole_seconds / 60) + "m" + std::to_string(whole_seconds % 60) + "s";
  }
  return std::to_string(whole_seconds / 3600) + "h" + std::to_string(whole_seconds % 3600 / 60) +
         "m";
}

std::string format_clock(Micros micros) {
  if (micros < kMicrosPerSecond && micros % kMicrosPerMilli == 0) {
    return std::to_string(micros / kMicrosPerMilli) + "ms";
  }
  if (micros < kMicrosPerSecond) return std::to_string(micros) + "\xC2\xB5s";
  if (micros % kMicrosPerSecond != 0) return format_number(micros / 1e6, 3) + "s";
  int64_t seconds = micros / kMicrosPerSecond;
  std::string text;
  if (seconds >= 3600) text += std::to_string(seconds / 3600) + "h", seconds %= 3600;
  if (seconds >= 60) text += std::to_string(seconds / 60) + "m", seconds %= 60;
  if (seconds > 0 || text.empty()) text += std::to_string(seconds) + "s";
  return text;
}

std::string format_bytes(double bytes) {
  static const char* const kUnits[] = {"B", "kB", "MB", "GB", "TB"};
  int unit = 0;
  while (bytes >= 1000 && unit < 4) bytes /= 1000, ++unit;
  return format_number(bytes, unit == 0 ? 0 : bytes < 10 ? 2 : 1) + " " + kUnits[unit];
}

Micros monotonic_micros() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<Micros>(now.tv_sec) * kMicrosPerSecond + now.tv_nsec / 1000;
}

int64_t unix_millis() {
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1'000'000;
}

}  // namespace qv::loadtest
