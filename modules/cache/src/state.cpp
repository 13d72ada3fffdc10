#include "state.h"

namespace qv::cache::detail {

L1Store& CacheState::l1() {
  if (!l1_store) {
    uint64_t seed = 0;
    qv_host_random_bytes(reinterpret_cast<uint8_t*>(&seed), sizeof seed);
    l1_store = std::make_unique<L1Store>(config->l1_limits(), seed);
  }
  return *l1_store;
}

std::shared_ptr<JournalView> CacheState::view(const std::string& organization) {
  auto& slot = views[organization];
  if (!slot) slot = std::make_shared<JournalView>();
  return slot;
}

}  // namespace qv::cache::detail
