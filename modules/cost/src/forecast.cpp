#include "qv/cost/forecast.h"

#include "qv/cost/format.h"
#include "qv/cost/reader.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace qv::cost {

namespace {

// Holt's smoothing over y with fixed parameters: the one-step squared error summed from
// the third month on, and the level and trend after the last month.
struct HoltRun {
  double sse = 0;
  double level = 0;
  double trend = 0;
};
HoltRun run_holt(std::span<const double> y, double alpha, double beta) {
  HoltRun run;
  run.level = y[1];
  run.trend = y[1] - y[0];
  for (size_t t = 2; t < y.size(); ++t) {
    const double error = y[t] - (run.level + run.trend);
    run.sse += error * error;
    const double level = alpha * y[t] + (1 - alpha) * (run.level + run.trend);
    run.trend = beta * (level - run.level) + (1 - beta) * run.trend;
    run.level = level;
  }
  return run;
}

BacktestError summarise(const std::vector<double>& errors) {
  BacktestError result;
  result.points = static_cast<int>(errors.size());
  if (errors.empty()) return result;
  double absolute = 0, squared = 0;
  for (double e : errors) {
    absolute += std::fabs(e);
    squared += e * e;
  }
  result.mae = absolute / static_cast<double>(errors.size());
  result.rmse = std::sqrt(squared / static_cast<double>(errors.size()));
  return result;
}

// "$1,234.50": grouped as money() writes it, but always to the cent, so an error of rounding
// noise (an exact line's) reads $0.00 rather than its first digits. The digits are appended
// to the "$", not the "$" inserted before them: GCC 12 takes that insert for a copy between
// overlapping buffers (-Wrestrict, a false positive), which appending does not make.
std::string two_decimals(double amount) {
  char buffer[48];
  format_double(buffer, sizeof buffer, "%.2f", amount);
  std::string text = "$";
  text += grouped(buffer);
  return text;
}

}  // namespace

LinearFit fit_linear(std::span<const double> y) {
  LinearFit fit;
  fit.n = static_cast<int>(y.size());
  if (y.empty()) return fit;
  const double n = static_cast<double>(y.size());
  fit.mean_x = (n - 1) / 2;
  double mean_y = 0;
  for (double v : y) mean_y += v;
  mean_y /= n;
  double sxy = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    const double dx = static_cast<double>(i) - fit.mean_x;
    fit.sxx += dx * dx;
    sxy += dx * (y[i] - mean_y);
  }
  fit.slope = fit.sxx > 0 ? sxy / fit.sxx : 0;
  fit.intercept = mean_y - fit.slope * fit.mean_x;
  if (y.size() > 2) {
    double sse = 0;
    for (size_t i = 0; i < y.size(); ++i) {
      const double residual = y[i] - predict(fit, static_cast<double>(i));
      sse += residual * residual;
    }
    fit.residual_sd = std::sqrt(sse / (n - 2));
  }
  return fit;
}

double predict(const LinearFit& fit, double x) {
  return fit.intercept + fit.slope * x;
}

HoltFit fit_holt(std::span<const double> y) {
  HoltFit fit;
  if (y.size() < 2) {
    fit.level = y.empty() ? 0 : y[0];
    return fit;
  }
  if (y.size() > 2) {
    double best = -1;
    for (int a = 1; a <= 19; ++a) {
      for (int b = 1; b <= 19; ++b) {
        const double alpha = a * 0.05, beta = b * 0.05;
        const double sse = run_holt(y, alpha, beta).sse;
        if (best < 0 || sse < best) {
          best = sse;
          fit.alpha = alpha;
          fit.beta = beta;
        }
      }
    }
  }
  const HoltRun run = run_holt(y, fit.alpha, fit.beta);
  fit.level = run.level;
  fit.trend = run.trend;
  fit.residuals = static_cast<int>(y.size()) - 2;
  if (fit.residuals > 0) fit.residual_sd = std::sqrt(run.sse / fit.residuals);
  return fit;
}

double predict(const HoltFit& fit, int h) {
  return fit.level + h * fit.trend;
}

BacktestError backtest_linear(std::span<const double> y) {
  std::vector<double> errors;
  for (size_t t = 2; t < y.size(); ++t) {
    const LinearFit fit = fit_linear(y.first(t));
    errors.push_back(y[t] - predict(fit, static_cast<double>(t)));
  }
  return summarise(errors);
}

BacktestError backtest_holt(std::span<const double> y) {
  std::vector<double> errors;
  for (size_t t = 2; t < y.size(); ++t) {
    const HoltFit fit = fit_holt(y.first(t));
    errors.push_back(y[t] - predict(fit, 1));
  }
  return summarise(errors);
}

double t_quantile_975(int df) {
  static constexpr double kTable[30] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306,
                                        2.262,  2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120,
                                        2.110,  2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
                                        2.060,  2.056, 2.052, 2.048, 2.045, 2.042};
  if (df < 1) df = 1;
  if (df <= 30) return kTable[df - 1];
  // Beyond the table, the first terms of the Cornish-Fisher expansion around z = 1.96
  // (within 0.001 of the exact quantile from df = 30 on).
  const double z = 1.959964;
  const double d = df;
  return z + (z * z * z + z) / (4 * d) +
         (5 * std::pow(z, 5) + 16 * z * z * z + 3 * z) / (96 * d * d);
}

Result<Forecast> forecast(std::span<const double> history, int64_t first_month, int months) {
  const int n = static_cast<int>(history.size());
  if (n < kMinHistoryMonths) {
    return invalid_input("history: " + std::to_string(n) + (n == 1 ? " month" : " months") +
                         " given; a forecast needs at least " + std::to_string(kMinHistoryMonths) +
                         " months of history (a trend from fewer is a guess)");
  }
  Forecast result;
  result.first_month = first_month;
  result.history_months = n;
  result.linear = fit_linear(history);
  result.holt = fit_holt(history);
  result.linear_error = backtest_linear(history);
  result.holt_error = backtest_holt(history);
  const double scale = std::max(1.0, result.linear_error.mae);
  const bool holt = result.holt_error.mae < result.linear_error.mae - 1e-9 * scale;
  result.method = holt ? "holt" : "linear";
  const std::string over = " over " + std::to_string(result.linear_error.points) +
                           (result.linear_error.points == 1 ? " one-month-ahead forecast"
                                                            : " one-month-ahead forecasts");
  if (holt) {
    result.reason = "Holt's double exponential smoothing: back-test mean absolute error " +
                    two_decimals(result.holt_error.mae) + " against " +
                    two_decimals(result.linear_error.mae) + " for the linear trend" + over;
  } else {
    result.reason =
        "linear trend: back-test mean absolute error " + two_decimals(result.linear_error.mae) +
        " against " + two_decimals(result.holt_error.mae) + " for Holt's method" + over +
        (result.holt_error.mae <= result.linear_error.mae ? " (a tie goes to the simpler trend)"
                                                          : "");
  }
  const double t = t_quantile_975(n - 2);
  for (int h = 1; h <= months; ++h) {
    ForecastPoint point;
    point.month = first_month + n - 1 + h;
    double mean = 0, spread = 0;
    if (holt) {
      // Variance of the h-step error of Holt's method: sigma^2 (1 + sum_{j<h} (a(1+jB))^2).
      double factor = 1;
      for (int j = 1; j < h; ++j) {
        const double c = result.holt.alpha * (1 + j * result.holt.beta);
        factor += c * c;
      }
      mean = predict(result.holt, h);
      spread = t * result.holt.residual_sd * std::sqrt(factor);
    } else {
      // Least-squares prediction interval at x = n - 1 + h.
      const double x = n - 1 + h;
      const auto& fit = result.linear;
      mean = predict(fit, x);
      spread = t * fit.residual_sd *
               std::sqrt(1 + 1.0 / n + (x - fit.mean_x) * (x - fit.mean_x) / fit.sxx);
    }
    // A cost is never negative: a falling trend stops at 0.
    point.cost = std::max(0.0, mean);
    point.low = std::max(0.0, mean - spread);
    point.high = std::max(0.0, mean + spread);
    result.points.push_back(point);
  }
  return result;
}

std::optional<int64_t> parse_month(std::string_view text) {
  if (text.size() != 7 || text[4] != '-') return std::nullopt;
  int64_t year = 0, month = 0;
  for (size_t i = 0; i < 7; ++i) {
    if (i == 4) continue;
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    (i < 4 ? year : month) = (i < 4 ? year : month) * 10 + (text[i] - '0');
  }
  if (year < 1 || month < 1 || month > 12) return std::nullopt;
  return year * 12 + month - 1;
}

std::string format_month(int64_t month) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%04lld-%02lld", static_cast<long long>(month / 12),
                static_cast<long long>(month % 12 + 1));
  return buffer;
}

Result<Forecast> forecast_from_json(const JsonValue& json) {
  Reader read;
  auto object = read.object(json);
  if (!object) return read.take_error();
  read.only(*object, {"history", "months"});
  auto months_json = read.field(*object, "months", true);
  const auto months =
      months_json ? read.take(months_json->integer(1, kMaxForecastMonths)) : std::nullopt;
  auto history_json = read.field(*object, "history", true);
  auto history = history_json ? read.array(*history_json) : std::nullopt;
  if (history && history->size() > static_cast<size_t>(kMaxHistoryMonths)) {
    read.fail(history_json->where() + ": at most " + std::to_string(kMaxHistoryMonths) + " months");
  }
  std::vector<double> costs;
  int64_t first_month = 0;
  if (history && read.ok()) {
    const auto items = history->items();
    for (size_t i = 0; i < items.size() && read.ok(); ++i) {
      auto entry = read.object(items[i]);
      if (!entry) break;
      read.only(*entry, {"month", "cost"});
      auto month_json = read.field(*entry, "month", true);
      auto text = month_json ? read.string(*month_json) : std::nullopt;
      if (!text) break;
      auto month = parse_month(*text);
      if (!month) {
        read.fail(month_json->where() + ": expected a month YYYY-MM, got '" + std::string(*text) +
                  "'");
      } else if (i == 0) {
        first_month = *month;
      } else if (*month != first_month + static_cast<int64_t>(i)) {
        read.fail(month_json->where() + ": expected " +
                  format_month(first_month + static_cast<int64_t>(i)) + " (the month after " +
                  items[i - 1].where() + "), got '" + std::string(*text) +
                  "': history is one entry per month, in order, without gaps");
      }
      costs.push_back(read.number(*entry, "cost", Bounds::kNonNegative, true).value_or(0));
      // (The fits square and sum the costs: far larger ones overflow into NaN forecasts.)
      if (read.ok() && !(costs.back() <= kMaxDollars))
        read.fail(above_max_dollars(entry->child_path("cost"), "a cost"));
    }
  }
  if (!read.ok()) return read.take_error();
  // Months are written YYYY-MM: the forecast ends in 9999-12 at the latest.
  constexpr int64_t kLastMonth = 9999 * 12 + 11;
  if (first_month + static_cast<int64_t>(costs.size()) - 1 + *months > kLastMonth) {
    return invalid_input(months_json->where() + ": the forecast would run past 9999-12");
  }
  return forecast(costs, first_month, static_cast<int>(*months));
}

void write_forecast(JsonWriter& out, const Forecast& f) {
  out.begin_object()
      .key("method")
      .value(f.method)
      .key("reason")
      .value(f.reason)
      .key("history")
      .begin_object()
      .key("months")
      .value(f.history_months)
      .key("from")
      .value(format_month(f.first_month))
      .key("to")
      .value(format_month(f.first_month + f.history_months - 1))
      .end_object()
      .key("backtest")
      .begin_object()
      .key("points")
      .value(f.linear_error.points)
      .key("linear")
      .begin_object()
      .key("mae")
      .value(f.linear_error.mae)
      .key("rmse")
      .value(f.linear_error.rmse)
      .end_object()
      .key("holt")
      .begin_object()
      .key("mae")
      .value(f.holt_error.mae)
      .key("rmse")
      .value(f.holt_error.rmse)
      .end_object()
      .end_object()
      .key("linear")
      .begin_object()
      .key("intercept")
      .value(f.linear.intercept)
      .key("slopePerMonth")
      .value(f.linear.slope)
      .key("residualSd")
      .value(f.linear.residual_sd)
      .end_object()
      .key("holt")
      .begin_object()
      .key("alpha")
      .value(f.holt.alpha)
      .key("beta")
      .value(f.holt.beta)
      .key("level")
      .value(f.holt.level)
      .key("trendPerMonth")
      .value(f.holt.trend)
      .key("residualSd")
      .value(f.holt.residual_sd)
      .end_object()
      .key("confidence")
      .value(0.95)
      .key("forecast")
      .begin_array();
  for (const auto& point : f.points) {
    out.begin_object()
        .key("month")
        .value(format_month(point.month))
        .key("cost")
        .value(point.cost)
        .key("low")
        .value(point.low)
        .key("high")
        .value(point.high)
        .end_object();
  }
  out.end_array().end_object();
}

}  // namespace qv::cost
