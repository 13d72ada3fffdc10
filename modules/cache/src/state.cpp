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
// clients, so past a bound the views no call is using go, the longest unread first: those
// read within the last 10 pollMs are kept unless half the bound would still be held. A view
// dropped is read again before its next hit, as at start. O(1) per view, amortised.
std::shared_ptr<JournalView> CacheState::view(const std::string& organization) {
  const size_t bound = std::max<size_t>(4096, static_cast<size_t>(config->l1_max_entries));
  if (views.size() >= bound && !views.count(organization)) {
    const double recent = now_ms() - 10.0 * static_cast<double>(config->poll_ms);
    auto unused = [](const auto& item) {
      return !item.first.empty() && item.second.use_count() == 1;
    };
    std::erase_if(
        views, [&](const auto& item) { return unused(item) && item.second->checked_at < recent; });
    if (views.size() >= bound / 2) std::erase_if(views, unused);
  }
  auto& slot = views[organization];
  if (!slot) slot = std::make_shared<JournalView>();
  return slot;
}

}  // namespace qv::cache::detail
