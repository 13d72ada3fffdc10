// Misuse of the ABI, called through the exported C functions of qv_abi.h exactly as a
// host calls them (on an instance made current with qv::Instance::Scope), and through the
// native shim's Call where it has its own rules (moved-from calls, version check).
#include <catch2/catch.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "qv/host/instance.h"
#include "qv/instance.h"
#include "qv/json.h"
#include "qv_abi.h"
#include "support/test_host.h"

namespace {

// A call started with the C API; freed at the end of the scope.
struct RawCall {
  uint32_t handle = 0;
  qv_status status = QV_INTERNAL;

  RawCall(std::string_view method, std::string_view input) {
    status = qv_call_start(method.data(), static_cast<uint32_t>(method.size()),
                           reinterpret_cast<const uint8_t*>(input.data()),
                           static_cast<uint32_t>(input.size()), &handle);
  }
  ~RawCall() { qv_call_free(handle); }

  std::string output() const {
    const uint8_t* ptr = nullptr;
    uint32_t len = 0;
    if (qv_call_output(handle, &ptr, &len) != QV_OK) return "<no output>";
    return std::string(reinterpret_cast<const char*>(ptr), len);
  }
  uint32_t op_count() const {
    const qv_op* ops = nullptr;
    uint32_t count = 0;
    return qv_call_ops(handle, &ops, &count) == QV_OK ? count : 0;
  }
  qv_status complete(uint32_t index, qv_status op_status, int64_t number = 0) {
    return qv_call_complete_op(handle, index, op_status, number, nullptr, 0, nullptr, 0);
  }
};

// The one operation a pending call asks for.
qv_op only_op(const RawCall& call) {
  const qv_op* ops = nullptr;
  uint32_t count = 0;
  REQUIRE(qv_call_ops(call.handle, &ops, &count) == QV_OK);
  REQUIRE(count == 1);
  return ops[0];
}

std::string value_of(const qv_op& op) {
  return std::string(reinterpret_cast<const char*>(op.value), op.value_len);
}

// Three days of Startup at 90% of its calls: tiers.autoscale reads KV, then (no stored
// tier) writes the new tier by compare-and-set, then counts the change: three batches of one
// op each.
const std::string kScaleUp = R"({"organizationId":"org_abi","currentTier":"Startup","history":[
  {"date":"2026-11-01","concurrentCalls":45},{"date":"2026-11-02","concurrentCalls":45},
  {"date":"2026-11-03","concurrentCalls":45}]})";

}  // namespace

TEST_CASE("the module reports the ABI version the host was built for", "[abi]") {
  CHECK(qv_abi_version() == QV_ABI_VERSION);
  CHECK(qv::host::check_abi_version(QV_ABI_VERSION).ok());
  auto mismatch = qv::host::check_abi_version(QV_ABI_VERSION + 1);
  REQUIRE_FALSE(mismatch.ok());
  CHECK(mismatch.status() == QV_INTERNAL);
  CHECK_THAT(mismatch.error().message,
             Catch::Matchers::Contains("ABI version " + std::to_string(QV_ABI_VERSION + 1)));
}

TEST_CASE("an unknown method is QV_NOT_FOUND and the message names it", "[abi]") {
  qv::Instance instance;
  qv::Instance::Scope scope(instance);
  RawCall call("tiers.nonexistent", "{}");
  CHECK(call.status == QV_NOT_FOUND);
  CHECK(call.handle != 0);
  CHECK_THAT(call.output(), Catch::Matchers::Contains("tiers.nonexistent"));
  CHECK_THAT(call.output(), Catch::Matchers::Contains("\"error\":\"not_found\""));
}

TEST_CASE("an unknown method's name that is not UTF-8 is shown as \\xNN, and the answer is JSON",
          "[abi]") {
  qv::Instance instance;
  qv::Instance::Scope scope(instance);
  const std::string names[][2] = {
      {"tiers.\xff\xfe\"x", R"(method: unknown method 'tiers.\xff\xfe"x')"},
      {"tiers.\xc3", R"(method: unknown method 'tiers.\xc3')"},
      {"tiers.caf\xc3\xa9", "method: unknown method 'tiers.caf\xc3\xa9'"},  // UTF-8: as it is
  };
  for (const auto& [name, message] : names) {
    RawCall call(name, "{}");
    CHECK(call.status == QV_NOT_FOUND);
    qv::JsonParser parser;  // refuses text that is not UTF-8
    auto answer = parser.parse(call.output());
    REQUIRE(answer.ok());
    auto object = answer.value().object().value();
    CHECK(object.required("error").value().string().value() == "not_found");
    CHECK(object.required("message").value().string().value() == message);
  }
}

TEST_CASE("a method name longer than any is QV_INVALID_INPUT, showing its first 32 bytes only",
          "[abi]") {
  for (const auto& method : qv::bundle_methods()) {
    INFO(method.name);
    CHECK(method.name.size() <= QV_MAX_METHOD_BYTES);
  }
  qv::Instance instance;
  qv::Instance::Scope scope(instance);
  const std::string prefix = "method: longer than any method name (at most 64 bytes), beginning ";
  const auto repeated = [](std::string_view text, int times) {
    std::string out;
    for (int i = 0; i < times; ++i) out += text;
    return out;
  };
  const std::string names[][2] = {
      {std::string(50'000'000, 'x'), prefix + "'" + std::string(32, 'x') + "'"},
      {"a" + std::string(70, 'e'), prefix + "'a" + std::string(31, 'e') + "'"},
      // cut before a character the 32nd byte would split ("\xc3\xa9" is e acute, 2 bytes)
      {"a" + repeated("\xc3\xa9", 40), prefix + "'a" + repeated("\xc3\xa9", 15) + "'"},
  };
  for (const auto& [name, message] : names) {
    RawCall call(name, "{}");
    CHECK(call.status == QV_INVALID_INPUT);
    qv::JsonParser parser;
    auto answer = parser.parse(call.output());
    REQUIRE(answer.ok());
    auto object = answer.value().object().value();
    CHECK(object.required("error").value().string().value() == "invalid_input");
    CHECK(object.required("message").value().string().value() == message);
  }
  RawCall longest(std::string(QV_MAX_METHOD_BYTES, 'x'), "{}");  // a name the module looks up
  CHECK(longest.status == QV_NOT_FOUND);
}

TEST_CASE("a handle that does not exist is QV_BAD_HANDLE on every call", "[abi]") {
  qv::Instance instance;
  qv::Instance::Scope scope(instance);
  const uint32_t handles[] = {0, 1, 777, 0xffffffffu};
  for (uint32_t handle : handles) {
    INFO("handle " << handle);
    const qv_op* ops = nullptr;
    uint32_t count = 0;
    const uint8_t* ptr = nullptr;
    uint32_t len = 0;
    CHECK(qv_call_ops(handle, &ops, &count) == QV_BAD_HANDLE);
    CHECK(qv_call_complete_op(handle, 0, QV_OK, 0, nullptr, 0, nullptr, 0) == QV_BAD_HANDLE);
    CHECK(qv_call_resume(handle) == QV_BAD_HANDLE);
    CHECK(qv_call_output(handle, &ptr, &len) == QV_BAD_HANDLE);
    CHECK(qv_call_free(handle) == QV_BAD_HANDLE);
  }
  // A freed handle is gone too.
  uint32_t handle = 0;
  REQUIRE(qv_call_start("tiers.catalogue", 15, reinterpret_cast<const uint8_t*>("{}"), 2,
                        &handle) == QV_OK);
  CHECK(qv_call_free(handle) == QV_OK);
  CHECK(qv_call_free(handle) == QV_BAD_HANDLE);
  CHECK(qv_call_resume(handle) == QV_BAD_HANDLE);
}

TEST_CASE("a handle of one instance means nothing on another", "[abi]") {
  qv::Instance first, second;
  uint32_t handle = 0;
  {
    qv::Instance::Scope scope(first);
    REQUIRE(qv_call_start("tiers.autoscale", 15, reinterpret_cast<const uint8_t*>(kScaleUp.data()),
                          static_cast<uint32_t>(kScaleUp.size()), &handle) == QV_PENDING);
  }
  {
    qv::Instance::Scope scope(second);
    CHECK(qv_call_resume(handle) == QV_BAD_HANDLE);
  }
  qv::Instance::Scope scope(first);
  CHECK(qv_call_free(handle) == QV_OK);
}

TEST_CASE("operations complete exactly once, and resume waits for all of them", "[abi]") {
  qv::Instance instance;
  qv::Instance::Scope scope(instance);
  RawCall call("tiers.autoscale", kScaleUp);
  REQUIRE(call.status == QV_PENDING);
  REQUIRE(call.op_count() == 1);  // kv.get of the stored tier

  SECTION("resume before the operation has a result") {
    CHECK(qv_call_resume(call.handle) == QV_BAD_STATE);
  }
  SECTION("an index out of range") {
    CHECK(call.complete(1, QV_NOT_FOUND) == QV_BAD_STATE);
    CHECK(call.complete(0xffffffffu, QV_NOT_FOUND) == QV_BAD_STATE);
  }
  SECTION("output while pending") {
    const uint8_t* ptr = nullptr;
    uint32_t len = 0;
    CHECK(qv_call_output(call.handle, &ptr, &len) == QV_BAD_STATE);
  }

  REQUIRE(call.complete(0, QV_NOT_FOUND) == QV_OK);
  CHECK(call.complete(0, QV_NOT_FOUND) == QV_BAD_STATE);  // twice
  REQUIRE(qv_call_resume(call.handle) == QV_PENDING);
  REQUIRE(call.op_count() == 1);  // kv.cas of the new tier (set: number 1)
  REQUIRE(call.complete(0, QV_OK, 1) == QV_OK);
  REQUIRE(qv_call_resume(call.handle) == QV_PENDING);
  REQUIRE(call.op_count() == 1);  // kv.incr of the change counter
  REQUIRE(call.complete(0, QV_OK, 1) == QV_OK);
  REQUIRE(qv_call_resume(call.handle) == QV_OK);
  CHECK_THAT(call.output(), Catch::Matchers::Contains("\"tierChanges\":1"));

  // Finished: no ops, no completion, no resume.
  const qv_op* ops = nullptr;
  uint32_t count = 0;
  CHECK(qv_call_ops(call.handle, &ops, &count) == QV_BAD_STATE);
  CHECK(call.complete(0, QV_OK) == QV_BAD_STATE);
  CHECK(qv_call_resume(call.handle) == QV_BAD_STATE);
}

TEST_CASE("resume waits for every operation of a batch, completed in any order", "[abi]") {
  qv::Instance instance;
  qv::Instance::Scope scope(instance);
  RawCall call("router.health_check", "{}");  // one probe per configured region, at once
  REQUIRE(call.status == QV_PENDING);
  const uint32_t count = call.op_count();
  REQUIRE(count >= 2);
  for (uint32_t i = count - 1; i > 0; --i) {  // the last first
    REQUIRE(call.complete(i, QV_UNAVAILABLE) == QV_OK);
    CHECK(qv_call_resume(call.handle) == QV_BAD_STATE);  // op 0 still has no result
  }
  CHECK(call.complete(count - 1, QV_UNAVAILABLE) == QV_BAD_STATE);  // twice
  REQUIRE(call.complete(0, QV_UNAVAILABLE) == QV_OK);
  REQUIRE(qv_call_resume(call.handle) == QV_OK);
  CHECK_THAT(call.output(), Catch::Matchers::Contains("\"checked\":["));
}

TEST_CASE("a finished call has no operations", "[abi]") {
  qv::Instance instance;
  qv::Instance::Scope scope(instance);
  RawCall call("tiers.catalogue", "{}");
  REQUIRE(call.status == QV_OK);
  const qv_op* ops = nullptr;
  uint32_t count = 0;
  CHECK(qv_call_ops(call.handle, &ops, &count) == QV_BAD_STATE);
  CHECK(qv_call_resume(call.handle) == QV_BAD_STATE);
}

TEST_CASE("freeing a pending call releases it (ASan checks for leaks)", "[abi]") {
  qv::Instance instance;
  qv::Instance::Scope scope(instance);
  for (int i = 0; i < 50; ++i) {
    uint32_t handle = 0;
    REQUIRE(qv_call_start("tiers.autoscale", 15, reinterpret_cast<const uint8_t*>(kScaleUp.data()),
                          static_cast<uint32_t>(kScaleUp.size()), &handle) == QV_PENDING);
    if (i % 2) {  // half of them in their second batch
      REQUIRE(qv_call_complete_op(handle, 0, QV_NOT_FOUND, 0, nullptr, 0, nullptr, 0) == QV_OK);
      REQUIRE(qv_call_resume(handle) == QV_PENDING);
    }
    CHECK(qv_call_free(handle) == QV_OK);
  }
  CHECK(instance.calls().empty());
}

TEST_CASE("a wait is the module's to complete; freeing the call waited for wakes it", "[abi]") {
  qv::Instance instance;
  qv::Instance::Scope scope(instance);
  const std::string admit = R"({"organizationId":"org_wait","tier":"Enterprise"})";
  // The first call leases tokens (one compare-and-set); the second waits for that lease.
  auto leader = std::make_unique<RawCall>("tiers.admit", admit);
  RawCall waiter("tiers.admit", admit);
  REQUIRE(leader->status == QV_PENDING);
  REQUIRE(waiter.status == QV_PENDING);
  const qv_op* ops = nullptr;
  uint32_t count = 0;
  REQUIRE(qv_call_ops(waiter.handle, &ops, &count) == QV_OK);
  REQUIRE(count == 1);
  REQUIRE(ops[0].kind == QV_OP_WAIT);
  CHECK(waiter.complete(0, QV_OK) == QV_BAD_STATE);
  CHECK(qv_call_resume(waiter.handle) == QV_BAD_STATE);

  const uint32_t* woken = nullptr;
  qv_woken_calls(&woken, &count);
  REQUIRE(count == 0);
  leader.reset();  // qv_call_free of the pending leader
  qv_woken_calls(&woken, &count);
  REQUIRE(count == 1);
  CHECK(woken[0] == waiter.handle);
  REQUIRE(qv_call_resume(waiter.handle) == QV_PENDING);  // it leases in its turn
  REQUIRE(qv_call_ops(waiter.handle, &ops, &count) == QV_OK);
  CHECK(ops[0].kind == QV_OP_KV_CAS);
}
namespace {

// A cache.get of the campaigns key whose origin gives up after timeout_ms.
std::string campaigns(int timeout_ms) {
  return R"({"organizationId":"org_w","key":"GET /api/campaigns","origin":{"url":"http://origin.test/c","timeoutMs":)" +
         std::to_string(timeout_ms) + "}}";
}

// Performs the call's KV operations on the instance's KV until it finishes, or returns the
// fetch or wait it asks for (alone in its batch).
std::optional<qv::host::Op> drive(qv::host::Instance& instance, qv::host::Call& call) {
  while (call.pending()) {
    auto ops = call.ops();
    REQUIRE(ops.ok());
    for (uint32_t i = 0; i < ops.value().size(); ++i) {
      const qv::host::Op& op = ops.value()[i];
      if (op.kind == QV_OP_FETCH || op.kind == QV_OP_WAIT) {
        REQUIRE(ops.value().size() == 1);
        return op;
      }
      REQUIRE(call.complete(i, instance.perform(op)) == QV_OK);
    }
    call.resume();
  }
  return std::nullopt;
}

qv::host::OpResult origin_answer(int version) {
  qv::host::OpResult answer;
  answer.number = 200;
  answer.data = R"({"version":)" + std::to_string(version) + "}";
  answer.meta = "cache-control: max-age=10, stale-if-error=60\n";
  return answer;
}

qv::host::OpResult wait_timed_out() {
  qv::host::OpResult timed_out;
  timed_out.status = QV_TIMEOUT;
  timed_out.data = "wait: not woken within 1000 ms";
  return timed_out;
}

std::string stats(qv::host::Instance& instance) {
  return instance.run("cache.stats", "{}").output;
}

}  // namespace

TEST_CASE(
    "a call waiting for another's fetch waits at most its own timeout: the host ends the wait, "
    "and the call answers as its own fetch timing out would",
    "[abi][cache]") {
  qv::test::ManualClock clock;
  auto instance = qv::test::make_instance(clock, std::make_shared<qv::host::MemoryKv>());
  auto leader = std::make_unique<qv::host::Call>(instance.start("cache.get", campaigns(30000)));
  REQUIRE(drive(instance, *leader)->kind == QV_OP_FETCH);
  auto waiter = std::make_unique<qv::host::Call>(instance.start("cache.get", campaigns(1000)));
  const auto wait = drive(instance, *waiter);
  REQUIRE(wait->kind == QV_OP_WAIT);
  CHECK(wait->duration_ms == 1000);  // its own timeout, not the leader's
  qv::host::Call later = instance.start("cache.get", campaigns(60000));
  REQUIRE(drive(instance, later)->duration_ms == 60000);
  qv::host::OpResult woken_ok;
  CHECK(later.complete(0, woken_ok) == QV_BAD_STATE);  // only the module wakes a wait

  clock.advance(1000);
  REQUIRE(waiter->complete(0, wait_timed_out()) == QV_OK);
  CHECK(waiter->complete(0, wait_timed_out()) == QV_BAD_STATE);  // once
  REQUIRE(waiter->resume() == QV_OK);
  const std::string answer = waiter->output().value();
  CHECK_THAT(answer, Catch::Matchers::Contains(R"("found":false,"status":504)"));
  CHECK_THAT(answer,
             Catch::Matchers::Contains(R"("coalesced":false,"reason":"origin failed: timeout)"));
  CHECK_THAT(answer, Catch::Matchers::Contains("within its 1000 ms"));

  SECTION("the call that left is freed before the leader finishes") {
    waiter.reset();
  }
  SECTION("the call that left is freed after the leader finishes") {}
  REQUIRE(leader->complete(0, origin_answer(1)) == QV_OK);
  leader->resume();
  CHECK_FALSE(drive(instance, *leader));
  CHECK_THAT(leader->output().value(), Catch::Matchers::Contains(R"("xCache":"MISS")"));
  CHECK_THAT(leader->output().value(), Catch::Matchers::Contains(R"("stored":true)"));
  // The leader wakes the call still waiting, and only that one.
  CHECK(instance.woken_calls() == std::vector<uint32_t>{later.handle()});
  REQUIRE(later.resume() == QV_OK);
  CHECK_THAT(later.output().value(), Catch::Matchers::Contains(R"("body":"{\"version\":1}")") &&
                                         Catch::Matchers::Contains(R"("coalesced":true)"));
  waiter.reset();
  leader.reset();
  const std::string counted = stats(instance);
  CHECK_THAT(counted, Catch::Matchers::Contains(R"("coalescedWaits":2,"coalescedTimeouts":1)"));
  CHECK_THAT(counted, Catch::Matchers::Contains(R"("trackedKeys":0)"));
  CHECK_THAT(counted, Catch::Matchers::Contains(R"("fetches":1,)"));
  // The copy the leader stored serves the next call.
  CHECK_THAT(instance.run("cache.get", campaigns(1000)).output,
             Catch::Matchers::Contains(R"("xCache":"HIT-L1")"));
}

TEST_CASE(
    "a waiting call with a stale copy serves it (stale-if-error) at its own timeout; a timeout "
    "that comes after a wake is refused and the wake stands",
    "[abi][cache]") {
  qv::test::ManualClock clock;
  auto instance = qv::test::make_instance(clock, std::make_shared<qv::host::MemoryKv>());
  {
    qv::host::Call first = instance.start("cache.get", campaigns(1000));
    REQUIRE(drive(instance, first)->kind == QV_OP_FETCH);
    REQUIRE(first.complete(0, origin_answer(1)) == QV_OK);
    first.resume();
    REQUIRE_FALSE(drive(instance, first));
  }
  clock.advance(20000);  // stale, inside stale-if-error
  qv::host::Call leader = instance.start("cache.get", campaigns(30000));
  REQUIRE(drive(instance, leader)->kind == QV_OP_FETCH);
  qv::host::Call waiter = instance.start("cache.get", campaigns(1000));
  REQUIRE(drive(instance, waiter)->kind == QV_OP_WAIT);

  SECTION("its timeout first: the stale copy") {
    clock.advance(1000);
    REQUIRE(waiter.complete(0, wait_timed_out()) == QV_OK);
    REQUIRE(waiter.resume() == QV_OK);
    const std::string answer = waiter.output().value();
    CHECK_THAT(answer, Catch::Matchers::Contains(R"("xCache":"STALE","layer":"L1")"));
    CHECK_THAT(answer, Catch::Matchers::Contains(R"("body":"{\"version\":1}")"));
    CHECK_THAT(answer, Catch::Matchers::Contains("stale-if-error: the origin failed (timeout"));
    REQUIRE(leader.complete(0, origin_answer(2)) == QV_OK);
    leader.resume();
    REQUIRE_FALSE(drive(instance, leader));
    CHECK(instance.woken_calls().empty());
    CHECK_THAT(instance.run("cache.get", campaigns(1000)).output,
               Catch::Matchers::Contains(R"("body":"{\"version\":2}")"));
  }
  SECTION("the leader freed first: the wait is woken, and the call fetches for itself") {
    leader.free();
    CHECK(instance.woken_calls() == std::vector<uint32_t>{waiter.handle()});
    CHECK(waiter.complete(0, wait_timed_out()) == QV_BAD_STATE);
    REQUIRE(waiter.resume() == QV_PENDING);
    CHECK(drive(instance, waiter)->kind == QV_OP_FETCH);
  }
}

TEST_CASE("the native host's run() ends a wait with a timeout once it passes", "[abi][cache]") {
  qv::test::ManualClock clock;
  auto instance = qv::test::make_instance(clock, std::make_shared<qv::host::MemoryKv>());
  qv::host::Call leader = instance.start("cache.get", campaigns(30000));
  REQUIRE(drive(instance, leader)->kind == QV_OP_FETCH);
  // Nothing else runs while run() drives its call: the wait can only time out, after 1 ms.
  const qv::host::Answer answer = instance.run("cache.get", campaigns(1));
  CHECK(answer.ok());
  CHECK_THAT(answer.output, Catch::Matchers::Contains(R"("found":false,"status":504)"));
}

TEST_CASE("a refresh freed mid-flight gives its place under maxRefreshes back", "[abi][cache]") {
  qv::Instance instance;
  qv::Instance::Scope scope(instance);
  RawCall configure("cache.configure", R"({"maxRefreshes":1})");
  REQUIRE(configure.status == QV_OK);
  auto refresh = [](const std::string& key) {
    return R"({"organizationId":"org_a","key":")" + key +
           R"(","origin":{"url":"http://origin.test/"}})";
  };
  {
    RawCall abandoned("cache.refresh", refresh("a"));  // waits for its L2 read
    REQUIRE(abandoned.status == QV_PENDING);
    RawCall second("cache.refresh", refresh("b"));
    REQUIRE(second.status == QV_OK);  // the one place is taken
    CHECK_THAT(second.output(), Catch::Matchers::Contains("maxRefreshes"));
  }  // both freed, the first mid-flight
  RawCall next("cache.refresh", refresh("c"));
  CHECK(next.status == QV_PENDING);
}

TEST_CASE(
    "a fill lease its leader left in the KV, freed mid-fetch, is taken over by the isolate's "
    "next miss of the key at once, not waited for",
    "[abi][cache]") {
  qv::test::ManualClock clock;
  auto kv = std::make_shared<qv::host::MemoryKv>(clock.function());
  auto instance = qv::test::make_instance(clock, kv);
  REQUIRE(instance.run("cache.configure", R"({"collapseMs":200,"collapsePollMs":20})").ok());
  const std::string lease = "qvc:f:org_w:GET%20%2Fapi%2Fcampaigns";
  auto leader = std::make_unique<qv::host::Call>(instance.start("cache.get", campaigns(30000)));
  REQUIRE(drive(instance, *leader)->kind == QV_OP_FETCH);  // under the fill lease
  const std::string holder = kv->entries().at(lease);
  CHECK(holder.size() == 16);  // the instance's id
  leader.reset();              // freed mid-fetch: a freed call runs no operation, the lease stays
  CHECK(kv->entries().at(lease) == holder);

  clock.advance(50);
  qv::host::Call next = instance.start("cache.get", campaigns(30000));
  REQUIRE(drive(instance, next)->kind == QV_OP_FETCH);  // the lease taken over, not polled
  CHECK(kv->expires_at(lease) == *clock.now + 200);     // taken over with a new TTL
  REQUIRE(next.complete(0, origin_answer(2)) == QV_OK);
  next.resume();
  CHECK_FALSE(drive(instance, next));
  CHECK_THAT(next.output().value(), Catch::Matchers::Contains(R"("xCache":"MISS")"));
  CHECK(kv->entries().at(lease) == "free");  // given back with the copy stored
  const std::string figures = stats(instance);
  CHECK_THAT(figures, Catch::Matchers::Contains(R"("fallbacks":0,"takenOver":1)"));
}

TEST_CASE(
    "a fill lease that lapsed mid-fetch and another isolate took is left to it: the first "
    "leader's give-back and its pass change only a lease holding its own id",
    "[abi][cache]") {
  qv::test::ManualClock clock;
  auto kv = std::make_shared<qv::host::MemoryKv>(clock.function());
  auto isolate = [&](uint64_t seed) {  // another seed, another id
    qv::host::InstanceOptions options;
    options.environment = qv::test::fixed_environment(clock, seed);
    options.kv = kv;
    auto made = qv::host::Instance::create(std::move(options));
    REQUIRE(made.ok());
    qv::host::Instance instance = std::move(made.value());
    REQUIRE(instance.run("cache.configure", R"({"collapseMs":200,"collapsePollMs":20})").ok());
    return instance;
  };
  qv::host::Instance a = isolate(1), b = isolate(2);
  const std::string lease = "qvc:f:org_w:GET%20%2Fapi%2Fcampaigns";
  qv::host::Call first = a.start("cache.get", campaigns(30000));
  REQUIRE(drive(a, first)->kind == QV_OP_FETCH);
  const std::string a_id = kv->entries().at(lease);
  clock.advance(250);  // a's fetch outlasts the lease: it lapses, and b's miss takes it
  qv::host::Call second = b.start("cache.get", campaigns(30000));
  REQUIRE(drive(b, second)->kind == QV_OP_FETCH);
  const std::string b_id = kv->entries().at(lease);
  REQUIRE(b_id.size() == 16);
  REQUIRE(b_id != a_id);

  SECTION("a's copy stored: the lease is not given back") {
    REQUIRE(first.complete(0, origin_answer(1)) == QV_OK);
    first.resume();
    CHECK_FALSE(drive(a, first));
    CHECK_THAT(first.output().value(), Catch::Matchers::Contains(R"("xCache":"MISS")"));
    CHECK(kv->entries().count("qvc:e:org_w:GET%20%2Fapi%2Fcampaigns") == 1);
  }
  SECTION("a's fetch failed: the lease does not say pass") {
    qv::host::OpResult failed;
    failed.status = QV_UNAVAILABLE;
    failed.data = "connection refused";
    REQUIRE(first.complete(0, failed) == QV_OK);
    first.resume();
    CHECK_FALSE(drive(a, first));
    CHECK_THAT(first.output().value(), Catch::Matchers::Contains(R"("status":502)"));
  }
  CHECK(kv->entries().at(lease) == b_id);
  CHECK(kv->expires_at(lease) == *clock.now + 200);  // nor its TTL changed
  // b's own give-back still ends its lease.
  REQUIRE(second.complete(0, origin_answer(2)) == QV_OK);
  second.resume();
  CHECK_FALSE(drive(b, second));
  CHECK(kv->entries().at(lease) == "free");
}

TEST_CASE(
    "call changes freed before a write took them are not applied; a freed write's other "
    "changes are, by the next writer",
    "[abi][tiers]") {
  qv::Instance instance;
  qv::Instance::Scope scope(instance);
  auto start = [](const std::string& id) {
    return R"({"organizationId":"org_batch","tier":"Startup","callId":")" + id + R"("})";
  };
  auto writer = std::make_unique<RawCall>("tiers.call_start", start("a"));
  REQUIRE(only_op(*writer).kind == QV_OP_KV_CAS);  // the set {a}
  auto second = std::make_unique<RawCall>("tiers.call_start", start("b"));
  RawCall third("tiers.call_start", start("c"));
  auto gone = std::make_unique<RawCall>("tiers.call_start", start("d"));
  auto later_gone = std::make_unique<RawCall>("tiers.call_start", start("e"));
  for (const RawCall* waiting : {second.get(), &third, gone.get(), later_gone.get()})
    REQUIRE(only_op(*waiting).kind == QV_OP_WAIT);
  gone.reset();  // freed while queued: d is never written

  REQUIRE(writer->complete(0, QV_OK, 1) == QV_OK);
  REQUIRE(qv_call_resume(writer->handle) == QV_OK);
  REQUIRE(qv_call_resume(second->handle) == QV_PENDING);  // writes b, c and e together
  const qv_op both = only_op(*second);
  REQUIRE(both.kind == QV_OP_KV_CAS);
  CHECK(value_of(both).find("\"d\"") == std::string::npos);
  REQUIRE(qv_call_resume(third.handle) == QV_PENDING);  // waits for that write
  REQUIRE(qv_call_resume(later_gone->handle) == QV_PENDING);
  later_gone.reset();  // freed while in that write: nobody waits for e

  second.reset();  // the write is freed mid-flight: c goes back to the queue; b and e do not
  REQUIRE(qv_call_resume(third.handle) == QV_PENDING);
  const qv_op last = only_op(third);
  REQUIRE(last.kind == QV_OP_KV_CAS);
  const std::string set = value_of(last);
  CHECK(set.find("\"a\"") != std::string::npos);
  CHECK(set.find("\"c\"") != std::string::npos);
  CHECK(set.find("\"b\"") == std::string::npos);
  CHECK(set.find("\"d\"") == std::string::npos);
  CHECK(set.find("\"e\"") == std::string::npos);
}

TEST_CASE(
    "an isolate's invalidations meanwhile are appended in one batch; a batch whose writer is "
    "freed is written by another of its calls",
    "[abi][cache]") {
  qv::Instance instance;
  qv::Instance::Scope scope(instance);
  auto change = [](const std::string& tag) {
    return R"({"organizationId":"org_j","tags":[")" + tag + R"("]})";
  };
  auto writer = std::make_unique<RawCall>("cache.invalidate", change("a"));
  REQUIRE(only_op(*writer).kind == QV_OP_KV_GET);
  auto second = std::make_unique<RawCall>("cache.invalidate", change("b"));  // leads the next
  RawCall third("cache.invalidate", change("c"));                            // joins it
  RawCall fourth("cache.invalidate", change("d"));
  for (const RawCall* waiting : {second.get(), &third, &fourth})
    REQUIRE(only_op(*waiting).kind == QV_OP_WAIT);

  const uint32_t* woken = nullptr;
  uint32_t count = 0;
  SECTION("freed while it waits for the append under way") {
    second.reset();
    qv_woken_calls(&woken, &count);
    REQUIRE(count == 2);
    REQUIRE(qv_call_resume(third.handle) == QV_PENDING);  // leads it: waits for that append
    REQUIRE(only_op(third).kind == QV_OP_WAIT);
    REQUIRE(qv_call_resume(fourth.handle) == QV_PENDING);
    REQUIRE(only_op(fourth).kind == QV_OP_WAIT);
  }
  SECTION("freed in the middle of its write") {}  // below
  REQUIRE(writer->complete(0, QV_NOT_FOUND) == QV_OK);
  REQUIRE(qv_call_resume(writer->handle) == QV_PENDING);
  const std::string journal = value_of(only_op(*writer));
  REQUIRE(writer->complete(0, QV_OK, 1) == QV_OK);
  REQUIRE(qv_call_resume(writer->handle) == QV_OK);
  CHECK_THAT(writer->output(), Catch::Matchers::Contains("\"seq\":1"));
  qv_woken_calls(&woken, &count);
  REQUIRE(count == 1);
  RawCall& batch_writer = second ? *second : third;
  CHECK(woken[0] == batch_writer.handle);
  REQUIRE(qv_call_resume(batch_writer.handle) == QV_PENDING);
  REQUIRE(only_op(batch_writer).kind == QV_OP_KV_GET);  // one read and one write for the batch
  if (second) {
    second.reset();  // freed in the middle of its write: a call of its batch writes it instead
    qv_woken_calls(&woken, &count);
    REQUIRE(count == 2);
    REQUIRE(qv_call_resume(third.handle) == QV_PENDING);
    REQUIRE(only_op(third).kind == QV_OP_KV_GET);
    REQUIRE(qv_call_resume(fourth.handle) == QV_PENDING);  // still waits for the batch
    REQUIRE(only_op(fourth).kind == QV_OP_WAIT);
  }
  REQUIRE(qv_call_complete_op(third.handle, 0, QV_OK, 0,
                              reinterpret_cast<const uint8_t*>(journal.data()),
                              static_cast<uint32_t>(journal.size()), nullptr, 0) == QV_OK);
  REQUIRE(qv_call_resume(third.handle) == QV_PENDING);
  const qv_op cas = only_op(third);
  REQUIRE(cas.kind == QV_OP_KV_CAS);
  // The freed call's change is written too: an invalidation more is harmless, one lost is not.
  for (const char* tag : {"\tta\n", "\ttb\n", "\ttc\n", "\ttd\n"}) {
    INFO(tag);
    CHECK(value_of(cas).find(tag) != std::string::npos);
  }
  REQUIRE(third.complete(0, QV_OK, 1) == QV_OK);
  REQUIRE(qv_call_resume(third.handle) == QV_OK);
  CHECK_THAT(third.output(), Catch::Matchers::Contains("\"seq\":3"));
  qv_woken_calls(&woken, &count);
  REQUIRE(count == 1);
  CHECK(woken[0] == fourth.handle);
  REQUIRE(qv_call_resume(fourth.handle) == QV_OK);
  CHECK_THAT(fourth.output(), Catch::Matchers::Contains("\"seq\":4"));
}

TEST_CASE("an input above 1 MiB is QV_TOO_LARGE", "[abi]") {
  qv::Instance instance;
  qv::Instance::Scope scope(instance);
  const std::string huge = "[" + std::string((1u << 20) + 16, ' ') + "]";
  RawCall call("tiers.evaluate", huge);
  CHECK(call.status == QV_TOO_LARGE);
  CHECK_THAT(call.output(), Catch::Matchers::Contains("above the limit"));

  RawCall at_limit("tiers.evaluate", std::string(1u << 20, ' '));  // not too large: not JSON
  CHECK(at_limit.status == QV_INVALID_INPUT);
}

TEST_CASE("malformed JSON is QV_INVALID_INPUT with \"malformed JSON\"", "[abi]") {
  qv::Instance instance;
  qv::Instance::Scope scope(instance);
  for (std::string_view text : {"{", "{\"tier\": }", "", "nul", "{\"tier\":\"Growth\"} x"}) {
    INFO("input '" << text << "'");
    RawCall call("tiers.features", text);
    CHECK(call.status == QV_INVALID_INPUT);
    CHECK_THAT(call.output(), Catch::Matchers::Contains("malformed JSON"));
  }
}

TEST_CASE("the shim's Call: moved-from and default calls have no handle", "[abi][shim]") {
  qv::test::ManualClock clock;
  auto instance = qv::test::make_instance(clock, std::make_shared<qv::host::MemoryKv>());
  qv::host::Call call = instance.start("tiers.autoscale", kScaleUp);
  REQUIRE(call.pending());
  qv::host::Call moved = std::move(call);
  CHECK(moved.pending());
  CHECK(call.handle() == 0);
  CHECK(call.status() == QV_BAD_HANDLE);
  CHECK(call.ops().status() == QV_BAD_HANDLE);
  CHECK(call.complete(0, {}) == QV_BAD_HANDLE);
  CHECK(call.resume() == QV_BAD_HANDLE);
  CHECK(call.output().status() == QV_BAD_HANDLE);
  CHECK(call.free() == QV_BAD_HANDLE);

  qv::host::Call empty;
  CHECK(empty.resume() == QV_BAD_HANDLE);
  CHECK(empty.answer().status == QV_BAD_HANDLE);

  // A misused resume leaves the call pending.
  CHECK(moved.resume() == QV_BAD_STATE);
  CHECK(moved.pending());
  CHECK(moved.output().status() == QV_BAD_STATE);
  CHECK(moved.free() == QV_OK);
  CHECK(moved.free() == QV_BAD_HANDLE);
}

TEST_CASE("the shim's start() refuses an input past 4 GiB as too large, never a prefix of it",
          "[abi][shim]") {
  // qv_call_start takes a 32-bit length: 4 GiB + 2 bytes passed as such would be 2 bytes.
  // The module refuses a length above its limit without reading the input, so only the first
  // bytes of this view need to exist.
  qv::test::ManualClock clock;
  auto instance = qv::test::make_instance(clock, std::make_shared<qv::host::MemoryKv>());
  const std::string text = R"({"tier":"Growth"})";
  const std::string_view huge(text.data(), (size_t{1} << 32) + text.size());
  const qv::host::Answer answer = instance.start("tiers.features", huge).answer();
  CHECK(answer.status == QV_TOO_LARGE);
  CHECK_THAT(answer.output, Catch::Matchers::Contains("above the limit"));
}
