// The native shim: many calls interleaved on one instance, MemoryKv, KV failures, host
// imports routed to the instance's environment, Redis URL parsing.
#include <catch2/catch.hpp>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "qv/host/instance.h"
#include "qv/host/redis_kv.h"
#include "qv_abi.h"
#include "support/test_host.h"

using qv::host::Answer;
using qv::host::Call;
using qv::host::KvReply;
using qv::host::MemoryKv;
using qv::host::Op;

namespace {

// tiers.autoscale input: `days` consecutive days ending 2026-11-10, every metric at
// `load` of the Startup limits (50 calls, 100 rps, 100 users).
std::string autoscale_input(const std::string& organization, int days, double load) {
  std::string history;
  for (int day = 11 - days; day <= 10; ++day) {
    char date[16];
    std::snprintf(date, sizeof date, "2026-11-%02d", day);
    if (!history.empty()) history += ",";
    history += "{\"date\":\"" + std::string(date) +
               "\",\"concurrentCalls\":" + std::to_string(50 * load) +
               ",\"apiRequestsPerSecond\":" + std::to_string(100 * load) +
               ",\"activeUsers\":" + std::to_string(100 * load) + "}";
  }
  return "{\"organizationId\":\"" + organization + "\",\"currentTier\":\"Startup\",\"history\":[" +
         history + "]}";
}

// One organisation of the interleaving test: its input and what KV holds before.
struct Org {
  std::string id;
  std::string input;
  std::map<std::string, std::string> stored;
};

// 120 organisations with histories that scale up (Startup at 90%), stay (60%), scale down
// (a stored Growth tier at 2% of Startup), sit in a scale-down's cooldown, or have a change
// counter.
std::vector<Org> organisations() {
  std::vector<Org> orgs;
  for (int i = 0; i < 120; ++i) {
    Org org;
    org.id = "org-" + std::to_string(i);
    const std::string key = "qv:tiers:org:" + org.id;
    switch (i % 5) {
      case 0:
        org.input = autoscale_input(org.id, 3, 0.9);
        break;
      case 1:
        org.input = autoscale_input(org.id, 8, 0.6);
        break;
      case 2:
        org.input = autoscale_input(org.id, 8, 0.02);
        org.stored[key] = R"({"tier":"Growth","changedOn":"2026-09-01"})";
        break;
      case 3:
        org.input = autoscale_input(org.id, 8, 0.02);  // a scale-down held by the cooldown
        org.stored[key] = R"({"tier":"Growth","changedOn":"2026-11-08"})";
        break;
      case 4:
        org.input = autoscale_input(org.id, 5, 0.95);
        org.stored[key + ":changes"] = std::to_string(i);
        break;
    }
    orgs.push_back(std::move(org));
  }
  return orgs;
}

std::shared_ptr<MemoryKv> kv_holding(const qv::test::ManualClock& clock,
                                     const std::vector<Org>& orgs) {
  auto kv = std::make_shared<MemoryKv>(clock.function());
  for (const auto& org : orgs) {
    for (const auto& [key, value] : org.stored) REQUIRE(kv->set(key, value, 0).ok());
  }
  return kv;
}

// A KV that fails the operations it is told to, and passes the others to a MemoryKv.
class FailingKv final : public qv::host::Kv {
 public:
  FailingKv(std::shared_ptr<MemoryKv> inner, bool fail_reads, bool fail_writes)
      : inner_(std::move(inner)), fail_reads_(fail_reads), fail_writes_(fail_writes) {}
  KvReply get(std::string_view key) override { return fail_reads_ ? down() : inner_->get(key); }
  KvReply set(std::string_view key, std::string_view value, uint32_t ttl) override {
    return fail_writes_ ? down() : inner_->set(key, value, ttl);
  }
  KvReply incr(std::string_view key, int64_t delta, uint32_t ttl) override {
    return fail_writes_ ? down() : inner_->incr(key, delta, ttl);
  }
  KvReply del(std::string_view key) override { return fail_writes_ ? down() : inner_->del(key); }
  KvReply cas(std::string_view key, std::optional<std::string_view> expected,
              std::string_view value, uint32_t ttl) override {
    return fail_writes_ ? down() : inner_->cas(key, expected, value, ttl);
  }

 private:
  static KvReply down() { return KvReply::failure(QV_UNAVAILABLE, "test kv: down"); }
  std::shared_ptr<MemoryKv> inner_;
  bool fail_reads_, fail_writes_;
};

}  // namespace

TEST_CASE("120 autoscale calls interleaved on one instance answer as run one by one",
          "[shim][interleaving]") {
  const auto orgs = organisations();
  qv::test::ManualClock clock;

  // The reference: each call run to the end before the next starts.
  auto sequential_kv = kv_holding(clock, orgs);
  auto sequential = qv::test::make_instance(clock, sequential_kv);
  std::vector<Answer> expected;
  for (const auto& org : orgs) expected.push_back(sequential.run("tiers.autoscale", org.input));

  // Interleaved: start every call, then complete the pending operations of all calls in a
  // shuffled order, resuming each call once its batch is complete.
  auto kv = kv_holding(clock, orgs);
  auto instance = qv::test::make_instance(clock, kv);
  std::vector<Call> calls;
  for (const auto& org : orgs) {
    calls.push_back(instance.start("tiers.autoscale", org.input));
    REQUIRE(calls.back().pending());  // every call first reads its stored tier
  }
  struct PendingOp {
    size_t call;
    uint32_t index;
    Op op;
  };
  std::vector<PendingOp> pool;
  std::vector<size_t> outstanding(calls.size(), 0);
  auto collect = [&](size_t c) {
    auto ops = calls[c].ops();
    REQUIRE(ops.ok());
    REQUIRE(!ops.value().empty());
    outstanding[c] = ops.value().size();
    for (uint32_t i = 0; i < ops.value().size(); ++i) pool.push_back({c, i, ops.value()[i]});
  };
  for (size_t c = 0; c < calls.size(); ++c) collect(c);

  std::mt19937 shuffle(20261126);
  size_t resumes = 0;
  size_t max_pool = pool.size();
  while (!pool.empty()) {
    std::uniform_int_distribution<size_t> pick(0, pool.size() - 1);
    const size_t chosen = pick(shuffle);
    PendingOp next = std::move(pool[chosen]);
    pool[chosen] = std::move(pool.back());
    pool.pop_back();

    REQUIRE(calls[next.call].complete(next.index, instance.perform(next.op)) == QV_OK);
    if (--outstanding[next.call] == 0) {
      const qv_status status = calls[next.call].resume();
      ++resumes;
      if (status == QV_PENDING) collect(next.call);
      max_pool = std::max(max_pool, pool.size());
    }
  }
  CHECK(max_pool >= 120);  // the calls really were in flight together
  CHECK(resumes > calls.size());

  size_t scaled = 0, unchanged = 0;
  for (size_t c = 0; c < calls.size(); ++c) {
    INFO(orgs[c].id << ": " << orgs[c].input);
    REQUIRE_FALSE(calls[c].pending());
    const Answer answer = calls[c].answer();
    CHECK(answer.status == expected[c].status);
    CHECK(answer.output == expected[c].output);
    if (answer.output.find("\"applied\":true") != std::string::npos) ++scaled;
    if (answer.output.find("\"applied\":false") != std::string::npos) ++unchanged;
  }
  CHECK(scaled == 72);  // up: 24 + 24 + down: 24 (i % 5 == 0, 4, 2)
  CHECK(unchanged == 48);

  // The KV ends as the one-by-one run left it, and holds what the decisions say.
  const auto state = kv->entries();
  CHECK(state == sequential_kv->entries());
  CHECK(state.at("qv:tiers:org:org-0") == R"({"tier":"tier-2","changedOn":"2026-11-10"})");
  CHECK(state.at("qv:tiers:org:org-0:changes") == "1");
  CHECK(state.count("qv:tiers:org:org-1") == 0);
  CHECK(state.at("qv:tiers:org:org-2") == R"({"tier":"tier-1","changedOn":"2026-11-10"})");
  CHECK(state.at("qv:tiers:org:org-3") == R"({"tier":"Growth","changedOn":"2026-11-08"})");
  CHECK(state.at("qv:tiers:org:org-4:changes") == "5");
}

TEST_CASE("calls on two instances keep their own module state", "[shim]") {
  qv::test::ManualClock clock;
  auto first = qv::test::make_instance(clock, std::make_shared<MemoryKv>());
  auto second = qv::test::make_instance(clock, std::make_shared<MemoryKv>());
  const Answer configured =
      first.run("tiers.configure", R"({"tiers":[{"id":"solo","name":"Solo","maxConcurrentCalls":5,
                           "maxAPIRPS":5,"maxUsers":5}]})");
  REQUIRE(configured.ok());
  CHECK(first.run("tiers.features", R"({"tier":"Solo"})").ok());
  CHECK(second.run("tiers.features", R"({"tier":"Solo"})").status == QV_NOT_FOUND);
  CHECK(second.run("tiers.features", R"({"tier":"Growth"})").ok());
}

TEST_CASE("a call outlives its instance object", "[shim]") {
  qv::test::ManualClock clock;
  Call call;
  {
    auto instance = qv::test::make_instance(clock, std::make_shared<MemoryKv>());
    call = instance.start("tiers.autoscale", autoscale_input("org-x", 3, 0.9));
  }
  REQUIRE(call.pending());
  REQUIRE(call.complete(0, {QV_NOT_FOUND, 0, "", ""}) == QV_OK);
  CHECK(call.resume() == QV_PENDING);
}

TEST_CASE("host imports read the environment of the running instance", "[shim]") {
  qv::test::ManualClock clock;
  *clock.now = 1234.5;
  auto environment = qv::test::fixed_environment(clock, 7);
  std::vector<std::pair<qv::host::LogLevel, std::string>> lines;
  environment.log = [&lines](qv::host::LogLevel level, std::string_view message) {
    lines.emplace_back(level, std::string(message));
  };
  {
    qv::host::EnvironmentScope scope(environment);
    CHECK(qv_host_now_ms() == 1234.5);
    clock.advance(10);
    CHECK(qv_host_now_ms() == 1244.5);
    uint8_t first[16] = {}, second[16] = {};
    qv_host_random_bytes(first, sizeof first);
    qv_host_random_bytes(second, sizeof second);
    CHECK(std::vector<uint8_t>(first, first + 16) != std::vector<uint8_t>(second, second + 16));
    qv_host_log(2, "careful", 7);
    qv_host_log(99, "clamped", 7);
  }
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].first == qv::host::LogLevel::kWarn);
  CHECK(lines[0].second == "careful");
  CHECK(lines[1].first == qv::host::LogLevel::kError);
  // Outside any scope: the system clock, in whole ms as Date.now() (integer timestamps in
  // answers on every host).
  const double system_now = qv_host_now_ms();
  CHECK(system_now > 1.7e12);
  CHECK(system_now == static_cast<double>(static_cast<int64_t>(system_now)));

  // The same seed gives the same bytes: deterministic tests and simulations.
  uint8_t a[8], b[8];
  qv::test::fixed_environment(clock, 3).random_bytes(a, 8);
  qv::test::fixed_environment(clock, 3).random_bytes(b, 8);
  CHECK(std::equal(a, a + 8, b));
}

TEST_CASE("MemoryKv: TTLs run on the injected clock", "[shim][kv]") {
  qv::test::ManualClock clock;
  MemoryKv kv(clock.function());

  REQUIRE(kv.set("session", "v1", 150).ok());
  clock.advance(149);
  CHECK(kv.get("session").value == "v1");
  clock.advance(1);
  CHECK(kv.get("session").status == QV_NOT_FOUND);
  CHECK(kv.entries().empty());

  // incr: the TTL is set when the key is created and kept afterwards.
  CHECK(kv.incr("count", 5, 1000).number == 5);
  const double expiry = kv.expires_at("count");
  CHECK(expiry == *clock.now + 1000);
  clock.advance(500);
  CHECK(kv.incr("count", -2, 50).number == 3);
  CHECK(kv.expires_at("count") == expiry);
  clock.advance(500);
  CHECK(kv.get("count").status == QV_NOT_FOUND);
  // An existing key without TTL gets none from incr.
  REQUIRE(kv.set("plain", "10", 0).ok());
  CHECK(kv.incr("plain", 1, 100).number == 11);
  CHECK(kv.expires_at("plain") == 0);
  // set replaces the TTL.
  REQUIRE(kv.set("plain", "x", 10).ok());
  CHECK(kv.expires_at("plain") == *clock.now + 10);
  REQUIRE(kv.set("plain", "y", 0).ok());
  CHECK(kv.expires_at("plain") == 0);
}

TEST_CASE("MemoryKv: del, binary values, integers as Redis reads them", "[shim][kv]") {
  MemoryKv kv;
  const std::string key("k\0\r\n", 4);
  std::string value;
  for (int c = 0; c < 256; ++c) value += static_cast<char>(c);
  REQUIRE(kv.set(key, value, 0).ok());
  CHECK(kv.get(key).value == value);
  CHECK(kv.del(key).number == 1);
  CHECK(kv.del(key).number == 0);
  CHECK(kv.get(key).status == QV_NOT_FOUND);

  REQUIRE(kv.set("text", "12a", 0).ok());
  const KvReply refused = kv.incr("text", 1, 0);
  CHECK(refused.status == QV_UNAVAILABLE);
  CHECK_THAT(refused.message, Catch::Matchers::Contains("'text' is not an integer"));
  CHECK(kv.get("text").value == "12a");
  REQUIRE(kv.set("big", std::to_string(INT64_MAX), 0).ok());
  CHECK(kv.incr("big", 1, 0).status == QV_UNAVAILABLE);

  int64_t n = 0;
  CHECK(qv::host::parse_kv_integer("-42", n));
  CHECK(n == -42);
  CHECK(qv::host::parse_kv_integer("0", n));
  for (std::string_view bad : {"", "+1", "007", "-0", " 1", "1 ", "1.0", "99999999999999999999"}) {
    INFO("'" << bad << "'");
    CHECK_FALSE(qv::host::parse_kv_integer(bad, n));
  }
}

TEST_CASE("a failing KV: tiers.autoscale decides on the input's tier and changes nothing",
          "[shim][kv]") {
  qv::test::ManualClock clock;
  const std::string input = autoscale_input("org-f", 3, 0.9);
  const std::string key = "qv:tiers:org:org-f";
  const std::string off_kv =
      R"("applied":false,"source":"input","reason":"kv unavailable, decided on the input's tier and not applied: )";

  SECTION("KV down for reads and writes") {
    auto memory = std::make_shared<MemoryKv>(clock.function());
    REQUIRE(memory->set(key, R"({"tier":"Growth","changedOn":null})", 0).ok());
    auto instance = qv::test::make_instance(
        clock, std::make_shared<FailingKv>(memory, /*fail_reads=*/true, /*fail_writes=*/true));
    const Answer answer = instance.run("tiers.autoscale", input);
    INFO(answer.output);
    REQUIRE(answer.ok());
    CHECK_THAT(answer.output, Catch::Matchers::Contains(R"("currentTier":"Startup")"));
    CHECK_THAT(answer.output, Catch::Matchers::Contains(off_kv + "test kv: down\"}"));
    CHECK(memory->entries() ==
          std::map<std::string, std::string>{{key, R"({"tier":"Growth","changedOn":null})"}});
  }
  SECTION("KV refusing writes") {
    auto memory = std::make_shared<MemoryKv>(clock.function());
    auto instance = qv::test::make_instance(
        clock, std::make_shared<FailingKv>(memory, /*fail_reads=*/false, /*fail_writes=*/true));
    const Answer answer = instance.run("tiers.autoscale", input);
    INFO(answer.output);
    REQUIRE(answer.ok());
    CHECK_THAT(answer.output, Catch::Matchers::Contains(R"("recommendedTier":"Growth")"));
    CHECK_THAT(answer.output, Catch::Matchers::Contains(off_kv + "test kv: down\"}"));
    CHECK(memory->entries().empty());
  }
  SECTION("no KV at all") {
    auto instance = qv::test::make_instance(clock, nullptr);
    const Answer answer = instance.run("tiers.autoscale", input);
    INFO(answer.output);
    REQUIRE(answer.ok());
    CHECK_THAT(answer.output,
               Catch::Matchers::Contains(off_kv + "kv: this host has no KV store\"}"));
  }
}

TEST_CASE("a failing KV: router.observe ejects locally and names why it published nothing",
          "[shim][kv]") {
  qv::test::ManualClock clock;
  auto memory = std::make_shared<MemoryKv>(clock.function());
  auto instance = qv::test::make_instance(
      clock, std::make_shared<FailingKv>(memory, /*fail_reads=*/false, /*fail_writes=*/true));
  const std::string failure = R"({"region":"us-east-1","rttMs":3,"status":503})";
  for (int i = 0; i < 4; ++i) REQUIRE(instance.run("router.observe", failure).ok());
  const Answer answer = instance.run("router.observe", failure);
  INFO(answer.output);
  REQUIRE(answer.ok());
  CHECK_THAT(answer.output, Catch::Matchers::Contains(R"("ejectedNow":true)"));
  CHECK_THAT(
      answer.output,
      Catch::Matchers::EndsWith(
          R"x("published":false,"kvProblem":"the ejection of us-east-1 was not published (test kv: down)"})x"));
  CHECK(memory->entries().empty());
}

TEST_CASE("Redis URLs are parsed, and bad ones are named", "[shim][redis]") {
  auto plain = qv::host::parse_redis_url("redis://127.0.0.1:6399");
  REQUIRE(plain.ok());
  CHECK(plain.value().host == "127.0.0.1");
  CHECK(plain.value().port == 6399);
  CHECK(plain.value().database == 0);

  auto full = qv::host::parse_redis_url("redis://alice:p%40ss%3Aword@cache.internal/3");
  REQUIRE(full.ok());
  CHECK(full.value().username == "alice");
  CHECK(full.value().password == "p@ss:word");
  CHECK(full.value().host == "cache.internal");
  CHECK(full.value().port == 6379);
  CHECK(full.value().database == 3);

  auto password_only = qv::host::parse_redis_url("redis://:secret@[::1]:7000");
  REQUIRE(password_only.ok());
  CHECK(password_only.value().username.empty());
  CHECK(password_only.value().password == "secret");
  CHECK(password_only.value().host == "::1");
  CHECK(password_only.value().port == 7000);

  const std::pair<const char*, const char*> bad[] = {
      {"http://localhost", "expected redis://"},
      {"rediss://localhost", "TLS"},
      {"redis://", "host is missing"},
      {"redis://localhost:0", "port '0'"},
      {"redis://localhost:99999", "port '99999'"},
      {"redis://localhost:abc", "port 'abc'"},
      {"redis://localhost/x", "database 'x'"},
      {"redis://localhost?timeout=1", "query"},
      {"redis://a:%zz@localhost", "percent-escape"},
  };
  for (const auto& [url, message] : bad) {
    INFO(url);
    auto parsed = qv::host::parse_redis_url(url);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.status() == QV_INVALID_INPUT);
    CHECK_THAT(parsed.error().message, Catch::Matchers::Contains(message));
  }
}
