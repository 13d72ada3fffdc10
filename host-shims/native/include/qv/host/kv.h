// The KV store a native host performs kv.* operations against: a small interface, an
// in-memory implementation (tests, the CLI, the simulator) and, in redis_kv.h, Redis.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "qv_abi.h"

namespace qv::host {

// What a KV operation returns.
struct KvReply {
  qv_status status = QV_OK;  // QV_OK, QV_NOT_FOUND (get miss), or a failure status
  std::string value;         // get: the stored value
  int64_t number = 0;        // incr: the value after the increment; del: keys removed (0, 1);
                             // cas: 1 set, 0 not set (value = the current value), -1 not
                             // set because the key is absent
  std::string message;       // on failure: what went wrong, naming the key or the server

  bool ok() const { return status == QV_OK; }
  static KvReply failure(qv_status status, std::string message) {
    KvReply reply;
    reply.status = status;
    reply.message = std::move(message);
    return reply;
  }
};

// A key-value store with TTLs. Keys and values are arbitrary bytes. Failures are values
// with a message: QV_UNAVAILABLE (the store cannot be reached, or refused the command, e.g.
// incr on a value that is not an integer), QV_TIMEOUT (no answer in time); the JS shim
// reports the same statuses. Implementations are not required to be thread-safe unless
// they say so.
class Kv {
 public:
  virtual ~Kv() = default;

  // Reads key. Returns QV_OK + value, QV_NOT_FOUND when absent or expired, or a failure.
  virtual KvReply get(std::string_view key) = 0;

  // Stores value under key, replacing any value and TTL; ttl_ms 0 keeps it without expiry.
  // Returns QV_OK or a failure.
  virtual KvReply set(std::string_view key, std::string_view value, uint32_t ttl_ms) = 0;

  // Adds delta to the decimal integer stored at key (an absent key counts as 0). The TTL
  // ttl_ms (0: none) is set only when this call creates the key; an existing key keeps
  // its TTL. Returns QV_OK + number = the value after the increment, or a failure.
  virtual KvReply incr(std::string_view key, int64_t delta, uint32_t ttl_ms) = 0;

  // Removes key. Returns QV_OK + number = keys removed (0 or 1), or a failure.
  virtual KvReply del(std::string_view key) = 0;

  // Atomically sets key to value (TTL ttl_ms, 0: none) only if it holds exactly *expected,
  // or, when expected is nullopt, only if it is absent. Returns QV_OK + number = 1 (set),
  // 0 (not set; value = the current value) or -1 (not set; the key is absent), or a failure.
  virtual KvReply cas(std::string_view key, std::optional<std::string_view> expected,
                      std::string_view value, uint32_t ttl_ms) = 0;
};

// A Kv in process memory. TTLs are measured against the clock it is given (the same
// injected clock as the instance's, in tests), and expired keys are dropped when touched.
// Thread-safe: one mutex around the map.
class MemoryKv final : public Kv {
 public:
  explicit MemoryKv(std::function<double()> now_ms = nullptr);

  KvReply get(std::string_view key) override;
  KvReply set(std::string_view key, std::string_view value, uint32_t ttl_ms) override;
  KvReply incr(std::string_view key, int64_t delta, uint32_t ttl_ms) override;
  KvReply del(std::string_view key) override;
  KvReply cas(std::string_view key, std::optional<std::string_view> expected,
              std::string_view value, uint32_t ttl_ms) override;

  // Every live key with its value, sorted by key (for tests and tools).
  std::map<std::string, std::string> entries() const;
  // When key expires, in the clock's ms; 0 when it has no TTL; -1 when it is absent.
  double expires_at(std::string_view key) const;

 private:
  struct Entry {
    std::string value;
    double expires_at_ms = 0;  // 0: no expiry
  };
  double now() const;
  // The live entry at key, or nullptr (dropping it when expired). Caller holds mutex_.
  Entry* find_live(std::string_view key);

  std::function<double()> now_ms_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
};

// Parses text as Redis parses an integer for INCRBY: an optional '-', then decimal digits
// without leading zeros, within int64. Returns false otherwise.
bool parse_kv_integer(std::string_view text, int64_t& out);

}  // namespace qv::host
