// An open-addressing hash index from keys to slot numbers (linear probing, backward-shift
// deletion, no tombstones). The owner keeps the keys; the index keeps each key's 64-bit
// hash beside its slot, so a probe compares a full key only when the hashes agree, and
// growth and deletion never need the keys.
//
// Hand-written because the index must build without exceptions for wasm32 and natively
// from the same source; Debian's hash-table libraries (Abseil, ...) have no wasm32 build.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace qv::cache {

class HashIndex {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;

  explicit HashIndex(size_t expected = 16) { rehash(expected); }

  // The slot of the key with this hash for which same(slot) holds, or kNone.
  template <typename Same>
  uint32_t find(uint64_t hash, Same&& same) const {
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const Bucket& bucket = buckets_[i];
      if (bucket.slot == kNone) return kNone;
      if (bucket.hash == hash && same(bucket.slot)) return bucket.slot;
    }
  }

  // Adds a key known to be absent.
  void insert(uint64_t hash, uint32_t slot) {
    if ((size_ + 1) * 8 > buckets_.size() * 7) rehash(buckets_.size());
    place(hash, slot);
    ++size_;
  }

  // Removes the entry of this slot (whose key hashes to `hash`). Returns whether it was there.
  bool erase(uint64_t hash, uint32_t slot);

  size_t size() const { return size_; }
  void clear();

 private:
  struct Bucket {
    uint64_t hash = 0;
    uint32_t slot = kNone;
  };
  void place(uint64_t hash, uint32_t slot);
  void rehash(size_t at_least);

  std::vector<Bucket> buckets_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace qv::cache
