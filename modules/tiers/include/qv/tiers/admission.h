// Admission control: per-organisation API rate limits (GCRA) and concurrent-call limits
// that hold across isolates, because their state lives in the shared KV. The arithmetic
// here is pure; admission_methods.cpp runs it against KV through compare-and-set.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "qv/result.h"

namespace qv::tiers {

// GCRA (the generic cell rate algorithm, as redis-cell implements it). State: the
// theoretical arrival time (TAT) in ms. A bucket of `burst` tokens refills at `rate` per
// second; taking n tokens at `now` is allowed while max(TAT, now) + n/rate <= now + burst/rate.
struct GcraLimit {
  double rate_per_second = 0;
  double burst = 0;  // tokens an idle organisation may take at once (>= 1)
  double interval_ms() const { return 1000.0 / rate_per_second; }
};

struct GcraOutcome {
  bool limited = false;
  int64_t granted = 0;         // tokens taken (0 when limited)
  int64_t limit = 0;           // the bucket's capacity (burst), as redis-cell reports it
  int64_t remaining = 0;       // tokens still available after this take
  double retry_after_ms = -1;  // limited: wait this long for the tokens; else -1
  double reset_after_ms = 0;   // until the bucket is full again
  double new_tat = 0;          // the TAT to store (unchanged when limited)
};

// Takes `quantity` tokens, or when `partial` as many as are available up to it (a lease).
// `tat` is nullopt for a bucket never used or expired.
GcraOutcome gcra_take(const GcraLimit& limit, std::optional<double> tat, double now,
                      int64_t quantity, bool partial);

// The active calls of one organisation: call id -> lease expiry (ms since the epoch).
using CallSet = std::map<std::string, double>;

// Parses a stored call set ({"id": expiry, ...}); errors name the problem, and the field
// where it is one ("c1: expected a number, got a string"), for the caller to name the value.
Result<CallSet> parse_call_set(std::string_view json);
std::string write_call_set(const CallSet& calls);
// Removes the calls whose lease expired at or before now.
void drop_expired(CallSet& calls, double now);

// Ids that become part of KV keys or values: letters, digits, '-', '_', '.'; 1-128 chars.
// router.affinity checks a callId by the same rule (modules/router/src/methods.cpp): keep
// them equal, so a call admitted here is one the router places.
Status check_id(std::string_view field, std::string_view id);

}  // namespace qv::tiers
