// The host imports of qv_abi.h, routed to the environment of the running call.
#include "qv/host/environment.h"

#include <chrono>
#include <cstdio>
#include <memory>
#include <random>

#include "qv_abi.h"

namespace qv::host {

double system_now_ms() {
  // Whole milliseconds, as Date.now() in the JavaScript hosts: the timestamps the modules
  // answer with (leaseExpiresAt, freshUntil, ...) are then integers on every host.
  using namespace std::chrono;
  return static_cast<double>(
      duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

std::function<void(uint8_t*, uint32_t)> seeded_random_source() {
  // std::random_device may be slow or blocking per byte; seed a fast generator once.
  std::random_device device;
  std::seed_seq seed{device(), device(), device(), device(), device(), device()};
  auto generator = std::make_shared<std::mt19937_64>(seed);
  return [generator](uint8_t* buf, uint32_t len) {
    for (uint32_t i = 0; i < len; i += 8) {
      uint64_t word = (*generator)();
      for (uint32_t b = 0; b < 8 && i + b < len; ++b)
        buf[i + b] = static_cast<uint8_t>(word >> (8 * b));
    }
  };
}

std::function<void(LogLevel, std::string_view)> stderr_logger(LogLevel min_level) {
  return [min_level](LogLevel level, std::string_view message) {
    if (level < min_level) return;
    static const char* const kNames[] = {"debug", "info", "warn", "error"};
    const auto index = static_cast<uint32_t>(level);
    std::fprintf(stderr, "qv [%s] %.*s\n", index < 4 ? kNames[index] : "log",
                 static_cast<int>(message.size()), message.data());
  };
}

namespace {

// One per thread: instances are single-threaded, threads may each run their own.
thread_local const Environment* current = nullptr;

}  // namespace

const Environment& current_environment() {
  if (current) return *current;
  thread_local const Environment fallback;  // calls made outside any shim Instance
  return fallback;
}

EnvironmentScope::EnvironmentScope(const Environment& environment) : previous_(current) {
  current = &environment;
}

EnvironmentScope::~EnvironmentScope() {
  current = previous_;
}

}  // namespace qv::host

using qv::host::current_environment;

extern "C" {

double qv_host_now_ms(void) {
  const auto& now = current_environment().now_ms;
  return now ? now() : qv::host::system_now_ms();
}

void qv_host_random_bytes(uint8_t* buf, uint32_t len) {
  const auto& random = current_environment().random_bytes;
  if (random) {
    random(buf, len);
  } else {
    thread_local auto fallback = qv::host::seeded_random_source();
    fallback(buf, len);
  }
}

void qv_host_log(uint32_t level, const char* msg, uint32_t len) {
  const auto& log = current_environment().log;
  const auto clamped = static_cast<qv::host::LogLevel>(level > 3 ? 3 : level);
  if (log) log(clamped, std::string_view(msg, len));
}

}  // extern "C"
