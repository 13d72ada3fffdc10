// Helpers the native tests share: a fixed clock and deterministic random bytes, and an
// instance of the native shim over an in-memory KV that uses that clock.
#pragma once

#include <memory>
#include <random>
#include <string>

#include "qv/host/instance.h"

namespace qv::test {

// 2025-11-26T00:00:00Z, the default clock of the test vectors.
inline constexpr double kDefaultNowMs = 1764115200000.0;

// A clock the test moves by hand.
struct ManualClock {
  std::shared_ptr<double> now = std::make_shared<double>(kDefaultNowMs);
  std::function<double()> function() const {
    return [now = now] { return *now; };
  }
  void advance(double ms) const { *now += ms; }
};

// An environment with the clock given, random bytes from a fixed seed, and logs kept quiet
// below error.
inline host::Environment fixed_environment(const ManualClock& clock, uint64_t seed = 1) {
  host::Environment environment;
  environment.now_ms = clock.function();
  auto generator = std::make_shared<std::mt19937_64>(seed);
  environment.random_bytes = [generator](uint8_t* buf, uint32_t len) {
    for (uint32_t i = 0; i < len; ++i) buf[i] = static_cast<uint8_t>((*generator)());
  };
  environment.log = host::stderr_logger(host::LogLevel::kError);
  return environment;
}

// An instance with the environment of `clock` over kv (and fetcher, if any). Aborts the
// test when the instance cannot be made.
inline host::Instance make_instance(const ManualClock& clock, std::shared_ptr<host::Kv> kv,
                                    std::shared_ptr<host::Fetcher> fetcher = nullptr) {
  host::InstanceOptions options;
  options.environment = fixed_environment(clock);
  options.kv = std::move(kv);
  options.fetcher = std::move(fetcher);
  auto instance = host::Instance::create(std::move(options));
  if (!instance.ok()) std::abort();
  return std::move(instance.value());
}

}  // namespace qv::test
