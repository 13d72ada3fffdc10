// Ordering by index. Every sort of the module goes through ordered_indices, so the
// WebAssembly bundle carries one instantiation of std::sort instead of one per element
// type and comparison.
#pragma once

#include <cstddef>
#include <vector>

namespace qv::cost {

// Returns 0..count-1 ordered by before(context, a, b); equal elements keep their order.
std::vector<size_t> ordered_indices(size_t count,
                                    bool (*before)(const void* context, size_t a, size_t b),
                                    const void* context);

}  // namespace qv::cost
