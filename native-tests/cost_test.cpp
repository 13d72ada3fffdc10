// The cost engine natively: hand-computed bills (the arithmetic is written beside each
// expectation), allowances, graduated steps, missing inputs, targets, the tier fit,
// opportunities, scaling and diffs, shared-cost allocation, forecasts on synthetic series
// with a known trend and noise, malformed usage files (field and line in the message),
// and the module's behavioural vectors run through the ABI.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "qv/cost/allocate.h"
#include "qv/cost/catalogue.h"
#include "qv/cost/estimate.h"
#include "qv/cost/forecast.h"
#include "qv/cost/format.h"
#include "qv/cost/usage.h"
#include "qv/instance.h"
#include "qv/json.h"
#include "qv/json_text.h"
#include "qv/tiers/tiers.h"
#include "qv_abi.h"
#include "support/environment.h"
#include "support/numeric_locale.h"

using namespace qv;
using namespace qv::cost;
using Catch::Matchers::Contains;

namespace {

Catalogue embedded() {
  JsonParser parser;
  auto root = parser.parse(embedded_catalogue_json());
  REQUIRE(root.ok());
  auto catalogue = parse_catalogue(root.value());
  INFO((catalogue.ok() ? "" : catalogue.error().message));
  REQUIRE(catalogue.ok());
  return catalogue.value();
}

// A usage from the text of a usage file, with errors positioned in that text.
Result<Usage> parse_usage_text(std::string_view text) {
  JsonParser parser;
  auto root = parser.parse(text, "usage");
  if (!root.ok()) return root.take_error();
  auto usage = parse_usage(root.value());
  if (!usage.ok()) return with_position(usage.take_error(), text, "usage");
  return usage;
}

Usage usage_of(std::string_view text) {
  auto usage = parse_usage_text(text);
  INFO((usage.ok() ? "" : usage.error().message));
  REQUIRE(usage.ok());
  return usage.value();
}

Result<Catalogue> catalogue_of(std::string_view text) {
  JsonParser parser;
  auto root = parser.parse(text);
  if (!root.ok()) return root.take_error();
  return parse_catalogue(root.value());
}

// The tier catalogue exactly as the tiers module's tiers.catalogue answers it.
TierCatalogue default_tiers() {
  JsonWriter out;
  tiers::write_catalogue(out, tiers::default_catalogue());
  JsonParser parser;
  auto root = parser.parse(out.str());
  REQUIRE(root.ok());
  auto parsed = parse_tier_catalogue(root.value());
  REQUIRE(parsed.ok());
  return parsed.value();
}

const ComponentCost& line(const Bill& bill, std::string_view service, std::string_view component) {
  for (const auto& s : bill.services) {
    for (const auto& c : s.components) {
      if (s.service->id == service && c.component->id == component) return c;
    }
  }
  FAIL("no component " << service << "." << component);
  throw std::logic_error("unreachable");
}

const ServiceCost& service_of(const Bill& bill, std::string_view service) {
  for (const auto& s : bill.services) {
    if (s.service->id == service) return s;
  }
  FAIL("no service " << service);
  throw std::logic_error("unreachable");
}

const Opportunity* opportunity(const Estimate& e, std::string_view id) {
  for (const auto& o : e.opportunities) {
    if (o.id == id) return &o;
  }
  return nullptr;
}

// A method called through the ABI on a fresh instance.
struct Answer {
  qv_status status;
  std::string body;
};
Answer call(std::string_view method, std::string_view input) {
  Instance instance;
  Instance::Scope scope(instance);
  uint32_t handle = 0;
  const qv_status status = qv_call_start(method.data(), static_cast<uint32_t>(method.size()),
                                         reinterpret_cast<const uint8_t*>(input.data()),
                                         static_cast<uint32_t>(input.size()), &handle);
  const uint8_t* out = nullptr;
  uint32_t length = 0;
  REQUIRE(qv_call_output(handle, &out, &length) == QV_OK);
  Answer answer{status, std::string(reinterpret_cast<const char*>(out), length)};
  REQUIRE(qv_call_free(handle) == QV_OK);
  return answer;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// Deterministic noise for the synthetic series: a 64-bit LCG mapped to [-1, 1).
struct Noise {
  uint64_t state;
  double next() {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<double>(state >> 11) / static_cast<double>(1ull << 53) * 2 - 1;
  }
};

// The hand-computed example: a small voice-AI organisation.
constexpr const char* kStartup = R"({
  "name": "hand-computed",
  "calls": {"perMonth": 20000, "minutesPerCall": 3, "peakConcurrent": 30},
  "audio": {"userShare": 0.45, "assistantShare": 0.4},
  "api": {"requestsPerMonth": 6000000, "peakRequestsPerSecond": 60,
          "edgeCacheHitRatio": 0.5, "cpuMsPerInvocation": 25},
  "users": {"active": 60},
  "bandwidth": {"edgeGB": 150, "databaseEgressGB": 40},
  "storage": {"databaseGB": 6, "redisGB": 0.5},
  "redis": {"commandsPerRequest": 2}
})";

// Test figures for the prices nobody published: NOT list prices, only numbers to
// exercise the arithmetic.
constexpr const char* kTestPrices = R"("prices": {
    "livekit.agent_session_minutes": 0.0001,
    "livekit.participant_minutes": 0.0001,
    "livekit.bandwidth": 0.01,
    "deepgram.streaming_minutes": 0.002})";

std::string with_fields(std::string usage, const std::string& fields) {
  usage.insert(usage.rfind('}'), ", " + fields);
  return usage;
}

}  // namespace

// ---- The catalogue -----------------------------------------------------------------

TEST_CASE("the embedded catalogue holds BRIEF section 4's prices, each with source and date") {
  const Catalogue catalogue = embedded();
  CHECK(catalogue.version == "2026-11-26");
  CHECK(catalogue.currency == "USD");
  auto price = [&](const char* service, const char* component, const char* option = "") {
    const Component* c = catalogue.find_service(service)->find_component(component);
    REQUIRE(c != nullptr);
    const Option* o = c->find_option(option);
    REQUIRE(o != nullptr);
    return o->price;
  };
  CHECK(price("vercel", "function_invocations").price == 0.6);
  CHECK(price("vercel", "function_invocations").per == 1e6);
  CHECK(price("vercel", "function_invocations").included == 1e6);
  CHECK(price("vercel", "active_cpu").price == 0.128);
  CHECK(price("vercel", "edge_requests").price == 2);
  CHECK(price("vercel", "edge_requests").included == 1e7);
  CHECK(price("vercel", "data_transfer").price == 0.15);
  CHECK(price("vercel", "data_transfer").included == 1000);
  CHECK(price("supabase", "plan").price == 25);
  CHECK(price("supabase", "compute", "small").price == 0.0206);
  CHECK(price("supabase", "compute", "medium").price == 0.0822);
  CHECK(price("supabase", "compute", "large").price == 0.1517);
  CHECK(price("supabase", "egress").included == 250);
  CHECK(price("supabase", "egress").price == 0.09);
  CHECK(price("supabase", "disk").included == 8);
  CHECK(price("supabase", "disk").price == 0.125);
  CHECK(catalogue.find_service("supabase")->credits.at(0).amount == 10);
  CHECK(price("openai", "audio_input", "gpt-4o-mini-realtime").price == 10);
  CHECK(price("openai", "audio_output", "gpt-4o-mini-realtime").price == 20);
  CHECK(price("upstash", "commands").price == 0.2);
  CHECK(price("upstash", "commands").per == 1e5);
  CHECK(price("upstash", "storage").included == 1);
  // Nobody published these: they are user inputs, never guessed.
  for (const char* component : {"agent_session_minutes", "participant_minutes", "bandwidth"}) {
    CHECK_FALSE(price("livekit", component).published);
  }
  CHECK_FALSE(price("deepgram", "streaming_minutes").published);
  for (const auto& service : catalogue.services) {
    for (const auto& component : service.components) {
      for (const auto& option : component.options) {
        INFO(service.id << "." << component.id << ":" << option.name);
        CHECK_FALSE(option.price.source.empty());
        CHECK(option.price.seen == "2026-11-26");
      }
    }
  }
}

TEST_CASE("a catalogue is validated, naming the field") {
  // A catalogue of one service with one component, given as the component's JSON.
  auto with_component = [](const std::string& component) {
    return catalogue_of((
        R"({"version": "t", "currency": "USD", "services": [{"id": "s", "name": "S", "kind": "infrastructure", "components": [)" +
        component + "]}]}"));
  };
  auto error = [&](const std::string& component) {
    auto catalogue = with_component(component);
    REQUIRE_FALSE(catalogue.ok());
    return catalogue.error().message;
  };
  const std::string calls =
      R"({"id": "c", "name": "C", "meter": "calls", "unit": "call", "category": "compute", )";
  CHECK_THAT(
      error(calls + R"("source": "x", "seen": "2026-01-01"})"),
      Contains("services[0].components[0].price: is required (null when no vendor publishes it)"));
  CHECK_THAT(
      error(
          R"({"id": "c", "name": "C", "meter": "cals", "unit": "call", "category": "compute", "price": 1, "source": "x", "seen": "2026-01-01"})"),
      Contains("services[0].components[0].meter: unknown quantity 'cals'"));
  CHECK_THAT(error(calls + R"("price": 1, "seen": "2026-01-01"})"),
             Contains("services[0].components[0].source: is required"));
  CHECK_THAT(
      error(calls + R"("steps": [{"upTo": 10, "price": 1}], "source": "x", "seen": "2026-01-01"})"),
      Contains("steps[0].upTo: the last step must not have one (it prices every quantity above the "
               "step before it)"));
  CHECK_THAT(
      error(
          calls +
          R"("steps": [{"upTo": 10, "price": 1}, {"upTo": 5, "price": 1}, {"price": 0}], "source": "x", "seen": "2026-01-01"})"),
      Contains("steps[1].upTo: must be above the previous step's upTo"));
  for (const char* date : {"2026-99-99", "2026-02-30", "2025-02-29", "0000-01-01"}) {
    INFO(date);
    CHECK_THAT(error(calls + R"("price": 1, "source": "x", "seen": ")" + date + R"("})"),
               Contains("services[0].components[0].seen: expected a date YYYY-MM-DD"));
  }
  REQUIRE(with_component(calls + R"("price": 1, "source": "x", "seen": "2024-02-29"})").ok());
}

// ---- Price arithmetic ------------------------------------------------------------------

TEST_CASE("allowance: only the units above the included quantity are paid for") {
  Price invocations;  // Vercel: $0.60 per 1M invocations, 1M included
  invocations.published = true;
  invocations.price = 0.6;
  invocations.per = 1e6;
  invocations.included = 1e6;
  CHECK(invocations.cost(3e6) == Approx((3e6 - 1e6) * 0.6 / 1e6));  // 2M billable: $1.20
  CHECK(invocations.cost(3e6) == Approx(1.2));
  CHECK(invocations.cost(1e6) == 0);    // exactly the allowance
  CHECK(invocations.cost(0.5e6) == 0);  // below it
  CHECK(invocations.billable(0.5e6) == 0);
}

TEST_CASE("steps: graduated pricing over the monthly quantity, after the allowance") {
  // 50 units included; up to 100 at $1, up to 1,000 at $0.50, beyond at $0.25 (per unit).
  auto catalogue = catalogue_of(R"({"version": "t", "currency": "USD", "services": [{"id": "s",
      "name": "S", "kind": "infrastructure", "components": [{"id": "c", "name": "C",
      "meter": "calls", "unit": "call", "category": "compute", "included": 50,
      "steps": [{"upTo": 100, "price": 1}, {"upTo": 1000, "price": 0.5}, {"price": 0.25}],
      "source": "test", "seen": "2026-01-01"}]}]})");
  REQUIRE(catalogue.ok());
  const Price& price = catalogue.value().services[0].components[0].options[0].price;
  // 1,500: (100 - 50) x $1 + (1,000 - 100) x $0.50 + (1,500 - 1,000) x $0.25
  //      = 50 + 450 + 125 = $625
  CHECK(price.cost(1500) == Approx(50 * 1.0 + 900 * 0.5 + 500 * 0.25));
  CHECK(price.cost(1500) == Approx(625));
  CHECK(price.cost(80) == Approx(30));     // (80 - 50) x $1
  CHECK(price.cost(40) == 0);              // inside the allowance
  CHECK(price.cost(1000) == Approx(500));  // 50 + 450, the step boundary
  // The whole bill meters `calls` through this catalogue.
  auto usage = usage_of(R"({"calls": {"perMonth": 1500, "minutesPerCall": 1}})");
  auto bill = compute_bill(usage, catalogue.value());
  REQUIRE(bill.ok());
  CHECK(bill.value().total == Approx(625));
  CHECK(bill.value().complete);
}

TEST_CASE("figures that multiply past any real volume are refused, not priced as missing") {
  auto bill = compute_bill(usage_of(R"({"calls": {"perMonth": 1e300, "minutesPerCall": 1e300}})"),
                           embedded());
  REQUIRE_FALSE(bill.ok());
  CHECK_THAT(bill.error().message, Contains("comes to more than 1e18"));
}

TEST_CASE("credits take only what the credits before them left, never below nothing") {
  // One $6 component (6 calls at $1) under two $5 credits: $5, then the $1 left.
  const auto with_credits = [](const char* second_id) {
    return std::string(R"({"version": "t", "currency": "USD", "services": [{"id": "s",
      "name": "S", "kind": "infrastructure", "components": [{"id": "c", "name": "C",
      "meter": "calls", "unit": "call", "category": "compute", "price": 1, "source": "test",
      "seen": "2026-01-01"}], "credits": [
      {"id": "a", "name": "A", "amount": 5, "appliesTo": ["c"], "source": "test", "seen": "2026-01-01"},
      {"id": ")") +
           second_id +
           R"(", "name": "B", "amount": 5, "appliesTo": ["c"], "source": "test", "seen": "2026-01-01"}]}]})";
  };
  auto catalogue = catalogue_of(with_credits("b").c_str());
  REQUIRE(catalogue.ok());
  auto bill = compute_bill(usage_of(R"({"calls": {"perMonth": 6, "minutesPerCall": 1}})"),
                           catalogue.value());
  REQUIRE(bill.ok());
  const auto& service = bill.value().services.at(0);
  CHECK(service.credits.at(0).applied == 5);
  CHECK(service.credits.at(1).applied == 1);
  CHECK(service.cost == 0);
  CHECK(bill.value().total == 0);
  auto twice = catalogue_of(with_credits("a").c_str());
  REQUIRE_FALSE(twice.ok());
  CHECK_THAT(twice.error().message,
             Contains("services[0].credits[1].id: 'a' is already used by an earlier credit"));
}

TEST_CASE("a service, component or credit id used twice is named among 2,000, the first repeat") {
  // The ids of each list are checked in one pass; each was compared with every earlier one.
  const std::string component_fields = R"(, "name": "C", "meter": "calls", "unit": "call",
      "category": "compute", "price": 1, "source": "test", "seen": "2026-01-01"})";
  const auto component = [&](const std::string& id) {
    return R"({"id": ")" + id + "\"" + component_fields;
  };
  const auto credit = [](const std::string& id) {
    return R"({"id": ")" + id + R"(", "name": "A", "amount": 1, "appliesTo": ["c0"],
      "source": "test", "seen": "2026-01-01"})";
  };
  const auto service = [&](const std::string& id, const std::string& components,
                           const std::string& credits) {
    return R"({"id": ")" + id + R"(", "name": "S", "kind": "infrastructure", "components": [)" +
           components + R"(], "credits": [)" + credits + "]}";
  };
  const auto catalogue = [](const std::string& services) {
    return catalogue_of(R"({"version": "t", "currency": "USD", "services": [)" + services + "]}");
  };
  // 2,000 items "x0" to "x1999", then those of `more`.
  const auto listed = [](const std::function<std::string(const std::string&)>& item,
                         std::initializer_list<std::string> more) {
    std::string items;
    for (int i = 0; i < 2'000; ++i) items += (i ? "," : "") + item("x" + std::to_string(i));
    for (const auto& id : more) items += "," + item(id);
    return items;
  };
  const auto message = [](const Result<Catalogue>& parsed) {
    REQUIRE_FALSE(parsed.ok());
    return parsed.error().message;
  };
  // `again`, then a second repeat ("x1"): the first is named.
  for (int repeated : {0, 1'000, 1'999}) {
    const std::string again = "x" + std::to_string(repeated);
    const auto some_component = [&](const std::string& id) {
      return service(id, component("c0"), "");
    };
    CHECK(message(catalogue(listed(some_component, {again, "x1"}))) ==
          "services[2000].id: '" + again + "' is already used by an earlier service");
    const auto components = [&](const std::string& id) { return component(id); };
    CHECK(message(catalogue(service("s", component("c0") + "," + listed(components, {again, "x1"}),
                                    ""))) == "services[0].components[2001].id: '" + again +
                                                 "' is already used by an earlier component");
    CHECK(message(catalogue(service("s", component("c0"), listed(credit, {again, "x1"})))) ==
          "services[0].credits[2000].id: '" + again + "' is already used by an earlier credit");
  }
  const auto distinct = catalogue(service("s", component("c0"), listed(credit, {"y"})));
  REQUIRE(distinct.ok());
  CHECK(distinct.value().services[0].credits.size() == 2'001);
}

TEST_CASE("a credit's components are found among 2,000 and paid in the components' order") {
  // Each id of appliesTo is one look-up as the catalogue is read, and each credit's
  // components one list as the estimate prices them; each was a scan of the other list.
  std::string components, all;
  for (int i = 0; i < 2'000; ++i) {
    components += std::string(i ? "," : "") + R"({"id": "x)" + std::to_string(i) +
                  R"(", "name": "C", "meter": "calls", "unit": "call", "category": "compute",
                  "price": 1, "source": "test", "seen": "2026-01-01"})";
  }
  for (int i = 1'999; i >= 0; --i) all += "\"x" + std::to_string(i) + "\",";
  const auto catalogue = [&](const std::string& first_applies_to) {
    return catalogue_of(
        R"({"version": "t", "currency": "USD", "services": [{"id": "s", "name": "S",
        "kind": "infrastructure", "components": [)" +
        components + R"(], "credits": [{"id": "a", "name": "A", "amount": 15,
        "appliesTo": [)" +
        first_applies_to + R"(], "source": "test", "seen": "2026-01-01"},
        {"id": "b", "name": "B", "amount": 100, "appliesTo": ["x0", "x1999"], "source": "test",
        "seen": "2026-01-01"}]}]})");
  };
  auto unknown = catalogue(all + R"("x7", "y", "z")");
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().message ==
        "services[0].credits[0].appliesTo[2001]: no component 'y' in "
        "service 's'");
  // Ten calls a month: each component costs $10. Credit a pays $10 of x0 and $5 of x1 (its
  // components in the catalogue's order, not appliesTo's, which names x1999 first), so b finds
  // nothing left of x0 and pays x1999's $10 (x0, named twice, is paid once).
  auto parsed = catalogue(all + R"("x0")");
  INFO((parsed.ok() ? "" : parsed.error().message));
  REQUIRE(parsed.ok());
  auto bill =
      compute_bill(usage_of(R"({"calls": {"perMonth": 10, "minutesPerCall": 1}})"), parsed.value());
  REQUIRE(bill.ok());
  const auto& service = bill.value().services.at(0);
  CHECK(service.credits.at(0).applied == 15);
  CHECK(service.credits.at(1).applied == 10);
  CHECK(service.cost == 2'000 * 10 - 25);
}

TEST_CASE("a component's option given twice is named among 2,000, the first repeat") {
  // It was taken twice: the estimate priced a pick by the first, JSON.parse keeps the last.
  std::string options;
  for (int i = 0; i < 2'000; ++i) options += "\"o" + std::to_string(i) + "\": {\"price\": 1},";
  const auto catalogue = [&](const std::string& last) {
    return catalogue_of(R"({"version": "t", "currency": "USD", "services": [{"id": "s",
      "name": "S", "kind": "infrastructure", "components": [{"id": "c", "name": "C",
      "meter": "calls", "unit": "call", "category": "compute", "choice": "databaseCompute",
      "source": "test", "seen": "2026-01-01", "options": {)" +
                        options + last + "}}]}]}");
  };
  for (const std::string again : {"o0", "o1000", "o1999"}) {
    auto twice = catalogue("\"" + again + R"(": {"price": 2}, "o1": {"price": 2})");
    REQUIRE_FALSE(twice.ok());
    CHECK(twice.error().message == "services[0].components[0].options." + again + ": given twice");
  }
  auto distinct = catalogue(R"("p": {"price": 2})");
  INFO((distinct.ok() ? "" : distinct.error().message));
  REQUIRE(distinct.ok());
  CHECK(distinct.value().services[0].components[0].options.size() == 2'001);
}

TEST_CASE("steps with a price per thousand units") {
  Price price;
  price.published = true;
  price.per = 1000;
  price.steps = {{10000, 2}, {std::nullopt, 1}};  // $2 per 1,000 up to 10,000, then $1
  // 25,000: 10,000 x 2 / 1,000 + 15,000 x 1 / 1,000 = 20 + 15 = $35
  CHECK(price.cost(25000) == Approx(35));
}

// ---- The hand-computed estimate ---------------------------------------------------------

TEST_CASE("hand-computed estimate of a small organisation, service by service") {
  const Catalogue catalogue = embedded();
  const Usage usage = usage_of(kStartup);
  auto bill_result = compute_bill(usage, catalogue);
  REQUIRE(bill_result.ok());
  const Bill& bill = bill_result.value();
  const auto& q = bill.quantities;

  // Derived quantities.
  CHECK(*q[Quantity::kCallMinutes] == 20000 * 3);                      // 60,000 minutes
  CHECK(*q[Quantity::kOriginInvocations] == 6e6 * (1 - 0.5));          // 3,000,000
  CHECK(*q[Quantity::kActiveCpuHours] == Approx(3e6 * 25 / 3.6e6));    // 20.83 h
  CHECK(*q[Quantity::kUserAudioMinutes] == Approx(60000 * 0.45));      // 27,000
  CHECK(*q[Quantity::kAudioInputTokens] == Approx(27000 * 600));       // 1 per 100 ms
  CHECK(*q[Quantity::kAssistantAudioMinutes] == Approx(60000 * 0.4));  // 24,000
  CHECK(*q[Quantity::kAudioOutputTokens] == Approx(24000 * 1200));     // 1 per 50 ms
  CHECK(*q[Quantity::kRedisCommands] == 6e6 * 2);
  CHECK(*q[Quantity::kParticipantMinutes] == 60000 * 2);
  CHECK(*q[Quantity::kMediaGB] == Approx(120000.0 * 60 * 32000 / 8 / 1e9));  // 28.8 GB

  // Each line is billed in cents. Vercel: (3M - 1M) x $0.60/M = $1.20; 20.83 h x $0.128 =
  // $2.6667, billed $2.67; 6M edge requests and 150 GB are inside their allowances (10M,
  // 1,000 GB).
  CHECK(*line(bill, "vercel", "function_invocations").cost == Approx(1.2));
  CHECK(*line(bill, "vercel", "active_cpu").cost == Approx(2.67));
  CHECK(*line(bill, "vercel", "edge_requests").cost == 0);
  CHECK(*line(bill, "vercel", "data_transfer").cost == 0);
  const double vercel = 1.2 + 2.67;
  CHECK(service_of(bill, "vercel").cost == Approx(vercel));

  // Supabase: $25 + 730 h x $0.0206 (small) = $15.038, billed $15.04, - $10 compute credit;
  // egress 40 GB and disk 6 GB are inside 250 GB and 8 GB.
  const double supabase = 25 + 15.04 - 10;  // $30.04
  CHECK(*line(bill, "supabase", "compute").cost == Approx(15.04));
  CHECK(service_of(bill, "supabase").credits.at(0).applied == 10);
  CHECK(service_of(bill, "supabase").cost == Approx(supabase));

  // OpenAI: 16.2M input tokens x $10/M + 28.8M output tokens x $20/M = 162 + 576.
  const double openai = 16.2 * 10 + 28.8 * 20;  // $738
  CHECK(service_of(bill, "openai").cost == Approx(openai));

  // Upstash: 12M commands x $0.2 / 100K = $24; 0.5 GB inside the first GB.
  const double upstash = 12e6 * 0.2 / 1e5;
  CHECK(service_of(bill, "upstash").cost == Approx(upstash));

  CHECK(bill.total == Approx(vercel + supabase + openai + upstash));  // the lines' sum
  CHECK(bill.total == Approx(795.91));
  CHECK_FALSE(bill.complete);  // LiveKit and Deepgram have no published price

  const UnitCosts costs = unit_costs(bill);
  CHECK(*costs.per_call.value == Approx(795.91 / 20000));
  CHECK(*costs.infrastructure_per_call.value == Approx((vercel + supabase + upstash) / 20000));
  CHECK(*costs.per_transcript.value == Approx(795.91 / 20000));  // one per call
  CHECK(*costs.storage_per_transcript.value == 0);
}

TEST_CASE("a bill is in whole cents: its lines add up to its services, its services to its total") {
  const Catalogue catalogue = embedded();
  const auto cents = [](double dollars) {
    const double scaled = dollars * 100;
    CHECK(scaled == Approx(std::round(scaled)).margin(1e-6));  // a whole number of cents
    return std::llround(scaled);
  };
  std::vector<std::pair<std::string, std::string>> usages = {
      {"startup", kStartup}, {"startup, priced", with_fields(kStartup, kTestPrices)}};
  for (const auto& entry : std::filesystem::directory_iterator(
           std::filesystem::path(qv::test::source_dir()) / "examples/usage")) {
    usages.emplace_back(entry.path().filename().string(), read_file(entry.path()));
  }
  for (const auto& [name, text] : usages) {
    for (double scale : {1.0, 3.7, 17.0}) {
      INFO(name << " x " << scale);
      auto bill = compute_bill(scale_usage(usage_of(text), scale), catalogue);
      REQUIRE(bill.ok());
      int64_t total = 0;
      for (const ServiceCost& service : bill.value().services) {
        int64_t sum = 0;
        for (const ComponentCost& line : service.components)
          sum += line.cost ? cents(*line.cost) : 0;
        for (const CreditLine& credit : service.credits) sum -= cents(credit.applied);
        CHECK(cents(service.cost) == sum);
        total += cents(service.cost);
      }
      CHECK(cents(bill.value().total) == total);
    }
  }
}

TEST_CASE("missing inputs are listed, not invented, and the rest is still estimated") {
  const Catalogue catalogue = embedded();
  auto bill = compute_bill(usage_of(kStartup), catalogue);
  REQUIRE(bill.ok());
  std::vector<std::string> inputs;
  for (const auto& missing : missing_inputs(bill.value(), "usage", "USD")) {
    CHECK(missing.kind == "price");
    inputs.push_back(missing.input);
  }
  CHECK(inputs == std::vector<std::string>{R"(usage.prices["livekit.agent_session_minutes"])",
                                           R"(usage.prices["livekit.participant_minutes"])",
                                           R"(usage.prices["livekit.bandwidth"])",
                                           R"(usage.prices["deepgram.streaming_minutes"])"});
  CHECK_FALSE(service_of(bill.value(), "livekit").complete);
  CHECK(service_of(bill.value(), "livekit").cost == 0);
  CHECK_FALSE(line(bill.value(), "livekit", "participant_minutes").cost.has_value());

  SECTION("given prices complete the bill") {
    auto priced = compute_bill(usage_of(with_fields(kStartup, kTestPrices)), catalogue);
    REQUIRE(priced.ok());
    CHECK(priced.value().complete);
    CHECK(missing_inputs(priced.value(), "usage", "USD").empty());
    // + 60,000 agent min x 0.0001 + 120,000 participant min x 0.0001 + 28.8 GB x 0.01
    //   + 60,000 transcribed min x 0.002 = 6 + 12 + 0.29 (0.288 billed in cents) + 120
    CHECK(priced.value().total == Approx(795.91 + 6 + 12 + 0.29 + 120).epsilon(1e-12));
    CHECK(line(priced.value(), "livekit", "bandwidth").price_from_usage);
    CHECK(line(priced.value(), "livekit", "bandwidth").price.source == "usage file");
  }
  SECTION("a usage figure that is not given is missing usage, naming the field") {
    auto no_cpu = compute_bill(
        usage_of(
            R"({"calls": {"perMonth": 10, "minutesPerCall": 1}, "api": {"requestsPerMonth": 5000000}})"),
        catalogue);
    REQUIRE(no_cpu.ok());
    const auto& cpu = line(no_cpu.value(), "vercel", "active_cpu");
    CHECK_FALSE(cpu.cost.has_value());
    bool listed = false;
    for (const auto& missing : missing_inputs(no_cpu.value(), "usage", "USD")) {
      if (missing.component == "active_cpu") {
        listed = true;
        CHECK(missing.kind == "usage");
        CHECK(missing.input == "usage.api.cpuMsPerInvocation");
      }
    }
    CHECK(listed);
    // Function invocations are still priced: (5M - 1M) x $0.60/M = $2.40.
    CHECK(*line(no_cpu.value(), "vercel", "function_invocations").cost == Approx(2.4));
  }
  SECTION("a price for something the catalogue lacks is refused, naming the key") {
    auto wrong = compute_bill(
        usage_of(
            R"({"calls": {"perMonth": 1, "minutesPerCall": 1}, "prices": {"livekit.agent_minutes": 0.01}})"),
        catalogue);
    REQUIRE_FALSE(wrong.ok());
    CHECK_THAT(
        wrong.error().message,
        Contains(
            R"(usage.prices["livekit.agent_minutes"]: unknown component 'agent_minutes' of livekit)"));
  }
}

// ---- Targets ------------------------------------------------------------------------------

TEST_CASE("targets: pass, fail, and unknown while missing inputs could decide") {
  const Catalogue catalogue = embedded();
  auto targets_of = [&](const std::string& usage) {
    auto bill = compute_bill(usage_of(usage), catalogue);
    REQUIRE(bill.ok());
    return check_targets(unit_costs(bill.value()));
  };
  SECTION("LiveKit unpriced: infrastructure per call is only a lower bound under the limit") {
    auto targets = targets_of(kStartup);
    CHECK(targets[0].id == "infrastructureCostPerCall");
    CHECK(targets[0].status == "unknown");
    CHECK(targets[1].status == "pass");     // storage: $0 (inside the allowances)
    CHECK(targets[2].status == "unknown");  // LiveKit's media GB are unpriced
  }
  SECTION(
      "with LiveKit priced the infrastructure target is decided (Deepgram is AI, not "
      "infrastructure)") {
    std::string usage = with_fields(kStartup, R"("prices": {"livekit.agent_session_minutes": 0.0001,
        "livekit.participant_minutes": 0.0001, "livekit.bandwidth": 0.01})");
    auto targets = targets_of(usage);
    // (3.87 + 30.04 + 24 + 6 + 12 + 0.29) / 20,000 calls = $0.0038 < $0.01 (LiveKit's
    // bandwidth, 28.8 x 0.01 = 0.288, is billed 0.29)
    CHECK(targets[0].status == "pass");
    CHECK(*targets[0].actual.value == Approx((3.87 + 30.04 + 24 + 6 + 12 + 0.29) / 20000));
    // (0 + 0 + 0.29) / (150 + 40 + 28.8) GB = $0.0013 < $0.05
    CHECK(targets[2].status == "pass");
    CHECK(*targets[2].actual.value == Approx(0.29 / 218.8));
  }
  SECTION("a lower bound already above the limit fails") {
    // 3,000 GB of edge transfer: (3,000 - 1,000) x $0.15 = $300 over 3,000 + 40 + 28.8 GB =
    // $0.098/GB >= $0.05 before LiveKit's bandwidth is even priced.
    std::string usage = kStartup;
    usage.replace(usage.find("\"edgeGB\": 150"), 13, "\"edgeGB\": 3000");
    auto targets = targets_of(usage);
    CHECK(targets[2].status == "fail");
    CHECK(*targets[2].actual.value == Approx(300 / 3068.8));
  }
  SECTION("storage above $0.0001 per transcript fails") {
    // 100 GB of disk: (100 - 8) x $0.125 = $11.50 over 20,000 transcripts = $0.000575
    std::string usage = kStartup;
    usage.replace(usage.find("\"databaseGB\": 6"), 15, "\"databaseGB\": 100");
    auto targets = targets_of(usage);
    CHECK(targets[1].status == "fail");
    CHECK(*targets[1].actual.value == Approx(11.5 / 20000));
  }
  SECTION("a figure equal to its limit fails: the target is below it") {
    // 24 GB of disk: (24 - 8) x $0.125 = $2 over 20,000 transcripts = $0.0001, the limit.
    std::string usage = kStartup;
    usage.replace(usage.find("\"databaseGB\": 6"), 15, "\"databaseGB\": 24");
    auto targets = targets_of(usage);
    CHECK(*targets[1].actual.value == 0.0001);
    CHECK(targets[1].status == "fail");
  }
}

// ---- Tier fit and opportunities ---------------------------------------------------------------

TEST_CASE("a tier id or name used again is named among 2,000 tiers, the earliest tier's") {
  // Core reads the tier catalogue (as tiers.configure does): each id and name is looked up
  // among those of the earlier tiers in one pass; each tier was compared with every earlier
  // one. Of two labels used before, the one of the earlier tier is named; the id when both
  // are one tier's.
  std::string tiers;
  for (int i = 0; i < 2'000; ++i) {
    tiers += R"({"id": "t)" + std::to_string(i) + R"(", "name": "T)" + std::to_string(i) + "\"},";
  }
  auto parsed = [&](const std::string& id, const std::string& name) {
    JsonParser parser;
    auto root = parser.parse(R"({"tiers": [)" + tiers + R"({"id": ")" + id + R"(", "name": ")" +
                             name + R"("}, {"id": "t1", "name": "T1"}]})");
    REQUIRE(root.ok());
    return parse_tier_catalogue(root.value());
  };
  const auto refused = [&](const std::string& id, const std::string& name) {
    auto catalogue = parsed(id, name);
    REQUIRE_FALSE(catalogue.ok());
    return catalogue.error().message;
  };
  CHECK(refused("t1000", "new") == "tiers[2000]: 't1000' is already used by an earlier tier");
  CHECK(refused("new", "T1999") == "tiers[2000]: 'T1999' is already used by an earlier tier");
  CHECK(refused("new", "t0") == "tiers[2000]: 't0' is already used by an earlier tier");
  CHECK(refused("T1500", "t10") == "tiers[2000]: 't10' is already used by an earlier tier");
  CHECK(refused("T5", "t5") == "tiers[2000]: 'T5' is already used by an earlier tier");
  CHECK(refused("t7", "t7") == "tiers[2000]: 't7' is already used by an earlier tier");
  // A tier's id may be its own name; the repeat after it is still named.
  CHECK(refused("new", "new") == "tiers[2001]: 't1' is already used by an earlier tier");
}

TEST_CASE("the tier the peaks fit, from the tiers module's catalogue") {
  const Catalogue catalogue = embedded();
  const TierCatalogue tiers = default_tiers();
  auto startup = estimate(usage_of(kStartup), catalogue, &tiers);
  REQUIRE(startup.ok());
  REQUIRE(startup.value().tier.tier != nullptr);
  CHECK(startup.value().tier.tier->name == "Startup");
  CHECK(*startup.value().tier.utilization[0] == Approx(30.0 / 50));
  // A peak equal to a tier's limit fits it: Startup holds 50 concurrent calls.
  std::string at_limit = kStartup;
  at_limit.replace(at_limit.find("\"peakConcurrent\": 30"), 20, "\"peakConcurrent\": 50");
  auto full = estimate(usage_of(at_limit), catalogue, &tiers);
  REQUIRE(full.ok());
  REQUIRE(full.value().tier.tier != nullptr);
  CHECK(full.value().tier.tier->name == "Startup");

  std::string big = kStartup;
  big.replace(big.find("\"peakConcurrent\": 30"), 20, "\"peakConcurrent\": 10000");
  auto above = estimate(usage_of(big), catalogue, &tiers);
  REQUIRE(above.ok());
  CHECK(above.value().tier.tier == nullptr);
  CHECK_THAT(above.value().tier.detail,
             Contains("above the top tier Enterprise: concurrentCalls 10,000 > 5,000"));

  SECTION("an unknown current tier is refused, naming the known ones") {
    auto wrong = estimate(usage_of(with_fields(kStartup, R"("currentTier": "Platinum")")),
                          catalogue, &tiers);
    REQUIRE_FALSE(wrong.ok());
    CHECK(wrong.error().status == QV_NOT_FOUND);
    CHECK_THAT(wrong.error().message,
               Contains("usage.currentTier: unknown tier 'Platinum' (known: Startup (tier-1), "
                        "Growth (tier-2), Enterprise (tier-3))"));
  }
}

TEST_CASE("the cost fit takes a tier up to its limits, where tiers.evaluate scales up above 80%") {
  // Peaks at 90% of Startup's limits: Startup's price covers them, and three days at them are
  // three high days to the autoscaler, which keeps head-room (docs/cost.md, docs/tiers.md).
  const TierCatalogue tiers = default_tiers();
  auto fit = estimate(usage_of(R"({"currentTier": "Startup",
    "calls": {"perMonth": 1000, "minutesPerCall": 3, "peakConcurrent": 45},
    "api": {"requestsPerMonth": 1000000, "peakRequestsPerSecond": 90}, "users": {"active": 90}})"),
                      embedded(), &tiers);
  REQUIRE(fit.ok());
  REQUIRE(fit.value().tier.tier != nullptr);
  CHECK(fit.value().tier.tier->name == "Startup");
  for (const auto& utilization : fit.value().tier.utilization) CHECK(*utilization == 0.9);
  std::string history;
  for (const char* date : {"2026-11-01", "2026-11-02", "2026-11-03"}) {
    history += std::string(history.empty() ? "" : ",") + R"({"date": ")" + date +
               R"(", "concurrentCalls": 45, "apiRequestsPerSecond": 90, "activeUsers": 90})";
  }
  const Answer decision = call("tiers.evaluate", R"({"organizationId": "org_a",
    "currentTier": "Startup", "history": [)" + history +
                                                     "]}");
  CHECK(decision.status == QV_OK);
  CHECK_THAT(decision.body, Contains(R"("recommendedTier":"Growth","scaleUp":true)"));
}

TEST_CASE(
    "opportunities: the spec's two, the cache, tier right-sizing, model choice; largest first; the "
    "$10 rule") {
  const Catalogue catalogue = embedded();
  const TierCatalogue tiers = default_tiers();
  // 30M API requests (= edge requests), 40% of them reach the origin, 30 ms of CPU each;
  // 1,400 GB of edge transfer; on Growth although the peaks fit Startup.
  const std::string usage = R"({
    "currentTier": "Growth",
    "calls": {"perMonth": 20000, "minutesPerCall": 3, "peakConcurrent": 30},
    "audio": {"userShare": 0.45, "assistantShare": 0.4},
    "api": {"requestsPerMonth": 30000000, "peakRequestsPerSecond": 60,
            "edgeCacheHitRatio": 0.6, "cpuMsPerInvocation": 30},
    "users": {"active": 60},
    "bandwidth": {"edgeGB": 1400, "databaseEgressGB": 40},
    "storage": {"databaseGB": 6, "redisGB": 0.5},
    "redis": {"commandsPerRequest": 2},
    "prices": {"openai.audio_input:gpt-test-cheap": {"price": 5, "per": 1000000},
               "openai.audio_output:gpt-test-cheap": {"price": 10, "per": 1000000},
               "openai.audio_input:gpt-half-priced": {"price": 1, "per": 1000000}}
  })";
  auto result = estimate(usage_of(usage), catalogue, &tiers);
  REQUIRE(result.ok());
  const Estimate& e = result.value();

  // Spec: edge function usage, above 1M: (30M - 10M included) x $2/M = $40.
  REQUIRE(opportunity(e, "edge_function_invocations"));
  CHECK(opportunity(e, "edge_function_invocations")->savings == Approx(40));
  // Spec: bandwidth above 1 TB: (1,400 - 1,000) GB x $0.15 = $60.
  REQUIRE(opportunity(e, "bandwidth"));
  CHECK(opportunity(e, "bandwidth")->savings == Approx(60));
  // Cache 60% -> 90%: origin 12M -> 3M. Invocations (12M-1M) x 0.6/M = 6.6 -> (3M-1M) x
  // 0.6/M = 1.2, saving 5.4; CPU 12M x 30 ms = 100 h -> 25 h at $0.128, saving 9.6.
  REQUIRE(opportunity(e, "edge_cache_hit_ratio"));
  CHECK(opportunity(e, "edge_cache_hit_ratio")->savings == Approx(5.4 + 9.6));
  // Tier: Growth $2,000 -> Startup $500 = $1,500, a budget line, not this bill.
  REQUIRE(opportunity(e, "tier_right_sizing"));
  CHECK(opportunity(e, "tier_right_sizing")->savings == Approx(1500));
  CHECK_FALSE(opportunity(e, "tier_right_sizing")->reduces_bill);
  // Model: 16.2M input x ($10 - $5)/M + 28.8M output x ($20 - $10)/M = 81 + 288 = $369.
  // gpt-half-priced has no output price: it is not a candidate.
  REQUIRE(opportunity(e, "realtime_model"));
  CHECK(opportunity(e, "realtime_model")->savings == Approx(81 + 288));
  CHECK_THAT(opportunity(e, "realtime_model")->title, Contains("gpt-test-cheap"));

  // Largest first.
  std::vector<std::string> order;
  for (const auto& o : e.opportunities) order.push_back(o.id);
  CHECK(order == std::vector<std::string>{"tier_right_sizing", "realtime_model", "bandwidth",
                                          "edge_function_invocations", "edge_cache_hit_ratio"});
  for (const auto& o : e.opportunities) CHECK(o.worth_applying == (o.savings > 10));
  // Only bill-reducing ones above $10 count: 369 + 60 + 40 + 15.
  CHECK(e.savings_worth_applying == Approx(369 + 60 + 40 + 15));

  SECTION("savings of $10 or less are listed but not worth applying (the spec's rule)") {
    auto small = estimate(usage_of(kStartup), catalogue, &tiers);
    REQUIRE(small.ok());
    // Cache 50% -> 90%: origin 3M -> 0.6M: invocations 1.20 -> 0 and CPU 2.67 -> 0.53 (billed
    // in cents: 2.667 and 0.533).
    const Opportunity* cache = opportunity(small.value(), "edge_cache_hit_ratio");
    REQUIRE(cache);
    CHECK(cache->savings == Approx(1.2 + 2.67 - 0.53));
    CHECK_FALSE(cache->worth_applying);
    CHECK(small.value().savings_worth_applying == 0);
  }
  SECTION("a saving of exactly $10 is not worth applying") {
    // Edge requests (15M - 10M included) x $2/M = $10.
    auto ten = estimate(usage_of(R"({
      "calls": {"perMonth": 1000, "minutesPerCall": 1},
      "api": {"requestsPerMonth": 15000000, "edgeCacheHitRatio": 0.9, "cpuMsPerInvocation": 0}
    })"),
                        catalogue, nullptr);
    REQUIRE(ten.ok());
    const Opportunity* edge = opportunity(ten.value(), "edge_function_invocations");
    REQUIRE(edge);
    CHECK(edge->savings == 10);
    CHECK_FALSE(edge->worth_applying);
    CHECK(ten.value().savings_worth_applying == 0);
  }
}

TEST_CASE("the savings worth applying are the sum of the opportunities' savings, in cents") {
  const Catalogue catalogue = embedded();
  // Edge requests (60,050,000 - 10M) x $2/M = $100.10; transfer (2,003 - 1,000) GB x $0.15 =
  // $150.45; the cache is already at the target. In dollars 100.1 + 150.45 is
  // 250.54999999999998; the bill's amounts are whole cents, so this one is too.
  auto e = estimate(usage_of(R"({
    "calls": {"perMonth": 1000, "minutesPerCall": 1},
    "api": {"requestsPerMonth": 60050000, "edgeCacheHitRatio": 0.9, "cpuMsPerInvocation": 0},
    "bandwidth": {"edgeGB": 2003}
  })"),
                    catalogue, nullptr);
  REQUIRE(e.ok());
  REQUIRE(opportunity(e.value(), "edge_function_invocations"));
  REQUIRE(opportunity(e.value(), "bandwidth"));
  CHECK(e.value().savings_worth_applying == 250.55);
  JsonWriter out;
  write_opportunities(out, e.value());
  CHECK_THAT(out.str(), Contains(R"("savingsWorthApplying":250.55,)"));
}

TEST_CASE("scaling a usage: volumes grow, ratios and per-call figures do not") {
  const Usage base = usage_of(kStartup);
  const Usage ten = scale_usage(base, 10);
  CHECK(*ten[Figure::kCallsPerMonth] == 200000);
  CHECK(*ten[Figure::kPeakConcurrentCalls] == 300);
  CHECK(*ten[Figure::kApiRequests] == 6e7);
  CHECK(*ten[Figure::kEdgeTransferGB] == 1500);
  CHECK(*ten[Figure::kMinutesPerCall] == 3);
  CHECK(*ten[Figure::kEdgeCacheHitRatio] == 0.5);
  CHECK(*ten[Figure::kUserAudioShare] == 0.45);
  CHECK(*ten[Figure::kCpuMsPerInvocation] == 25);

  const Catalogue catalogue = embedded();
  auto bill = compute_bill(ten, catalogue);
  REQUIRE(bill.ok());
  // Edge requests 60M: (60M - 10M) x $2/M = $100; transfer (1,500 - 1,000) x $0.15 = $75.
  CHECK(*line(bill.value(), "vercel", "edge_requests").cost == Approx(100));
  CHECK(*line(bill.value(), "vercel", "data_transfer").cost == Approx(75));
  // OpenAI scales exactly: 10 x $738.
  CHECK(service_of(bill.value(), "openai").cost == Approx(7380));
}

// ---- Malformed usage files: field and line ----------------------------------------------

TEST_CASE("text positions: the field's line and column, by the JSON grammar") {
  const std::string text =
      "{\n"
      "  \"calls\": {\n"
      "    \"perMonth\": \"lots\",\n"
      "    \"minutesPerCall\": 3\n"
      "  },\n"
      "  \"prices\": {\"livekit.agent_session_minutes\": \"x\"},\n"
      "  \"list\": [1, {\"a\": 2}],\n"
      "  \"other\": {\"perMonth\": 1}\n"
      "}\n";
  auto at = [&](std::string_view path) -> std::string {
    const auto p = locate(text, path);
    if (!p) return "none";
    return std::to_string(p->line) + ":" + std::to_string(p->column);
  };
  CHECK(at("calls.perMonth") == "3:5");
  CHECK(at("other.perMonth") == "8:13");  // the right "perMonth", not the first one
  CHECK(at(R"(prices["livekit.agent_session_minutes"])") == "6:14");
  CHECK(at("list[1]") == "7:15");
  CHECK(at("list[1].a") == "7:16");
  CHECK(at("calls.peakConcurrent") == "2:3");  // absent: its parent
  CHECK(at("") == "1:1");
  CHECK(at(R"(prices["unterminated)") == "none");  // not a path
}

TEST_CASE("a price given twice is named among 3,000 prices of a usage, the first repeat") {
  // The keys are checked in one pass (core's unique_fields, as the usage is read); each price
  // was compared with every earlier one (as the bill was).
  std::string prices;
  for (int i = 0; i < 3'000; ++i) prices += "\"openai.audio_input:o" + std::to_string(i) + "\": 1,";
  const Catalogue catalogue = embedded();
  auto bill = [&](const std::string& last) -> Result<Bill> {
    auto usage = parse_usage_text(R"({"calls": {"perMonth": 1, "minutesPerCall": 1}, "prices": {)" +
                                  prices + last + "}}");
    if (!usage.ok()) return usage.take_error();
    return compute_bill(usage.value(), catalogue);
  };
  for (const std::string again : {"o0", "o1500", "o2999"}) {
    auto twice = bill("\"openai.audio_input:" + again + "\": 2, \"openai.audio_input:o1\": 2");
    REQUIRE_FALSE(twice.ok());
    CHECK(twice.error().message ==
          "usage.prices[\"openai.audio_input:" + again + "\"]: given twice");
  }
  // The component's other options, and another component's same option, are other prices.
  auto distinct = bill(R"("openai.audio_input:x": 2, "openai.audio_output:o0": 2)");
  INFO((distinct.ok() ? "" : distinct.error().message));
  CHECK(distinct.ok());
}

TEST_CASE("an unknown realtime model lists each of 2,000 priced models once, in order") {
  // Both OpenAI audio components are priced per realtime model: the models priced for each
  // are listed once, found in one pass (each was compared with every one listed before).
  std::string prices, known = "gpt-4o-mini-realtime";
  for (int i = 0; i < 2'000; ++i) {
    const std::string model = "m" + std::to_string(i);
    prices += "\"openai.audio_input:" + model + "\": 1, \"openai.audio_output:" + model + "\": 1,";
    known += ", " + model;
  }
  auto usage = usage_of(R"({"calls": {"perMonth": 1, "minutesPerCall": 1}, "audio": {"model":
    "gpt-9"}, "prices": {)" +
                        prices + R"("openai.audio_output:gpt-4o-mini-realtime": 1}})");
  auto bill = compute_bill(usage, embedded());
  REQUIRE_FALSE(bill.ok());
  CHECK(bill.error().message == "usage.audio.model: unknown option 'gpt-9' (known: " + known +
                                    "; price another in prices)");
}

// A catalogue of 3,000 realtime models, each priced per 1M tokens on both audio components
// (every 97th model's output price unpublished), and a service of 60 components with 12
// credits, each paying for 8 of them named out of order (some overlapping); and a usage on
// model m0100 that prices 1,000 of the models again (some by steps, per and included of
// their own), adds 500 models (200 priced on both components, 300 on output only), a model
// whose price no bill can hold, and a price of one platform component. Fixed formulas, so
// the answer is the same in every run.
std::string many_models_input() {
  auto name = [](char prefix, int i) {
    char buffer[16];
    std::snprintf(buffer, sizeof buffer, "%c%04d", prefix, i);
    return std::string(buffer);
  };
  auto number = [](double value) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.17g", value);
    return std::string(buffer);
  };
  std::string inputs, outputs;
  for (int i = 0; i < 3'000; ++i) {
    const std::string sep = i ? "," : "";
    inputs += sep + "\"" + name('m', i) +
              "\": {\"price\": " + number(4 + (i * 7919 % 1000) / 100.0) + ", \"per\": 1000000}";
    outputs += sep + "\"" + name('m', i) + "\": {\"price\": " +
               (i % 97 == 96 ? std::string("null") : number(8 + (i * 104729 % 1000) / 50.0)) +
               ", \"per\": 1000000}";
  }
  const std::string provenance = R"(, "source": "generated", "seen": "2026-11-28")";
  auto realtime = [&](const char* id, const char* meter, const std::string& options) {
    return std::string(R"({"id": ")") + id + R"(", "name": ")" + id + R"(", "meter": ")" + meter +
           R"(", "unit": "token", "category": "ai", "choice": "realtimeModel", "options": {)" +
           options + "}" + provenance + "}";
  };
  const char* meters[] = {"months", "calls", "callMinutes", "apiRequests", "originInvocations"};
  std::string components, credits;
  for (int c = 0; c < 60; ++c) {
    components += std::string(c ? "," : "") + R"({"id": ")" + name('c', c) + R"(", "name": ")" +
                  name('c', c) + R"(", "meter": ")" + meters[c % 5] +
                  R"(", "unit": "unit", "category": "compute", "price": )" + number(0.5 + c % 7) +
                  R"(, "per": )" + (c % 5 ? "1000" : "1") + R"(, "included": )" +
                  number(c % 3 * 100) + provenance + "}";
  }
  for (int k = 0; k < 12; ++k) {
    std::string ids;
    for (int j = 7; j >= 0; --j)
      ids += std::string(j < 7 ? "," : "") + "\"" + name('c', (k * 5 + j * 3) % 60) + "\"";
    credits += std::string(k ? "," : "") + R"({"id": ")" + name('k', k) + R"(", "name": ")" +
               name('k', k) + R"(", "amount": )" + number(k % 3 == 2 ? 1e6 + k : 40 + k * 17.5) +
               R"(, "appliesTo": [)" + ids + "]" + provenance + "}";
  }
  const std::string catalogue =
      R"({"format": 1, "version": "generated", "currency": "USD", "services": [)"
      R"({"id": "realtime", "name": "Realtime", "plan": "API", "kind": "ai", "components": [)" +
      realtime("audio_input", "audioInputTokens", inputs) + "," +
      realtime("audio_output", "audioOutputTokens", outputs) + "]}," +
      R"({"id": "platform", "name": "Platform", "plan": "Pro", "kind": "infrastructure", )"
      R"("components": [)" +
      components + R"(], "credits": [)" + credits + "]}]}";
  std::string prices;
  for (int i = 1'000; i < 2'000; ++i) {
    const std::string key = "\"realtime.audio_input:" + name('m', i) + "\": ";
    prices += key +
              (i % 4 ? number(3 + (i * 31 % 500) / 100.0)
                     : R"({"steps": [{"upTo": 1000000, "price": 9}, {"price": )" +
                           number(1 + i % 13) + R"(}], "per": 1000000, "included": 5000})") +
              ",";
  }
  for (int i = 0; i < 500; ++i) {
    if (i < 200) {
      prices += "\"realtime.audio_input:" + name('n', i) + "\": " + number(2 + i % 17) + ",";
    }
    prices += "\"realtime.audio_output:" + name('n', i) + "\": " + number(30 + i % 23) + ",";
  }
  prices += R"("realtime.audio_input:huge": 1e300, "realtime.audio_output:huge": 1,)";
  prices += R"("platform.c0005": {"price": 3, "source": "contract"})";
  const std::string usage =
      R"({"name": "many models", "calls": {"perMonth": 50000, "minutesPerCall": 4},)"
      R"( "audio": {"model": "m0100", "userShare": 0.45, "assistantShare": 0.4},)"
      R"( "api": {"requestsPerMonth": 10000000, "edgeCacheHitRatio": 0.5}, "prices": {)" +
      prices + "}}";
  return R"({"usage": )" + usage + R"(, "catalogue": )" + catalogue + "}";
}

TEST_CASE("an estimate over 3,000 realtime models answers what it always has, byte for byte") {
  // Recorded from the engine that priced each model with a scan of every price, each
  // component's options and each credit's components.
  const Answer answer = call("cost.estimate", many_models_input());
  CHECK(answer.status == QV_OK);
  const std::string expected = read_file(std::filesystem::path(qv::test::source_dir()) /
                                         "native-tests/data/cost-estimate-many-models.json");
  REQUIRE_FALSE(expected.empty());
  CHECK(answer.body + "\n" == expected);
}

TEST_CASE("syntax problems are found with their position") {
  auto problem = [](std::string_view text) {
    auto found = find_syntax_problem(text);
    REQUIRE(found);
    return std::to_string(found->at.line) + ":" + std::to_string(found->at.column) + " " +
           found->what;
  };
  CHECK(problem("{\n  \"a\": 1\n  \"b\": 2\n}") ==
        "3:3 expected ',' or '}' after an object member");
  CHECK(problem(R"({"a": 1,})") == "1:9 expected a key in double quotes");
  CHECK(problem("{\"a\": \"open\n") == "1:12 control character inside a string");
  CHECK(problem("{\"a\": tru}") ==
        "1:7 expected a value (object, array, string, number, true, false or null)");
  CHECK(problem("{\"a\": 1} x") == "1:10 unexpected text after the JSON value");
  CHECK(problem(std::string(100000, '[')).find("nesting deeper than 512 levels") !=
        std::string::npos);
  CHECK_FALSE(find_syntax_problem(R"({"a": [1, 2.5e-3, "x\"y\u00e9"], "b": null})"));
}

TEST_CASE("malformed usage files: a clear error naming the field and the line") {
  auto error = [](std::string_view text) {
    auto usage = parse_usage_text(text);
    REQUIRE_FALSE(usage.ok());
    CHECK(usage.error().status == QV_INVALID_INPUT);
    return usage.error().message;
  };
  CHECK(
      error(
          "{\n  \"calls\": {\n    \"perMonth\": \"lots\",\n    \"minutesPerCall\": 3\n  }\n}\n") ==
      "usage.calls.perMonth (line 3, column 5): expected a number, got a string");
  // JSON.parse would take the last of two, the reader the first: neither, named.
  const std::string twice =
      error("{\"calls\": {\"perMonth\": 100, \"perMonth\": 200000, \"minutesPerCall\": 3}}");
  CHECK_THAT(twice, Contains("usage.calls.perMonth"));
  CHECK_THAT(twice, Contains("given twice"));
  CHECK(error("{\n  \"calls\": {\"perMonth\": 10, \"minutesPerCall\": 3},\n  \"api\": {\n"
              "    \"edgeCacheHitRatio\": 60\n  }\n}") ==
        "usage.api.edgeCacheHitRatio (line 4, column 5): must be between 0 and 1 (a fraction, not "
        "a percentage)");
  CHECK(
      error("{\n  \"calls\": {\"perMonth\": 10, \"minutesPerCall\": 3},\n  \"bandwith\": {}\n}") ==
      "usage.bandwith (line 3, column 3): unknown field (expected one of: version, name, "
      "description, "
      "currentTier, calls, audio, transcription, api, users, bandwidth, storage, database, redis, "
      "optimisation, prices)");
  CHECK(error("{\n  \"calls\": {\n    \"perMonth\": 10\n  }\n}") ==
        "usage.calls.minutesPerCall (line 2, column 3): is required (0 is a valid figure)");
  CHECK(error("{\n  \"calls\": {\n    \"perMonth\": 10\n    \"minutesPerCall\": 3\n  }\n}") ==
        "usage: malformed JSON at line 4, column 5: expected ',' or '}' after an object member");
  CHECK(error("{\n  \"calls\": {\"perMonth\": -5, \"minutesPerCall\": 3}\n}") ==
        "usage.calls.perMonth (line 2, column 13): must not be negative");
  CHECK(error("{\"calls\": {\"perMonth\": 1, \"minutesPerCall\": 1},\n \"prices\": {\"livekit\": "
              "0.01}}") ==
        "usage.prices.livekit (line 2, column 13): expected a key SERVICE.COMPONENT or "
        "SERVICE.COMPONENT:OPTION, e.g. \"livekit.agent_session_minutes\"");
  CHECK(error("[1, 2]") == "usage: expected an object, got an array");
}

TEST_CASE("the methods position errors in a usage given as text and in the input itself") {
  SECTION("usage as the text of its file: lines within the file") {
    std::string file =
        "{\n  \"calls\": {\n    \"perMonth\": \"lots\",\n    \"minutesPerCall\": 3\n  }\n}\n";
    JsonWriter input;
    input.begin_object().key("usage").value(file).end_object();
    const Answer answer = call("cost.estimate", input.str());
    CHECK(answer.status == QV_INVALID_INPUT);
    CHECK_THAT(
        answer.body,
        Contains("usage.calls.perMonth (line 3, column 5): expected a number, got a string"));
  }
  SECTION("usage as an object: lines within the input") {
    const Answer answer =
        call("cost.estimate",
             "{\"usage\": {\n  \"calls\": {\"perMonth\": 1, \"minutesPerCall\": 1},\n"
             "  \"prices\": {\"livekit.agent_minutes\": 0.01}\n}}");
    CHECK(answer.status == QV_INVALID_INPUT);
    CHECK_THAT(
        answer.body,
        Contains(
            R"(usage.prices[\"livekit.agent_minutes\"] (line 3, column 14): unknown component 'agent_minutes' of livekit)"));
  }
  SECTION("malformed input") {
    const Answer answer = call("cost.estimate", "{\"usage\": {\n\"calls\": }");
    CHECK(answer.status == QV_INVALID_INPUT);
    CHECK_THAT(answer.body,
               Contains("input: malformed JSON at line 2, column 10: expected a value"));
  }
  SECTION("a number out of range, by field and position") {
    const Answer answer =
        call("cost.estimate", "{\"usage\": {\n\"calls\": {\"perMonth\": 1e999}}}");
    CHECK(answer.status == QV_INVALID_INPUT);
    CHECK_THAT(answer.body,
               Contains("usage.calls.perMonth (line 2, column 23): the number 1e999 is "
                        "beyond a double's range"));
  }
  SECTION("diff names the side") {
    const Answer answer = call("cost.diff",
                               R"({"base": {"calls": {"perMonth": 1, "minutesPerCall": 1}},
                                   "proposed": {"calls": {"perMonth": "x", "minutesPerCall": 1}}})");
    CHECK(answer.status == QV_INVALID_INPUT);
    CHECK_THAT(answer.body,
               Contains("proposed.calls.perMonth (line 2, column 59): expected a number"));
  }
}

// ---- Allocation ----------------------------------------------------------------------------

TEST_CASE("money and quantities read the same under a localised host's LC_NUMERIC", "[locale]") {
  qv::test::NumericLocale locale("de_DE");  // "1,5"
  REQUIRE(locale.error() == "");
  CHECK(money(1234.5) == "$1,234.50");
  CHECK(money(0.000021) == "$0.000021");
  const Answer answer = call("cost.estimate", R"({"usage": {"calls": {"perMonth": 1500,
      "minutesPerCall": 2.5}}})");
  REQUIRE(answer.status == QV_OK);
  CHECK_THAT(answer.body, Contains("\"total\":30.0"));  // JSON, as without the locale
}

TEST_CASE("money: cents, small amounts to their first digits, and no sign on rounding noise") {
  CHECK(money(1234.5) == "$1,234.50");
  CHECK(money(-3.2) == "-$3.20");
  CHECK(money(0.000021) == "$0.000021");
  CHECK(money(0.1 + 0.1 + 0.1 - 0.3) == "$0.00");  // 5.6e-17, not "-$0.00" or "$0.00000…"
  CHECK(money(0.3 - (0.1 + 0.1 + 0.1)) == "$0.00");
}

TEST_CASE("whole cents: half a cent rounds away from zero as the decimal amount reads") {
  CHECK(whole_cents(1.005) == 101);  // 100.4999... cents in binary
  CHECK(whole_cents(2.675) == 268);
  CHECK(whole_cents(0.125) == 13);
  CHECK(whole_cents(-1.005) == -101);
  CHECK(whole_cents(1.0049999) == 100);
  CHECK(whole_cents(0.1 + 0.2) == 30);
  CHECK(whole_cents(2.0 / 3) == 67);
  CHECK(whole_cents(1e13) == 1'000'000'000'000'000);
  CHECK(whole_cents(0) == 0);
}

TEST_CASE("split_cents: whole cents adding up exactly, largest remainders first") {
  // $100 evenly over 3: 3,333.33 cents each; floors 3,333 x 3 = 9,999; the cent left goes
  // to the first (equal remainders: earlier first).
  CHECK(split_cents(10000, {1, 1, 1}) == std::vector<int64_t>{3334, 3333, 3333});
  // $50 in proportion 10 : 30 : 60 -> 500, 1,500, 3,000 cents.
  CHECK(split_cents(5000, {10, 30, 60}) == std::vector<int64_t>{500, 1500, 3000});
  // $1 over 1 : 2: 33.33 and 66.67 cents -> floors 33 + 66 = 99; the larger remainder
  // (0.67) takes the last cent.
  CHECK(split_cents(100, {1, 2}) == std::vector<int64_t>{33, 67});
  // $1.07 in proportion 3.78 : 0.5: 94.5 and 12.5 cents, a tie the division makes
  // 94.4999... against 12.5000...; the earlier organisation takes the cent.
  CHECK(split_cents(107, {3.78, 0.5}) == std::vector<int64_t>{95, 12});
  CHECK(split_cents(717, {1, 6.4, 0.7}) == std::vector<int64_t>{89, 566, 62});
  // Weights whose sum is past the largest double still split (it used to be NaN each).
  CHECK(split_cents(10000, {1e308, 1e308}) == std::vector<int64_t>{5000, 5000});
  CHECK(split_cents(10000, {1e308, 1e308, 2e307}) == std::vector<int64_t>{4546, 4545, 909});

  Noise noise{42};
  for (int round = 0; round < 50; ++round) {
    std::vector<double> weights(1000);
    for (auto& w : weights) w = (noise.next() + 1) * 500;
    const int64_t cents = 1234567 + round * 1013;
    const auto shares = split_cents(cents, weights);
    int64_t sum = 0;
    double total_weight = 0;
    for (double w : weights) total_weight += w;
    for (size_t i = 0; i < shares.size(); ++i) {
      sum += shares[i];
      CHECK(std::fabs(static_cast<double>(shares[i]) - cents * weights[i] / total_weight) < 1);
    }
    CHECK(sum == cents);
  }
}

TEST_CASE("allocation: even, proportional, by metric, through the method") {
  const char* organisations = R"("organizations": [
    {"id": "org_a", "directCost": 10, "metrics": {"calls": 100}},
    {"id": "org_b", "directCost": 30, "metrics": {"calls": 300}},
    {"id": "org_c", "directCost": 60, "metrics": {"calls": 600}}])";
  auto run = [&](const std::string& rest) {
    return call("cost.allocate", std::string("{") + organisations + ", " + rest + "}");
  };
  // A refusal: invalid input whose message holds every part.
  auto refused = [](const Answer& answer, std::initializer_list<const char*> parts) {
    CHECK(answer.status == QV_INVALID_INPUT);
    for (const char* part : parts) CHECK_THAT(answer.body, Contains(part));
  };
  SECTION("even") {
    const Answer answer = run(R"("sharedCosts": [{"name": "platform", "amount": 100}])");
    REQUIRE(answer.status == QV_OK);
    CHECK_THAT(answer.body,
               Contains(R"("id":"org_a","directCost":10,"shared":33.34,"total":43.34)"));
    CHECK_THAT(answer.body, Contains(R"("id":"org_b","directCost":30,"shared":33.33)"));
    CHECK_THAT(answer.body, Contains(R"("sharedTotal":100)"));
  }
  SECTION("proportional to the direct cost, and by a metric, per shared cost") {
    const Answer answer = run(R"("split": "proportional", "sharedCosts": [
        {"name": "database", "amount": 50},
        {"name": "media", "amount": 20, "split": "metric", "metric": "calls"}])");
    REQUIRE(answer.status == QV_OK);
    // database: 50 x 10/100, 30/100, 60/100 = 5, 15, 30; media: 20 x 1/10, 3/10, 6/10.
    CHECK_THAT(
        answer.body,
        Contains(
            R"("id":"org_a","directCost":10,"shared":7,"total":17,"byCost":{"database":5,"media":2})"));
    CHECK_THAT(
        answer.body,
        Contains(
            R"("id":"org_c","directCost":60,"shared":42,"total":102,"byCost":{"database":30,"media":12})"));
  }
  SECTION("a metric an organisation lacks is named") {
    refused(
        run(R"("split": "metric", "metric": "seats", "sharedCosts": [{"name": "x", "amount": 1}])"),
        {"organizations[0].metrics.seats (line 2, column 39): is required to split "
         "sharedCosts[0] by 'seats'"});
  }
  SECTION("a metric no split uses is refused, not ignored for an even split") {
    refused(
        run(R"("sharedCosts": [{"name": "x", "amount": 1, "metric": "calls"}])"),
        {"sharedCosts[0].metric (line 4, column 111): is for a split by metric, and this cost is "
         "split even"});
    refused(run(R"("metric": "calls", "sharedCosts": [{"name": "x", "amount": 1}])"),
            {"metric (line 4, column 68): no shared cost is split by it"});
    // The top's metric serves a cost split by metric without its own.
    CHECK(
        run(R"("metric": "calls", "sharedCosts": [{"name": "x", "amount": 1, "split": "metric"}])")
            .status == QV_OK);
    refused(run(R"("metric": "calls", "sharedCosts": [
        {"name": "x", "amount": 1, "split": "metric", "metric": "calls"}])"),
            {"metric (line 4, column 68): no shared cost is split by it"});
  }
  SECTION("a shared cost taken from a service of the usage's estimate") {
    const Answer answer =
        call("cost.allocate", std::string("{") + organisations + R"(, "usage": )" + kStartup +
                                  R"(, "sharedCosts": [{"service": "supabase"}]})");
    REQUIRE(answer.status == QV_OK);
    // Supabase: $30.038 -> 3,004 cents over three: 1,002 + 1,001 + 1,001.
    CHECK_THAT(answer.body,
               Contains(R"({"name":"supabase","amount":30.04,"split":"even","allocated":30.04})"));
    CHECK_THAT(answer.body, Contains(R"("byCost":{"supabase":10.02})"));
  }
  SECTION("an incomplete service cannot be shared") {
    refused(call("cost.allocate", std::string("{") + organisations + R"(, "usage": )" + kStartup +
                                      R"(, "sharedCosts": [{"service": "livekit"}]})"),
            {"sharedCosts[0].service (line 14, column 21): the estimate of LiveKit is incomplete"});
  }
  SECTION("a metric given twice is named") {
    refused(
        call(
            "cost.allocate",
            R"({"split": "metric", "metric": "calls", "organizations": [{"id": "a", "metrics": {"calls": 1, "calls": 9}}],
            "sharedCosts": [{"name": "x", "amount": 1}]})"),
        {"organizations[0].metrics.calls", "given twice"});
  }
  SECTION("a proportional split needs every organisation's directCost") {
    refused(
        call(
            "cost.allocate",
            R"({"split": "proportional", "organizations": [{"id": "a", "directCost": 50}, {"id": "b"}],
            "sharedCosts": [{"name": "x", "amount": 1}]})"),
        {"organizations[1].directCost", "is required to split sharedCosts[0] in proportion"});
  }
  SECTION("an amount whose cents a double cannot hold exactly is refused") {
    refused(run(R"("sharedCosts": [{"name": "x", "amount": 1e17}])"),
            {"sharedCosts[0]", "an amount of at most 10000000000000 is supported"});
  }
  SECTION("duplicate organisations are named") {
    refused(
        call(
            "cost.allocate",
            R"({"organizations": [{"id": "a"}, {"id": "a"}], "sharedCosts": [{"name": "x", "amount": 1}]})"),
        {"organizations[1].id: 'a' is already organizations[0].id"});
  }
}

TEST_CASE("a metric given twice is named among 4,000 of one organisation, the first repeat") {
  // The names are checked in one pass (core's unique_fields); each was compared with every
  // earlier one, seconds per input of 80,000. Time is no test's to check: this pins the naming.
  std::string metrics;
  for (int i = 0; i < 4'000; ++i) metrics += "\"m" + std::to_string(i) + "\":1,";
  auto input = [&](const std::string& last) {
    return R"({"split": "metric", "metric": "m0", "organizations": [{"id": "a", "metrics": {)" +
           metrics + last + R"(}}], "sharedCosts": [{"name": "x", "amount": 1}]})";
  };
  for (int repeated = 0; repeated < 4; ++repeated) {
    const std::string again = "m" + std::to_string(repeated * 1'000);
    const Answer answer = call("cost.allocate", input("\"" + again + "\":2,\"m1\":2"));
    CHECK(answer.status == QV_INVALID_INPUT);
    CHECK_THAT(answer.body, Contains("organizations[0].metrics." + again + ": given twice"));
  }
  const Answer distinct = call("cost.allocate", input("\"n\":1"));
  CHECK(distinct.status == QV_OK);
  CHECK_THAT(distinct.body, Contains(R"("byCost":{"x":1})"));
}

TEST_CASE("a shared cost's name used twice is named among 3,000 shared costs, the first repeat") {
  // The names are checked in one pass (a map of each name's shared cost); each was compared
  // with every earlier one.
  std::string costs;
  for (int i = 0; i < 3'000; ++i)
    costs += R"({"name": "n)" + std::to_string(i) + R"(", "amount": 1},)";
  auto input = [&](const std::string& last) {
    return R"({"organizations": [{"id": "a"}], "sharedCosts": [)" + costs + last + "]}";
  };
  for (int repeated : {0, 1'500, 2'999}) {
    const std::string again = std::to_string(repeated);
    const Answer answer =
        call("cost.allocate",
             input(R"({"name": "n)" + again + R"(", "amount": 2}, {"name": "n1", "amount": 2})"));
    CHECK(answer.status == QV_INVALID_INPUT);
    CHECK_THAT(answer.body, Contains("sharedCosts[3000].name: 'n" + again +
                                     "' is already sharedCosts[" + again + "]'s name"));
  }
  const Answer distinct = call("cost.allocate", input(R"({"name": "m", "amount": 1})"));
  CHECK(distinct.status == QV_OK);
  CHECK_THAT(distinct.body, Contains(R"("m":1)"));
}

// ---- Forecast ---------------------------------------------------------------------------------

TEST_CASE("forecast of an exact line: the line itself, and no range") {
  std::vector<double> y;
  for (int t = 0; t < 12; ++t) y.push_back(1000 + 50 * t);
  auto result = forecast(y, 2026 * 12, 3);
  REQUIRE(result.ok());
  // Both methods forecast a line without error; the tie goes to the linear trend.
  CHECK(result.value().method == "linear");
  CHECK(result.value().linear.slope == Approx(50));
  CHECK(result.value().holt_error.mae == Approx(0).margin(1e-9));
  for (int h = 1; h <= 3; ++h) {
    const auto& point = result.value().points[h - 1];
    CHECK(point.cost == Approx(1000 + 50 * (11 + h)));
    CHECK(point.high - point.low == Approx(0).margin(1e-6));
  }
  CHECK(format_month(result.value().points[0].month) == "2027-01");
}

TEST_CASE("forecast of a linear trend with noise: the trend is recovered and inside the range") {
  // y = 2,000 + 80 t + uniform noise in [-40, 40], 24 months.
  Noise noise{7};
  std::vector<double> y;
  for (int t = 0; t < 24; ++t) y.push_back(2000 + 80 * t + 40 * noise.next());
  auto result = forecast(y, 2025 * 12, 12);
  REQUIRE(result.ok());
  const Forecast& f = result.value();
  INFO(f.reason);
  CHECK(f.method == "linear");
  CHECK(f.linear_error.mae < f.holt_error.mae);
  CHECK(f.linear.slope == Approx(80).margin(5));
  CHECK(f.linear_error.points == 22);  // months 3..24, one month ahead each
  double previous_width = 0;
  for (int h = 1; h <= 12; ++h) {
    const auto& point = f.points[h - 1];
    const double truth = 2000 + 80 * (23 + h);
    CHECK(point.low <= truth);
    CHECK(truth <= point.high);
    CHECK(std::fabs(point.cost - truth) < 40);
    CHECK(point.high - point.low > previous_width);  // the range widens with the horizon
    previous_width = point.high - point.low;
  }
}

TEST_CASE("forecast of a trend that changes: Holt's method adapts and wins the back-test") {
  // Flat at 1,000 for a year, then +150 a month, with noise of +-10.
  Noise noise{11};
  std::vector<double> y;
  for (int t = 0; t < 24; ++t)
    y.push_back(1000 + (t > 11 ? 150 * (t - 11) : 0) + 10 * noise.next());
  auto result = forecast(y, 2025 * 12, 3);
  REQUIRE(result.ok());
  const Forecast& f = result.value();
  INFO(f.reason);
  CHECK(f.method == "holt");
  CHECK(f.holt_error.mae < f.linear_error.mae);
  // The next month continues the recent trend: 1,000 + 150 x 13 = 2,950.
  const double truth = 1000 + 150 * 13;
  CHECK(std::fabs(f.points[0].cost - truth) < 60);
  CHECK(std::fabs(f.points[0].cost - truth) < std::fabs(predict(f.linear, 24) - truth));
  CHECK(f.holt.trend == Approx(150).margin(20));
}

TEST_CASE("forecast refuses too little history and gaps, naming the field") {
  auto error = [](const char* input) {
    const Answer answer = call("cost.forecast", input);
    CHECK(answer.status == QV_INVALID_INPUT);
    return answer.body;
  };
  CHECK_THAT(
      error(
          R"({"months": 3, "history": [{"month": "2026-01", "cost": 100}, {"month": "2026-02", "cost": 120}]})"),
      Contains("history: 2 months given; a forecast needs at least 3 months of history"));
  CHECK_THAT(
      error(
          R"({"months": 3, "history": [{"month": "2026-01", "cost": 100}, {"month": "2026-02", "cost": 120}, {"month": "2026-04", "cost": 130}]})"),
      Contains("history[2].month: expected 2026-03 (the month after history[1]), got '2026-04'"));
  CHECK_THAT(error(R"({"months": 0, "history": []})"),
             Contains("months: must be between 1 and 60"));
  CHECK_THAT(error(R"({"months": 2, "history": [{"month": "2026-13", "cost": 1}]})"),
             Contains("history[0].month: expected a month YYYY-MM, got '2026-13'"));
  CHECK_THAT(error(R"({"months": 2, "history": [{"month": "0000-05", "cost": 1}]})"),
             Contains("history[0].month: expected a month YYYY-MM, got '0000-05'"));
  CHECK_THAT(
      error(
          R"({"months": 2, "history": [{"month": "9999-10", "cost": 1}, {"month": "9999-11", "cost": 2}, {"month": "9999-12", "cost": 3}]})"),
      Contains("the forecast would run past 9999-12"));
}

TEST_CASE("Student's t quantiles for the 95% range") {
  CHECK(t_quantile_975(1) == Approx(12.706));
  CHECK(t_quantile_975(10) == Approx(2.228));
  CHECK(t_quantile_975(30) == Approx(2.042));
  CHECK(t_quantile_975(60) == Approx(2.000).margin(0.002));
  CHECK(t_quantile_975(100000) == Approx(1.96).margin(0.001));
}

// ---- Behavioural vectors, natively
// ---------------------------------------------------------------

namespace {

bool close(double a, double b) {
  const double scale = std::max({1.0, std::fabs(a), std::fabs(b)});
  return std::fabs(a - b) <= 1e-9 * scale;
}

// simdjson is built without exceptions: read values with get() and an error check.
double as_double(simdjson::dom::element e) {
  double d = 0;
  if (e.get_double().get(d)) FAIL("not a number: " << simdjson::minify(e));
  return d;
}

std::string_view text_of(simdjson::dom::element e, const char* key) {
  std::string_view text;
  if (e[key].get_string().get(text)) FAIL("no string field " << key);
  return text;
}

// Differences between expected and actual (docs/test-vectors.md's comparison).
void compare(simdjson::dom::element expected, simdjson::dom::element actual, bool subset,
             const std::string& path, std::vector<std::string>& problems) {
  const std::string where = path.empty() ? "(root)" : path;
  simdjson::dom::array a, b;
  simdjson::dom::object x, y;
  if (expected.is_number() && actual.is_number()) {
    if (!close(as_double(expected), as_double(actual))) {
      problems.push_back(where + ": expected " + simdjson::minify(expected) + ", got " +
                         simdjson::minify(actual));
    }
  } else if (!expected.get_array().get(a)) {
    if (actual.get_array().get(b) || a.size() != b.size()) {
      problems.push_back(where + ": expected an array of " + std::to_string(a.size()) + ", got " +
                         simdjson::minify(actual));
      return;
    }
    size_t i = 0;
    auto other = b.begin();
    for (auto item : a) {
      compare(item, *other, subset, path + "[" + std::to_string(i++) + "]", problems);
      ++other;
    }
  } else if (!expected.get_object().get(x)) {
    if (actual.get_object().get(y)) {
      problems.push_back(where + ": expected an object, got " + simdjson::minify(actual));
      return;
    }
    for (auto field : x) {
      const std::string child =
          path.empty() ? std::string(field.key) : path + "." + std::string(field.key);
      simdjson::dom::element value;
      if (y.at_key(field.key).get(value)) {
        problems.push_back(child + ": missing");
      } else {
        compare(field.value, value, subset, child, problems);
      }
    }
    if (!subset) {
      for (auto field : y) {
        simdjson::dom::element ignored;
        if (x.at_key(field.key).get(ignored))
          problems.push_back(path + "." + std::string(field.key) + ": unexpected");
      }
    }
  } else if (expected.type() != actual.type() ||
             simdjson::minify(expected) != simdjson::minify(actual)) {
    problems.push_back(where + ": expected " + simdjson::minify(expected) + ", got " +
                       simdjson::minify(actual));
  }
}

}  // namespace

TEST_CASE("the cost vectors pass natively (the files the wasm and edge-runtime runners use)") {
  const std::filesystem::path dir =
      std::filesystem::path(qv::test::source_dir()) / "modules/cost/vectors";
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  REQUIRE_FALSE(files.empty());
  size_t cases = 0;
  for (const auto& file : files) {
    simdjson::dom::parser parser;
    const std::string text = read_file(file);
    simdjson::dom::element root;
    REQUIRE_FALSE(parser.parse(text).get(root));
    simdjson::dom::array all_cases;
    REQUIRE_FALSE(root["cases"].get_array().get(all_cases));
    for (simdjson::dom::element test_case : all_cases) {
      ++cases;
      const std::string name(text_of(test_case, "name"));
      INFO(file.filename().string() << ": " << name);
      simdjson::dom::element ignored;
      REQUIRE(test_case["setup"].get(ignored) == simdjson::NO_SUCH_FIELD);  // cost needs no setup
      std::string input;
      std::string_view raw;
      simdjson::dom::element structured;
      if (!test_case["inputText"].get_string().get(raw)) {
        input = raw;
      } else {
        REQUIRE_FALSE(test_case["input"].get(structured));
        input = simdjson::minify(structured);
      }
      const Answer answer = call(text_of(test_case, "method"), input);
      simdjson::dom::element expect;
      REQUIRE_FALSE(test_case["expect"].get(expect));
      CHECK(status_name(answer.status) == text_of(expect, "status"));
      simdjson::dom::parser output_parser;
      simdjson::dom::element body;
      REQUIRE_FALSE(output_parser.parse(answer.body).get(body));
      std::vector<std::string> problems;
      simdjson::dom::element expected;
      if (!expect["output"].get(expected)) compare(expected, body, false, "", problems);
      if (!expect["outputIncludes"].get(expected)) compare(expected, body, true, "", problems);
      std::string_view contains;
      if (!expect["messageContains"].get_string().get(contains)) {
        std::string_view message;
        if (body["message"].get_string().get(message) ||
            message.find(contains) == std::string_view::npos) {
          problems.push_back("message: expected to contain '" + std::string(contains) + "', got " +
                             answer.body);
        }
      }
      std::string all;
      for (const auto& problem : problems) all += problem + "\n";
      CHECK(all == "");
    }
  }
  CHECK(cases > 0);
}
