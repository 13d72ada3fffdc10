// Durations, sizes and times as the load tester reads and prints them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "result.h"

namespace qv::loadtest {

// Microseconds: the unit of every duration and latency inside the load tester.
using Micros = int64_t;
inline constexpr Micros kMicrosPerMilli = 1000;
inline constexpr Micros kMicrosPerSecond = 1'000'000;
// The longest duration a scenario or a flag may give (about 31 years).
inline constexpr double kMaxDurationSeconds = 1e9;
// The highest arrival rate a run takes, iterations a second.
inline constexpr double kMaxArrivalRate = 1e8;

// Parses a duration the way k6 writes them: "500ms", "30s", "5m", "1h30m", "1.5s", "250us";
// a bare number is seconds (as wrk's -d). Negative durations are refused.
Result<Micros> parse_duration(std::string_view text);

// "1.23ms", "512µs", "1.52s", "2m3s": three significant figures below a minute.
std::string format_duration(double micros);

// "30s", "5m", "1h30m": the short form of a whole duration, for headers and progress lines.
std::string format_clock(Micros micros);

// "12 kB", "3.4 MB" (decimal units, as k6).
std::string format_bytes(double bytes);

// A number with at most `decimals` decimals and no trailing zeros ("12.5", "3").
std::string format_number(double value, int decimals = 2);

// A count and the words that agree with it: "1 iteration was", "3 iterations were" (`one`
// for a count of 1, `many` otherwise, 0 included).
std::string format_count(uint64_t count, std::string_view one, std::string_view many);

// Monotonic clock in microseconds (CLOCK_MONOTONIC), and wall clock in Unix milliseconds.
Micros monotonic_micros();
int64_t unix_millis();

}  // namespace qv::loadtest
