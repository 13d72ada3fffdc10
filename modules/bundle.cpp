// The methods this build serves: every module's list, in one table. The WebAssembly
// bundle, the CLI and the native tests all link this file, so they serve the same methods.
#include <vector>

#include "qv/cache/methods.h"
#include "qv/cost/methods.h"
#include "qv/instance.h"
#include "qv/router/methods.h"
#include "qv/tiers/methods.h"

namespace qv {

std::span<const Method> bundle_methods() {
  static const std::vector<Method> all = [] {
    std::vector<Method> methods;
    for (auto module : {tiers::methods(), router::methods(), cache::methods(), cost::methods()})
      methods.insert(methods.end(), module.begin(), module.end());
    return methods;
  }();
  return all;
}

}  // namespace qv
