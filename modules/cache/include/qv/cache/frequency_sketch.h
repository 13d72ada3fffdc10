// A 4-bit count-min sketch of access frequencies, as TinyLFU uses it (Einziger, Friedman
// and Manes, "TinyLFU: A Highly Efficient Cache Admission Policy", ACM ToS 2017; the layout
// of Caffeine's FrequencySketch): sixteen 4-bit counters per 64-bit word, four counters per
// key, the estimate the least of the four. After 10 x capacity increments every counter is
// halved (the "reset"), so the sketch forgets old popularity and follows the workload.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace qv::cache {

class FrequencySketch {
 public:
  // Sized for `capacity` entries: one word per entry (rounded up to a power of two).
  explicit FrequencySketch(uint64_t capacity);

  // Counts one access of the key whose hash is `hash` (an already mixed 64-bit hash).
  void increment(uint64_t hash);
  // The estimated number of recent accesses, 0 to 15.
  int frequency(uint64_t hash) const;

  // Increments between two resets (10 x capacity).
  uint64_t sample_size() const { return sample_size_; }
  uint64_t resets() const { return resets_; }

 private:
  size_t index_of(uint64_t hash, int row) const;
  bool increment_at(size_t index, int counter);
  void reset();

  std::vector<uint64_t> table_;
  uint64_t mask_ = 0;
  uint64_t sample_size_ = 0;
  uint64_t size_ = 0;  // increments since the last reset (minus what the reset took away)
  uint64_t resets_ = 0;
};

}  // namespace qv::cache
