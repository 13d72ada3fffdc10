#include "qv/cache/l1_store.h"

#include <algorithm>

#include "qv/cache/hash.h"

namespace qv::cache {

namespace {
// Per-entry bookkeeping counted against the byte bound besides key and value.
constexpr uint64_t kSlotOverhead = 64;
// Entries checked for expiry per write: expired entries leave even if never read again.
constexpr int kSweepPerWrite = 2;

uint32_t next_version() {
  static uint32_t counter = 0;
  if (++counter == 0) ++counter;  // 0 is never a version
  return counter;
}
}  // namespace

L1Store::L1Store(const L1Limits& limits, uint64_t seed)
    : limits_(limits),
      seed_(seed),
      index_(limits.max_entries),
      policy_(WTinyLfuOptions{.maximum = std::max<uint32_t>(limits.max_entries, 1), .seed = seed}) {
  slots_.reserve(std::min<uint32_t>(limits.max_entries, 1u << 16) + 1);
}

uint64_t L1Store::hash_of(Space space, std::string_view key) const {
  return hash_bytes(key, seed_ ^ (static_cast<uint64_t>(space) * 0x9e3779b97f4a7c15ull));
}

uint32_t L1Store::find(Space space, std::string_view key, uint64_t hash) const {
  return index_.find(
      hash, [&](uint32_t slot) { return slots_[slot].space == space && slots_[slot].key == key; });
}

[[gnu::noinline]] uint32_t L1Store::lookup(Space space, std::string_view key) const {
  return find(space, key, hash_of(space, key));
}

uint32_t L1Store::get(Space space, std::string_view key, double now) {
  const uint32_t slot = lookup(space, key);
  if (slot == kNone) {
    ++stats_.misses;
    return kNone;
  }
  return access(slot, now) ? slot : kNone;
}

bool L1Store::access(uint32_t slot, double now) {
  if (slots_[slot].expires_at <= now) {
    ++stats_.expirations;
    release(slot);
    ++stats_.misses;
    return false;
  }
  record_hit(slot);
  return true;
}

uint32_t L1Store::peek(Space space, std::string_view key, double now) const {
  const uint32_t slot = lookup(space, key);
  if (slot == kNone || slots_[slot].expires_at <= now) return kNone;
  return slot;
}

void L1Store::record_hit(uint32_t slot) {
  ++stats_.hits;
  record_access(slot);
}

bool L1Store::alive(uint32_t slot, uint32_t version, double now) const {
  return slot < slots_.size() && slots_[slot].live && slots_[slot].version == version &&
         slots_[slot].expires_at > now;
}

bool L1Store::touch(uint32_t slot, uint32_t version, double now) {
  if (slot >= slots_.size() || !slots_[slot].live || slots_[slot].version != version) {
    ++stats_.misses;
    return false;
  }
  return access(slot, now);
}

uint32_t L1Store::put_response(std::string_view key, EntryPtr entry, double fresh_until,
                               double expires_at, double now) {
  const uint64_t bytes = key.size() + entry->bytes() + kSlotOverhead;
  return put(Space::kResponses, key, hash_of(Space::kResponses, key), std::move(entry), bytes,
             fresh_until, expires_at, now);
}

uint32_t L1Store::put_hosted(uint64_t key_hash, uint64_t size, double expires_at, double now) {
  // The host's hash is mixed with this store's seed, so hosts' keys cannot be aimed at one
  // bucket or sketch counter by knowing the host's hash function.
  const uint64_t hash = mix64(key_hash ^ seed_);
  return put(Space::kHosted, {}, hash, nullptr, size + kSlotOverhead, expires_at, expires_at, now);
}

bool L1Store::remove(uint32_t slot, uint32_t version) {
  if (slot >= slots_.size() || !slots_[slot].live || slots_[slot].version != version) return false;
  release(slot);
  return true;
}

uint32_t L1Store::put(Space space, std::string_view key, uint64_t hash, EntryPtr response,
                      uint64_t bytes, double fresh_until, double expires_at, double now) {
  sweep(now, kSweepPerWrite);
  uint32_t slot = find(space, key, hash);
  if (bytes > limits_.max_entry_bytes || bytes > limits_.max_bytes || expires_at <= now) {
    if (slot != kNone) release(slot);
    ++stats_.rejected;
    return kNone;
  }
  evicted_.clear();
  if (slot != kNone) {  // a new value for a key held: same slot, new version
    Slot& s = slots_[slot];
    bytes_ -= s.bytes;
    if (s.space == Space::kHosted && released_.size() < 2 * kMaxReleased) {
      released_.push_back(slot);  // the old version is gone
      released_.push_back(s.version);
    }
    s.response = std::move(response);
    s.bytes = bytes;
    s.fresh_until = fresh_until;
    s.expires_at = expires_at;
    s.version = next_version();
    bytes_ += bytes;
    policy_.update(slot, 1, evicted_);
  } else {
    if (!free_.empty()) {
      slot = free_.back();
      free_.pop_back();
    } else {
      slot = static_cast<uint32_t>(slots_.size());
      slots_.emplace_back();
    }
    Slot& s = slots_[slot];
    s.key.assign(key);
    s.hash = hash;
    s.space = space;
    s.live = true;
    s.response = std::move(response);
    s.bytes = bytes;
    s.fresh_until = fresh_until;
    s.expires_at = expires_at;
    s.version = next_version();
    bytes_ += bytes;
    index_.insert(hash, slot);
    policy_.add(slot, hash, 1, evicted_);
  }
  for (uint32_t gone : evicted_) {
    ++stats_.evictions;
    release(gone);
  }
  evict_over_bytes();
  return slots_[slot].live ? slot : kNone;  // W-TinyLFU may have refused the new entry
}

void L1Store::evict_over_bytes() {
  while (bytes_ > limits_.max_bytes) {
    const uint32_t victim = policy_.next_victim();
    if (victim == WTinyLfu::kNone) break;
    ++stats_.evictions;
    release(victim);
  }
}

bool L1Store::take_released(std::vector<uint32_t>& into) {
  into.clear();
  into.swap(released_);
  const bool overflow = released_overflow_;
  released_overflow_ = false;
  return overflow;
}

void L1Store::release(uint32_t slot) {
  Slot& s = slots_[slot];
  if (!s.live) return;
  if (s.space == Space::kHosted) {  // the host serves copies of these: it must hear of it
    if (released_.size() < 2 * kMaxReleased) {
      released_.push_back(slot);
      released_.push_back(s.version);
    } else {
      released_overflow_ = true;
    }
  }
  policy_.remove(slot);
  index_.erase(s.hash, slot);
  bytes_ -= s.bytes;
  s.live = false;
  s.key.clear();
  s.key.shrink_to_fit();
  s.response.reset();
  s.bytes = 0;
  free_.push_back(slot);
}

void L1Store::sweep(double now, int budget) {
  for (int i = 0; i < budget && !slots_.empty(); ++i) {
    if (++sweep_at_ >= slots_.size()) sweep_at_ = 0;
    Slot& s = slots_[sweep_at_];
    if (s.live && s.expires_at <= now) {
      ++stats_.expirations;
      release(static_cast<uint32_t>(sweep_at_));
    }
  }
}

bool L1Store::erase(Space space, std::string_view key) {
  const uint32_t slot = lookup(space, key);
  if (slot == kNone) return false;
  release(slot);
  return true;
}

size_t L1Store::erase_responses(const std::function<bool(const CachedEntry&)>& match) {
  size_t dropped = 0;
  for (uint32_t slot = 0; slot < slots_.size(); ++slot) {
    const Slot& s = slots_[slot];
    if (s.live && s.space == Space::kResponses && s.response && match(*s.response)) {
      release(slot);
      ++dropped;
    }
  }
  stats_.invalidations += dropped;
  return dropped;
}

Status L1Store::check() const {
  uint64_t live = 0, bytes = 0;
  for (uint32_t slot = 0; slot < slots_.size(); ++slot) {
    const Slot& s = slots_[slot];
    if (!s.live) continue;
    ++live;
    bytes += s.bytes;
    if (find(s.space, s.key, s.hash) != slot)
      return invalid_input("l1: slot " + std::to_string(slot) + " is not found by its key");
    if (!policy_.contains(slot))
      return invalid_input("l1: slot " + std::to_string(slot) + " is not in the policy");
  }
  if (live != index_.size()) return invalid_input("l1: index and live slots differ in number");
  if (bytes != bytes_) return invalid_input("l1: the byte count is off");
  if (bytes_ > limits_.max_bytes) return invalid_input("l1: above the byte bound");
  if (live > limits_.max_entries) return invalid_input("l1: above the entry bound");
  if (policy_.weighted_size() != live) return invalid_input("l1: the policy holds other entries");
  return policy_.check();
}

}  // namespace qv::cache
