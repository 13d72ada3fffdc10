// Eviction policies replayed over traces of integer keys, in the manner of Caffeine's
// simulator: one small interface, one class per policy citing its paper, a registry by
// name, shared statistics, and invariants checked at the end of a replay.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "qv/result.h"

namespace qv::cache {

class Policy {
 public:
  virtual ~Policy() = default;

  // The registry name ("lru", "tinylfu", "adaptive", "opt").
  virtual std::string_view name() const = 0;
  // Policies that need the future (OPT) read the whole trace before the first record().
  virtual void prepare(std::span<const uint64_t> trace) { (void)trace; }
  // One access of `key`; true when it was a hit. A miss admits the key (or, for policies
  // that filter, considers it).
  virtual bool record(uint64_t key) = 0;
  // Entries held now.
  virtual uint64_t size() const = 0;
  // Checks the policy's internal invariants; the first broken one, named.
  virtual Status check() const = 0;
};

// The policies by name: lru, tinylfu (static W-TinyLFU, 1% window), adaptive (W-TinyLFU
// whose window climbs by miniature simulation: the L1's policy), opt (Belady), and
// caffeine-climber (W-TinyLFU with Caffeine's sample-to-sample climber, for comparison).
// Unknown name: an error listing the known.
Result<std::unique_ptr<Policy>> make_policy(std::string_view name, uint64_t capacity);
// "adaptive, lru, tinylfu, opt", for messages and help.
std::string_view policy_names();

struct ReplayStats {
  std::string policy;
  uint64_t capacity = 0;
  uint64_t accesses = 0;
  uint64_t hits = 0;
  double hit_ratio() const {
    return accesses ? static_cast<double>(hits) / static_cast<double>(accesses) : 0.0;
  }
};

// Replays the trace through the policy and checks its invariants at the end (and that it
// never held more than `capacity` entries).
Result<ReplayStats> replay(Policy& policy, uint64_t capacity, std::span<const uint64_t> trace);

}  // namespace qv::cache
