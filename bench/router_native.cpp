// qv_bench_router: ns per routing decision natively, two ways, for bench/router.bench.mjs
// to set against the WebAssembly flavours in the same run:
//   pure  Router::route() called directly (C++ types in, a Decision out);
//   abi   "router.route" through the module ABI of qv_abi.h (qv_call_start, qv_call_output,
//         qv_call_free), JSON in and out: what a host pays, as the JS shim does for wasm.
// Usage: qv_bench_router bench/inputs/router-clients.json. Prints one JSON line. An input it
// cannot use (a field missing or of the wrong type, a client the router refuses) is named with
// the file and the field, exit status 1.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "qv/json.h"
#include "qv/router/router.h"
#include "qv_abi.h"
#include "read_file.h"

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
// host operations): its answer, or its error's.
qv::Result<std::string> call(const std::string& method, const std::string& input) {
  uint32_t handle = 0;
  const qv_status status = qv_call_start(method.data(), static_cast<uint32_t>(method.size()),
                                         reinterpret_cast<const uint8_t*>(input.data()),
                                         static_cast<uint32_t>(input.size()), &handle);
  const uint8_t* out = nullptr;
  uint32_t len = 0;
  qv_call_output(handle, &out, &len);
  std::string answer(reinterpret_cast<const char*>(out), len);
  qv_call_free(handle);
  if (status != QV_OK) return qv::Error{status, method + " failed: " + answer};
  return answer;
}

// The input: each client's headers (the three geolocation headers, as the JS side sends
// them) and the two RTT samples of the warm-up.
struct BenchInput {
  std::vector<qv::router::Client> clients;
  std::vector<std::string> inputs;  // {"headers": ...} per client, for the ABI
  double sample[2] = {0, 0};
};

qv::Result<std::string> text_field(const qv::JsonObject& object, const char* name) {
  auto field = object.required(name);
  if (!field.ok()) return field.take_error();
  auto text = field.value().string();
  if (!text.ok()) return text.take_error();
  return std::string(text.value());
}

// Reads the input, with errors naming the field; every client is routed once through the ABI,
// so one the router refuses is named too.
qv::Result<BenchInput> read_input(const std::string& text) {
  qv::JsonParser parser;
  auto root = parser.parse(text);
  if (!root.ok()) return root.take_error();
  auto object = root.value().object();
  if (!object.ok()) return object.take_error();
  BenchInput input;

  auto samples_field = object.value().required("samplesMs");
  if (!samples_field.ok()) return samples_field.take_error();
  auto samples = samples_field.value().array();
  if (!samples.ok()) return samples.take_error();
  if (samples.value().size() != 2) {
    return qv::invalid_input(samples_field.value().where() +
                             ": needs two RTTs, of the nearest region and the next");
  }
  for (size_t k = 0; k < 2; ++k) {
    auto sample = samples.value().items()[k].number();
    if (!sample.ok()) return sample.take_error();
    input.sample[k] = sample.value();
  }

  auto clients_field = object.value().required("clients");
  if (!clients_field.ok()) return clients_field.take_error();
  auto clients = clients_field.value().array();
  if (!clients.ok()) return clients.take_error();
  if (clients.value().size() == 0) {
    return qv::invalid_input(clients_field.value().where() + ": needs at least one client");
  }
  // The same inputs both ways: Client structs for the pure path, {"headers": ...} texts
  // for the ABI (as the JS side sends them).
  for (const auto& item : clients.value().items()) {
    auto client_object = item.object();
    if (!client_object.ok()) return client_object.take_error();
    auto headers_field = client_object.value().required("headers");
    if (!headers_field.ok()) return headers_field.take_error();
    auto headers = headers_field.value().object();
    if (!headers.ok()) return headers.take_error();
    qv::JsonWriter request;
    request.begin_object().key("headers").begin_object();
    std::string values[3];
    const char* const names[3] = {"x-vercel-ip-latitude", "x-vercel-ip-longitude",
                                  "x-vercel-ip-country"};
    for (int h = 0; h < 3; ++h) {
      auto value = text_field(headers.value(), names[h]);
      if (!value.ok()) return value.take_error();
      values[h] = std::move(value.value());
      request.key(names[h]).value(values[h]);
    }
    request.end_object().end_object();
    std::string body = request.take();
    if (auto routed = call("router.route", body); !routed.ok()) {
      return qv::invalid_input(item.where() + ": " + routed.error().message);
    }
    qv::router::Client client;
    client.coordinates = qv::router::GeoPoint{std::strtod(values[0].c_str(), nullptr),
                                              std::strtod(values[1].c_str(), nullptr)};
    client.country = values[2];
    input.clients.push_back(client);
    input.inputs.push_back(std::move(body));
  }
  return input;
}

// The area and the first two regions of a router.route answer.
struct Routed {
  std::string area;
  std::string regions[2];
};
qv::Result<Routed> routed(const std::string& answer) {
  qv::JsonParser parser;
  auto root = parser.parse(answer);
  if (!root.ok()) return root.take_error();
  auto decided = root.value().object();
  if (!decided.ok()) return decided.take_error();
  Routed out;
  auto area = text_field(decided.value(), "clientArea");
  auto optimal = text_field(decided.value(), "optimalRegion");
  if (!area.ok()) return area.take_error();
  if (!optimal.ok()) return optimal.take_error();
  auto fallbacks_field = decided.value().required("fallbackRegions");
  if (!fallbacks_field.ok()) return fallbacks_field.take_error();
  auto fallbacks = fallbacks_field.value().array();
  if (!fallbacks.ok()) return fallbacks.take_error();
  if (fallbacks.value().size() == 0) return qv::invalid_input("fallbackRegions: is empty");
  auto fallback = fallbacks.value().items()[0].string();
  if (!fallback.ok()) return fallback.take_error();
  out.area = std::move(area.value());
  out.regions[0] = std::move(optimal.value());
  out.regions[1] = std::string(fallback.value());
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: qv_bench_router bench/inputs/router-clients.json\n");
    return 2;
  }
  const auto content = qv::bench::read_file(argv[1]);
  if (!content) {
    std::fprintf(stderr, "qv_bench_router: %s: cannot be read\n", argv[1]);
    return 1;
  }
  auto read = read_input(*content);
  if (!read.ok()) {
    std::fprintf(stderr, "qv_bench_router: %s: %s\n", argv[1], read.error().message.c_str());
    return 1;
  }
  const std::vector<qv::router::Client>& clients = read.value().clients;
  const std::vector<std::string>& inputs = read.value().inputs;
  const double* sample = read.value().sample;

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
        if (auto observed = router.observe(observation, now); !observed.ok()) {
          std::fprintf(stderr, "qv_bench_router: %s: samplesMs[%d]: %s\n", argv[1], k,
                       observed.error().message.c_str());
          return 1;
        }
      }
    }
    auto answer = call("router.route", inputs[i]);
    auto decided = answer.ok() ? routed(answer.value()) : qv::Result<Routed>(answer.take_error());
    if (!decided.ok()) {
      std::fprintf(stderr, "qv_bench_router: %s: clients[%zu]: %s\n", argv[1], i,
                   decided.error().message.c_str());
      return 1;
    }
    for (int s = 0; s < 3; ++s) {
      for (int k = 0; k < 2; ++k) {
        qv::JsonWriter observe;
        observe.begin_object()
            .key("region")
            .value(decided.value().regions[k])
            .key("area")
            .value(decided.value().area)
            .key("rttMs")
            .value(sample[k])
            .key("status")
            .value(200)
            .end_object();
        if (auto observed = call("router.observe", observe.take()); !observed.ok()) {
          std::fprintf(stderr, "qv_bench_router: %s: samplesMs[%d]: %s\n", argv[1], k,
                       observed.error().message.c_str());
          return 1;
        }
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
