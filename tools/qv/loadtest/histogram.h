// An HdrHistogram-style latency histogram: values from 0 to 1 h in µs, recorded with 3
// significant decimal digits (every value is kept within 0.1% of what was recorded), in a
// fixed array of counts, so recording is O(1), merging is adding arrays, and two histograms
// from two machines add up to exactly the histogram one machine would have recorded.
//
// Written here rather than taken from a library: no HdrHistogram C library is packaged in
// Debian 12 (and none on npm that C++ can link). The bucket layout is HdrHistogram's (Gil
// Tene, "HdrHistogram: A High Dynamic Range Histogram"): buckets of 2048 sub-buckets, each
// bucket covering twice the range of the one before at half the resolution.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "result.h"

namespace qv::loadtest {

class SparseHistogram;

class Histogram {
 public:
  static constexpr int64_t kLowest = 0;               // a phase under 1 µs (the resolution)
  static constexpr int64_t kHighest = 3'600'000'000;  // 1 h in µs
  static constexpr int kSignificantDigits = 3;
  static constexpr int kSubBucketHalfCountMagnitude = 10;  // 2 * 10^3 -> 2^11 sub-buckets
  static constexpr int64_t kSubBucketCount = int64_t{1} << (kSubBucketHalfCountMagnitude + 1);
  static constexpr int64_t kSubBucketHalfCount = kSubBucketCount / 2;
  static constexpr int kBucketCount = 22;  // 2048 << 21 > 1 h in µs
  static constexpr size_t kCountsLength = (kBucketCount + 1) * kSubBucketHalfCount;

  Histogram();

  // Records a value in µs; a negative value counts as 0, one above 1 h as 1 h. A phase shorter
  // than the clock's microsecond is 0, not 1: differences of whole-µs readings are unbiased
  // on average, so the means of sub-µs phases stay honest.
  void record(int64_t value, uint64_t count = 1);
  void add(const Histogram& other);
  void add(const SparseHistogram& other);
  void reset();

  uint64_t count() const { return total_count_; }
  int64_t min() const { return total_count_ ? min_ : 0; }
  int64_t max() const { return total_count_ ? max_ : 0; }
  double mean() const { return total_count_ ? static_cast<double>(sum_) / total_count_ : 0; }
  uint64_t sum() const { return sum_; }

  // The value at a percentile (0..100), HdrHistogram's way: the highest value equivalent to
  // the bucket holding the ceil(p% * count)-th value, clamped to the recorded min and max; for
  // p(0) the lowest value equivalent to the lowest bucket, so clamped, the recorded min.
  int64_t value_at_percentile(double percentile) const;

  // The non-zero counts, for sending between threads, logs and merging.
  SparseHistogram to_sparse() const;

  bool operator==(const Histogram& other) const;

  // Bucket arithmetic, public for the sparse form and the tests.
  static size_t index_of(int64_t value);
  static int64_t lowest_equivalent(size_t index);
  static int64_t highest_equivalent(size_t index);

 private:
  void allocate();

  // Allocated by the first value recorded (1 h in µs at 3 digits is 184 KiB of counts, and
  // many histograms of a run — a phase of a plain-http run, say — never see a value).
  std::vector<uint64_t> counts_;
  uint64_t total_count_ = 0;
  uint64_t sum_ = 0;
  int64_t min_ = 0;
  int64_t max_ = 0;
};

// The non-zero buckets of a histogram, in ascending index order, with its exact count,
// sum, min and max. This is what crosses threads and what histogram logs store.
class SparseHistogram {
 public:
  std::vector<std::pair<uint32_t, uint64_t>> buckets;  // (index, count), ascending index
  uint64_t total_count = 0;
  uint64_t sum = 0;
  int64_t min = 0;
  int64_t max = 0;

  bool empty() const { return total_count == 0; }
  void add(const SparseHistogram& other);
  int64_t value_at_percentile(double percentile) const;

  // Text form used by histogram logs: "count/sum/min/max/index:count,index:count,...".
  // decode refuses a text a histogram could not have written: counts that do not add up to
  // the count, buckets out of order or range, and a lowest or highest bucket that is not the
  // recorded min's or max's (a count outside them would be lost where histograms add up).
  std::string encode() const;
  static Result<SparseHistogram> decode(std::string_view text);

  bool operator==(const SparseHistogram& other) const = default;
};

}  // namespace qv::loadtest
