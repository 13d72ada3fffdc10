#include <charconv>

#include "qv/host/environment.h"
#include "qv/host/kv.h"

namespace qv::host {

bool parse_kv_integer(std::string_view text, int64_t& out) {
  if (text.empty() || text.size() > 20) return false;
  const char* end = text.data() + text.size();
  auto [ptr, error] = std::from_chars(text.data(), end, out);
  if (error != std::errc() || ptr != end) return false;
  // Redis accepts only the canonical spelling: no '+', no leading zeros, no "-0".
  return std::to_string(out) == text;
}

MemoryKv::MemoryKv(std::function<double()> now_ms) : now_ms_(std::move(now_ms)) {}

double MemoryKv::now() const {
  return now_ms_ ? now_ms_() : system_now_ms();
}

MemoryKv::Entry* MemoryKv::find_live(std::string_view key) {
  auto found = entries_.find(std::string(key));
  if (found == entries_.end()) return nullptr;
  if (found->second.expires_at_ms != 0 && found->second.expires_at_ms <= now()) {
    entries_.erase(found);
    return nullptr;
  }
  return &found->second;
}

KvReply MemoryKv::get(std::string_view key) {
  std::lock_guard lock(mutex_);
  KvReply reply;
  if (Entry* entry = find_live(key)) {
    reply.value = entry->value;
  } else {
    reply.status = QV_NOT_FOUND;
  }
  return reply;
}

KvReply MemoryKv::set(std::string_view key, std::string_view value, uint32_t ttl_ms) {
  std::lock_guard lock(mutex_);
  entries_[std::string(key)] = Entry{std::string(value), ttl_ms ? now() + ttl_ms : 0};
  return {};
}

KvReply MemoryKv::incr(std::string_view key, int64_t delta, uint32_t ttl_ms) {
  std::lock_guard lock(mutex_);
  Entry* entry = find_live(key);
  int64_t current = 0;
  if (entry && !parse_kv_integer(entry->value, current)) {
    return KvReply::failure(
        QV_UNAVAILABLE, "kv.incr: the value at key '" + std::string(key) + "' is not an integer");
  }
  int64_t next = 0;
  if (__builtin_add_overflow(current, delta, &next)) {
    return KvReply::failure(QV_UNAVAILABLE, "kv.incr: incrementing key '" + std::string(key) +
                                                "' by " + std::to_string(delta) +
                                                " would overflow");
  }
  if (entry) {
    entry->value = std::to_string(next);  // an existing key keeps its TTL
  } else {
    entries_[std::string(key)] = Entry{std::to_string(next), ttl_ms ? now() + ttl_ms : 0};
  }
  KvReply reply;
  reply.number = next;
  return reply;
}

KvReply MemoryKv::del(std::string_view key) {
  std::lock_guard lock(mutex_);
  KvReply reply;
  if (find_live(key)) {
    entries_.erase(std::string(key));
    reply.number = 1;
  }
  return reply;
}

std::map<std::string, std::string> MemoryKv::entries() const {
  std::lock_guard lock(mutex_);
  const double time = now();
  std::map<std::string, std::string> live;
  for (const auto& [key, entry] : entries_) {
    if (entry.expires_at_ms == 0 || entry.expires_at_ms > time) live.emplace(key, entry.value);
  }
  return live;
}

double MemoryKv::expires_at(std::string_view key) const {
  std::lock_guard lock(mutex_);
  auto found = entries_.find(std::string(key));
  if (found == entries_.end()) return -1;
  const double at = found->second.expires_at_ms;
  if (at != 0 && at <= now()) return -1;
  return at;
}

KvReply MemoryKv::cas(std::string_view key, std::optional<std::string_view> expected,
                      std::string_view value, uint32_t ttl_ms) {
  std::lock_guard lock(mutex_);
  Entry* entry = find_live(key);
  KvReply reply;
  const bool matches = expected ? (entry && entry->value == *expected) : entry == nullptr;
  if (!matches) {
    reply.number = entry ? 0 : -1;
    if (entry) reply.value = entry->value;
    return reply;
  }
  entries_[std::string(key)] = Entry{std::string(value), ttl_ms ? now() + ttl_ms : 0};
  reply.number = 1;
  return reply;
}

}  // namespace qv::host
