#include "qv/cache/hash_index.h"

#include <bit>

namespace qv::cache {

void HashIndex::place(uint64_t hash, uint32_t slot) {
  size_t i = hash & mask_;
  while (buckets_[i].slot != kNone) i = (i + 1) & mask_;
  buckets_[i] = {hash, slot};
}

void HashIndex::rehash(size_t at_least) {
  std::vector<Bucket> old;
  old.swap(buckets_);
  const size_t size = std::bit_ceil(std::max<size_t>(16, at_least * 4));
  buckets_.assign(size, Bucket{});
  mask_ = size - 1;
  for (const Bucket& bucket : old) {
    if (bucket.slot != kNone) place(bucket.hash, bucket.slot);
  }
}

bool HashIndex::erase(uint64_t hash, uint32_t slot) {
  size_t i = hash & mask_;
  while (buckets_[i].slot != slot) {
    if (buckets_[i].slot == kNone) return false;
    i = (i + 1) & mask_;
  }
  // Backward-shift deletion: pull later members of the probe run into the hole, so that
  // every key stays reachable from its home bucket without tombstones.
  size_t hole = i;
  for (size_t j = (i + 1) & mask_; buckets_[j].slot != kNone; j = (j + 1) & mask_) {
    const size_t home = buckets_[j].hash & mask_;
    // j may move into the hole when its home is not in the cyclic range (hole, j].
    const bool home_after_hole =
        hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
    if (!home_after_hole) {
      buckets_[hole] = buckets_[j];
      hole = j;
    }
  }
  buckets_[hole] = Bucket{};
  --size_;
  return true;
}

void HashIndex::clear() {
  for (auto& bucket : buckets_) bucket = Bucket{};
  size_ = 0;
}

}  // namespace qv::cache
