// Hashing for the cache: qv::mix64 (core) for integer keys and a seeded 64-bit hash of
// byte strings. The seed of string hashing comes from the host's random bytes per instance, so
// an attacker who crafts keys cannot aim them at one bucket or one sketch counter.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

#include "qv/hash.h"

namespace qv::cache {

using qv::mix64;

// A seeded hash of bytes: 8-byte words folded with multiply-xor, then mixed. Not a
// cryptographic hash; collisions only cost a probe (keys are always compared in full).
inline uint64_t hash_bytes(std::string_view bytes, uint64_t seed) {
  constexpr uint64_t kMultiplier = 0x9e3779b97f4a7c15ull;
  uint64_t h = seed ^ (bytes.size() * kMultiplier);
  const char* p = bytes.data();
  size_t left = bytes.size();
  while (left >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    h = (h ^ mix64(word)) * kMultiplier;
    p += 8;
    left -= 8;
  }
  if (left > 0) {
    uint64_t word = 0;
    std::memcpy(&word, p, left);
    h = (h ^ mix64(word ^ (static_cast<uint64_t>(left) << 56))) * kMultiplier;
  }
  return mix64(h);
}

// xorshift64*: the cache's source of cheap pseudo-random numbers (the admission jitter),
// seeded by the host's random bytes in modules and by a constant in replays.
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed ? seed : 0x2545f4914f6cdd1dull) {}
  uint64_t next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545f4914f6cdd1dull;
  }

 private:
  uint64_t state_;
};

}  // namespace qv::cache
