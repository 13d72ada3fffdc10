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

// Every organisation id an isolate serves gets a view of its journal; ids come from
// clients, so whenever the views have doubled since the last sweep (from max(4,096,
// l1.maxEntries)), those no call is using and none read for 10 pollMs go. The views held
// stay about twice those in use, at O(1) per view amortised; a view dropped is read again
// before its next hit, as at start.
std::shared_ptr<JournalView> CacheState::view(const std::string& organization) {
  if (views.size() >= views_sweep_at && !views.count(organization)) {
    const double recent = now_ms() - 10.0 * static_cast<double>(config->poll_ms);
    std::erase_if(views, [&](const auto& item) {
      return !item.first.empty() && item.second.use_count() == 1 &&
             item.second->checked_at < recent;
    });
    const size_t bound = std::max<size_t>(4096, static_cast<size_t>(config->l1_max_entries));
    views_sweep_at = std::max(bound, 2 * views.size());
  }
  auto& slot = views[organization];
  if (!slot) slot = std::make_shared<JournalView>();
  return slot;
}

}  // namespace qv::cache::detail
