#include "state.h"

#include <algorithm>

namespace qv::cache::detail {

L1Store& CacheState::l1() {
  if (!l1_store) {
    uint64_t seed = 0;
    qv_host_random_bytes(reinterpret_cast<uint8_t*>(&seed), sizeof seed);
    l1_store = std::make_unique<L1Store>(config->l1_limits(), seed);
  }
  return *l1_store;
}

const std::string& CacheState::holder() {
  if (lease_holder.empty()) {
    uint8_t bytes[8];
    qv_host_random_bytes(bytes, sizeof bytes);
    static constexpr char kHex[] = "0123456789abcdef";
    for (const uint8_t byte : bytes) {
      lease_holder += kHex[byte >> 4];
      lease_holder += kHex[byte & 15];
    }
  }
  return lease_holder;
}

// Every organisation id an isolate serves gets a view of its journal; ids come from
// clients, so views none read for 10 pollMs go at sweeps (SweptMap), from max(4,096,
// l1.maxEntries). A view dropped is read again before its next hit, as at start.
std::shared_ptr<JournalView> CacheState::view(const std::string& organization) {
  const size_t floor = std::max<size_t>(4096, static_cast<size_t>(config->l1_max_entries));
  std::optional<double> recent;  // the clock is read only when a sweep runs
  return views.entry(organization, floor, [&](const std::string& id, const JournalView& view) {
    if (!recent) recent = now_ms() - 10.0 * static_cast<double>(config->poll_ms);
    return !id.empty() && view.checked_at < *recent;
  });
}

}  // namespace qv::cache::detail
