// What the host gives a module besides I/O: the clock, random bytes and a log sink. The
// native shim routes the host imports of qv_abi.h (qv_host_now_ms, qv_host_random_bytes,
// qv_host_log) to the Environment of the instance whose call is running, so a test or the
// simulator can fix time and randomness per instance.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

namespace qv::host {

// The levels of qv_host_log.
enum class LogLevel : uint32_t { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Whole milliseconds since the Unix epoch from the system clock (as Date.now()).
double system_now_ms();

// A source of random bytes from a generator seeded once by std::random_device. Each call
// returns an independent source.
std::function<void(uint8_t* buf, uint32_t len)> seeded_random_source();

// Writes lines at level >= min_level to stderr as "qv [warn] message".
std::function<void(LogLevel level, std::string_view message)> stderr_logger(
    LogLevel min_level = LogLevel::kWarn);

struct Environment {
  // Wall-clock time in ms since the Unix epoch.
  std::function<double()> now_ms = system_now_ms;
  // Fills buf with len random bytes.
  std::function<void(uint8_t* buf, uint32_t len)> random_bytes = seeded_random_source();
  // Receives one log line of the module.
  std::function<void(LogLevel level, std::string_view message)> log = stderr_logger();
};

// The environment the host imports use on this thread: the one of the running call's
// instance, or a default Environment when no shim call is running. Exposed for tests.
const Environment& current_environment();

// Makes `environment` the current one on this thread for the lifetime of the scope.
class EnvironmentScope {
 public:
  explicit EnvironmentScope(const Environment& environment);
  ~EnvironmentScope();
  EnvironmentScope(const EnvironmentScope&) = delete;
  EnvironmentScope& operator=(const EnvironmentScope&) = delete;

 private:
  const Environment* previous_;
};

}  // namespace qv::host
