#include "histogram.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>

namespace qv::loadtest {

namespace {

constexpr int kLeadingZeroCountBase = 64 - Histogram::kSubBucketHalfCountMagnitude - 1;
constexpr uint64_t kSubBucketMask = Histogram::kSubBucketCount - 1;

int64_t clamp_value(int64_t value) {
  return std::clamp(value, Histogram::kLowest, Histogram::kHighest);
}

uint64_t count_at_percentile(double percentile, uint64_t total) {
  const double clamped = std::clamp(percentile, 0.0, 100.0);
  const auto wanted = static_cast<uint64_t>(std::ceil(clamped / 100.0 * total - 1e-9));
  return std::max<uint64_t>(1, std::min(wanted, total));
}

// HdrHistogram's value for the bucket at `index` that a percentile reached: the highest value
// equivalent to it, but for p(0) the lowest, so p(0) is the lowest value recorded; either
// clamped to the recorded min and max, which the values of its bucket may straddle.
int64_t value_in_bucket(size_t index, double percentile, int64_t min, int64_t max) {
  const int64_t value =
      percentile <= 0 ? Histogram::lowest_equivalent(index) : Histogram::highest_equivalent(index);
  return std::clamp(value, min, max);
}

}  // namespace

Histogram::Histogram() = default;

void Histogram::allocate() {
  if (counts_.empty()) counts_.assign(kCountsLength, 0);
}

size_t Histogram::index_of(int64_t value) {
  const auto v = static_cast<uint64_t>(value);
  const int bucket = kLeadingZeroCountBase - __builtin_clzll(v | kSubBucketMask);
  const auto sub_bucket = static_cast<int64_t>(v >> bucket);
  return static_cast<size_t>(((int64_t{bucket} + 1) << kSubBucketHalfCountMagnitude) +
                             (sub_bucket - kSubBucketHalfCount));
}

int64_t Histogram::lowest_equivalent(size_t index) {
  int64_t bucket = static_cast<int64_t>(index >> kSubBucketHalfCountMagnitude) - 1;
  int64_t sub_bucket =
      static_cast<int64_t>(index & (kSubBucketHalfCount - 1)) + kSubBucketHalfCount;
  if (bucket < 0) {
    sub_bucket -= kSubBucketHalfCount;
    bucket = 0;
  }
  return sub_bucket << bucket;
}

int64_t Histogram::highest_equivalent(size_t index) {
  const int64_t lowest = lowest_equivalent(index);
  // The range of values one count stands for doubles with each bucket.
  const int bucket =
      kLeadingZeroCountBase - __builtin_clzll(static_cast<uint64_t>(lowest) | kSubBucketMask);
  return lowest + (int64_t{1} << bucket) - 1;
}

void Histogram::record(int64_t value, uint64_t count) {
  if (count == 0) return;
  value = clamp_value(value);
  allocate();
  counts_[index_of(value)] += count;
  if (total_count_ == 0) {
    min_ = max_ = value;
  } else {
    min_ = std::min(min_, value);
    max_ = std::max(max_, value);
  }
  total_count_ += count;
  sum_ += static_cast<uint64_t>(value) * count;
}

void Histogram::add(const Histogram& other) {
  if (other.total_count_ == 0) return;
  allocate();
  for (size_t i = index_of(other.min_), last = index_of(other.max_); i <= last; ++i)
    counts_[i] += other.counts_[i];
  min_ = total_count_ ? std::min(min_, other.min_) : other.min_;
  max_ = total_count_ ? std::max(max_, other.max_) : other.max_;
  total_count_ += other.total_count_;
  sum_ += other.sum_;
}

void Histogram::add(const SparseHistogram& other) {
  if (other.total_count == 0) return;
  allocate();
  for (const auto& [index, count] : other.buckets) counts_[index] += count;
  min_ = total_count_ ? std::min(min_, other.min) : other.min;
  max_ = total_count_ ? std::max(max_, other.max) : other.max;
  total_count_ += other.total_count;
  sum_ += other.sum;
}

void Histogram::reset() {
  if (total_count_ == 0) return;
  // Only the buckets between min and max can hold counts.
  std::fill(counts_.begin() + static_cast<std::ptrdiff_t>(index_of(min_)),
            counts_.begin() + static_cast<std::ptrdiff_t>(index_of(max_)) + 1, 0);
  total_count_ = sum_ = 0;
  min_ = max_ = 0;
}

int64_t Histogram::value_at_percentile(double percentile) const {
  if (total_count_ == 0) return 0;
  const uint64_t wanted = count_at_percentile(percentile, total_count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < kCountsLength; ++i) {
    seen += counts_[i];
    if (seen >= wanted) return value_in_bucket(i, percentile, min_, max_);
  }
  return max_;
}

SparseHistogram Histogram::to_sparse() const {
  SparseHistogram sparse;
  sparse.total_count = total_count_;
  sparse.sum = sum_;
  sparse.min = min();
  sparse.max = max();
  if (total_count_ == 0) return sparse;
  // Only the buckets between min and max can hold counts.
  const size_t first = index_of(min_), last = index_of(max_);
  for (size_t i = first; i <= last; ++i) {
    if (counts_[i]) sparse.buckets.emplace_back(static_cast<uint32_t>(i), counts_[i]);
  }
  return sparse;
}

bool Histogram::operator==(const Histogram& other) const {
  return total_count_ == other.total_count_ && sum_ == other.sum_ && min() == other.min() &&
         max() == other.max() && (total_count_ == 0 || counts_ == other.counts_);
}

void SparseHistogram::add(const SparseHistogram& other) {
  if (other.total_count == 0) return;
  std::vector<std::pair<uint32_t, uint64_t>> merged;
  merged.reserve(buckets.size() + other.buckets.size());
  size_t a = 0, b = 0;
  while (a < buckets.size() || b < other.buckets.size()) {
    if (b == other.buckets.size() ||
        (a < buckets.size() && buckets[a].first < other.buckets[b].first)) {
      merged.push_back(buckets[a++]);
    } else if (a == buckets.size() || other.buckets[b].first < buckets[a].first) {
      merged.push_back(other.buckets[b++]);
    } else {
      merged.emplace_back(buckets[a].first, buckets[a].second + other.buckets[b].second);
      ++a, ++b;
    }
  }
  buckets = std::move(merged);
  min = total_count ? std::min(min, other.min) : other.min;
  max = total_count ? std::max(max, other.max) : other.max;
  total_count += other.total_count;
  sum += other.sum;
}

int64_t SparseHistogram::value_at_percentile(double percentile) const {
  if (total_count == 0) return 0;
  const uint64_t wanted = count_at_percentile(percentile, total_count);
  uint64_t seen = 0;
  for (const auto& [index, count] : buckets) {
    seen += count;
    if (seen >= wanted) return value_in_bucket(index, percentile, min, max);
  }
  return max;
}

std::string SparseHistogram::encode() const {
  std::string text = std::to_string(total_count) + "/" + std::to_string(sum) + "/" +
                     std::to_string(min) + "/" + std::to_string(max) + "/";
  for (size_t i = 0; i < buckets.size(); ++i) {
    if (i) text += ',';
    text += std::to_string(buckets[i].first);
    text += ':';
    text += std::to_string(buckets[i].second);
  }
  return text;
}

namespace {

template <typename T>
bool read_number(std::string_view& text, char stop, T& out) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (error != std::errc() || end == text.data()) return false;
  text.remove_prefix(static_cast<size_t>(end - text.data()));
  if (stop) {
    if (text.empty() || text.front() != stop) return false;
    text.remove_prefix(1);
  }
  return true;
}

}  // namespace

Result<SparseHistogram> SparseHistogram::decode(std::string_view text) {
  const Error bad{"malformed histogram '" + std::string(text.substr(0, 40)) +
                  (text.size() > 40 ? "...'" : "'")};
  SparseHistogram out;
  if (!read_number(text, '/', out.total_count) || !read_number(text, '/', out.sum) ||
      !read_number(text, '/', out.min) || !read_number(text, '/', out.max)) {
    return bad;
  }
  uint64_t counted = 0;
  while (!text.empty()) {
    uint32_t index;
    uint64_t count;
    if (!read_number(text, ':', index) || !read_number(text, 0, count)) return bad;
    if (!text.empty()) {
      if (text.front() != ',') return bad;
      text.remove_prefix(1);
    }
    if (index >= Histogram::kCountsLength || count == 0) return bad;
    if (!out.buckets.empty() && index <= out.buckets.back().first) return bad;
    out.buckets.emplace_back(index, count);
    counted += count;
  }
  if (counted != out.total_count)
    return Error{"histogram counts add up to " + std::to_string(counted) + ", header says " +
                 std::to_string(out.total_count)};
  if (out.total_count == 0) return out;
  if (out.min < Histogram::kLowest || out.max > Histogram::kHighest || out.min > out.max)
    return bad;
  // The lowest bucket is the recorded min's and the highest the max's, as a histogram records
  // them: adding, resetting and copying go by the buckets between min and max, so a count
  // outside them would be lost (or left behind in the next interval's histogram).
  auto bucket = [](uint32_t index) {
    return "histogram bucket " + std::to_string(index) + " (" +
           std::to_string(Histogram::lowest_equivalent(index)) + " to " +
           std::to_string(Histogram::highest_equivalent(index)) + " µs)";
  };
  const uint32_t lowest = out.buckets.front().first, highest = out.buckets.back().first;
  const std::string min = std::to_string(out.min) + " µs", max = std::to_string(out.max) + " µs";
  if (lowest < Histogram::index_of(out.min))
    return Error{bucket(lowest) + " lies below the histogram's recorded min of " + min};
  if (highest > Histogram::index_of(out.max))
    return Error{bucket(highest) + " lies above the histogram's recorded max of " + max};
  if (lowest != Histogram::index_of(out.min))
    return Error{"the histogram's recorded min of " + min + " is in none of its buckets (the " +
                 "lowest is " + bucket(lowest) + ")"};
  if (highest != Histogram::index_of(out.max))
    return Error{"the histogram's recorded max of " + max + " is in none of its buckets (the " +
                 "highest is " + bucket(highest) + ")"};
  return out;
}

}  // namespace qv::loadtest
