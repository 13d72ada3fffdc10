#include "qv/cache/frequency_sketch.h"

#include <algorithm>
#include <bit>

namespace qv::cache {

namespace {

// Caffeine's seeds: one per row, from CityHash (any odd constants with good mixing do).
constexpr uint64_t kSeeds[4] = {0xc3a5c85c97cb3127ull, 0xb492b66fbe98f273ull, 0x9ae16a3b2f90404full,
                                0xcbf29ce484222325ull};
constexpr uint64_t kResetMask = 0x7777777777777777ull;  // drops the bit a halving shifts in
constexpr uint64_t kOneMask = 0x1111111111111111ull;    // the low bit of every counter

}  // namespace

FrequencySketch::FrequencySketch(uint64_t capacity) {
  const uint64_t words = std::bit_ceil(std::max<uint64_t>(capacity, 8));
  table_.assign(words, 0);
  mask_ = words - 1;
  sample_size_ = 10 * std::max<uint64_t>(capacity, 1);
}

size_t FrequencySketch::index_of(uint64_t hash, int row) const {
  uint64_t h = (hash + kSeeds[row]) * kSeeds[row];
  h += h >> 32;
  return static_cast<size_t>(h & mask_);
}

bool FrequencySketch::increment_at(size_t index, int counter) {
  const int offset = counter << 2;
  const uint64_t mask = 0xfull << offset;
  if ((table_[index] & mask) == mask) return false;  // saturated at 15
  table_[index] += 1ull << offset;
  return true;
}

void FrequencySketch::increment(uint64_t hash) {
  // The key's four counters sit at positions start..start+3 of four words.
  const int start = static_cast<int>((hash & 3) << 2);
  bool added = false;
  for (int row = 0; row < 4; ++row) added |= increment_at(index_of(hash, row), start + row);
  if (added && ++size_ == sample_size_) reset();
}

int FrequencySketch::frequency(uint64_t hash) const {
  const int start = static_cast<int>((hash & 3) << 2);
  int least = 15;
  for (int row = 0; row < 4; ++row) {
    const int offset = (start + row) << 2;
    least = std::min(least, static_cast<int>((table_[index_of(hash, row)] >> offset) & 0xf));
  }
  return least;
}

void FrequencySketch::reset() {
  // Halving loses the low bit of each counter: a quarter of the odd counters (four
  // counters per key) is what the truncation took from the sample.
  uint64_t odd = 0;
  for (auto& word : table_) {
    odd += static_cast<uint64_t>(std::popcount(word & kOneMask));
    word = (word >> 1) & kResetMask;
  }
  size_ = (size_ - (odd >> 2)) >> 1;
  ++resets_;
}

}  // namespace qv::cache
