#include <algorithm>
#include <utility>

#include "qv/cache/hash.h"
#include "qv/cache/policies.h"

namespace qv::cache {

namespace {
constexpr uint32_t kNone = HashIndex::kNone;
// Replays are deterministic: the admission jitter of W-TinyLFU draws from this seed.
constexpr uint64_t kReplaySeed = 0x5eed5eed5eed5eedull;
}  // namespace

// ---- LRU -------------------------------------------------------------------------------

LruPolicy::LruPolicy(uint64_t capacity)
    : capacity_(std::max<uint64_t>(capacity, 1)), slots_(capacity) {}

void LruPolicy::unlink(uint32_t slot) {
  if (prev_[slot] != kNone)
    next_[prev_[slot]] = next_[slot];
  else
    head_ = next_[slot];
  if (next_[slot] != kNone)
    prev_[next_[slot]] = prev_[slot];
  else
    tail_ = prev_[slot];
}

void LruPolicy::push_back(uint32_t slot) {
  prev_[slot] = tail_;
  next_[slot] = kNone;
  if (tail_ != kNone)
    next_[tail_] = slot;
  else
    head_ = slot;
  tail_ = slot;
}

bool LruPolicy::record(uint64_t key) {
  const uint64_t hash = mix64(key);
  uint32_t slot = slots_.find(key, hash);
  if (slot != kNone) {
    unlink(slot);
    push_back(slot);
    return true;
  }
  if (slots_.size() >= capacity_) {
    const uint32_t victim = head_;
    unlink(victim);
    slots_.erase(victim, mix64(slots_.key(victim)));
  }
  slot = slots_.insert(key, hash);
  if (slot >= prev_.size()) {
    prev_.resize(slot + 1);
    next_.resize(slot + 1);
  }
  push_back(slot);
  return false;
}

Status LruPolicy::check() const {
  uint64_t count = 0;
  uint32_t previous = kNone;
  for (uint32_t slot = head_; slot != kNone; slot = next_[slot]) {
    if (prev_[slot] != previous) return invalid_input("lru: broken back link");
    if (++count > slots_.size()) return invalid_input("lru: the list is longer than the index");
    previous = slot;
  }
  if (previous != tail_) return invalid_input("lru: wrong tail");
  if (count != slots_.size())
    return invalid_input("lru: the list holds " + std::to_string(count) + " entries, the index " +
                         std::to_string(slots_.size()));
  return ok_status();
}

// ---- W-TinyLFU -------------------------------------------------------------------------

WTinyLfuPolicy::WTinyLfuPolicy(std::string name, uint64_t capacity, const ClimberOptions* climber)
    : name_(std::move(name)),
      slots_(capacity),
      engine_(WTinyLfuOptions{.maximum = std::max<uint64_t>(capacity, 1),
                              .adaptive = climber != nullptr,
                              .seed = kReplaySeed},
              climber ? *climber : ClimberOptions{}) {}

bool WTinyLfuPolicy::record(uint64_t key) {
  const uint64_t hash = mix64(key);
  const uint32_t slot = slots_.find(key, hash);
  if (slot != kNone) {
    engine_.on_hit(slot);
    return true;
  }
  evicted_.clear();
  engine_.add(slots_.insert(key, hash), hash, 1, evicted_);
  for (uint32_t gone : evicted_) slots_.erase(gone, mix64(slots_.key(gone)));
  return false;
}

Status WTinyLfuPolicy::check() const {
  if (auto s = engine_.check(); !s.ok()) return s;
  if (engine_.weighted_size() != slots_.size())
    return invalid_input("w-tinylfu: the queues hold " + std::to_string(engine_.weighted_size()) +
                         " entries, the index " + std::to_string(slots_.size()));
  return ok_status();
}

// ---- OPT -------------------------------------------------------------------------------

// The whole simulation runs here, knowing the future; record() then reads its outcome.
void OptPolicy::prepare(std::span<const uint64_t> trace) {
  const uint64_t n = trace.size();
  const uint64_t never = n;  // "no next access"
  // Dense ids for the keys, then each position's next use of the same key.
  std::vector<uint32_t> ids(n);
  uint32_t distinct = 0;
  {
    KeySlots seen(1024);
    for (uint64_t i = 0; i < n; ++i) {
      const uint64_t hash = mix64(trace[i]);
      uint32_t id = seen.find(trace[i], hash);
      if (id == kNone) id = seen.insert(trace[i], hash);
      ids[i] = id;
    }
    distinct = static_cast<uint32_t>(seen.size());
  }
  next_use_.assign(n, never);
  {
    std::vector<uint64_t> last(distinct, never);
    for (uint64_t i = n; i-- > 0;) {
      next_use_[i] = last[ids[i]];
      last[ids[i]] = i;
    }
  }
  // held_next[id]: the position of the held key's next access (never: not held). A key is
  // held at position i exactly when held_next[ids[i]] == i. The held keys sit in a binary
  // max-heap on held_next (at most `capacity` of them, so it stays in the CPU cache);
  // heap_at[id] is a key's place in it.
  std::vector<uint64_t> held_next(distinct, never);
  std::vector<uint32_t> heap;
  std::vector<uint32_t> heap_at(distinct, kNone);
  heap.reserve(std::min<uint64_t>(capacity_, distinct) + 1);
  auto place = [&](size_t at, uint32_t id) {
    heap[at] = id;
    heap_at[id] = static_cast<uint32_t>(at);
  };
  auto sift_up = [&](size_t at) {
    const uint32_t id = heap[at];
    while (at > 0 && held_next[heap[(at - 1) / 2]] < held_next[id]) {
      place(at, heap[(at - 1) / 2]);
      at = (at - 1) / 2;
    }
    place(at, id);
  };
  auto sift_down = [&](size_t at) {
    const uint32_t id = heap[at];
    for (;;) {
      size_t child = 2 * at + 1;
      if (child >= heap.size()) break;
      if (child + 1 < heap.size() && held_next[heap[child + 1]] > held_next[heap[child]]) ++child;
      if (held_next[heap[child]] <= held_next[id]) break;
      place(at, heap[child]);
      at = child;
    }
    place(at, id);
  };
  auto remove_at = [&](size_t at) {
    const uint32_t gone = heap[at];
    const uint32_t last = heap.back();
    heap.pop_back();
    heap_at[gone] = kNone;
    held_next[gone] = never;
    if (at < heap.size()) {
      place(at, last);
      sift_up(at);
      sift_down(heap_at[last]);
    }
  };

  held_at_.assign(n, 0);
  for (uint64_t i = 0; i < n; ++i) {
    const uint32_t id = ids[i];
    const uint64_t next = next_use_[i];
    const bool hit = held_next[id] == i;
    held_at_[i] = hit;
    if (hit) {
      if (next == never) {  // never used again: let it go now
        remove_at(heap_at[id]);
      } else {  // its next use moved further away
        held_next[id] = next;
        sift_up(heap_at[id]);
      }
      continue;
    }
    if (next == never) continue;  // never used again: not worth a place
    if (heap.size() >= capacity_) {
      if (held_next[heap[0]] < next) continue;  // everything held is needed sooner
      remove_at(0);
    }
    held_next[id] = next;
    heap.push_back(id);
    sift_up(heap.size() - 1);
  }
  held_ = heap.size();
  position_ = 0;
  prepared_ = true;
}

bool OptPolicy::record(uint64_t) {
  if (!prepared_ || position_ >= held_at_.size()) return false;
  return held_at_[position_++] != 0;
}

Status OptPolicy::check() const {
  if (!prepared_) return invalid_input("opt: record() before prepare()");
  if (position_ != held_at_.size())
    return invalid_input("opt: replayed " + std::to_string(position_) + " of " +
                         std::to_string(held_at_.size()) + " prepared accesses");
  if (held_ > capacity_) return invalid_input("opt: holds more than the capacity");
  return ok_status();
}

// ---- registry and replay ---------------------------------------------------------------

std::string_view policy_names() {
  return "adaptive, lru, tinylfu, opt, caffeine-climber";
}

Result<std::unique_ptr<Policy>> make_policy(std::string_view name, uint64_t capacity) {
  if (capacity == 0) return invalid_input("capacity: must be at least 1");
  if (name == "lru") return std::unique_ptr<Policy>(new LruPolicy(capacity));
  if (name == "tinylfu") {
    return std::unique_ptr<Policy>(new WTinyLfuPolicy("tinylfu", capacity, nullptr));
  }
  if (name == "adaptive") {
    const ClimberOptions minisim;
    return std::unique_ptr<Policy>(new WTinyLfuPolicy("adaptive", capacity, &minisim));
  }
  if (name == "caffeine-climber") {
    ClimberOptions sequential;
    sequential.mode = ClimberOptions::Mode::kSequential;
    return std::unique_ptr<Policy>(new WTinyLfuPolicy("caffeine-climber", capacity, &sequential));
  }
  if (name == "opt") return std::unique_ptr<Policy>(new OptPolicy(capacity));
  return invalid_input("policy: unknown policy '" + std::string(name) +
                       "' (known: " + std::string(policy_names()) + ")");
}

Result<ReplayStats> replay(Policy& policy, uint64_t capacity, std::span<const uint64_t> trace) {
  policy.prepare(trace);
  ReplayStats stats;
  stats.policy = std::string(policy.name());
  stats.capacity = capacity;
  stats.accesses = trace.size();
  uint64_t hits = 0;
  for (uint64_t key : trace) hits += policy.record(key) ? 1 : 0;
  stats.hits = hits;
  if (auto s = policy.check(); !s.ok()) return s.take_error();
  if (policy.size() > capacity)
    return invalid_input(std::string(policy.name()) + ": holds " + std::to_string(policy.size()) +
                         " entries, above the capacity of " + std::to_string(capacity));
  return stats;
}

}  // namespace qv::cache
