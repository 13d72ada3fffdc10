// The HdrHistogram-style histogram: bucket arithmetic, 3-significant-digit accuracy against
// exact percentiles, exact min/max/mean, and merging (dense, sparse, encoded) that equals
// recording everything in one histogram.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <random>
#include <vector>

#include "loadtest/histogram.h"

using qv::loadtest::Histogram;
using qv::loadtest::SparseHistogram;

namespace {

int64_t exact_percentile(std::vector<int64_t> sorted, double percentile) {
  const auto rank = static_cast<size_t>(std::ceil(percentile / 100.0 * sorted.size() - 1e-9));
  return sorted[std::max<size_t>(rank, 1) - 1];
}

}  // namespace

TEST_CASE("every value falls in a bucket whose range is within 0.1% of it") {
  for (int64_t value = 1; value < Histogram::kHighest; value = value * 3 / 2 + 1) {
    const size_t index = Histogram::index_of(value);
    REQUIRE(index < Histogram::kCountsLength);
    const int64_t lowest = Histogram::lowest_equivalent(index);
    const int64_t highest = Histogram::highest_equivalent(index);
    REQUIRE(lowest <= value);
    REQUIRE(value <= highest);
    REQUIRE(static_cast<double>(highest - lowest) <= 0.001 * static_cast<double>(lowest));
  }
  // Values below 2048 µs are kept exactly.
  for (int64_t value = 1; value < 2048; ++value) {
    REQUIRE(Histogram::lowest_equivalent(Histogram::index_of(value)) == value);
    REQUIRE(Histogram::highest_equivalent(Histogram::index_of(value)) == value);
  }
  REQUIRE(Histogram::index_of(Histogram::kHighest) < Histogram::kCountsLength);
}

TEST_CASE("percentiles of 1..1,000,000 are within 0.1% of the exact ones") {
  Histogram histogram;
  for (int64_t value = 1; value <= 1'000'000; ++value) histogram.record(value);
  REQUIRE(histogram.count() == 1'000'000);
  REQUIRE(histogram.min() == 1);
  REQUIRE(histogram.max() == 1'000'000);
  REQUIRE(histogram.mean() == Approx(500'000.5));
  for (double percentile : {1.0, 10.0, 50.0, 90.0, 95.0, 99.0, 99.9, 99.99, 100.0}) {
    const double exact = percentile / 100.0 * 1'000'000;
    const double measured = static_cast<double>(histogram.value_at_percentile(percentile));
    INFO("p(" << percentile << ") exact " << exact << " measured " << measured);
    REQUIRE(measured >= exact);
    REQUIRE(measured <= exact * 1.001 + 1);
  }
}

TEST_CASE("percentiles of log-uniform latencies from 1 µs to 1 h are within 0.1%") {
  std::mt19937_64 random(42);
  std::uniform_real_distribution<double> exponent(0, std::log(3.6e9));
  std::vector<int64_t> values;
  Histogram histogram;
  for (int i = 0; i < 200'000; ++i) {
    const auto value = static_cast<int64_t>(std::exp(exponent(random)));
    values.push_back(std::max<int64_t>(value, 1));
    histogram.record(values.back());
  }
  std::sort(values.begin(), values.end());
  for (double percentile : {0.1, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 99.99}) {
    const double exact = static_cast<double>(exact_percentile(values, percentile));
    const double measured = static_cast<double>(histogram.value_at_percentile(percentile));
    INFO("p(" << percentile << ") exact " << exact << " measured " << measured);
    REQUIRE(std::fabs(measured - exact) <= exact * 0.001);
  }
  REQUIRE(histogram.value_at_percentile(100) == values.back());
  REQUIRE(histogram.value_at_percentile(0) == values.front());
}

TEST_CASE("values outside 0 .. 1 h are clamped, counts and sums are exact") {
  Histogram histogram;
  histogram.record(0);
  histogram.record(-5);
  histogram.record(Histogram::kHighest * 10);
  histogram.record(1500, 3);
  REQUIRE(histogram.count() == 6);
  REQUIRE(histogram.min() == 0);
  REQUIRE(histogram.max() == Histogram::kHighest);
  REQUIRE(histogram.sum() == static_cast<uint64_t>(Histogram::kHighest) + 4500);
  REQUIRE(histogram.value_at_percentile(50) == 1500);
  REQUIRE(histogram.value_at_percentile(20) == 0);
  Histogram empty;
  REQUIRE(empty.value_at_percentile(99) == 0);
  REQUIRE(empty.mean() == 0);
}

TEST_CASE("p(0) is the lowest value recorded, as HdrHistogram's valueAtPercentile(0)") {
  // 100,001 and 100,010 µs share a bucket (99,968 to 100,031 µs): its highest equivalent value
  // is the bucket's top, but p(0) is its lowest, which the recorded min narrows to the min.
  Histogram histogram;
  histogram.record(100'010);
  histogram.record(100'001);
  histogram.record(250'000);
  REQUIRE(Histogram::index_of(100'001) == Histogram::index_of(100'010));
  REQUIRE(histogram.value_at_percentile(0) == 100'001);
  REQUIRE(histogram.value_at_percentile(0) == histogram.min());
  REQUIRE(histogram.to_sparse().value_at_percentile(0) == 100'001);
  // Any percentile above 0 reads the top of its bucket (clamped to the recorded max).
  REQUIRE(histogram.value_at_percentile(1) == 100'031);
  REQUIRE(histogram.to_sparse().value_at_percentile(1) == 100'031);
  REQUIRE(histogram.value_at_percentile(100) == 250'000);
}

TEST_CASE("adding histograms equals recording every value in one") {
  std::mt19937_64 random(7);
  std::lognormal_distribution<double> latency(8, 1.5);
  Histogram a, b, both;
  for (int i = 0; i < 50'000; ++i) {
    const auto value = static_cast<int64_t>(latency(random));
    (i % 3 ? a : b).record(value);
    both.record(value);
  }
  Histogram dense = a;
  dense.add(b);
  REQUIRE(dense == both);

  Histogram from_sparse;
  from_sparse.add(a.to_sparse());
  from_sparse.add(b.to_sparse());
  REQUIRE(from_sparse == both);

  SparseHistogram sparse = a.to_sparse();
  sparse.add(b.to_sparse());
  REQUIRE(sparse == both.to_sparse());
  for (double percentile : {50.0, 90.0, 99.0, 99.9}) {
    REQUIRE(sparse.value_at_percentile(percentile) == both.value_at_percentile(percentile));
  }
}

TEST_CASE("the text encoding round-trips and refuses damaged input") {
  Histogram histogram;
  for (int64_t value : {3, 3, 40, 5000, 123456, 99999999}) histogram.record(value);
  const SparseHistogram sparse = histogram.to_sparse();
  auto decoded = SparseHistogram::decode(sparse.encode());
  REQUIRE(decoded.ok());
  REQUIRE(decoded.value() == sparse);
  REQUIRE(SparseHistogram::decode(SparseHistogram{}.encode()).ok());

  REQUIRE_FALSE(SparseHistogram::decode("").ok());
  REQUIRE_FALSE(SparseHistogram::decode("2/6/3/3/3:1").ok());         // counts do not add up
  REQUIRE_FALSE(SparseHistogram::decode("2/6/3/3/3:1,3:1").ok());     // index not ascending
  REQUIRE_FALSE(SparseHistogram::decode("1/3/3/3/99999999:1").ok());  // index out of range
  REQUIRE_FALSE(SparseHistogram::decode("1/3/3/3/3:x").ok());
  auto counted = SparseHistogram::decode("5/6/3/3/3:2");
  REQUIRE_FALSE(counted.ok());
  REQUIRE(counted.error().message == "histogram counts add up to 2, header says 5");
}

TEST_CASE("a histogram whose buckets are not where its recorded min and max are is refused") {
  // Values under 2048 µs have a bucket each: bucket 40 holds 40 µs.
  REQUIRE(SparseHistogram::decode("2/80/40/40/40:2").ok());
  REQUIRE(SparseHistogram::decode("1/40/40/40/3:1").error().message ==
          "histogram bucket 3 (3 to 3 µs) lies below the histogram's recorded min of 40 µs");
  REQUIRE(SparseHistogram::decode("2/80/40/40/40:1,41:1").error().message ==
          "histogram bucket 41 (41 to 41 µs) lies above the histogram's recorded max of 40 µs");
  REQUIRE(
      SparseHistogram::decode("1/40/40/40/3000:1").error().message ==
      "histogram bucket 3000 (3952 to 3953 µs) lies above the histogram's recorded max of 40 µs");
  REQUIRE(SparseHistogram::decode("2/80/30/50/40:2").error().message ==
          "the histogram's recorded min of 30 µs is in none of its buckets (the lowest is "
          "histogram bucket 40 (40 to 40 µs))");
  REQUIRE(SparseHistogram::decode("2/80/40/50/40:2").error().message ==
          "the histogram's recorded max of 50 µs is in none of its buckets (the highest is "
          "histogram bucket 40 (40 to 40 µs))");
  // What a histogram writes always reads back, merged ones too.
  Histogram histogram, other;
  for (int64_t value :
       std::initializer_list<int64_t>{0, 3, 2047, 2048, 123456, Histogram::kHighest})
    histogram.record(value);
  for (int64_t value : {1, 99999}) other.record(value);
  SparseHistogram merged = histogram.to_sparse();
  merged.add(other.to_sparse());
  REQUIRE(SparseHistogram::decode(merged.encode()).ok());
}
