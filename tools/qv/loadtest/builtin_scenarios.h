// The built-in scenarios: the spec's three load tests (voice-api-load, dashboard-load,
// api-crud-load), each with the intensities low / medium / high / extreme. Their JSON lives
// in scenarios/NAME.json and is compiled in.
#pragma once

#include <string_view>
#include <vector>

namespace qv::loadtest {

struct BuiltinScenario {
  std::string_view name;
  std::string_view json;
};

const std::vector<BuiltinScenario>& builtin_scenarios();
const BuiltinScenario* find_builtin_scenario(std::string_view name);

}  // namespace qv::loadtest
