#include "qv/cache/wtinylfu.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace qv::cache {

namespace {

// A candidate this frequent is admitted over a victim at least as frequent once in 128
// times: an attacker who makes a victim look hot cannot lock the main space (Caffeine's
// defence against hash flooding).
constexpr int kJitterThreshold = 6;
// At most this many entries move between window and main per adaptation.
constexpr int kMaxTransfers = 1000;

}  // namespace

// The adaptive window's miniature simulation: shadow W-TinyLFU caches, one per window
// share, over the keys whose hash falls in the sample, each `rate` times the size. The
// shadows share one table of the sampled keys (a key keeps its slot while any shadow holds
// it), so an access probes one index, not one per shadow.
class MiniSim {
 public:
  MiniSim(const ClimberOptions& options, uint64_t maximum, const FrequencySketch* sketch)
      : options_(options) {
    const double rate =
        std::min(1.0, std::max(options.min_rate, static_cast<double>(options.min_shadow) /
                                                     static_cast<double>(maximum)));
    threshold_ = static_cast<uint64_t>(std::ceil(rate * 65536.0));
    const uint64_t size = std::max<uint64_t>(1, std::llround(static_cast<double>(maximum) * rate));
    period_ = std::max<uint64_t>(
        options.min_period,
        static_cast<uint64_t>(options.period_share * static_cast<double>(maximum)));
    for (double share : options.shadow_shares) {
      Shadow shadow;
      shadow.share = share;
      shadow.cache = std::make_unique<WTinyLfu>(
          WTinyLfuOptions{.maximum = size, .window_share = share, .adaptive = false}, sketch);
      shadows_.push_back(std::move(shadow));
    }
    keys_ = std::make_unique<KeySlots>(size * shadows_.size());
  }

  // One access of the real cache. Returns the window share to move towards at the end of
  // a period (negative: not now).
  double record(uint64_t hash) {
    if (((hash >> 40) & 0xffff) < threshold_) sample(hash);
    if (++accesses_ < period_) return -1;
    accesses_ = 0;
    const Shadow* best = nullptr;
    for (Shadow& shadow : shadows_) {
      shadow.score = shadow.score * options_.score_decay + static_cast<double>(shadow.misses);
      shadow.misses = 0;
      if (!best || shadow.score < best->score) best = &shadow;
    }
    return best->share;
  }

  uint64_t entries() const {
    uint64_t total = 0;
    for (const Shadow& shadow : shadows_) total += shadow.cache->weighted_size();
    return total;
  }

 private:
  struct Shadow {
    double share = 0;
    std::unique_ptr<WTinyLfu> cache;
    uint64_t misses = 0;  // in this period
    double score = 0;     // decayed misses of the periods so far
  };

  void sample(uint64_t hash) {
    uint32_t slot = keys_->find(hash, hash);
    if (slot == KeySlots::kNone) {
      slot = keys_->insert(hash, hash);
      if (slot >= holders_.size()) holders_.resize(slot + 1);
      holders_[slot] = 0;
    }
    for (Shadow& shadow : shadows_) {
      if (shadow.cache->contains(slot)) {
        shadow.cache->on_hit(slot);
        continue;
      }
      ++shadow.misses;
      ++holders_[slot];
      evicted_.clear();
      shadow.cache->add(slot, hash, 1, evicted_);
      // A key no shadow holds leaves the table; this access's key only after every shadow
      // has seen it (a later shadow may still take it).
      for (uint32_t gone : evicted_) {
        if (--holders_[gone] == 0 && gone != slot) keys_->erase(gone, keys_->key(gone));
      }
    }
    if (holders_[slot] == 0) keys_->erase(slot, hash);
  }

  const ClimberOptions& options_;
  std::vector<Shadow> shadows_;
  std::unique_ptr<KeySlots> keys_;
  std::vector<uint8_t> holders_;  // by key slot: how many shadows hold the key
  std::vector<uint32_t> evicted_;
  uint64_t threshold_ = 0;  // a key is sampled when 16 bits of its hash are below this
  uint64_t period_ = 0;
  uint64_t accesses_ = 0;
};

WTinyLfu::WTinyLfu(const WTinyLfuOptions& options, const ClimberOptions& climber)
    : maximum_(std::max<uint64_t>(options.maximum, 1)),
      sketch_(maximum_),
      random_(options.seed),
      adaptive_(options.adaptive),
      protected_share_(options.protected_share),
      climber_(climber) {
  const uint64_t main = static_cast<uint64_t>(
      std::floor(static_cast<double>(maximum_) * (1.0 - options.window_share)));
  window_maximum_ = maximum_ - std::min(main, maximum_);
  protected_maximum_ = static_cast<uint64_t>(
      std::floor(static_cast<double>(maximum_ - window_maximum_) * protected_share_));
  if (!adaptive_) return;
  if (climber_.mode == ClimberOptions::Mode::kMiniSim) {
    minisim_ = std::make_unique<MiniSim>(climber_, maximum_, &sketch_);
  } else {
    sample_size_ = std::max<uint64_t>(
        1, static_cast<uint64_t>(climber_.sample_share * static_cast<double>(maximum_)));
    step_ = -climber_.step_share * static_cast<double>(maximum_);  // first move: shrink
  }
}

WTinyLfu::WTinyLfu(const WTinyLfuOptions& options, const FrequencySketch* shared)
    : WTinyLfu(WTinyLfuOptions{.maximum = options.maximum,
                               .window_share = options.window_share,
                               .protected_share = options.protected_share,
                               .adaptive = false,
                               .seed = options.seed}) {
  shared_sketch_ = shared;
  sketch_ = FrequencySketch(1);  // unused: the shared one counts
}

WTinyLfu::~WTinyLfu() = default;

uint64_t WTinyLfu::shadow_entries() const {
  return minisim_ ? minisim_->entries() : 0;
}

void WTinyLfu::grow(uint32_t slot) {
  if (slot >= nodes_.size()) nodes_.resize(std::max<size_t>(slot + 1, nodes_.size() * 2));
}

bool WTinyLfu::contains(uint32_t slot) const {
  return slot < nodes_.size() && nodes_[slot].queue != kAbsent;
}

uint64_t& WTinyLfu::size_of(Queue queue) {
  switch (queue) {
    case kWindow:
      return window_size_;
    case kProbation:
      return probation_size_;
    case kProtected:
      return protected_size_;
    case kAbsent:
      break;
  }
  return absent_size_;
}

void WTinyLfu::unlink(uint32_t slot) {
  Node& node = nodes_[slot];
  List& from = list(node.queue);
  if (node.prev != kNone)
    nodes_[node.prev].next = node.next;
  else
    from.head = node.next;
  if (node.next != kNone)
    nodes_[node.next].prev = node.prev;
  else
    from.tail = node.prev;
  size_of(node.queue) -= node.weight;
  node.prev = node.next = kNone;
  node.queue = kAbsent;
}

void WTinyLfu::append(Queue queue, uint32_t slot) {
  Node& node = nodes_[slot];
  List& to = list(queue);
  node.queue = queue;
  node.prev = to.tail;
  node.next = kNone;
  if (to.tail != kNone)
    nodes_[to.tail].next = slot;
  else
    to.head = slot;
  to.tail = slot;
  size_of(queue) += node.weight;
}

void WTinyLfu::on_hit(uint32_t slot) {
  if (!contains(slot)) return;
  const Queue queue = nodes_[slot].queue;
  const uint64_t hash = nodes_[slot].hash;
  touch_sketch(hash);
  unlink(slot);
  if (queue == kProbation) {
    append(kProtected, slot);  // a second access in the main space: protect it
    demote_from_protected();
  } else {
    append(queue, slot);  // most recently used in its own queue
  }
  count_sample(true, hash);
}

void WTinyLfu::add(uint32_t slot, uint64_t hash, uint32_t weight, std::vector<uint32_t>& evicted) {
  grow(slot);
  Node& node = nodes_[slot];
  node.hash = hash;
  node.weight = weight;
  touch_sketch(hash);
  append(kWindow, slot);
  count_sample(false, hash);
  evict_from_window(evicted);
}

void WTinyLfu::update(uint32_t slot, uint32_t weight, std::vector<uint32_t>& evicted) {
  if (!contains(slot)) return;
  const Queue queue = nodes_[slot].queue;
  touch_sketch(nodes_[slot].hash);
  unlink(slot);
  nodes_[slot].weight = weight;
  append(queue, slot);
  if (queue == kProtected) demote_from_protected();
  evict_from_window(evicted);
}

void WTinyLfu::remove(uint32_t slot) {
  if (contains(slot)) unlink(slot);
}

uint32_t WTinyLfu::next_victim() const {
  for (Queue queue : {kProbation, kProtected, kWindow}) {
    if (lists_[queue].head != kNone) return lists_[queue].head;
  }
  return kNone;
}

void WTinyLfu::demote_from_protected() {
  for (int moved = 0; protected_size_ > protected_maximum_ && moved < kMaxTransfers; ++moved) {
    const uint32_t demoted = lists_[kProtected].head;
    if (demoted == kNone) break;
    unlink(demoted);
    append(kProbation, demoted);
  }
}

// Moves the window's overflow to probation as candidates, then evicts from the main space
// until everything fits.
void WTinyLfu::evict_from_window(std::vector<uint32_t>& evicted) {
  uint32_t first = kNone;
  uint32_t slot = lists_[kWindow].head;
  while (window_size_ > window_maximum_ && slot != kNone) {
    const uint32_t next = nodes_[slot].next;
    unlink(slot);
    append(kProbation, slot);
    if (first == kNone) first = slot;
    slot = next;
  }
  evict_from_main(first, evicted);
}

// Caffeine's evictFromMain: candidates (from `candidate` towards probation's most recent
// end) duel probation's least recently used entries; the one the sketch ranks lower goes.
// When probation runs out, victims come from protected, then from the window.
void WTinyLfu::evict_from_main(uint32_t candidate, std::vector<uint32_t>& evicted) {
  Queue victim_queue = kProbation;
  Queue candidate_queue = kProbation;
  uint32_t victim = lists_[kProbation].head;
  while (weighted_size() > maximum_) {
    if (candidate == kNone && candidate_queue == kProbation) {
      candidate = lists_[kWindow].head;  // look for candidates in the window too
      candidate_queue = kWindow;
    }
    if (candidate == kNone && victim == kNone) {
      if (victim_queue == kProbation) {
        victim = lists_[kProtected].head;
        victim_queue = kProtected;
        continue;
      }
      if (victim_queue == kProtected) {
        victim = lists_[kWindow].head;
        victim_queue = kWindow;
        continue;
      }
      break;
    }
    if (victim == kNone) {  // only a candidate left
      const uint32_t next = nodes_[candidate].next;
      evict(candidate, evicted);
      candidate = next;
      continue;
    }
    if (candidate == kNone) {  // only a victim left
      const uint32_t next = nodes_[victim].next;
      evict(victim, evicted);
      victim = next;
      continue;
    }
    if (candidate == victim) {
      const uint32_t next = nodes_[victim].next;
      evict(victim, evicted);
      victim = next;
      candidate = kNone;
      continue;
    }
    if (nodes_[candidate].weight > maximum_) {  // can never fit
      const uint32_t next = nodes_[candidate].next;
      evict(candidate, evicted);
      candidate = next;
      continue;
    }
    if (admit(nodes_[candidate].hash, nodes_[victim].hash)) {
      const uint32_t next = nodes_[victim].next;
      evict(victim, evicted);
      victim = next;
      candidate = nodes_[candidate].next;
    } else {
      const uint32_t next = nodes_[candidate].next;
      evict(candidate, evicted);
      candidate = next;
    }
  }
}

void WTinyLfu::evict(uint32_t slot, std::vector<uint32_t>& evicted) {
  unlink(slot);
  evicted.push_back(slot);
}

bool WTinyLfu::admit(uint64_t candidate_hash, uint64_t victim_hash) {
  const int victim = frequency(victim_hash);
  const int candidate = frequency(candidate_hash);
  if (candidate > victim) return true;
  if (candidate >= kJitterThreshold) return (random_.next() & 127) == 0;
  return false;
}

void WTinyLfu::count_sample(bool hit, uint64_t hash) {
  if (!adaptive_) return;
  if (minisim_) {
    const double share = minisim_->record(hash);
    if (share < 0) return;
    const double target = share * static_cast<double>(maximum_);
    const double now = static_cast<double>(window_maximum_);
    const auto next = static_cast<uint64_t>(std::llround(now + (target - now) * climber_.approach));
    if (next != window_maximum_) {
      set_window_maximum(next);
      ++adaptations_;
    }
    return;
  }
  (hit ? hits_in_sample_ : misses_in_sample_) += 1;
  if (hits_in_sample_ + misses_in_sample_ >= sample_size_) climb_sequential();
}

// Caffeine's climber, at the end of a sample: a better hit ratio than the previous
// sample's keeps the direction, a worse one reverses it.
void WTinyLfu::climb_sequential() {
  const double hit_ratio = static_cast<double>(hits_in_sample_) /
                           static_cast<double>(hits_in_sample_ + misses_in_sample_);
  const double change = hit_ratio - previous_hit_ratio_;
  const double amount = change >= 0 ? step_ : -step_;
  step_ = std::abs(change) >= climber_.restart_threshold
              ? climber_.step_share * static_cast<double>(maximum_) * (amount >= 0 ? 1 : -1)
              : climber_.decay * amount;
  previous_hit_ratio_ = hit_ratio;
  hits_in_sample_ = misses_in_sample_ = 0;
  demote_from_protected();
  const auto quota = static_cast<uint64_t>(std::llround(std::abs(amount)));
  if (quota == 0) return;
  if (amount > 0)
    increase_window(quota);
  else
    decrease_window(quota);
  ++adaptations_;
}

// Grows the window by up to `amount`, taking the space (and its least recently used
// entries) from the main space.
void WTinyLfu::increase_window(uint64_t amount) {
  uint64_t quota = std::min(amount, protected_maximum_);
  protected_maximum_ -= quota;
  window_maximum_ += quota;
  demote_from_protected();
  for (int moved = 0; moved < kMaxTransfers; ++moved) {
    uint32_t slot = lists_[kProbation].head;
    if (slot == kNone || quota < nodes_[slot].weight) slot = lists_[kProtected].head;
    if (slot == kNone || quota < nodes_[slot].weight) break;
    quota -= nodes_[slot].weight;
    unlink(slot);
    append(kWindow, slot);
  }
  // Space not filled by moved entries goes back to the main space.
  protected_maximum_ += quota;
  window_maximum_ -= quota;
}

// Shrinks the window by up to `amount` (never below one), moving its least recently used
// entries to probation.
void WTinyLfu::decrease_window(uint64_t amount) {
  if (window_maximum_ <= 1) return;
  uint64_t quota = std::min(amount, window_maximum_ - 1);
  protected_maximum_ += quota;
  window_maximum_ -= quota;
  for (int moved = 0; moved < kMaxTransfers; ++moved) {
    const uint32_t slot = lists_[kWindow].head;
    if (slot == kNone || quota < nodes_[slot].weight) break;
    quota -= nodes_[slot].weight;
    unlink(slot);
    append(kProbation, slot);
  }
  protected_maximum_ -= quota;
  window_maximum_ += quota;
}

void WTinyLfu::set_window_maximum(uint64_t target) {
  target = std::clamp<uint64_t>(target, 1, maximum_);
  window_maximum_ = target;
  protected_maximum_ =
      static_cast<uint64_t>(std::floor(static_cast<double>(maximum_ - target) * protected_share_));
  // A smaller window hands its least recently used entries to probation ...
  while (window_size_ > window_maximum_) {
    const uint32_t slot = lists_[kWindow].head;
    unlink(slot);
    append(kProbation, slot);
  }
  // ... a larger one takes the main space's least recently used entries, so that new
  // entries meet a full window and the main space keeps its share.
  while (window_size_ < window_maximum_ && weighted_size() >= maximum_) {
    uint32_t slot = lists_[kProbation].head;
    if (slot == kNone) slot = lists_[kProtected].head;
    if (slot == kNone || window_size_ + nodes_[slot].weight > window_maximum_) break;
    unlink(slot);
    append(kWindow, slot);
  }
  demote_from_protected();
}

Status WTinyLfu::check() const {
  uint64_t sizes[4] = {0, 0, 0, 0};
  for (Queue queue : {kWindow, kProbation, kProtected}) {
    uint32_t previous = kNone;
    size_t count = 0;
    for (uint32_t slot = lists_[queue].head; slot != kNone; slot = nodes_[slot].next) {
      const Node& node = nodes_[slot];
      if (node.queue != queue)
        return invalid_input("w-tinylfu: slot " + std::to_string(slot) + " is linked in queue " +
                             std::to_string(queue) + " but tagged " + std::to_string(node.queue));
      if (node.prev != previous)
        return invalid_input("w-tinylfu: broken back link at slot " + std::to_string(slot));
      if (++count > nodes_.size()) return invalid_input("w-tinylfu: a queue has a cycle");
      sizes[queue] += node.weight;
      previous = slot;
    }
    if (previous != lists_[queue].tail)
      return invalid_input("w-tinylfu: queue " + std::to_string(queue) + " has a wrong tail");
  }
  if (sizes[kWindow] != window_size_ || sizes[kProbation] != probation_size_ ||
      sizes[kProtected] != protected_size_)
    return invalid_input("w-tinylfu: queue weights differ from the sizes kept");
  if (weighted_size() > maximum_)
    return invalid_input("w-tinylfu: holds " + std::to_string(weighted_size()) +
                         ", above the maximum of " + std::to_string(maximum_));
  if (window_maximum_ + protected_maximum_ > maximum_)
    return invalid_input("w-tinylfu: window and protected maxima exceed the maximum");
  return ok_status();
}

// ---- KeySlots --------------------------------------------------------------------------

uint32_t KeySlots::insert(uint64_t key, uint64_t hash) {
  uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
    keys_[slot] = key;
  } else {
    slot = static_cast<uint32_t>(keys_.size());
    keys_.push_back(key);
  }
  index_.insert(hash, slot);
  return slot;
}

void KeySlots::erase(uint32_t slot, uint64_t hash) {
  index_.erase(hash, slot);
  free_.push_back(slot);
}

}  // namespace qv::cache
