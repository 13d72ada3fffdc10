// A map from ids the clients choose (organisations) to per-id state that an isolate keeps
// while it is useful. Ids are never removed one by one; instead, whenever the map has
// doubled since its last sweep, entries no call holds and `forgettable` lets go are erased.
// So the map holds about twice the entries still in use, however many ids it has seen, at
// an amortised constant cost per new id.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

namespace qv {

template <typename T>
struct SweptMap {
  std::unordered_map<std::string, std::shared_ptr<T>> entries;
  size_t sweep_at;         // the size at which the next new id sweeps
  uint64_t forgotten = 0;  // entries erased by sweeps

  explicit SweptMap(size_t first_sweep = 4096) : sweep_at(first_sweep) {}

  // The id's entry, made when absent. Held through shared_ptr so that an entry outlives a
  // call that waits for the host; entries a call holds are never swept. `forgettable(id,
  // entry)`; `floor`: the smallest size at which a sweep happens.
  template <typename Forgettable>
  std::shared_ptr<T> entry(const std::string& id, size_t floor, Forgettable&& forgettable) {
    if (entries.size() >= sweep_at && !entries.count(id)) {
      const size_t before = entries.size();
      std::erase_if(entries, [&](const auto& item) {
        return item.second.use_count() == 1 && forgettable(item.first, *item.second);
      });
      forgotten += before - entries.size();
      sweep_at = std::max(floor, 2 * entries.size());
    }
    auto& slot = entries[id];
    if (!slot) slot = std::make_shared<T>();
    return slot;
  }
};

}  // namespace qv
