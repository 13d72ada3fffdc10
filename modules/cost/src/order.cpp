#include "qv/cost/order.h"

#include <algorithm>
#include <numeric>

namespace qv::cost {

namespace {

struct IndexOrder {
  bool (*before)(const void*, size_t, size_t);
  const void* context;
  bool operator()(size_t a, size_t b) const {
    if (before(context, a, b)) return true;
    if (before(context, b, a)) return false;
    return a < b;  // ties keep their order
  }
};

}  // namespace

std::vector<size_t> ordered_indices(size_t count,
                                    bool (*before)(const void* context, size_t a, size_t b),
                                    const void* context) {
  std::vector<size_t> order(count);
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), IndexOrder{before, context});
  return order;
}

}  // namespace qv::cost
