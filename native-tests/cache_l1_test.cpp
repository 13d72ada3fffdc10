// The L1 store: entry and byte bounds, expiry, versions, hosted values and what it reports
// released, invalidation by predicate, and its invariants; and l1.ttlMs through an instance.
#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "qv/cache/hash.h"
#include "qv/cache/l1_store.h"
#include "qv/host/instance.h"
#include "support/test_host.h"

using namespace qv::cache;
using Space = L1Store::Space;

namespace {
constexpr double kNow = 1764115200000.0;

EntryPtr response(const std::string& org, const std::string& key, std::string body,
                  std::vector<std::string> tags = {}) {
  auto entry = std::make_shared<CachedEntry>();
  entry->organization = org;
  entry->key = key;
  entry->body = std::move(body);
  entry->tags = std::move(tags);
  entry->fresh_until = kNow + 60000;
  return entry;
}
}  // namespace

TEST_CASE("L1 holds at most its entries, and what it holds is found by key") {
  L1Store l1(L1Limits{.max_entries = 50}, 1);
  for (int i = 0; i < 1000; ++i) {
    const std::string key = "k" + std::to_string(i % 300);
    l1.put_response(key, response("o", key, "v"), kNow + 1000, kNow + 1000, kNow);
  }
  CHECK(l1.entries() <= 50);
  CHECK(l1.stats().evictions >= 250);
  REQUIRE(l1.check().ok());
  int found = 0;
  for (int i = 0; i < 300; ++i) {
    const std::string key = "k" + std::to_string(i);
    const uint32_t slot = l1.peek(Space::kResponses, key, kNow);
    if (slot != L1Store::kNone) {
      ++found;
      CHECK(l1.response(slot)->key == key);
    }
  }
  CHECK(found == static_cast<int>(l1.entries()));
}

TEST_CASE("L1 holds at most its bytes, and refuses an entry above its entry limit") {
  L1Store l1(L1Limits{.max_entries = 1000, .max_bytes = 20000, .max_entry_bytes = 5000}, 2);
  for (int i = 0; i < 100; ++i) {
    const std::string key = "k" + std::to_string(i);
    l1.put_response(key, response("o", key, std::string(1000, 'x')), kNow + 1000, kNow + 1000,
                    kNow);
    REQUIRE(l1.bytes() <= 20000);
  }
  CHECK(l1.entries() < 20);
  const uint32_t refused = l1.put_response("big", response("o", "big", std::string(6000, 'x')),
                                           kNow + 1000, kNow + 1000, kNow);
  CHECK(refused == L1Store::kNone);
  CHECK(l1.stats().rejected == 1);
  CHECK(l1.check().ok());
}

TEST_CASE("an entry of exactly the entry limit is kept; one byte more is refused") {
  // A hosted value counts its size and the 64 bytes of its slot.
  L1Store l1(L1Limits{.max_entries = 10, .max_bytes = 20000, .max_entry_bytes = 5000}, 7);
  CHECK(l1.put_hosted(mix64(1), 5000 - 64, kNow + 1000, kNow) != L1Store::kNone);
  CHECK(l1.put_hosted(mix64(2), 5000 - 63, kNow + 1000, kNow) == L1Store::kNone);
  CHECK(l1.stats().rejected == 1);
  CHECK(l1.check().ok());
}

TEST_CASE("an expired entry is absent, and a write sweeps expired entries away") {
  L1Store l1(L1Limits{.max_entries = 100}, 3);
  l1.put_response("a", response("o", "a", "v"), kNow + 10, kNow + 10, kNow);
  CHECK(l1.get(Space::kResponses, "a", kNow + 9) != L1Store::kNone);
  CHECK(l1.get(Space::kResponses, "a", kNow + 10) == L1Store::kNone);
  CHECK(l1.stats().expirations == 1);
  for (int i = 0; i < 20; ++i)
    l1.put_response("b" + std::to_string(i), response("o", "b", "v"), kNow + 5, kNow + 5, kNow);
  for (int i = 0; i < 40; ++i)
    l1.put_response("c" + std::to_string(i), response("o", "c", "v"), kNow + 1e6, kNow + 1e6,
                    kNow + 100);
  CHECK(l1.entries() <= 40);  // the sweep took the expired b's even though nobody read them
  CHECK(l1.check().ok());
}

TEST_CASE("a key of one space never meets a key of the other") {
  L1Store l1(L1Limits{}, 4);
  l1.put_response("k", response("o", "k", "v"), kNow + 1000, kNow + 1000, kNow);
  CHECK(l1.get(Space::kHosted, "k", kNow) == L1Store::kNone);
  CHECK(l1.get(Space::kResponses, "k", kNow) != L1Store::kNone);
}

TEST_CASE("hosted values: versions change on every put, and every release is reported") {
  L1Store l1(L1Limits{.max_entries = 10}, 5);
  const uint32_t slot = l1.put_hosted(mix64(1), 100, kNow + 1000, kNow);
  REQUIRE(slot != L1Store::kNone);
  const uint32_t version = l1.version(slot);
  CHECK(l1.touch(slot, version, kNow));
  CHECK(!l1.touch(slot, version + 1, kNow));
  const uint32_t again = l1.put_hosted(mix64(1), 100, kNow + 1000, kNow);  // a new value
  CHECK(again == slot);
  CHECK(l1.version(again) != version);
  CHECK(!l1.alive(slot, version, kNow));
  std::vector<uint32_t> released;
  CHECK(!l1.take_released(released));
  REQUIRE(released.size() == 2);
  CHECK(released[0] == slot);
  CHECK(released[1] == version);
  for (uint64_t i = 2; i < 100; ++i) l1.put_hosted(mix64(i), 10, kNow + 1000, kNow);
  l1.take_released(released);
  CHECK(released.size() / 2 >= 89);  // everything evicted is listed
  for (size_t i = 0; i < released.size(); i += 2)
    CHECK(!l1.alive(released[i], released[i + 1], kNow));
  CHECK(l1.entries() <= 10);
  CHECK(l1.remove(again, l1.version(again)) == l1.alive(again, l1.version(again), kNow));
  CHECK(l1.check().ok());
}

TEST_CASE("responses are dropped by predicate (invalidation)") {
  L1Store l1(L1Limits{}, 6);
  l1.put_response("a", response("o1", "a", "v", {"campaigns"}), kNow + 1000, kNow + 1000, kNow);
  l1.put_response("b", response("o1", "b", "v", {"leads"}), kNow + 1000, kNow + 1000, kNow);
  l1.put_response("c", response("o2", "c", "v", {"campaigns"}), kNow + 1000, kNow + 1000, kNow);
  const size_t dropped = l1.erase_responses([](const CachedEntry& e) {
    return e.organization == "o1" && e.tags == std::vector<std::string>{"campaigns"};
  });
  CHECK(dropped == 1);
  CHECK(l1.peek(Space::kResponses, "a", kNow) == L1Store::kNone);
  CHECK(l1.peek(Space::kResponses, "b", kNow) != L1Store::kNone);
  CHECK(l1.peek(Space::kResponses, "c", kNow) != L1Store::kNone);
  CHECK(l1.check().ok());
}

TEST_CASE("an L1 copy is served for at most l1.ttlMs, then L2's fresh copy is") {
  qv::test::ManualClock clock;
  auto instance =
      qv::test::make_instance(clock, std::make_shared<qv::host::MemoryKv>(clock.function()));
  REQUIRE(instance.run("cache.configure", R"({"l1":{"ttlMs":1000}})").ok());
  REQUIRE(instance
              .run("cache.set", R"({"organizationId":"org_a","key":"k","body":"x",
                                    "headers":{"cache-control":"max-age=60"}})")
              .ok());
  const auto layer = [&] {
    const auto answer = instance.run("cache.get", R"({"organizationId":"org_a","key":"k"})");
    REQUIRE(answer.ok());
    for (const char* name : {"L1", "L2"}) {
      if (answer.output.find("\"layer\":\"" + std::string(name) + "\"") != std::string::npos)
        return std::string(name);
    }
    return answer.output;
  };
  clock.advance(999);
  CHECK(layer() == "L1");
  clock.advance(1);  // the L1 copy's time is up; the entry stays fresh for 59 s more
  CHECK(layer() == "L2");
}
