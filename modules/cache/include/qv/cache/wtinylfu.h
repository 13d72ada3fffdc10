// W-TinyLFU eviction (Einziger, Friedman and Manes, "TinyLFU: A Highly Efficient Cache
// Admission Policy", ACM Transactions on Storage 2017), the design of Caffeine's cache:
//
//   window (LRU, 1% at first) -> probation (LRU) -> protected (LRU, 80% of the main space)
//
// A new entry enters the window. An entry that overflows the window becomes a candidate
// for the main space: it replaces probation's least recently used entry (the victim) only
// if the frequency sketch says it was accessed more often; otherwise it is dropped. A hit
// in probation promotes the entry to protected; protected's overflow goes back to probation.
//
// The adaptive variant moves the boundary between window and main space (Einziger, Eytan,
// Friedman and Manes, "Adaptive Software Cache Management", Middleware 2018), so that
// recency-biased workloads get a large window (LRU behaviour) and frequency-biased ones
// (loops, scans) a small one. Two climbers are available (ClimberOptions::Mode):
//
//  - kMiniSim (the default): the window climbs towards the size that miniature simulations
//    rank best (Waldspurger, Saemundsson, Ahmad and Park, "Cache Modeling and Optimization
//    using Miniature Simulations", USENIX ATC 2017). A few shadow W-TinyLFU caches with
//    fixed window shares see the accesses of a hash-sampled subset of the keys, scaled
//    down by the sampling rate; every period the window moves half-way towards the share
//    of the shadow with the fewest (exponentially decayed) misses. The shadows compare
//    window sizes on the same accesses at the same time, so warm-up, phase changes and
//    noise in the hit ratio do not mislead the climber.
//  - kSequential: Caffeine's climber, which compares the hit ratio of consecutive samples
//    of the real cache and keeps or reverses its direction. It is cheaper, but its signal
//    mixes the effect of its own moves with every change of the workload: on the shared
//    traces it misses the goal on several rows (docs/cache.md).
//
// Entries are slot numbers chosen by the owner (the L1 store, or a replay's key table);
// this class keeps only their queue links, weights and hashes. Sizes are weights: 1 per
// entry in replays and in the L1 store (whose byte bound is kept by the store).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "qv/cache/frequency_sketch.h"
#include "qv/cache/hash.h"
#include "qv/cache/hash_index.h"
#include "qv/result.h"

namespace qv::cache {

struct WTinyLfuOptions {
  uint64_t maximum = 1000;        // total weight held
  double window_share = 0.01;     // of the maximum, at the start
  double protected_share = 0.80;  // of the main space
  bool adaptive = true;           // hill-climb the window size
  uint64_t seed = 1;              // of the admission jitter
};

// How the adaptive window moves (see above).
struct ClimberOptions {
  enum class Mode { kMiniSim, kSequential };
  Mode mode = Mode::kMiniSim;
  // kMiniSim: window shares of the shadow caches; keys sampled at a rate that gives each
  // shadow at least min_shadow entries, and at least min_rate of the keys (large caches
  // estimate better from more samples); one period every `period_share` x maximum accesses.
  std::vector<double> shadow_shares = {0.01, 0.1, 0.4, 0.8};
  uint64_t min_shadow = 128;
  double min_rate = 1.0 / 48;
  double period_share = 1.0;
  uint64_t min_period = 256;
  double score_decay = 0.98;  // weight of the previous periods' misses in a shadow's score
  double approach = 0.5;      // the window moves this share of the way to the best each period
  // kSequential (Caffeine's constants): sample of 10 x maximum accesses, first step 6.25%
  // of the maximum, steps decaying by 0.98, restarted by a hit-ratio change of 5 points.
  double sample_share = 10.0;
  double step_share = 0.0625;
  double decay = 0.98;
  double restart_threshold = 0.05;
};

class MiniSim;

class WTinyLfu {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;

  explicit WTinyLfu(const WTinyLfuOptions& options,
                    const ClimberOptions& climber = ClimberOptions{});
  // A shadow for miniature simulation: reads frequencies from `shared` (the sketch of the
  // cache it shadows, which counts every key it sees) instead of keeping its own.
  WTinyLfu(const WTinyLfuOptions& options, const FrequencySketch* shared);
  ~WTinyLfu();
  WTinyLfu(const WTinyLfu&) = delete;
  WTinyLfu& operator=(const WTinyLfu&) = delete;

  // A hit: counts the access and reorders the entry.
  void on_hit(uint32_t slot);
  // A new entry, already absent from every queue. Evicts what no longer fits (possibly the
  // new entry itself: W-TinyLFU may refuse it) and appends those slots to `evicted`.
  void add(uint32_t slot, uint64_t hash, uint32_t weight, std::vector<uint32_t>& evicted);
  // A changed entry (same key, new value): counts the access, reweighs, evicts if needed.
  void update(uint32_t slot, uint32_t weight, std::vector<uint32_t>& evicted);
  // Removes an entry the owner dropped (expiry, invalidation).
  void remove(uint32_t slot);
  // The entry eviction would take next (for bounds the policy does not weigh, such as the
  // L1's bytes): probation's LRU, else protected's, else the window's. kNone when empty.
  uint32_t next_victim() const;
  bool contains(uint32_t slot) const;
  // Moves the boundary between window and main space so the window may hold `target`
  // (at least 1, at most the maximum), moving entries across as the space changes hands.
  void set_window_maximum(uint64_t target);

  uint64_t maximum() const { return maximum_; }
  uint64_t weighted_size() const { return window_size_ + probation_size_ + protected_size_; }
  uint64_t window_maximum() const { return window_maximum_; }
  uint64_t window_size() const { return window_size_; }
  uint64_t protected_size() const { return protected_size_; }
  const FrequencySketch& sketch() const { return shared_sketch_ ? *shared_sketch_ : sketch_; }
  uint64_t adaptations() const { return adaptations_; }
  // Entries (shadow caches included) the adaptive window keeps for its estimates.
  uint64_t shadow_entries() const;

  // Checks the queues' links, queue tags and weights against the sizes kept. The first
  // broken invariant, named.
  Status check() const;

 private:
  enum Queue : uint8_t { kAbsent = 0, kWindow = 1, kProbation = 2, kProtected = 3 };
  struct Node {
    uint32_t prev = kNone;
    uint32_t next = kNone;
    uint32_t weight = 0;
    Queue queue = kAbsent;
    uint64_t hash = 0;
  };
  struct List {
    uint32_t head = kNone;  // least recently used
    uint32_t tail = kNone;  // most recently used
  };

  void grow(uint32_t slot);
  void unlink(uint32_t slot);
  void append(Queue queue, uint32_t slot);  // as most recently used
  List& list(Queue queue) { return lists_[queue]; }
  uint64_t& size_of(Queue queue);

  void evict_from_window(std::vector<uint32_t>& evicted);
  void evict_from_main(uint32_t candidate, std::vector<uint32_t>& evicted);
  void evict(uint32_t slot, std::vector<uint32_t>& evicted);
  bool admit(uint64_t candidate_hash, uint64_t victim_hash);
  void demote_from_protected();

  void count_sample(bool hit, uint64_t hash);
  void climb_sequential();
  void increase_window(uint64_t amount);
  void decrease_window(uint64_t amount);
  int frequency(uint64_t hash) const { return sketch().frequency(hash); }
  void touch_sketch(uint64_t hash) {
    if (!shared_sketch_) sketch_.increment(hash);
  }

  std::vector<Node> nodes_;
  List lists_[4];
  uint64_t maximum_;
  uint64_t window_maximum_;
  uint64_t protected_maximum_;
  uint64_t window_size_ = 0, probation_size_ = 0, protected_size_ = 0;
  uint64_t absent_size_ = 0;  // unused: keeps size_of total
  FrequencySketch sketch_;
  const FrequencySketch* shared_sketch_ = nullptr;
  Random random_;
  bool adaptive_;
  double protected_share_;

  ClimberOptions climber_;
  std::unique_ptr<MiniSim> minisim_;  // kMiniSim
  uint64_t sample_size_ = 0;          // kSequential
  uint64_t hits_in_sample_ = 0, misses_in_sample_ = 0;
  double previous_hit_ratio_ = 0;
  double step_ = 0;
  uint64_t adaptations_ = 0;
};

// Keys of a replay or a shadow cache in dense slots: a hash index maps a 64-bit key to its
// slot; freed slots are reused. Shadows key by the 64-bit hash of the real key.
class KeySlots {
 public:
  static constexpr uint32_t kNone = HashIndex::kNone;

  explicit KeySlots(uint64_t capacity) : index_(capacity) { keys_.reserve(capacity + 1); }
  uint32_t find(uint64_t key, uint64_t hash) const {
    return index_.find(hash, [&](uint32_t slot) { return keys_[slot] == key; });
  }
  uint32_t insert(uint64_t key, uint64_t hash);
  void erase(uint32_t slot, uint64_t hash);
  uint64_t key(uint32_t slot) const { return keys_[slot]; }
  uint64_t size() const { return index_.size(); }

 private:
  HashIndex index_;
  std::vector<uint64_t> keys_;
  std::vector<uint32_t> free_;
};

}  // namespace qv::cache
