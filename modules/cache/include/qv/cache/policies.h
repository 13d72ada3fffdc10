// The policy classes behind make_policy (policy.h), for tests that need them directly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "qv/cache/hash_index.h"
#include "qv/cache/policy.h"
#include "qv/cache/wtinylfu.h"

namespace qv::cache {

// Least recently used: evicts the entry whose last access is the oldest. The baseline
// every paper compares against; best on recency-biased workloads, worst on loops larger
// than the cache (0% hits).
class LruPolicy final : public Policy {
 public:
  explicit LruPolicy(uint64_t capacity);
  std::string_view name() const override { return "lru"; }
  bool record(uint64_t key) override;
  uint64_t size() const override { return slots_.size(); }
  Status check() const override;

 private:
  void unlink(uint32_t slot);
  void push_back(uint32_t slot);
  uint64_t capacity_;
  KeySlots slots_;
  std::vector<uint32_t> prev_, next_;
  uint32_t head_ = HashIndex::kNone, tail_ = HashIndex::kNone;
};

// W-TinyLFU (Einziger, Friedman, Manes, ACM ToS 2017), static (1% window) or with the
// hill-climbed window of Einziger, Eytan, Friedman, Manes, Middleware 2018: see wtinylfu.h.
// The same engine evicts in the L1 store.
class WTinyLfuPolicy final : public Policy {
 public:
  // climber: nullptr for the static variant.
  WTinyLfuPolicy(std::string name, uint64_t capacity, const ClimberOptions* climber);
  std::string_view name() const override { return name_; }
  bool record(uint64_t key) override;
  uint64_t size() const override { return slots_.size(); }
  Status check() const override;
  const WTinyLfu& engine() const { return engine_; }

 private:
  std::string name_;
  KeySlots slots_;
  WTinyLfu engine_;
  std::vector<uint32_t> evicted_;
};

// Belady's OPT (Belady, "A study of replacement algorithms for a virtual-storage
// computer", IBM Systems Journal 1966): evicts the entry whose next access is furthest in
// the future, and does not keep a key that is never accessed again or accessed later than
// everything held. The upper bound of any policy's hit ratio on a trace.
class OptPolicy final : public Policy {
 public:
  explicit OptPolicy(uint64_t capacity) : capacity_(capacity) {}
  std::string_view name() const override { return "opt"; }
  void prepare(std::span<const uint64_t> trace) override;
  bool record(uint64_t key) override;
  uint64_t size() const override { return held_; }
  Status check() const override;

 private:
  uint64_t capacity_;
  std::vector<uint64_t> next_use_;  // per position: the next position of the same key
  std::vector<uint8_t> held_at_;    // per position: whether the key is held when accessed
  uint64_t position_ = 0;
  uint64_t held_ = 0;
  bool prepared_ = false;
};

}  // namespace qv::cache
