// qv_bench_router: ns per routing decision natively, two ways, for bench/router.bench.mjs
// to set against the WebAssembly flavours in the same run:
//   pure  Router::route() called directly (C++ types in, a Decision out);
//   abi   "router.route" through the module ABI of qv_abi.h (qv_call_start, qv_call_output,
//         qv_call_free), JSON in and out: what a host pays, as the JS shim does for wasm.
// Usage: qv_bench_router bench/inputs/router-clients.json. Prints one JSON line.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "qv/json.h"
#include "qv/router/router.h"
#include "qv_abi.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kRuns = 5;
constexpr double kTargetMs = 300;  // per run, as bench/lib.mjs

// ns per call of fn: iterations scaled to about kTargetMs per run, median of kRuns runs.
template <typename Fn>
double measure(Fn&& fn, long& iterations) {
  iterations = 1;
  for (;;) {
    const auto start = Clock::now();
    for (long i = 0; i < iterations; ++i) fn();
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    if (ms >= kTargetMs / 4) {
      iterations = std::max(1L, static_cast<long>(iterations * kTargetMs / ms));
      break;
    }
    iterations *= 4;
  }
  std::vector<double> runs;
  for (int r = 0; r < kRuns; ++r) {
    const auto start = Clock::now();
    for (long i = 0; i < iterations; ++i) fn();
    runs.push_back(std::chrono::duration<double, std::nano>(Clock::now() - start).count() /
                   iterations);
  }
  std::sort(runs.begin(), runs.end());
  return runs[kRuns / 2];
}

// Runs a method through the ABI to completion (router.route and router.observe need no
// host operations) and returns its answer; exits on any other status.
std::string call(const std::string& method, const std::string& input) {
  uint32_t handle = 0;
  const qv_status status = qv_call_start(method.data(), static_cast<uint32_t>(method.size()),
                                         reinterpret_cast<const uint8_t*>(input.data()),
                                         static_cast<uint32_t>(input.size()), &handle);
  const uint8_t* out = nullptr;
  uint32_t len = 0;
  qv_call_output(handle, &out, &len);
  std::string answer(reinterpret_cast<const char*>(out), len);
  qv_call_free(handle);
  if (status != QV_OK) {
    std::fprintf(stderr, "qv_bench_router: %s failed: %s\n", method.c_str(), answer.c_str());
    std::exit(1);
  }
  return answer;
}

std::string text_of(const qv::JsonValue& value) {
  auto text = value.string();
  return text.ok() ? std::string(text.value()) : std::string();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: qv_bench_router bench/inputs/router-clients.json\n");
    return 2;
  }
  std::ifstream file(argv[1]);
  std::stringstream content;
  content << file.rdbuf();
  qv::JsonParser parser;
  auto root = parser.parse(content.str());
  if (!file || !root.ok()) {
    std::fprintf(stderr, "qv_bench_router: cannot read %s\n", argv[1]);
    return 2;
  }
  auto object = root.value().object().value();
  const auto clients_json = object.required("clients").value().array().value().items();
  const auto samples_json = object.required("samplesMs").value().array().value().items();
  const double sample[2] = {samples_json[0].number().value(), samples_json[1].number().value()};

  // The same inputs both ways: Client structs for the pure path, {"headers": ...} texts
  // for the ABI (as the JS side sends them).
  std::vector<qv::router::Client> clients;
  std::vector<std::string> inputs;
  for (const auto& item : clients_json) {
    const auto headers = item.object().value().required("headers").value().object().value();
    qv::router::Client client;
    client.coordinates = qv::router::GeoPoint{
        std::strtod(text_of(headers.required("x-vercel-ip-latitude").value()).c_str(), nullptr),
        std::strtod(text_of(headers.required("x-vercel-ip-longitude").value()).c_str(), nullptr)};
    client.country = text_of(headers.required("x-vercel-ip-country").value());
    clients.push_back(client);
    qv::JsonWriter input;
    input.begin_object().key("headers").begin_object();
    for (const char* name :
         {"x-vercel-ip-latitude", "x-vercel-ip-longitude", "x-vercel-ip-country"}) {
      input.key(name).value(text_of(headers.required(name).value()));
    }
    input.end_object().end_object();
    inputs.push_back(input.take());
  }

  // The same warm-up both ways: every other client's area gets three RTT samples for its
  // two preferred regions.
  const double now = qv_host_now_ms();
  qv::router::Router router;
  for (size_t i = 0; i < clients.size(); i += 2) {
    const qv::router::Decision decision = router.route(clients[i], now);
    for (int s = 0; s < 3; ++s) {
      for (int k = 0; k < 2; ++k) {
        qv::router::Observation observation;
        observation.region = router.config().regions[decision.order[k]].id;
        observation.area = decision.client.area;
        observation.rtt_ms = sample[k];
        observation.status = 200;
        if (!router.observe(observation, now).ok()) return 1;
      }
    }
    qv::JsonParser answer_parser;
    const std::string answer = call("router.route", inputs[i]);
    auto decided = answer_parser.parse(answer).value().object().value();
    const std::string area = text_of(decided.required("clientArea").value());
    const std::string regions[2] = {
        text_of(decided.required("optimalRegion").value()),
        text_of(decided.required("fallbackRegions").value().array().value().items()[0])};
    for (int s = 0; s < 3; ++s) {
      for (int k = 0; k < 2; ++k) {
        qv::JsonWriter observe;
        observe.begin_object()
            .key("region")
            .value(regions[k])
            .key("area")
            .value(area)
            .key("rttMs")
            .value(sample[k])
            .key("status")
            .value(200)
            .end_object();
        call("router.observe", observe.take());
      }
    }
  }

  size_t next = 0;
  volatile uint32_t sink = 0;
  long pure_iterations = 0, abi_iterations = 0;
  const double pure_ns = measure(
      [&] {
        sink = sink + router.route(clients[next], now).optimal();
        next = (next + 1) % clients.size();
      },
      pure_iterations);
  const double abi_ns = measure(
      [&] {
        uint32_t handle = 0;
        const std::string& input = inputs[next];
        qv_call_start("router.route", 12, reinterpret_cast<const uint8_t*>(input.data()),
                      static_cast<uint32_t>(input.size()), &handle);
        const uint8_t* out = nullptr;
        uint32_t len = 0;
        qv_call_output(handle, &out, &len);
        sink = sink + len;
        qv_call_free(handle);
        next = (next + 1) % inputs.size();
      },
      abi_iterations);

  std::printf(
      "{\"pure_ns_per_decision\":%.1f,\"pure_iterations\":%ld,\"abi_ns_per_decision\":%.1f,"
      "\"abi_iterations\":%ld,\"clients\":%zu}\n",
      pure_ns, pure_iterations, abi_ns, abi_iterations, clients.size());
  return 0;
}
