// The cache methods' handlers, by file: read_methods.cpp (cache.get, cache.refresh,
// cache.set) and invalidation_methods.cpp (cache.invalidate, cache.change). methods.cpp lists
// them with configuration and stats.
#pragma once

#include "qv/instance.h"

namespace qv::cache::detail {

MethodTask get_method(CallContext& ctx, Instance& instance);
MethodTask refresh_method(CallContext& ctx, Instance& instance);
MethodTask set_method(CallContext& ctx, Instance& instance);
MethodTask invalidate_method(CallContext& ctx, Instance& instance);
MethodTask change_method(CallContext& ctx, Instance& instance);

}  // namespace qv::cache::detail
