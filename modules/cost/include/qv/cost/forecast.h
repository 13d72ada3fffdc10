// Cost forecast from monthly history: a linear trend (least squares) and Holt's double
// exponential smoothing (level + trend), the one with the lower back-testing error chosen,
// with a 95% prediction range for every month ahead. Fewer than kMinHistoryMonths months
// are refused: a trend from two points is a guess.
//
// Back-testing is rolling-origin, one month ahead: for every month t from the third on,
// each method is fitted to the months before t and forecasts t; the mean absolute error
// over those forecasts decides (a tie goes to the simpler linear trend).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "qv/json.h"
#include "qv/result.h"

namespace qv::cost {

inline constexpr int kMinHistoryMonths = 3;
inline constexpr int kMaxHistoryMonths = 240;
inline constexpr int kMaxForecastMonths = 60;

// y = intercept + slope * x over x = 0, 1, ..., n-1.
struct LinearFit {
  double intercept = 0;
  double slope = 0;
  double residual_sd = 0;  // sqrt(SSE / (n - 2)), 0 when n <= 2
  int n = 0;
  double mean_x = 0;
  double sxx = 0;  // sum of (x - mean_x)^2
};
LinearFit fit_linear(std::span<const double> y);
double predict(const LinearFit& fit, double x);

// Holt's linear method: level l and trend b, started from the first two months
// (l = y1, b = y1 - y0), then l' = a*y + (1-a)*(l+b), b' = B*(l'-l) + (1-B)*b. alpha and
// beta are chosen on a grid of 0.05 steps to minimise the one-step squared error.
struct HoltFit {
  double alpha = 0.5;
  double beta = 0.5;
  double level = 0;
  double trend = 0;
  double residual_sd = 0;  // of the one-step errors, 0 when there are none
  int residuals = 0;
};
HoltFit fit_holt(std::span<const double> y);
// The forecast h months after the last one (h >= 1): level + h * trend.
double predict(const HoltFit& fit, int h);

struct BacktestError {
  double mae = 0;   // mean absolute error, in the currency
  double rmse = 0;  // root mean squared error
  int points = 0;   // one-month-ahead forecasts made
};
BacktestError backtest_linear(std::span<const double> y);
BacktestError backtest_holt(std::span<const double> y);

// The 97.5% quantile of Student's t with df degrees of freedom (for 95% ranges).
double t_quantile_975(int df);

struct ForecastPoint {
  int64_t month = 0;  // months since year 0 (year * 12 + month - 1)
  double cost = 0;
  double low = 0;  // 95% range, never below 0
  double high = 0;
};

struct Forecast {
  std::string method;  // "linear" or "holt"
  std::string reason;
  int64_t first_month = 0;
  int history_months = 0;
  LinearFit linear;
  HoltFit holt;
  BacktestError linear_error;
  BacktestError holt_error;
  std::vector<ForecastPoint> points;
};

// history: monthly costs, oldest first, the first in first_month.
Result<Forecast> forecast(std::span<const double> history, int64_t first_month, int months);

// "YYYY-MM" <-> months since year 0.
std::optional<int64_t> parse_month(std::string_view text);
std::string format_month(int64_t month);

// Parses {"history": [{"month": "YYYY-MM", "cost": N}, ...], "months": N}: consecutive
// months, costs not negative; and runs the forecast.
Result<Forecast> forecast_from_json(const JsonValue& json);
void write_forecast(JsonWriter& out, const Forecast& forecast);

}  // namespace qv::cost
