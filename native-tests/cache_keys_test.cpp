// Cache keys: the encoding is injective (crafted separators, percent signs and unicode
// cannot make two different keys collide), and decodes back to its parts.
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "qv/cache/hash.h"
#include "qv/cache/keys.h"

using namespace qv::cache;

namespace {
std::string encoded(const CacheKey& key) {
  std::string out;
  REQUIRE(encode_key(key, out).ok());
  return out;
}
}  // namespace

TEST_CASE("crafted keys do not collide across organisations") {
  const std::vector<CacheKey> keys = {
      {"org_a", "b:c", {}},
      {"org_a:b", "c", {}},
      {"org_a", "b", {{"c", ""}}},
      {"org_a", "b=c", {}},
      {"org_a%3Ab", "c", {}},
      {"org_a", "b%3Ac", {}},
      {"org_a", "b", {{"q", "x:y"}}},
      {"org_a", "b", {{"q:x", "y"}}},
      {"org_a", "b", {{"q", "x"}, {"r", "y"}}},
      {"org_a", "b", {{"q", "x:r=y"}}},
      {"caf\xc3\xa9", "k", {}},   // composed
      {"cafe\xcc\x81", "k", {}},  // decomposed
      {"org\xff", "k", {}},       // not UTF-8 at all
      {"org", "k\n", {}},
  };
  std::set<std::string> seen;
  for (const auto& key : keys) {
    const std::string text = encoded(key);
    INFO(text);
    CHECK(seen.insert(text).second);
    CacheKey back;
    REQUIRE(decode_key(text, back).ok());
    CHECK(back.organization == key.organization);
    CHECK(back.resource == key.resource);
  }
}

TEST_CASE("random keys of every byte decode to themselves (so none collide)") {
  Random random(99);
  std::set<std::string> seen;
  for (int i = 0; i < 20000; ++i) {
    CacheKey key;
    auto text = [&](size_t max) {
      std::string out(1 + random.next() % max, '\0');
      for (char& c : out) c = static_cast<char>(random.next() % 8 == 0 ? ':' : random.next() % 256);
      return out;
    };
    key.organization = text(6);
    key.resource = text(6);
    if (random.next() % 2) key.vary.emplace_back(text(3), text(3));
    std::string out;
    REQUIRE(encode_key(key, out).ok());
    CacheKey back;
    REQUIRE(decode_key(out, back).ok());
    CHECK(back.organization == key.organization);
    CHECK(back.resource == key.resource);
    CHECK(back.vary == key.vary);
    seen.insert(out);
  }
  CHECK(seen.size() > 19000);
}

TEST_CASE("keys name what is wrong with them") {
  std::string out;
  CacheKey empty{"", "k", {}};
  CHECK(encode_key(empty, out).error().message == "organizationId: must not be empty");
  CacheKey twice{"o", "k", {{"a", "1"}, {"a", "2"}}};
  CHECK(encode_key(twice, out).error().message == "vary.a: given twice");
  CacheKey long_key{"o", std::string(2000, 'x'), {}};
  CHECK(encode_key(long_key, out).error().message == "key: 2000 bytes is above the limit of 1024");
  CacheKey back;
  CHECK(!decode_key("org%3a:k", back).ok());  // lower-case escapes are never written
  CHECK(!decode_key("org%41:k", back).ok());  // nor escapes of plain bytes
  CHECK(journal_key("") == "qvc:j:*");
  CHECK(journal_key("*") == "qvc:j:%2A");
}
