// L1: the cache in the isolate's own memory. Bounded by entry count (W-TinyLFU with the
// adaptive window decides what stays) and by bytes (beyond that, the policy's next victims
// go), with an expiry per entry (expired entries are dropped when met and by an incremental
// sweep on every write).
//
// Two key spaces share the store and its bounds: responses of the multi-layer cache
// (kResponses, keyed by encoded cache key, holding a CachedEntry) and values a host keeps
// itself (kHosted, keyed by a 64-bit hash the host gives, holding only their size: see
// qv_l1_put). A key of one space never meets a key of the other.
//
// Each stored value gets a version, unique in the process (so across stores that replace
// each other after a reconfiguration too), so a host may ask with (slot, version) whether
// the value it registered is still the live, fresh one.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "qv/cache/entry.h"
#include "qv/cache/hash_index.h"
#include "qv/cache/wtinylfu.h"

namespace qv::cache {

struct L1Limits {
  uint32_t max_entries = 1000;
  uint64_t max_bytes = 16u << 20;
  uint64_t max_entry_bytes = 1u << 20;  // larger values are not kept in L1
};

struct L1Stats {
  uint64_t hits = 0, misses = 0;
  uint64_t evictions = 0;      // chosen by the policy or the byte bound
  uint64_t expirations = 0;    // dropped because they expired
  uint64_t invalidations = 0;  // dropped by invalidation
  uint64_t rejected = 0;       // too large to keep
};

class L1Store {
 public:
  enum class Space : uint8_t { kResponses = 1, kHosted = 2 };
  static constexpr uint32_t kNone = HashIndex::kNone;

  L1Store(const L1Limits& limits, uint64_t seed);

  // The slot of a live key (expired entries count as absent and are dropped), or kNone.
  // Counts a hit or a miss, and a hit as an access in the policy.
  uint32_t get(Space space, std::string_view key, double now);
  // The slot of a live key without counting anything (expired entries count as absent).
  uint32_t peek(Space space, std::string_view key, double now) const;
  // Counts a hit (an access for the policy) or a miss for a lookup done with peek().
  void record_hit(uint32_t slot);
  void record_miss() { ++stats_.misses; }
  // An access for the policy only, of a lookup whose hit or miss was counted already.
  void record_access(uint32_t slot) { policy_.on_hit(slot); }
  // Whether (slot, version) is still live and unexpired; counts the access as get() does.
  bool touch(uint32_t slot, uint32_t version, double now);
  // Whether the slot still holds that version (no access counted).
  bool alive(uint32_t slot, uint32_t version, double now) const;

  // Stores a response entry, served as fresh from L1 before `fresh_until` and kept until
  // `expires_at`. Returns its slot, or kNone when it is too large (an older value of the
  // key is removed then) or the policy let it go at once.
  uint32_t put_response(std::string_view key, EntryPtr entry, double fresh_until, double expires_at,
                        double now);
  // Registers a host's value of `size` bytes under its key's hash; as put_response.
  uint32_t put_hosted(uint64_t key_hash, uint64_t size, double expires_at, double now);
  // Removes (slot, version); false when it is not live.
  bool remove(uint32_t slot, uint32_t version);

  bool erase(Space space, std::string_view key);
  // Drops every response entry for which `match` holds; returns how many.
  size_t erase_responses(const std::function<bool(const CachedEntry&)>& match);

  // Slot contents (valid until the next write).
  const EntryPtr& response(uint32_t slot) const { return slots_[slot].response; }
  // (slot, version) of the hosted values released since take_released(), and whether more
  // were released than kMaxReleased (then the list is incomplete).
  static constexpr size_t kMaxReleased = 4096;
  const std::vector<uint32_t>& released() const { return released_; }
  bool released_overflow() const { return released_overflow_; }
  // Moves the list into `into` (cleared first) and starts a new one; returns the overflow.
  bool take_released(std::vector<uint32_t>& into);
  uint32_t version(uint32_t slot) const { return slots_[slot].version; }
  double expires_at(uint32_t slot) const { return slots_[slot].expires_at; }
  double fresh_until(uint32_t slot) const { return slots_[slot].fresh_until; }

  uint64_t entries() const { return index_.size(); }
  uint64_t bytes() const { return bytes_; }
  const L1Limits& limits() const { return limits_; }
  const L1Stats& stats() const { return stats_; }
  const WTinyLfu& policy() const { return policy_; }
  // Checks index, slots, byte count and policy against each other.
  Status check() const;

 private:
  struct Slot {
    std::string key;
    uint64_t hash = 0;
    Space space = Space::kResponses;
    bool live = false;
    uint32_t version = 0;
    double fresh_until = 0;
    double expires_at = 0;
    uint64_t bytes = 0;
    EntryPtr response;  // kResponses
  };

  // An access of a live slot: a hit, or (expired) a miss that drops it. Whether it hit.
  bool access(uint32_t slot, double now);
  uint64_t hash_of(Space space, std::string_view key) const;
  uint32_t find(Space space, std::string_view key, uint64_t hash) const;
  // find() of the key's own hash; one copy of the probe loop for every caller.
  uint32_t lookup(Space space, std::string_view key) const;
  uint32_t put(Space space, std::string_view key, uint64_t hash, EntryPtr response, uint64_t bytes,
               double fresh_until, double expires_at, double now);
  void release(uint32_t slot);
  void sweep(double now, int budget);
  void evict_over_bytes();

  L1Limits limits_;
  uint64_t seed_;
  HashIndex index_;
  WTinyLfu policy_;
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
  std::vector<uint32_t> evicted_;
  uint64_t bytes_ = 0;
  size_t sweep_at_ = 0;
  std::vector<uint32_t> released_;  // (slot, version) pairs of released hosted values
  bool released_overflow_ = false;
  L1Stats stats_;
};

}  // namespace qv::cache
