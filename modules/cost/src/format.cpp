#include "qv/cost/format.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "qv/json.h"

namespace qv::cost {

std::string grouped(const std::string& digits) {
  const size_t sign = !digits.empty() && digits[0] == '-' ? 1 : 0;
  const size_t point = digits.find('.');
  const size_t whole = (point == std::string::npos ? digits.size() : point) - sign;
  std::string text(digits, 0, sign);
  for (size_t i = 0; i < whole; ++i) {
    if (i && (whole - i) % 3 == 0) text += ',';
    text += digits[sign + i];
  }
  text.append(digits, sign + whole, std::string::npos);
  return text;
}

std::string above_max_dollars(std::string_view path, std::string_view what) {
  return std::string(path) + ": " + std::string(what) + " of at most 10000000000000 is supported";
}

int64_t whole_cents(double dollars) {
  const double scaled = std::fabs(dollars) * 100;
  const double below = std::floor(scaled);
  // A few units in the last place of slack: what the decimal amount's conversion to binary
  // and the multiplication by 100 can lose (never more than a millionth of a cent).
  const double slack = std::min(1e-6, 8 * (std::nextafter(scaled, INFINITY) - scaled));
  const auto cents = static_cast<int64_t>(scaled - below >= 0.5 - slack ? below + 1 : below);
  return dollars < 0 ? -cents : cents;
}

// Decimals come from comparisons with exact powers of ten, not from log10, so native and
// WebAssembly builds write the same text.
std::string money(double amount) {
  // Below the 12 decimals shown: rounding noise of a difference (0.1 x 3 - 0.3), not a sign.
  if (std::fabs(amount) < 5e-13) amount = 0;
  const double magnitude = std::fabs(amount);
  char buffer[64];
  if (magnitude >= 1 || magnitude == 0) {
    format_double(buffer, sizeof buffer, "%.2f", magnitude);
  } else {
    int decimals = 2;
    double scaled = magnitude * 100;
    while (decimals < 12 && scaled < 100) {
      ++decimals;
      scaled *= 10;
    }
    format_double(buffer, sizeof buffer, "%.*f", decimals, magnitude);
    std::string text(buffer);
    while (text.size() > 4 && text.back() == '0' && text[text.size() - 3] != '.') text.pop_back();
    std::snprintf(buffer, sizeof buffer, "%s", text.c_str());
  }
  return (amount < 0 ? "-$" : "$") + grouped(buffer);
}

}  // namespace qv::cost
