// The router's pure C++ (modules/router/include/qv/router/router.h) on a clock the tests
// set: geography, ranking, learned RTTs, outlier ejection and its back-off, active health
// checks, panic mode, the retry budget, and call affinity when nodes leave.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "qv/json.h"
#include "qv/router/router.h"

using namespace qv::router;

namespace {

constexpr double kStart = 1764115200000;  // 2025-11-26T00:00:00Z

Client at(double latitude, double longitude, std::string area = "") {
  Client client;
  client.coordinates = GeoPoint{latitude, longitude};
  client.area = std::move(area);
  return client;
}

std::string optimal(Router& router, const Client& client, double now) {
  const Decision decision = router.route(client, now);
  return router.config().regions[decision.optimal()].id;
}

std::vector<std::string> order(Router& router, const Client& client, double now) {
  std::vector<std::string> ids;
  for (uint32_t r : router.route(client, now).order) ids.push_back(router.config().regions[r].id);
  return ids;
}

Observation observation(const std::string& region, double rtt, int status,
                        const std::string& area = "") {
  Observation o;
  o.region = region;
  o.area = area;
  o.rtt_ms = rtt;
  o.status = status;
  return o;
}

Region region(const std::string& id, double latitude, double longitude, double cost) {
  Region r;
  r.id = id;
  r.name = id;
  r.location = {latitude, longitude};
  r.cost_factor = cost;
  r.origin = "https://" + id + ".example";
  r.health_url = r.origin + "/health";
  return r;
}

const Client kNewYork = at(40.71, -74.01, "nyc");
const Client kLondon = at(51.51, -0.13, "lon");
const Client kSydney = at(-33.87, 151.21, "syd");
const Client kBuenosAires = at(-34.60, -58.38, "bue");

}  // namespace

TEST_CASE("great-circle distances match known figures") {
  CHECK(great_circle_km({51.5074, -0.1278}, {40.7128, -74.0060}) == Approx(5570).epsilon(0.002));
  CHECK(great_circle_km({10, 20}, {10, 20}) == Approx(0).margin(1e-9));
  CHECK(great_circle_km({0, 0}, {0, 180}) == Approx(M_PI * 6371).epsilon(1e-12));
  CHECK(great_circle_km({90, 0}, {-90, 0}) == Approx(M_PI * 6371).epsilon(1e-12));
  // Symmetric, and across the antimeridian the short way.
  CHECK(great_circle_km({-33.87, 151.21}, {1.29, 103.85}) ==
        Approx(great_circle_km({1.29, 103.85}, {-33.87, 151.21})));
  CHECK(great_circle_km({0, 179}, {0, -179}) == Approx(2 * M_PI * 6371 / 180).epsilon(1e-9));
}

TEST_CASE("countries without coordinates are placed at their part of the world") {
  REQUIRE(country_location("BR"));
  CHECK(country_location("BR")->latitude == -15);
  REQUIRE(country_location("JP"));
  CHECK(!country_location("ZZ"));
  CHECK(!country_location("B"));
  Router router;
  Client brazil;
  brazil.country = "BR";
  const Decision decision = router.route(brazil, kStart);
  CHECK(router.config().regions[decision.optimal()].id == "sa-east-1");
  CHECK(decision.client.source == LocationSource::kCountry);
  CHECK(decision.client.area == "country:BR");
}

TEST_CASE("longitudes 180 and -180, one meridian, are one area, whatever the cell width") {
  for (double cell : {10.0, 7.5, 2.5}) {
    Config config = default_config();
    config.latency.area_cell_degrees = cell;
    Router router(config);
    for (double latitude : {-16.5, 0.0, 64.0}) {
      const std::string west = router.resolve(at(latitude, -180)).area;
      CHECK(router.resolve(at(latitude, 180)).area == west);
      CHECK(router.resolve(at(latitude, -179.9)).area == west);
    }
  }
  Router router;
  CHECK(router.resolve(at(-16.5, 180)).area == "geo:-20,-180");
  CHECK(router.resolve(at(-16.5, 179.9)).area == "geo:-20,170");
}

TEST_CASE(
    "an area is named by its cell's south-west corner exactly, in the cell width's decimals") {
  const auto area = [](double cell, double latitude, double longitude) {
    Config config = default_config();
    config.latency.area_cell_degrees = cell;
    return Router(config).resolve(at(latitude, longitude)).area;
  };
  CHECK(area(10, 51.51, -0.13) == "geo:50,-10");
  CHECK(area(0.5, 51.51, -0.13) == "geo:51.5,-0.5");
  CHECK(area(0.25, 50.3, -0.1) == "geo:50.25,-0.25");  // not "geo:50.3,-0.3"
  CHECK(area(0.25, 50.6, 0.6) == "geo:50.50,0.50");
  CHECK(area(0.25, -0.1, 179.9) == "geo:-0.25,179.75");
  CHECK(area(0.25, 0.1, 180) == "geo:0.00,-180.00");
  CHECK(area(0.125, 0.2, -0.2) == "geo:0.125,-0.250");
  CHECK(area(0.1, 0.35, 0.35) == "geo:0.3,0.3");  // not 3 x 0.1, 0.30000000000000004
  CHECK(area(180.0 / 7, 60, 60) == "geo:51.428571428571430,51.428571428571430");
  CHECK(area(180.0 / 7, -60, -60) == "geo:-77.142857142857145,-77.142857142857145");
  // Every width accepted: in the middle of a cell, the area's name reads as the cell's corner
  // (to a billionth of the cell), so the cells' names differ and none reads as another's.
  size_t widths = 0;
  for (int n = 1; 180.0 / n >= 0.1; ++n) {
    Config config = default_config();
    config.latency.area_cell_degrees = 180.0 / n;
    if (!validate(config).ok()) continue;
    ++widths;
    const double cell = config.latency.area_cell_degrees;
    const Router router(config);
    for (int row : {-n / 2, -n / 3, -1, 0, 1, n / 5, n / 2 - 1}) {
      const int column = 2 * row;
      if (std::fabs((row + 0.5) * cell) >= 90 || std::fabs((column + 0.5) * cell) >= 180) continue;
      const std::string name = router.resolve(at((row + 0.5) * cell, (column + 0.5) * cell)).area;
      const size_t comma = name.find(',');
      REQUIRE(name.rfind("geo:", 0) == 0);
      REQUIRE(comma != std::string::npos);
      const auto south = qv::parse_json_number(std::string_view(name).substr(4, comma - 4));
      const auto west = qv::parse_json_number(std::string_view(name).substr(comma + 1));
      INFO(name << " for the cell " << row << ", " << column << " " << cell << " degrees wide");
      REQUIRE((south && west));
      CHECK(std::fabs(*south - row * cell) <= cell * 1e-9);
      CHECK(std::fabs(*west - column * cell) <= cell * 1e-9);
    }
  }
  CHECK(widths > 1000);
}

TEST_CASE("a point on a cell's corner, as the area's name reads, is in that cell") {
  // 0.3 / 0.1 is 2.9999999999999996: a client at latitude 0.3 was in the cell named 0.2.
  const auto area = [](double cell, double latitude, double longitude) {
    Config config = default_config();
    config.latency.area_cell_degrees = cell;
    return Router(config).resolve(at(latitude, longitude)).area;
  };
  CHECK(area(0.1, 0.3, 0.7) == "geo:0.3,0.7");
  CHECK(area(0.1, -0.3, -0.7) == "geo:-0.3,-0.7");
  CHECK(area(0.1, 0.29999999999999993, 0.7) == "geo:0.2,0.7");  // just south of it
  CHECK(area(0.3, 0.9, -0.9) == "geo:0.9,-0.9");
  // Every width accepted: each of these cells' corners, read from its name, names it again.
  for (int n = 1; 180.0 / n >= 0.1; ++n) {
    Config config = default_config();
    config.latency.area_cell_degrees = 180.0 / n;
    if (!validate(config).ok()) continue;
    const double cell = config.latency.area_cell_degrees;
    const Router router(config);
    for (int row : {-n / 2 + 1, -n / 3, -7, -3, -1, 0, 1, 3, 7, n / 5, n / 2 - 1}) {
      const int column = 2 * row;
      if (std::fabs((row + 0.5) * cell) >= 90 || std::fabs((column + 0.5) * cell) >= 180) continue;
      const std::string name = router.resolve(at((row + 0.5) * cell, (column + 0.5) * cell)).area;
      const size_t comma = name.find(',');
      const auto south = qv::parse_json_number(std::string_view(name).substr(4, comma - 4));
      const auto west = qv::parse_json_number(std::string_view(name).substr(comma + 1));
      INFO(name << ": " << cell << " degrees wide");
      REQUIRE((south && west));
      CHECK(router.resolve(at(*south, *west)).area == name);
    }
  }
}

TEST_CASE("each pole, where every longitude meets, is one area: the cell at -180 of its row") {
  for (double cell : {10.0, 7.5, 20.0, 0.1}) {
    Config config = default_config();
    config.latency.area_cell_degrees = cell;
    Router router(config);
    for (double pole : {90.0, -90.0}) {
      const std::string area = router.resolve(at(pole, -180)).area;
      for (double longitude : {-179.9, -45.0, 0.0, 103.85, 180.0}) {
        CHECK(router.resolve(at(pole, longitude)).area == area);
      }
    }
    // The north pole is in the grid's last row, not in a row of its own north of it.
    CHECK(router.resolve(at(90, 0)).area == router.resolve(at(89.95, -180)).area);
    CHECK(router.resolve(at(-90, 0)).area == router.resolve(at(-89.95, -180)).area);
  }
  Router router;
  CHECK(router.resolve(at(90, 45)).area == "geo:80,-180");
  CHECK(router.resolve(at(-90, 45)).area == "geo:-90,-180");
  CHECK(router.resolve(at(89.9, 45)).area == "geo:80,40");  // off the pole, the grid as ever
}

TEST_CASE("before any measurement: the nearest region, by great-circle distance") {
  Router router;
  CHECK(optimal(router, kNewYork, kStart) == "us-east-1");
  CHECK(optimal(router, kLondon, kStart) == "eu-west-1");
  CHECK(optimal(router, kSydney, kStart) == "ap-southeast-1");
  CHECK(optimal(router, kBuenosAires, kStart) == "sa-east-1");
  const Decision decision = router.route(kLondon, kStart);
  CHECK(decision.strategy == Strategy::kGeoProximity);
  CHECK(decision.reason.find("eu-west-1 (Ireland) is the nearest") == 0);
  CHECK(order(router, kLondon, kStart) ==
        std::vector<std::string>{"eu-west-1", "us-east-1", "sa-east-1", "ap-southeast-1"});
}

TEST_CASE("without location or measurements: the configured failover order") {
  Router router;
  const Decision decision = router.route(Client{}, kStart);
  CHECK(decision.strategy == Strategy::kFailoverOrder);
  CHECK(decision.client.area == "unknown");
  CHECK(order(router, Client{}, kStart) ==
        std::vector<std::string>{"us-east-1", "eu-west-1", "ap-southeast-1", "sa-east-1"});

  Config config = default_config();
  config.default_location = GeoPoint{1.3, 103.8};  // a Singapore-first deployment
  router.configure(config);
  CHECK(optimal(router, Client{}, kStart) == "ap-southeast-1");
  CHECK(router.route(Client{}, kStart).client.source == LocationSource::kDefault);
}

TEST_CASE("the cost factor breaks near-ties within the tolerance; equal ties are deterministic") {
  // Two regions on the equator, the client between them: a is cost 1.2, b is cost 1.0.
  Config config = default_config();
  config.regions = {region("a", 0, 0, 1.2), region("b", 0, 20, 1.0)};
  Router router(config);
  // 5% further from b than from a: within 10%, b is cheaper -> b.
  const double near_a = 9.5;  // degrees east: a is at 9.5, b at 10.5 degrees away
  const Decision tie = router.route(at(0, near_a), kStart);
  CHECK(router.config().regions[tie.optimal()].id == "b");
  CHECK(tie.cheaper_than == 0);
  CHECK(tie.reason.find("preferred to a") != std::string::npos);
  // The reason does not call b the nearest (a is), nor, measured, the fastest.
  CHECK(tie.reason.rfind("b: ", 0) == 0);
  CHECK(tie.reason.find("nearest") == std::string::npos);
  REQUIRE(router.observe(observation("a", 100, 200, "pop:x"), kStart).ok());
  REQUIRE(router.observe(observation("b", 105, 200, "pop:x"), kStart).ok());
  Client measured;
  measured.area = "pop:x";
  const Decision measured_tie = router.route(measured, kStart);
  CHECK(router.config().regions[measured_tie.optimal()].id == "b");
  CHECK(measured_tie.reason.rfind("b's measured RTT from pop:x: 105.0 ms", 0) == 0);
  CHECK(measured_tie.reason.find("lowest") == std::string::npos);
  // Exactly at the tolerance is within it: 88 ms is 10% above 80 ms.
  REQUIRE(router.observe(observation("a", 80, 200, "pop:e"), kStart).ok());
  REQUIRE(router.observe(observation("b", 88, 200, "pop:e"), kStart).ok());
  Client at_tolerance;
  at_tolerance.area = "pop:e";
  CHECK(router.config().regions[router.route(at_tolerance, kStart).optimal()].id == "b");
  // A region whose distance estimate beats a nearer region's slower measured RTT has the
  // lowest estimate, and is not the nearest.
  REQUIRE(router.observe(observation("a", 400, 200, "pop:y"), kStart).ok());
  const Decision not_nearest = router.route(at(0, 2, "pop:y"), kStart);
  CHECK(router.config().regions[not_nearest.optimal()].id == "b");
  CHECK(not_nearest.reason.rfind("b has the lowest RTT estimate: ", 0) == 0);
  // Far closer to a: no near-tie -> a.
  CHECK(optimal(router, at(0, 2), kStart) == "a");

  // Same place, same cost: the earlier in the configuration, every time.
  config.regions = {region("first", 10, 10, 1.0), region("second", 10, 10, 1.0)};
  router.configure(config);
  for (int i = 0; i < 3; ++i) CHECK(optimal(router, at(50, 50), kStart) == "first");
  config.regions = {region("second", 10, 10, 1.0), region("first", 10, 10, 1.0)};
  router.configure(config);
  CHECK(optimal(router, at(50, 50), kStart) == "second");
}

TEST_CASE("observed RTTs, averaged per (area, region), take over from the distance prior") {
  Router router;
  // From New York us-east-1 is nearest, but measured slow from this area; eu-west-1 fast.
  for (int i = 0; i < 3; ++i) {
    REQUIRE(router.observe(observation("us-east-1", 200, 200, "nyc"), kStart + i).ok());
    REQUIRE(router.observe(observation("eu-west-1", 70, 200, "nyc"), kStart + i).ok());
  }
  const Decision decision = router.route(kNewYork, kStart + 3);
  CHECK(router.config().regions[decision.optimal()].id == "eu-west-1");
  CHECK(decision.strategy == Strategy::kLatencyBased);
  CHECK(decision.regions[0].latency.samples == 3);
  // Another area is not affected.
  CHECK(optimal(router, at(40.71, -74.01, "elsewhere"), kStart + 3) == "us-east-1");

  // The EWMA itself: first sample as is, then alpha = 0.3.
  Router fresh;
  auto first = fresh.observe(observation("eu-west-1", 100, 200, "a"), kStart);
  REQUIRE(first.ok());
  CHECK(*first.value().ewma_ms == Approx(100));
  auto second = fresh.observe(observation("eu-west-1", 200, 200, "a"), kStart);
  CHECK(*second.value().ewma_ms == Approx(130));
  // Fast connection failures teach no latency; timeouts do (the region is at least that slow).
  auto refused = fresh.observe(observation("eu-west-1", 1, 0, "a"), kStart);
  CHECK(!refused.value().ewma_ms);
  Observation timeout = observation("eu-west-1", 5000, 0, "a");
  timeout.timed_out = true;
  CHECK(*fresh.observe(timeout, kStart).value().ewma_ms == Approx(0.7 * 130 + 0.3 * 5000));
}

TEST_CASE("observe refuses an RTT that router.observe refuses (its message) and counts nothing") {
  Router router;
  const double inf = std::numeric_limits<double>::infinity();
  const struct {
    double rtt;
    const char* got;
  } refused[] = {{-1, "-1"},   {-0.5, "-0.5"}, {std::nan(""), "nan"},
                 {inf, "inf"}, {-inf, "-inf"}, {kMaxRttMs + 0.5, "3600000.5"}};
  for (const auto& c : refused) {
    CAPTURE(c.got);
    auto observed = router.observe(observation("eu-west-1", c.rtt, 503, "a"), kStart);
    REQUIRE(!observed.ok());
    CHECK(observed.error().status == QV_INVALID_INPUT);
    CHECK(observed.error().message ==
          std::string("rttMs: must be between 0 and 3600000, got ") + c.got);
  }
  // None of the six 503s was counted: the next is the first consecutive failure, and the
  // next answer the area's first sample.
  auto failed = router.observe(observation("eu-west-1", 40, 503, "a"), kStart);
  REQUIRE(failed.ok());
  CHECK(failed.value().host.health == Health::kHealthy);
  CHECK(failed.value().host.consecutive_failures == 1);
  auto answered = router.observe(observation("eu-west-1", 50, 200, "a"), kStart);
  REQUIRE(answered.ok());
  CHECK(answered.value().samples == 1);
  CHECK(*answered.value().ewma_ms == Approx(50));
  // The bounds themselves are RTTs.
  CHECK(router.observe(observation("eu-west-1", 0, 200, "a"), kStart).ok());
  CHECK(router.observe(observation("eu-west-1", kMaxRttMs, 200, "a"), kStart).ok());
}

TEST_CASE("a region that degrades loses its traffic within a stated number of observations") {
  Router router;
  const std::string area = "nyc";
  double now = kStart;
  // Steady state: us-east-1 at 20 ms, eu-west-1 at 80 ms (both measured).
  for (int i = 0; i < 20; ++i, now += 100) {
    REQUIRE(router.observe(observation("us-east-1", 20, 200, area), now).ok());
    REQUIRE(router.observe(observation("eu-west-1", 80, 200, area), now).ok());
  }
  REQUIRE(optimal(router, kNewYork, now) == "us-east-1");
  // us-east-1 degrades to 400 ms. With alpha 0.3 one sample lifts its EWMA to
  // 20 + 0.3 x 380 = 134 ms; less its switch margin as the incumbent (10%: 13.4 ms) that is
  // still beyond 80 ms x 1.1 (the near-tie its lower cost would win): traffic leaves after
  // one observation.
  int observations = 0;
  while (optimal(router, kNewYork, now) == "us-east-1") {
    REQUIRE(router.observe(observation("us-east-1", 400, 200, area), now).ok());
    ++observations;
    now += 100;
    REQUIRE(observations < 10);
  }
  CHECK(observations == 1);
  // Recovered but unobserved: its stale EWMA (134 ms) relaxes towards the distance prior
  // (10.3 ms from New York) with a 30 s half-life. eu-west-1 is now the area's incumbent and
  // competes with its 80 ms less the switch margin (the larger of 10% and 5 ms: 8 ms), so
  // traffic returns once us-east-1 is within the 10% near-tie of 72 ms, where its lower cost
  // wins: 10.3 + 123.7 x 2^(-t/30 s) <= 79.2 -> t >= 25.3 s (20.1 s without the margin).
  const double left_at = now;
  while (optimal(router, kNewYork, now) == "eu-west-1") {
    REQUIRE(router.observe(observation("eu-west-1", 80, 200, area), now).ok());
    now += 500;
    REQUIRE(now - left_at < 120000);
  }
  CHECK(now - left_at >= 25000);
  CHECK(now - left_at <= 26000);
  // And the first fresh sample at 20 ms keeps it there.
  REQUIRE(router.observe(observation("us-east-1", 20, 200, area), now).ok());
  CHECK(optimal(router, kNewYork, now) == "us-east-1");
}

namespace {

// Two regions of equal cost measured from one area, the client without a location: only the
// area's EWMAs decide.
Router two_regions(double margin, double margin_ms) {
  Config config = default_config();
  config.regions = {region("a", 0, 0, 1.0), region("b", 0, 20, 1.0)};
  config.latency.switch_margin = margin;
  config.latency.switch_margin_ms = margin_ms;
  return Router(config);
}

Client area_only(const std::string& area) {
  Client client;
  client.area = area;
  return client;
}

// The choices made while the two regions' RTTs cross back and forth by 2-3 ms around 50 ms:
// the one just measured a little faster each time, the pattern of two near-equal regions.
std::vector<std::string> crossing_choices(Router& router) {
  std::vector<std::string> choices;
  double now = kStart;
  REQUIRE(router.observe(observation("a", 50, 200, "pop:x"), now).ok());
  REQUIRE(router.observe(observation("b", 51, 200, "pop:x"), now).ok());
  for (int i = 0; i < 20; ++i, now += 100) {
    const std::string faster = i % 2 ? "a" : "b";
    REQUIRE(router.observe(observation(faster, 45, 200, "pop:x"), now).ok());
    REQUIRE(router.observe(observation(faster == "a" ? "b" : "a", 55, 200, "pop:x"), now).ok());
    choices.push_back(optimal(router, area_only("pop:x"), now));
  }
  return choices;
}

}  // namespace

TEST_CASE("hysteresis: RTTs crossing back and forth within the switch margin keep one choice") {
  // Without a margin the decision follows every crossing: the flapping the margin damps.
  Router plain = two_regions(0, 0);
  const std::vector<std::string> flapping = crossing_choices(plain);
  CHECK(std::count(flapping.begin(), flapping.end(), "a") >= 5);
  CHECK(std::count(flapping.begin(), flapping.end(), "b") >= 5);
  // With the default margin (the larger of 10% and 5 ms) the first choice stays throughout.
  Router router = two_regions(0.10, 5);
  const std::vector<std::string> choices = crossing_choices(router);
  CHECK(std::count(choices.begin(), choices.end(), choices.front()) == 20);
  // The margin is the larger of the two: 5 ms alone keeps it, as does 10% alone (about 5 ms).
  Router absolute = two_regions(0, 5);
  const std::vector<std::string> by_ms = crossing_choices(absolute);
  CHECK(std::count(by_ms.begin(), by_ms.end(), by_ms.front()) == 20);
  Router relative = two_regions(0.12, 0);
  const std::vector<std::string> by_share = crossing_choices(relative);
  CHECK(std::count(by_share.begin(), by_share.end(), by_share.front()) == 20);
}

TEST_CASE("hysteresis: a region better by more than the switch margin takes over, then stays") {
  Router router = two_regions(0.10, 5);
  const Client client = area_only("pop:x");
  REQUIRE(router.observe(observation("a", 50, 200, "pop:x"), kStart).ok());
  REQUIRE(router.observe(observation("b", 60, 200, "pop:x"), kStart).ok());
  REQUIRE(optimal(router, client, kStart) == "a");
  // b at 48.9 ms: faster, but by 1.1 ms, within the 5 ms margin: a is kept, and says so.
  REQUIRE(router.observe(observation("b", 30, 200, "pop:x"), kStart).ok());  // EWMA 51
  REQUIRE(router.observe(observation("b", 44, 200, "pop:x"), kStart).ok());  // 48.9
  const Decision kept = router.route(client, kStart);
  CHECK(router.config().regions[kept.optimal()].id == "a");
  CHECK(kept.kept_over == 1);
  CHECK(kept.switch_margin_ms == Approx(5));
  CHECK(kept.cheaper_than == -1);
  CHECK(kept.strategy == Strategy::kLatencyBased);
  CHECK(kept.reason ==
        "a stays the region for pop:x (its last choice): measured RTT 50.0 ms (EWMA of 1 "
        "sample); b (48.9 ms) would rank first, but not by more than the switch margin of 5.0 "
        "ms (the larger of 10% of the incumbent's latency and 5 ms)");
  // b at 44.1 ms beats a by 5.9 ms, more than the margin: b takes over...
  REQUIRE(router.observe(observation("b", 33, 200, "pop:x"), kStart).ok());
  const Decision switched = router.route(client, kStart);
  CHECK(router.config().regions[switched.optimal()].id == "b");
  CHECK(switched.kept_over == -1);
  CHECK(switched.reason.find("stays") == std::string::npos);
  // ...and is the incumbent now: a back at 42.2 ms, 1.9 ms faster, does not take it back.
  for (int i = 0; i < 10; ++i)
    REQUIRE(router.observe(observation("a", 42, 200, "pop:x"), kStart).ok());
  CHECK(optimal(router, client, kStart) == "b");

  // With costs: eu-west-1 (1.1), the incumbent at 50 ms, is kept over us-east-1 (1.0) at
  // 52 ms, which is within the 10% near-tie of 50 ms but not of 50 - 5 ms (docs/router.md's
  // example); at 49 ms it is, and takes over.
  Router costs;
  const Client iad = area_only("pop:iad1");
  for (int i = 0; i < 4; ++i)
    REQUIRE(costs.observe(observation("eu-west-1", 50, 200, "pop:iad1"), kStart).ok());
  REQUIRE(costs.observe(observation("us-east-1", 70, 200, "pop:iad1"), kStart).ok());
  REQUIRE(optimal(costs, iad, kStart) == "eu-west-1");
  REQUIRE(costs.observe(observation("us-east-1", 10, 200, "pop:iad1"), kStart).ok());  // 52
  CHECK(costs.route(iad, kStart).reason ==
        "eu-west-1 stays the region for pop:iad1 (its last choice): measured RTT 50.0 ms (EWMA "
        "of 4 samples); us-east-1 (52.0 ms) would rank first, but not by more than the switch "
        "margin of 5.0 ms (the larger of 10% of the incumbent's latency and 5 ms)");
  REQUIRE(costs.observe(observation("us-east-1", 42, 200, "pop:iad1"), kStart).ok());  // 49
  CHECK(optimal(costs, iad, kStart) == "us-east-1");

  // The relative margin scales with the latency: at 400 ms, 10% is 40 ms.
  Router slow = two_regions(0.10, 5);
  REQUIRE(slow.observe(observation("a", 400, 200, "pop:x"), kStart).ok());
  REQUIRE(slow.observe(observation("b", 500, 200, "pop:x"), kStart).ok());
  REQUIRE(optimal(slow, client, kStart) == "a");
  for (int i = 0; i < 8; ++i)
    REQUIRE(slow.observe(observation("b", 365, 200, "pop:x"), kStart).ok());
  CHECK(optimal(slow, client, kStart) == "a");  // b at 373 ms: 27 ms faster, within 40 ms
  for (int i = 0; i < 8; ++i)
    REQUIRE(slow.observe(observation("b", 340, 200, "pop:x"), kStart).ok());
  CHECK(optimal(slow, client, kStart) == "b");  // about 342 ms: 58 ms faster
}

TEST_CASE("hysteresis: an incumbent that is ejected, unhealthy or draining is left at once") {
  const Client client = area_only("pop:x");
  const auto prepared = [&]() {
    Router router = two_regions(0.10, 5);
    REQUIRE(router.observe(observation("a", 50, 200, "pop:x"), kStart).ok());
    REQUIRE(router.observe(observation("b", 52, 200, "pop:x"), kStart).ok());
    REQUIRE(optimal(router, client, kStart) == "a");
    return router;
  };
  SECTION("ejected: the next decision, however close b's RTT") {
    Router router = prepared();
    for (int i = 0; i < 5; ++i)
      REQUIRE(router.observe(observation("a", 50, 503, "pop:x"), kStart + 1).ok());
    const Decision decision = router.route(client, kStart + 1);
    CHECK(router.config().regions[decision.optimal()].id == "b");
    CHECK(decision.kept_over == -1);
    // Back from its ejection (a probe passed), a starts again from no measurement here, and
    // b, the incumbent now, stays.
    const double back = router.region_health(0, kStart + 1).ejected_until;
    router.plan_probes(back);
    REQUIRE(!router.record_probe("a", true, "200", back));
    REQUIRE(router.region_health(0, back).health == Health::kHealthy);
    REQUIRE(router.observe(observation("a", 49, 200, "pop:x"), back).ok());
    CHECK(optimal(router, client, back) == "b");
  }
  SECTION("unhealthy by its health checks") {
    Router router = prepared();
    double now = kStart;
    for (int i = 0; i < 3; ++i, now += 10000) {
      for (uint32_t r : router.plan_probes(now)) {
        router.record_probe(router.config().regions[r].id, r == 1, "x", now);
      }
    }
    REQUIRE(router.region_health(0, now).health == Health::kUnhealthy);
    CHECK(optimal(router, client, now) == "b");
  }
  SECTION("in panic the ranking stands: every region is a candidate, health presumed wrong") {
    Router router = prepared();
    REQUIRE(router.observe(observation("b", 40, 200, "pop:x"), kStart).ok());  // EWMA 48.4
    REQUIRE(optimal(router, client, kStart) == "a");  // kept: b is 1.6 ms faster
    double now = kStart;
    for (int i = 0; i < 3; ++i, now += 10000) {
      for (uint32_t r : router.plan_probes(now)) {
        router.record_probe(router.config().regions[r].id, false, "x", now);
      }
    }
    const Decision decision = router.route(client, now);
    REQUIRE(decision.panic);
    CHECK(router.config().regions[decision.optimal()].id == "b");
    CHECK(decision.kept_over == -1);
  }
  SECTION("draining") {
    Router router = prepared();
    Config config = router.config();
    config.regions[0].draining = true;
    router.configure(config);
    CHECK(optimal(router, client, kStart) == "b");
  }
}

TEST_CASE("hysteresis: reconfiguring keeps an area's incumbent by id") {
  Router router = two_regions(0.10, 5);
  const Client client = area_only("pop:x");
  REQUIRE(router.observe(observation("a", 50, 200, "pop:x"), kStart).ok());
  REQUIRE(router.observe(observation("b", 52, 200, "pop:x"), kStart).ok());
  REQUIRE(optimal(router, client, kStart) == "a");
  // b first in the configuration now, a third region added: a is still the incumbent.
  Config config = router.config();
  std::swap(config.regions[0], config.regions[1]);
  config.regions.push_back(region("c", 0, 40, 1.0));
  router.configure(config);
  REQUIRE(router.observe(observation("b", 46, 200, "pop:x"), kStart).ok());  // EWMA 50.2
  REQUIRE(router.observe(observation("b", 40, 200, "pop:x"), kStart).ok());  // 47.1
  CHECK(optimal(router, client, kStart) == "a");
  // A switch margin of 0 turns hysteresis off.
  config.latency.switch_margin = 0;
  config.latency.switch_margin_ms = 0;
  router.configure(config);
  CHECK(optimal(router, client, kStart) == "b");
}

TEST_CASE("outlier detection: 5 consecutive failures eject, with exponential back-off") {
  Router router;
  double now = kStart;
  for (int i = 0; i < 4; ++i) {
    auto result = router.observe(observation("us-east-1", 10, 503), now);
    CHECK(!result.value().ejected_now);
  }
  // A success resets the count.
  REQUIRE(router.observe(observation("us-east-1", 10, 200), now).ok());
  for (int i = 0; i < 4; ++i) REQUIRE(router.observe(observation("us-east-1", 10, 502), now).ok());
  Observation timed_out = observation("us-east-1", 5000, 0, "nyc");
  timed_out.timed_out = true;
  auto fifth = router.observe(timed_out, now);
  REQUIRE(fifth.ok());
  CHECK(fifth.value().ejected_now);
  CHECK(fifth.value().host.health == Health::kEjected);
  CHECK(fifth.value().host.ejected_until == kStart + 30000);
  CHECK(fifth.value().host.cause == "5 consecutive failures (last: 5000 ms timeout)");
  CHECK(router.route(kNewYork, now).regions[0].latency.samples == 1);
  CHECK(optimal(router, kNewYork, now) != "us-east-1");
  // 4xx answers are the client's problem, not the region's.
  for (int i = 0; i < 10; ++i) REQUIRE(router.observe(observation("eu-west-1", 10, 404), now).ok());
  CHECK(router.region_health(1, now).health == Health::kHealthy);

  // The ejection ends: the region waits for a successful probe before it returns.
  now = kStart + 30000;
  CHECK(router.region_health(0, now).health == Health::kProbing);
  CHECK(optimal(router, kNewYork, now) != "us-east-1");
  std::vector<uint32_t> probes = router.plan_probes(now);
  REQUIRE(!probes.empty());
  CHECK(probes[0] == 0);
  // The probe fails: out again for twice as long.
  CHECK(router.record_probe("us-east-1", false, "HTTP 503", now));
  CHECK(router.region_health(0, now).ejected_until == now + 60000);
  CHECK(router.region_health(0, now).times_ejected == 2);
  now += 60000;
  router.plan_probes(now);
  CHECK(!router.record_probe("us-east-1", true, "HTTP 200", now));
  CHECK(router.region_health(0, now).health == Health::kHealthy);
  CHECK(optimal(router, kNewYork, now) == "us-east-1");
  // What was learned of its RTT during the outage is forgotten on its return.
  CHECK(router.route(kNewYork, now).regions[0].latency.samples == 0);
  // Back in service, the times-ejected count decays by one per 10 s interval.
  CHECK(router.region_health(0, now + 10000).times_ejected == 1);
  CHECK(router.region_health(0, now + 25000).times_ejected == 0);
}

TEST_CASE("without active checks, time back in service counts from the ejection's end") {
  // The times-ejected count decays by one per 10 s back in service: a region (checks off)
  // or a media node (never checked) back for 60 s is ejected for 30 s again, whether or
  // not anything asked the router about it when its ejection ended.
  for (bool asked_at_the_end : {false, true}) {
    Config config = default_config();
    config.health_check.enabled = false;
    Router router(config);
    double now = kStart;
    Observation node_failure = observation("eu-west-1", 10, 0);
    node_failure.node = "eu-west-1-media-1";
    for (int i = 0; i < 5; ++i) {
      REQUIRE(router.observe(observation("us-east-1", 10, 0), now).ok());
      REQUIRE(router.observe(node_failure, now).ok());
    }
    CHECK(router.region_health(0, now).ejected_until == kStart + 30000);
    CHECK(router.node_health(1, 0, now).ejected_until == kStart + 30000);
    if (asked_at_the_end) {
      router.region_health(0, kStart + 30000);
      router.node_health(1, 0, kStart + 30000);
    }
    now = kStart + 30000 + 60000;
    CHECK(router.region_health(0, now).times_ejected == 0);
    CHECK(router.node_health(1, 0, now).times_ejected == 0);
    for (int i = 0; i < 5; ++i) {
      REQUIRE(router.observe(observation("us-east-1", 10, 0), now).ok());
      REQUIRE(router.observe(node_failure, now).ok());
    }
    CHECK(router.region_health(0, now).ejected_until == now + 30000);
    CHECK(router.node_health(1, 0, now).ejected_until == now + 30000);
  }
}

TEST_CASE("back-off: exponential or Envoy's linear, capped at the maximum") {
  for (bool exponential : {true, false}) {
    Config config = default_config();
    config.outlier.exponential_backoff = exponential;
    config.outlier.decay_interval_ms = 0;
    Router router(config);
    double now = kStart;
    std::vector<double> durations;
    for (int round = 0; round < 12; ++round) {
      for (int i = 0; i < 5; ++i)
        REQUIRE(router.observe(observation("sa-east-1", 1, 500), now).ok());
      const double until = router.region_health(3, now).ejected_until;
      durations.push_back(until - now);
      now = until;
      router.plan_probes(now);
      router.record_probe("sa-east-1", true, "HTTP 200", now);
    }
    if (exponential) {
      CHECK(durations[0] == 30000);
      CHECK(durations[1] == 60000);
      CHECK(durations[2] == 120000);
      CHECK(durations[3] == 240000);
    } else {
      CHECK(durations[1] == 60000);
      CHECK(durations[2] == 90000);
    }
    CHECK(durations.back() == 300000);  // max_ejection_ms
  }
}

TEST_CASE(
    "the times-ejected count stops growing at the longest ejection: a long outage is soon "
    "forgotten") {
  // As Envoy's ejection multiplier: once an ejection lasts maxEjectionMs, a failed probe keeps
  // it there without raising the count, so after recovery the count decays to 0 within
  // (count x decayIntervalMs) however long the outage was.
  for (bool exponential : {true, false}) {
    Config config = default_config();
    config.outlier.exponential_backoff = exponential;
    Router router(config);
    double now = kStart;
    for (int i = 0; i < 5; ++i) REQUIRE(router.observe(observation("sa-east-1", 1, 500), now).ok());
    // Down for about two hours: every probe at the end of an ejection fails.
    for (int round = 0; round < 30; ++round) {
      now = router.region_health(3, now).ejected_until;
      for (uint32_t r : router.plan_probes(now)) {
        const bool down = r == 3;
        CHECK(router.record_probe(router.config().regions[r].id, !down, "HTTP", now) == down);
      }
    }
    const HostHealthView out = router.region_health(3, now);
    CHECK(out.ejected_until - now == 300000);
    // The smallest count whose ejection is the longest: 30 s x 2^4 or 30 s x 10.
    CHECK(out.times_ejected == (exponential ? 5 : 10));
    now = out.ejected_until;
    router.plan_probes(now);
    REQUIRE(!router.record_probe("sa-east-1", true, "HTTP 200", now));
    // Back for 100 s: the count has decayed to 0, and a new bout of failures ejects for 30 s.
    now += 100000;
    CHECK(router.region_health(3, now).times_ejected == 0);
    for (int i = 0; i < 5; ++i) REQUIRE(router.observe(observation("sa-east-1", 1, 500), now).ok());
    CHECK(router.region_health(3, now).ejected_until == now + 30000);
  }
}
TEST_CASE("at most max_ejection_percent of the regions are ejected, but always one may be") {
  Router router;  // 4 regions: 10% of 4 is less than one, so exactly one
  for (int i = 0; i < 5; ++i)
    REQUIRE(router.observe(observation("us-east-1", 1, 503), kStart).ok());
  ObserveResult last;
  for (int i = 0; i < 5; ++i)
    last = router.observe(observation("eu-west-1", 1, 503), kStart).value();
  CHECK(last.ejection_suppressed);
  CHECK(router.region_health(1, kStart).health == Health::kHealthy);

  Config config = default_config();
  config.regions.clear();
  for (int i = 0; i < 20; ++i) config.regions.push_back(region("r" + std::to_string(i), 0, i, 1));
  Router many(config);  // 10% of 20: two
  int ejected = 0;
  for (int r = 0; r < 5; ++r) {
    for (int i = 0; i < 5; ++i) {
      auto result = many.observe(observation("r" + std::to_string(r), 1, 503), kStart);
      ejected += result.value().ejected_now ? 1 : 0;
    }
  }
  CHECK(ejected == 2);
}

TEST_CASE("an ejection the cap refuses resets the failure count, as an ejection does") {
  // As Envoy: the count restarts whether the host was ejected or not, so once the cap lets
  // a second region out, it takes 5 new failures in a row, not the next one.
  for (bool node : {false, true}) {
    Router router;
    double now = kStart;
    const auto fail = [&](const std::string& id) {
      Observation o = observation(node ? "us-east-1" : id, 1, 503);
      if (node) o.node = "us-east-1-" + id;
      return router.observe(o, now).value();
    };
    const std::string first = node ? "media-1" : "us-east-1";
    const std::string second = node ? "media-2" : "eu-west-1";
    for (int i = 0; i < 5; ++i) fail(first);
    ObserveResult refused;
    for (int i = 0; i < 5; ++i) refused = fail(second);
    CHECK(refused.ejection_suppressed);
    CHECK(refused.host.health == Health::kHealthy);
    CHECK(refused.host.consecutive_failures == 0);
    // The first one's ejection ends and it returns (a probe passes: regions are checked).
    now += 30000;
    if (!node) {
      router.plan_probes(now);
      REQUIRE(!router.record_probe(first, true, "HTTP 200", now));
    }
    for (int i = 1; i < 5; ++i) {
      const ObserveResult result = fail(second);
      CHECK(!result.ejected_now);
      CHECK(result.host.consecutive_failures == i);
    }
    const ObserveResult fifth = fail(second);
    CHECK(fifth.ejected_now);
    CHECK(fifth.host.ejected_until == now + 30000);
  }
}

TEST_CASE("active health checks: interval, unhealthy after 3 failures, panic routes over all") {
  Router router;
  double now = kStart;
  CHECK(router.plan_probes(now).size() == 4);
  CHECK(router.plan_probes(now).empty());  // in flight, and not due again
  for (const char* id : {"us-east-1", "eu-west-1", "ap-southeast-1", "sa-east-1"}) {
    router.record_probe(id, true, "HTTP 200", now);
  }
  CHECK(router.plan_probes(now + 9999).empty());
  CHECK(router.next_probe_at(now) == now + 10000);
  // Three regions fail three checks in a row.
  for (int round = 1; round <= 3; ++round) {
    now = kStart + round * 10000;
    REQUIRE(router.plan_probes(now).size() == 4);
    for (const char* id : {"us-east-1", "eu-west-1", "ap-southeast-1"}) {
      router.record_probe(id, false, "timeout: no answer within 5000 ms", now);
    }
    router.record_probe("sa-east-1", true, "HTTP 200", now);
  }
  CHECK(router.region_health(0, now).health == Health::kUnhealthy);
  CHECK(router.region_health(0, now).cause ==
        "3 health checks failed in a row (last: timeout: no answer within 5000 ms)");
  // One healthy of four is below the 50% panic threshold: every region is a candidate,
  // ranked as if healthy, rather than all traffic on the one left.
  const Decision decision = router.route(kNewYork, now);
  CHECK(decision.panic);
  CHECK(router.config().regions[decision.optimal()].id == "us-east-1");
  CHECK(decision.order.size() == 4);
  CHECK(decision.reason.find("panic: 1 of 4 regions healthy") == 0);
  // One check passing brings a region back (healthy_threshold 1), and panic ends at 2 of 4.
  now += 10000;
  router.plan_probes(now);
  router.record_probe("eu-west-1", true, "HTTP 200", now);
  const Decision after = router.route(kNewYork, now);
  CHECK(!after.panic);
  CHECK(router.config().regions[after.optimal()].id == "eu-west-1");
  CHECK(after.order.size() == 2);
  // Nor is a retry at 2 of 4 in panic: it passes over an unhealthy fallback.
  const std::vector<std::string> fallbacks{"ap-southeast-1", "sa-east-1"};
  auto retry = router.retry("eu-west-1", fallbacks, now);
  REQUIRE(retry.ok());
  CHECK(retry.value().region == 3);
  CHECK(retry.value().reason == "retry on sa-east-1, the first healthy fallback");
}

TEST_CASE("a probe in flight is not repeated until twice its timeout plus 1 s has passed") {
  // Its result comes with the rest of its batch (the reads of shared ejections) and after the
  // host's own delays, which a short timeout does not shorten; only then is it taken as
  // abandoned (the module cannot cancel a planned fetch) and the region probed again.
  Config config = default_config();
  config.health_check.interval_ms = 100;
  config.health_check.timeout_ms = 100;
  Router router(config);
  REQUIRE(router.plan_probes(kStart).size() == 4);
  CHECK(router.plan_probes(kStart + 2 * 100 + 1).empty());  // due by the interval, in flight
  CHECK(router.next_probe_at(kStart + 2 * 100 + 1) == kStart + 2 * 100 + 1000);
  CHECK(router.plan_probes(kStart + 2 * 100 + 999).empty());
  CHECK(router.plan_probes(kStart + 2 * 100 + 1000).size() == 4);
}

TEST_CASE("turning active checks off returns the regions they had taken out") {
  // Only a passing check brings an unhealthy region back: once checks are off, none will
  // run, so their verdict no longer holds (as an ejection simply ends without them).
  Router router;
  double now = kStart;
  for (int round = 0; round < 3; ++round, now += 10000) {
    REQUIRE(router.plan_probes(now).size() == 4);
    router.record_probe("us-east-1", false, "HTTP 503", now);
    for (const char* id : {"eu-west-1", "ap-southeast-1", "sa-east-1"}) {
      router.record_probe(id, true, "HTTP 200", now);
    }
  }
  CHECK(router.region_health(0, now).health == Health::kUnhealthy);
  Config config = default_config();
  config.health_check.enabled = false;
  router.configure(config);
  CHECK(router.region_health(0, now).health == Health::kHealthy);
  CHECK(router.region_health(0, now).cause.empty());
  CHECK(optimal(router, kNewYork, now) == "us-east-1");
  // And passive outlier detection counts its failures again.
  for (int i = 0; i < 5; ++i) REQUIRE(router.observe(observation("us-east-1", 10, 503), now).ok());
  CHECK(router.region_health(0, now).health == Health::kEjected);
}

TEST_CASE("draining regions take no new traffic, and never all of them") {
  Config config = default_config();
  config.regions[0].draining = true;
  Router router(config);
  CHECK(optimal(router, kNewYork, kStart) == "eu-west-1");
  CHECK(router.route(kNewYork, kStart).reason.find("excluded: us-east-1 (draining)") !=
        std::string::npos);
  for (Region& r : config.regions) r.draining = true;
  CHECK(!validate(config).ok());
  CHECK(validate(config).error().message ==
        "regions: every region is draining; at least one must take traffic");
}

TEST_CASE("an origin or health URL no fetch could use is refused, saying why") {
  // Each was accepted, and every request to the region failed (fetch: an invalid URL, or one
  // with credentials) until outlier detection ejected it.
  const std::pair<const char*, const char*> kBad[] = {
      {"http://:8080", "expected a host after http://, got 'http://:8080'"},
      {"https:///path", "expected a host after https://, got 'https:///path'"},
      {"http://host:99999", "expected a port from 1 to 65535, got 'http://host:99999'"},
      {"http://host:8o/", "expected a port from 1 to 65535, got 'http://host:8o/'"},
      {"http://host:0", "expected a port from 1 to 65535, got 'http://host:0'"},
      {"http://user:pw@host",
       "must not hold a user name or password (fetch refuses them), got 'http://host'"},
      {"https://alice:s3cret@eu.example.com:8443/x",
       "must not hold a user name or password (fetch refuses them), got "
       "'https://eu.example.com:8443/x'"},
      {"http://ho%st", "expected a host name or address, got 'http://ho%st'"},
      {"http://a<b", "expected a host name or address, got 'http://a<b'"},
      {"http://[::1", "expected a host name or address, got 'http://[::1'"},
      {"http://host/a b",
       "expected a URL without spaces or control characters, got "
       "'http://host/a b'"},
      {"http://alice:s3cret@host/a b",
       "expected a URL without spaces or control characters, got 'http://host/a b'"},
  };
  for (const auto& [url, problem] : kBad) {
    INFO(url);
    Config config = default_config();
    config.regions[1].origin = url;
    CHECK(validate(config).error().message == std::string("regions[1].origin: ") + problem);
    config = default_config();
    config.regions[2].health_url = url;
    CHECK(validate(config).error().message == std::string("regions[2].healthUrl: ") + problem);
  }
  for (const char* url : {"http://127.0.0.1:4101", "https://[::1]:8443/health", "http://host:/h",
                          "https://eu.example.com/a/b?x=1", "http://localhost:65535"}) {
    INFO(url);
    Config config = default_config();
    config.regions[1].health_url = url;
    CHECK(validate(config).ok());
  }
}

TEST_CASE(
    "a region or media node id used twice is named among the most a config holds, the first") {
  // The ids of each list are checked in one pass; each was compared with every earlier one.
  for (int repeated : {0, 500, 997}) {
    Config config = default_config();
    auto& nodes = config.regions[1].media_nodes;
    nodes.clear();
    for (int i = 0; i < 998; ++i) nodes.push_back({"n" + std::to_string(i)});
    nodes.push_back({"n" + std::to_string(repeated)});
    nodes.push_back({"n1"});
    REQUIRE(nodes.size() == 1'000);
    CHECK(validate(config).error().message ==
          "regions[1].mediaNodes[998].id: 'n" + std::to_string(repeated) + "' appears twice");
    nodes.pop_back();
    nodes.back().id = "m";
    CHECK(validate(config).ok());
  }
  for (int repeated : {0, 30, 61}) {
    Config config = default_config();
    auto& regions = config.regions;
    while (regions.size() < 62) regions.push_back(regions[0]);
    for (size_t i = 0; i < regions.size(); ++i) regions[i].id = "r" + std::to_string(i);
    regions.push_back(regions[repeated]);
    regions.push_back(regions[1]);
    REQUIRE(regions.size() == 64);
    CHECK(validate(config).error().message ==
          "regions[62].id: 'r" + std::to_string(repeated) + "' appears twice");
    regions.pop_back();
    regions.back().id = "s";
    CHECK(validate(config).ok());
  }
}

TEST_CASE("configuration errors name the field") {
  Config config = default_config();
  config.regions[2].id = "eu-west-1";
  CHECK(validate(config).error().message == "regions[2].id: 'eu-west-1' appears twice");
  config = default_config();
  config.regions[1].origin = "ftp://x";
  CHECK(validate(config).error().message ==
        "regions[1].origin: expected an http:// or https:// URL");
  config = default_config();
  config.regions[0].media_nodes[1].id = "bad id";
  CHECK(
      validate(config).error().message ==
      "regions[0].mediaNodes[1].id: expected 1-128 letters, digits, '-', '_' or '.', got 'bad id'");
  config = default_config();
  config.regions[0].media_nodes[1].weight = 0;
  CHECK(validate(config).error().message ==
        "regions[0].mediaNodes[1].weight: must be a number above 0");
  config = default_config();
  config.maglev = true;
  config.maglev_table_size = 65536;
  CHECK(validate(config).error().message.find("affinity.maglevTableSize: must be a prime") == 0);
  // With rendezvous hashing in force too: the size is checked whichever algorithm is chosen.
  config.maglev = false;
  CHECK(validate(config).error().message ==
        "affinity.maglevTableSize: must be a prime above the largest node count (4), got 65536");
  config.maglev_table_size = 3;
  CHECK(validate(config).error().message ==
        "affinity.maglevTableSize: must be a prime above the largest node count (4), got 3");
}

TEST_CASE(
    "an area cell width that does not divide 180 is refused: its cells would not meet at "
    "the antimeridian") {
  // 7: the cells east of longitude 0 end with 175..182 and those west with -182..-175, so the
  // 10 degrees around the antimeridian are two cells of 5. 8 divides 360, but counted from 0
  // both ways its cells end with 176..184 and -184..-176 all the same.
  Config config = default_config();
  for (double cell : {7.0, 8.0, 0.7, 24.0, 100.0}) {
    config.latency.area_cell_degrees = cell;
    const auto status = validate(config);
    REQUIRE(!status.ok());
    CHECK(status.error().message.find("latency.areaCellDegrees: must divide 180") == 0);
  }
  config.latency.area_cell_degrees = 7;
  CHECK(validate(config).error().message ==
        "latency.areaCellDegrees: must divide 180, so that the cells counted east and west of "
        "longitude 0 meet at the antimeridian, got 7");
  for (double cell : {0.1, 0.25, 0.3, 1.5, 7.5, 10.0, 12.0, 20.0, 36.0, 180.0}) {
    config.latency.area_cell_degrees = cell;
    CHECK(validate(config).ok());
    // Every width accepted has its cells meet at the antimeridian: -180 starts a cell.
    Router router(config);
    CHECK(router.resolve(at(0, -180)).area.find(",-180") != std::string::npos);
  }
}

TEST_CASE("reconfiguring keeps what was learned about regions that remain") {
  Router router;
  for (int i = 0; i < 5; ++i)
    REQUIRE(router.observe(observation("eu-west-1", 1, 503), kStart).ok());
  REQUIRE(router.observe(observation("us-east-1", 42, 200, "nyc"), kStart).ok());
  Config config = default_config();
  std::swap(config.regions[0], config.regions[1]);  // eu-west-1 first now
  config.regions.push_back(region("me-central-1", 25, 55, 1.4));
  router.configure(config);
  CHECK(router.region_health(0, kStart).health == Health::kEjected);  // eu-west-1, kept
  CHECK(router.region_health(4, kStart).health == Health::kHealthy);
  const Decision decision = router.route(kNewYork, kStart);
  CHECK(decision.regions[1].latency.samples == 1);  // us-east-1's RTT, kept
}

TEST_CASE("lowering maxEjectionMs caps the ejections running at the new maximum") {
  Config config = default_config();
  config.outlier.base_ejection_ms = 120000;
  Router router(config);
  Observation node_failure = observation("eu-west-1", 10, 503);
  node_failure.node = "eu-west-1-media-1";
  for (int i = 0; i < 5; ++i) {
    REQUIRE(router.observe(observation("us-east-1", 10, 503), kStart).ok());
    REQUIRE(router.observe(node_failure, kStart).ok());
  }
  REQUIRE(router.region_health(0, kStart).ejected_until == kStart + 120000);
  // 10 s in, the longest ejection becomes 30 s: both end 30 s after they began.
  const double now = kStart + 10000;
  config.outlier.base_ejection_ms = 30000;
  config.outlier.max_ejection_ms = 30000;
  router.configure(config);
  CHECK(router.region_health(0, now).ejected_until == kStart + 30000);
  CHECK(router.node_health(1, 0, now).ejected_until == kStart + 30000);
  CHECK(router.region_health(0, now).times_ejected == 1);
  // The copy this isolate published, read back from KV, is the same ejection: known, it does
  // not lengthen it again (to 30 s from the read).
  CHECK(!router.apply_shared_ejection("us-east-1", {kStart + 120000, 1, "shared: x"}, now));
  CHECK(router.region_health(0, now).ejected_until == kStart + 30000);
  CHECK(router.region_health(0, kStart + 30000).health == Health::kProbing);
  CHECK(router.node_health(1, 0, kStart + 30000).health == Health::kHealthy);
  // Nor does it once the region is back (a probe passed), while its key lives on in KV.
  router.plan_probes(kStart + 30000);
  REQUIRE(!router.record_probe("us-east-1", true, "HTTP 200", kStart + 30000));
  CHECK(!router.apply_shared_ejection("us-east-1", {kStart + 120000, 1, "shared: x"},
                                      kStart + 40000));
  CHECK(router.region_health(0, kStart + 40000).health == Health::kHealthy);
  // A shared ejection applied before the change is capped from when it was applied.
  Router other;
  REQUIRE(other.apply_shared_ejection("sa-east-1", {kStart + 25000, 1, "shared: y"}, kStart));
  config.outlier.base_ejection_ms = 10000;
  config.outlier.max_ejection_ms = 10000;
  other.configure(config);
  CHECK(other.region_health(3, kStart).ejected_until == kStart + 10000);
  // A higher maximum lengthens nothing.
  config.outlier.max_ejection_ms = 300000;
  other.configure(config);
  CHECK(other.region_health(3, kStart).ejected_until == kStart + 10000);
}

TEST_CASE("lowering maxEjectionMs lowers the times-ejected counts to where it stops them") {
  // As a shared ejection's count is: the count the old maximum let grow to 5 would hold a
  // region (or a media node) to the longest ejection for 5 decay steps back in service, where
  // the new maximum stops the count at 2.
  Config config = default_config();
  config.health_check.enabled = false;
  Router router(config);
  Observation node_failure = observation("eu-west-1", 10, 503);
  node_failure.node = "eu-west-1-media-1";
  double now = kStart;
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < 5; ++i) {
      REQUIRE(router.observe(observation("us-east-1", 10, 503), now).ok());
      REQUIRE(router.observe(node_failure, now).ok());
    }
    now = router.region_health(0, now).ejected_until;  // the node's ends with it
  }
  REQUIRE(router.region_health(0, now).times_ejected == 5);
  REQUIRE(router.node_health(1, 0, now).times_ejected == 5);
  config.outlier.max_ejection_ms = 60000;  // 30 s x 2: the count stops at 2
  router.configure(config);
  CHECK(router.region_health(0, now).times_ejected == 2);
  CHECK(router.node_health(1, 0, now).times_ejected == 2);
  // Two decay steps back in service (not five), and the next ejection is the first one's
  // length again.
  now += 20000;
  for (int i = 0; i < 5; ++i) {
    REQUIRE(router.observe(observation("us-east-1", 10, 503), now).ok());
    REQUIRE(router.observe(node_failure, now).ok());
  }
  CHECK(router.region_health(0, now).ejected_until == now + 30000);
  CHECK(router.node_health(1, 0, now).ejected_until == now + 30000);
  // A higher maximum raises no count.
  config.outlier.max_ejection_ms = 300000;
  router.configure(config);
  CHECK(router.region_health(0, now).times_ejected == 1);
}

TEST_CASE("lowering maxAreas forgets the areas seen least recently down to the new limit") {
  Router router;
  for (int i = 0; i < 20; ++i) {
    REQUIRE(
        router.observe(observation("us-east-1", 10, 200, "area-" + std::to_string(i)), kStart + i)
            .ok());
  }
  CHECK(router.area_count() == 20);
  Config config = default_config();
  config.latency.max_areas = 5;
  router.configure(config);
  REQUIRE(router.observe(observation("us-east-1", 10, 200, "new"), kStart + 100).ok());
  CHECK(router.area_count() == 5);
  // The newest four stay, with the area just seen.
  CHECK(router.route(at(0, 0, "area-19"), kStart + 100).regions[0].latency.samples == 1);
  CHECK(router.route(at(0, 0, "area-15"), kStart + 100).regions[0].latency.samples == 0);
}

TEST_CASE("the retry budget allows 20% of requests plus 3 per window") {
  Router router;
  double now = kStart;
  for (int i = 0; i < 100; ++i) router.route(kNewYork, now, true);
  int allowed = 0;
  for (int i = 0; i < 40; ++i) {
    auto retry = router.retry("us-east-1", {}, now);
    REQUIRE(retry.ok());
    allowed += retry.value().allowed ? 1 : 0;
  }
  CHECK(allowed == 23);
  auto refused = router.retry("us-east-1", {}, now);
  CHECK(refused.value().reason.find("retry budget exhausted: 23 retries for 100 requests") == 0);
  // Ten seconds later the window holds none of them.
  now += 10000;
  CHECK(router.budget(now).requests == 0);
  CHECK(router.retry("us-east-1", {}, now).value().allowed);
  // Retries go to the first healthy fallback given, never back to the failed region.
  std::vector<std::string> fallbacks{"us-east-1", "sa-east-1", "eu-west-1"};
  auto retry = router.retry("us-east-1", fallbacks, now);
  CHECK(retry.value().region == 3);
  CHECK(!router.retry("nowhere", {}, now).ok());
}

namespace {

// callId -> node for n_calls calls, through the router's affinity.
std::vector<std::string> place_calls(Router& router, int n_calls, double now) {
  std::vector<std::string> nodes;
  for (int i = 0; i < n_calls; ++i) {
    AffinityRequest request;
    request.call_id = "call-" + std::to_string(i);
    request.region = "us-east-1";
    auto result = router.affinity(request, now);
    REQUIRE(result.ok());
    nodes.push_back(
        router.config().regions[result.value().region].media_nodes[result.value().node].id);
  }
  return nodes;
}

Config with_nodes(int n, bool maglev) {
  Config config = default_config();
  config.maglev = maglev;
  config.regions[0].media_nodes.clear();
  for (int i = 0; i < n; ++i)
    config.regions[0].media_nodes.push_back({"node-" + std::to_string(i), 1, false});
  return config;
}

}  // namespace

TEST_CASE("call affinity: removing a node moves only its calls (rendezvous: exactly those)") {
  const int kCalls = 20000, kNodes = 10;
  for (bool maglev : {false, true}) {
    INFO((maglev ? "maglev" : "rendezvous"));
    Config config = with_nodes(kNodes, maglev);
    Router router(config);
    const std::vector<std::string> before = place_calls(router, kCalls, kStart);
    std::map<std::string, int> load;
    for (const auto& node : before) ++load[node];
    REQUIRE(load.size() == kNodes);
    for (const auto& [node, calls] : load) {
      CHECK(calls > kCalls / kNodes * 0.85);
      CHECK(calls < kCalls / kNodes * 1.15);
    }
    config.regions[0].media_nodes.erase(config.regions[0].media_nodes.begin() +
                                        3);  // node-3 leaves
    router.configure(config);
    const std::vector<std::string> after = place_calls(router, kCalls, kStart);
    int moved = 0, moved_from_others = 0;
    for (int i = 0; i < kCalls; ++i) {
      if (before[i] == after[i]) continue;
      ++moved;
      if (before[i] != "node-3") ++moved_from_others;
    }
    const double fraction = static_cast<double>(moved) / kCalls;
    CHECK(fraction == Approx(1.0 / kNodes).margin(0.015));
    if (!maglev) {
      CHECK(moved_from_others == 0);  // rendezvous: exactly the removed node's calls move
    } else {
      CHECK(moved_from_others < kCalls / 100);  // Maglev: a few more, by design
    }
  }
}

TEST_CASE("call affinity: a draining node keeps its calls, takes no new ones; ejected nodes shed") {
  Router router;
  AffinityRequest request;
  request.call_id = "call-42";
  request.region = "us-east-1";
  auto first = router.affinity(request, kStart);
  REQUIRE(first.ok());
  CHECK(!first.value().routed);
  const std::string node = router.config().regions[0].media_nodes[first.value().node].id;
  Config config = default_config();
  for (MediaNode& n : config.regions[0].media_nodes) n.draining = n.id == node;
  router.configure(config);
  request.current_node = node;
  auto kept = router.affinity(request, kStart);
  CHECK(kept.value().kept);
  CHECK(kept.value().reason.find("draining") != std::string::npos);
  request.current_node.clear();  // a new call with that id would not land there
  CHECK(router.config().regions[0].media_nodes[router.affinity(request, kStart).value().node].id !=
        node);

  // A node that fails calls is ejected like a region, and its calls move.
  Router fresh;
  request.current_node = node;
  for (int i = 0; i < 5; ++i) {
    Observation o = observation("us-east-1", 1, 503);
    o.node = node;
    REQUIRE(fresh.observe(o, kStart).ok());
  }
  auto moved = fresh.affinity(request, kStart);
  CHECK(!moved.value().kept);
  CHECK(fresh.config().regions[0].media_nodes[moved.value().node].id != node);
  // A region that is out sends the call to the region routing picks.
  for (int i = 0; i < 5; ++i) REQUIRE(fresh.observe(observation("us-east-1", 1, 503), kStart).ok());
  request.client = kLondon;
  auto rerouted = fresh.affinity(request, kStart);
  CHECK(rerouted.value().routed);
  CHECK(fresh.config().regions[rerouted.value().region].id == "eu-west-1");
}

TEST_CASE("ejections published by other isolates apply, within the cap, until they end") {
  Router router;
  SharedEjection ejection{kStart + 30000, 1, "shared: 5 consecutive failures"};
  CHECK(router.apply_shared_ejection("us-east-1", ejection, kStart));
  CHECK(router.region_health(0, kStart).health == Health::kEjected);
  CHECK(router.region_health(0, kStart).shared);
  CHECK(!router.apply_shared_ejection("us-east-1", ejection, kStart));  // known already
  CHECK(!router.apply_shared_ejection("eu-west-1", ejection, kStart));  // the cap: one of four
  CHECK(!router.apply_shared_ejection("sa-east-1", {kStart - 1, 1, "old"}, kStart));  // over
  CHECK(!router.apply_shared_ejection("nowhere", ejection, kStart));
  CHECK(router.region_health(0, kStart + 30000).health == Health::kProbing);
  // An ejection far in the future (a bad write, a clock ahead) lasts no longer than this
  // isolate's own longest, maxEjectionMs (300 s).
  Router other;
  CHECK(other.apply_shared_ejection("sa-east-1", {kStart + 1e12, 1, "far"}, kStart));
  CHECK(other.region_health(3, kStart + 299999).health == Health::kEjected);
  CHECK(other.region_health(3, kStart + 300000).health == Health::kProbing);
}

TEST_CASE("a shared times-ejected count is taken no further than this isolate's own stops") {
  // An isolate counting on past the longest ejection (an older version, a bad write) says 31;
  // here the count stops at 5 (30 s x 2^4 is the longest), so 50 s back in service forgets it.
  Router router;
  REQUIRE(router.apply_shared_ejection("us-east-1", {kStart + 300000, 31, "shared: x"}, kStart));
  CHECK(router.region_health(0, kStart).times_ejected == 5);
  Router fresh;  // a smaller count is taken as it is
  REQUIRE(fresh.apply_shared_ejection("us-east-1", {kStart + 60000, 2, "shared: x"}, kStart));
  CHECK(fresh.region_health(0, kStart).times_ejected == 2);
}

TEST_CASE("after a shared ejection, a region needs healthy_threshold passing probes again") {
  // Checks passed before the ejection say nothing of the region after it.
  Config config = default_config();
  config.health_check.healthy_threshold = 3;
  Router router(config);
  double now = kStart;
  for (int round = 0; round < 5; ++round, now += 10000) {
    for (uint32_t r : router.plan_probes(now)) {
      router.record_probe(router.config().regions[r].id, true, "HTTP 200", now);
    }
  }
  REQUIRE(router.apply_shared_ejection("us-east-1", {now + 30000, 1, "shared: x"}, now));
  now += 30000;
  for (int passed = 1; passed <= 3; ++passed, now += 1000) {
    CHECK(router.region_health(0, now).health == Health::kProbing);
    REQUIRE(!router.plan_probes(now).empty());
    router.record_probe("us-east-1", true, "HTTP 200", now);
  }
  CHECK(router.region_health(0, now).health == Health::kHealthy);
}

TEST_CASE("rendezvous weights shift load in proportion") {
  std::vector<HashNode> nodes{{hash_id("a"), 1}, {hash_id("b"), 3}};
  int b = 0;
  for (int i = 0; i < 40000; ++i) b += rendezvous_pick(hash_id("k" + std::to_string(i)), nodes);
  CHECK(b / 40000.0 == Approx(0.75).margin(0.01));
  CHECK(rendezvous_pick(1, {}) == -1);
}

TEST_CASE("Maglev weights shift load in proportion, as rendezvous weights do") {
  Config config = with_nodes(3, true);
  config.maglev_table_size = 65537;
  config.regions[0].media_nodes[1].weight = 3;    // node-1: 3 of 5 shares
  config.regions[0].media_nodes[2].weight = 0.5;  // node-2: half of one share
  Router router(config);
  const int kCalls = 20000;
  std::map<std::string, int> load;
  for (const auto& node : place_calls(router, kCalls, kStart)) ++load[node];
  CHECK(load["node-0"] / static_cast<double>(kCalls) == Approx(1 / 4.5).margin(0.015));
  CHECK(load["node-1"] / static_cast<double>(kCalls) == Approx(3 / 4.5).margin(0.015));
  CHECK(load["node-2"] / static_cast<double>(kCalls) == Approx(0.5 / 4.5).margin(0.015));
}
