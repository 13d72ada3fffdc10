// Calendar dates as the modules read and write them: "YYYY-MM-DD", proleptic Gregorian.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace qv {

// A calendar day to days since 1970-01-01; nullopt for a day the calendar does not have
// (month outside 1-12, 2026-02-30, 2025-02-29).
std::optional<int64_t> days_from_civil(int64_t year, int64_t month, int64_t day);
// "YYYY-MM-DD" to days since 1970-01-01; nullopt for anything else, or a day the calendar
// does not have.
std::optional<int64_t> parse_date(std::string_view text);
// Days since 1970-01-01 to "YYYY-MM-DD".
std::string format_date(int64_t day);

}  // namespace qv
